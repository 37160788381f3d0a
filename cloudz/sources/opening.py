"""Open an archive source from the one string the settings and the batch tasks carry."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from cloudz.sources.http_archive import HttpArchive
from cloudz.sources.local_tree import LocalTree
from cloudz.sources.reader import ArchiveSource


@contextlib.contextmanager
def open_source(where: str) -> Iterator[ArchiveSource]:
    """An ``http(s)://`` archive or a local directory in the archive's layout."""
    if where.startswith(("http://", "https://")):
        with HttpArchive(where) as source:
            yield source
    else:
        path = Path(where.removeprefix("file://"))
        if not path.is_dir():
            raise ValueError(f"archive source {where!r} is neither a URL nor a directory")
        yield LocalTree(path)
