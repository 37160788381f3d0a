"""The one interface every archive source offers, so the mirror does not care where files are.

``HttpArchive`` (archive.routeviews.org, or the test server) and ``LocalTree`` (an rsync
mirror) both satisfy it; a mirror task takes an ``ArchiveSource`` and a ``Collector``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Protocol

from cloudz.sources.collectors import Collector
from cloudz.sources.files import FetchedFile, FileKind, Month, SkippedFile, SourceFile


class ArchiveSource(Protocol):
    """List months and dump files of a collector; fetch one file to a hashed temporary copy."""

    def describe(self) -> str:
        """Where the source is (a URL or a directory), for messages."""
        ...

    def list_months(self, collector: Collector) -> list[Month]:
        """The month directories the source holds for ``collector``, oldest first."""
        ...

    def list_files(
        self,
        collector: Collector,
        start: date | datetime,
        end: date | datetime,
        kinds: Collection[FileKind] = ...,
        skipped: list[SkippedFile] | None = None,
    ) -> list[SourceFile]:
        """The dumps named in ``[start, end)`` (UTC; a date is its midnight), in time order;
        names the archive's rules refuse go to ``skipped``."""
        ...

    def fetch_to_temp(self, file: SourceFile) -> FetchedFile:
        """A temporary copy of ``file`` with its sha256 and size (delete it when stored)."""
        ...
