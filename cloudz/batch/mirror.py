"""Bring a range of a source archive into the bucket: list, diff, fetch what is missing.

The step the mirror and backfill DAGs run first for each range (issue 10). What the
bucket already holds is never fetched again: the diff lists the bucket once per
collector-month (one request per 1,000 objects, not one per file). What is missing is
fetched to a temporary copy while hashed and stored through ``ArchiveStore``, the
receiver's own path (claim, create-only copy, read back), so a file a collector uploaded
meanwhile is archived once, and a different file at the same path is a CONFLICT that
leaves the archived one untouched.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from cloudz.archive import paths
from cloudz.archive.store import ArchiveStore, StoreResult
from cloudz.quarantine import objects as quarantine
from cloudz.sources import ArchiveSource, Collector, FetchedFile, SourceError, SourceFile
from cloudz.sources.files import RefusedFile, SkippedFile, check_not_future

log = logging.getLogger(__name__)

#: files fetched at once: the source's bandwidth is shared, and each holds a temp copy
DEFAULT_FETCHES = 4


@dataclass(frozen=True)
class Archived:
    """One file of the range as the bucket now holds it."""

    archive_path: str
    sha256: str
    size: int
    result: str  # a StoreResult value: stored, already_archived, conflict


@dataclass
class MirrorResult:
    listed: int = 0
    present: list[str] = field(default_factory=list)  # archived before this run
    archived: list[Archived] = field(default_factory=list)  # fetched by this run
    failed: dict[str, str] = field(default_factory=dict)  # archive path -> why
    #: source URL or path -> the rule that refused it and why: never archived, reported
    skipped: dict[str, str] = field(default_factory=dict)

    def skip(self, s: SkippedFile) -> None:
        self.skipped[s.source] = f"{s.rule}: {s.reason}"

    @property
    def stored(self) -> list[Archived]:
        return [a for a in self.archived if a.result == StoreResult.STORED.value]


def present_in_bucket(store: ArchiveStore, files: Iterable[SourceFile]) -> set[str]:
    """The archive paths among ``files`` that the bucket holds, one listing per month dir."""
    prefixes = {f.archive_path.rsplit("/", 1)[0] + "/" for f in files}
    held: set[str] = set()
    for prefix in sorted(prefixes):
        held.update(store.names_under(prefix))
    return held


@contextlib.contextmanager
def archived_copy(
    source: ArchiveSource, store: ArchiveStore, f: SourceFile
) -> Iterator[tuple[Archived, FetchedFile]]:
    """Fetch ``f`` to a hashed temporary copy and archive it; the outcome and the copy.

    The copy lives for the ``with`` block, so a caller can convert the very bytes it
    archived without reading them back from the bucket. A path that holds other bytes is
    a CONFLICT: the archived file stays, and is what gets converted (by a later plan). A copy
    whose first bytes are not what its name's suffix says raises ``RefusedFile``, nothing
    stored (the receiver's rule), and so do bytes an operator quarantined at that path.
    """
    with source.fetch_to_temp(f) as copy:
        copy.check_content()
        if store.in_work_bucket(quarantine.raw_name(f.archive_path, copy.sha256)):
            # the source serves the bytes an operator quarantined (cloudz-quarantine): the
            # path stays open for the correct file, as the receiver keeps it
            raise RefusedFile(
                f"{f.archive_path}: an operator quarantined these bytes (sha256 "
                f"{copy.sha256}); not archived again",
                rule="quarantined",
            )
        outcome = store.store(f.archive_path, copy.sha256, copy.size, copy.chunks())
        if outcome.result is StoreResult.CONFLICT:
            log.error(
                "%s: the source has sha256 %s, the archive holds %s: left as archived",
                f.archive_path,
                copy.sha256,
                outcome.archived.sha256,
            )
        yield Archived(f.archive_path, copy.sha256, copy.size, outcome.result.value), copy


def mirror_range(
    source: ArchiveSource,
    store: ArchiveStore,
    collectors: Sequence[Collector],
    start: date | datetime,
    end: date | datetime,
    *,
    fetches: int = DEFAULT_FETCHES,
    future_skew: timedelta = paths.FUTURE_SKEW,
) -> MirrorResult:
    """Archive every file of ``collectors`` named in ``[start, end)`` that is not there yet.

    A listing that fails raises (never read as "no files"); a file that cannot be fetched is
    reported in ``failed`` and the others go on: the next run of the range tries it again.
    A file the archive's rules refuse (its name, its month folder, a name dated after now +
    ``future_skew``, content that is not what its suffix says) is reported in ``skipped``.
    """
    result = MirrorResult()
    listed: list[SourceFile] = []
    skipped: list[SkippedFile] = []
    for collector in collectors:
        listed.extend(source.list_files(collector, start, end, skipped=skipped))
    for f in list(listed):
        if (future := check_not_future(f, future_skew)) is not None:
            skipped.append(future)
            listed.remove(f)
    for s in skipped:
        log.warning("skipped %s: %s: %s", s.source, s.rule, s.reason)
        result.skip(s)
    result.listed = len(listed)
    held = present_in_bucket(store, listed)
    result.present = sorted(f.archive_path for f in listed if f.archive_path in held)
    missing = [f for f in listed if f.archive_path not in held]
    log.info(
        "%d files listed, %d archived already, %d to fetch", len(listed), len(held), len(missing)
    )

    def fetch(f: SourceFile) -> Archived | tuple[str, str] | SkippedFile:
        try:
            with archived_copy(source, store, f) as (archived, _):
                return archived
        except RefusedFile as exc:
            log.warning("skipped %s: %s: %s", f.source, exc.rule, exc)
            return SkippedFile(f.source, f.name, exc.rule, str(exc), f.dump_time)
        except SourceError as exc:
            return f.archive_path, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, fetches), thread_name_prefix="fetch") as pool:
        for done in pool.map(fetch, missing):
            if isinstance(done, Archived):
                result.archived.append(done)
            elif isinstance(done, SkippedFile):
                result.skip(done)
            else:
                result.failed[done[0]] = done[1]
    return result
