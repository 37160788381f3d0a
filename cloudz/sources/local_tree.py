"""A local directory tree in the archive's layout: an rsync mirror, or a collector's own disk.

``LocalTree(root)`` reads ``root/<archive_dir>/YYYY.MM/{RIBS,UPDATES}/`` exactly as
``HttpArchive`` reads the same tree served over HTTP, with exact sizes and no network.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from datetime import UTC, date, datetime
from pathlib import Path

from cloudz.sources.collectors import Collector
from cloudz.sources.files import (
    ALL_KINDS,
    CHUNK_BYTES,
    FetchedFile,
    FileKind,
    HashingTempFile,
    Month,
    SkippedFile,
    SourceError,
    SourceFile,
    as_utc,
    make_source_file,
    months_to_scan,
    split_listing,
)

log = logging.getLogger(__name__)


class LocalTree:
    """An archive kept on a local (or mounted) file system."""

    def __init__(self, root: str | Path, *, temp_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.temp_dir = temp_dir

    def describe(self) -> str:
        return str(self.root)

    def collector_dir(self, collector: Collector) -> Path:
        return self.root / collector.archive_dir

    def list_months(self, collector: Collector) -> list[Month]:
        """The month directories of ``collector``, oldest first."""
        top = self.collector_dir(collector)
        try:
            with os.scandir(top) as it:
                names = [e.name for e in it if e.is_dir()]
        except OSError as e:
            raise SourceError(
                f"{top}: cannot list the collector's directory: {e}", url=str(top)
            ) from e
        return sorted(m for n in names if (m := Month.parse(n)) is not None)

    def list_files(
        self,
        collector: Collector,
        start: date | datetime,
        end: date | datetime,
        kinds: Collection[FileKind] = ALL_KINDS,
        skipped: list[SkippedFile] | None = None,
    ) -> list[SourceFile]:
        """The dumps of ``collector`` named in ``[start, end)``, in dump-time order; the names
        the archive's rules refuse are appended to ``skipped`` (those named in the range)."""
        lo, hi = as_utc(start), as_utc(end)
        found: list[SourceFile | SkippedFile] = []
        for month in months_to_scan(self.list_months(collector), lo, hi):
            for kind in ALL_KINDS:
                if kind in kinds:
                    found.extend(self._list_dir(collector, month, kind))
        return split_listing(found, lo, hi, skipped)

    def _list_dir(
        self, collector: Collector, month: Month, kind: FileKind
    ) -> list[SourceFile | SkippedFile]:
        d = self.collector_dir(collector) / str(month) / kind.value
        try:
            with os.scandir(d) as it:
                entries = [(e.name, e.stat()) for e in it if e.is_file()]
        except FileNotFoundError:
            return []  # a month without this kind
        except OSError as e:
            raise SourceError(f"{d}: cannot list: {e}", url=str(d)) from e
        out: list[SourceFile | SkippedFile] = []
        for name, st in entries:
            f = make_source_file(
                collector=collector.name,
                kind=kind,
                name=name,
                month=month,
                size=st.st_size,
                size_exact=True,
                source=str(d / name),
                modified=datetime.fromtimestamp(st.st_mtime, UTC).replace(tzinfo=None),
                pacific_names_before=collector.pacific_names_before,
            )
            if isinstance(f, SkippedFile):
                log.debug("%s: skipping %r: %s", d, name, f.reason)
            out.append(f)
        return out

    def fetch_to_temp(self, file: SourceFile) -> FetchedFile:
        """Copy ``file`` to a temporary file while hashing it.

        A copy, not the file itself: a collector may still be writing or rotating it, and
        what is stored must be exactly what was hashed.
        """
        out = HashingTempFile(self.temp_dir)
        try:
            with open(file.source, "rb") as f:
                while chunk := f.read(CHUNK_BYTES):
                    out.write(chunk)
            return out.keep(file)
        except OSError as e:
            out.discard()
            raise SourceError(f"{file.source}: cannot read: {e}", url=file.source) from e
        except BaseException:
            out.discard()
            raise
