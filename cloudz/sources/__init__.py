"""Where archived files come from: RouteViews' collectors (as data) and the archive readers.

- ``collectors``: ``include/collectors.yaml`` loaded into typed ``Collector`` entries;
- ``reader``: the ``ArchiveSource`` protocol (list months, list files of a range, fetch);
- ``http_archive``: archive.routeviews.org's Apache index pages, with retries and a thread pool;
- ``local_tree``: the same layout on a local disk (an rsync mirror);
- ``opening``: ``open_source``, the reader a URL or a directory names;
- ``index_page``: the Apache "Index of" parser; ``files``: what is listed and fetched.

Nothing here writes to the bucket: a caller hands ``fetch_to_temp``'s copy to
``cloudz.archive.store.ArchiveStore.store(file.archive_path, sha256, size, copy.chunks())``.
"""

from cloudz.sources.collectors import (
    Collector,
    CollectorConfigError,
    Collectors,
    load_collectors,
    parse_collectors,
)
from cloudz.sources.files import (
    ALL_KINDS,
    FetchedFile,
    FileKind,
    Month,
    SourceError,
    SourceFile,
)
from cloudz.sources.http_archive import HttpArchive
from cloudz.sources.index_page import IndexEntry, parse_index_page
from cloudz.sources.local_tree import LocalTree
from cloudz.sources.reader import ArchiveSource
from cloudz.sources.retry import RetryPolicy

__all__ = [
    "ALL_KINDS",
    "ArchiveSource",
    "Collector",
    "CollectorConfigError",
    "Collectors",
    "FetchedFile",
    "FileKind",
    "HttpArchive",
    "IndexEntry",
    "LocalTree",
    "Month",
    "RetryPolicy",
    "SourceError",
    "SourceFile",
    "load_collectors",
    "parse_collectors",
    "parse_index_page",
]
