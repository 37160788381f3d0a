"""What a source lists and fetches: months, dump files, fetched copies, and the one error type.

A dump file is known by its name, ``{rib,updates}.YYYYMMDD.HHMM.bz2``, and by the directory it
was found in, ``<archive dir>/YYYY.MM/{RIBS,UPDATES}/``. Its archive path (the object name in
the bucket) is always ``<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/<name>``, whatever directory
the source keeps the collector in (route-views2 lives at the archive root).
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final

from cloudz.archive import paths

#: what ``FetchedFile.chunks`` yields by default: the receiver's and the CLI's chunk size
CHUNK_BYTES: Final = 1024 * 1024

_MONTH = re.compile(r"(?P<year>[0-9]{4})\.(?P<month>[0-9]{2})", re.ASCII)
#: the time in a dump's name, read from a name the archive's rules refused
_NAME_TIME = re.compile(r"(?:rib|updates)\.([0-9]{8}\.[0-9]{4})\.(?:bz2|gz)", re.ASCII)


class SourceError(Exception):
    """A source could not be read: the message names the URL or path and says why.

    Listing never degrades to an empty answer on an error: a missing page, a page that is
    not an index, or a server that keeps failing raises this instead.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class RefusedFile(SourceError):
    """A listed or fetched file the archive's rules refuse (``cloudz.archive.paths``): it is
    skipped and reported, never archived. ``rule`` names the rule."""

    def __init__(self, message: str, *, rule: str, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.rule = rule


@dataclass(frozen=True)
class SkippedFile:
    """A name a listing found and skipped, with the rule that refused it."""

    source: str  # the URL or local path
    name: str
    rule: str
    reason: str
    #: the time in the name (UTC) when it has one: a range reports the skips named in it
    dump_time: datetime | None = None


class FileKind(enum.Enum):
    """The two kinds of dump, named as their directories are."""

    RIBS = "RIBS"
    UPDATES = "UPDATES"

    @property
    def prefix(self) -> str:
        """The file-name prefix of this kind: ``rib`` or ``updates``."""
        return "rib" if self is FileKind.RIBS else "updates"


ALL_KINDS: Final = (FileKind.RIBS, FileKind.UPDATES)


def check_not_future(
    f: SourceFile, skew: timedelta = paths.FUTURE_SKEW, now: datetime | None = None
) -> SkippedFile | None:
    """Why ``f`` is skipped if its name is dated after now + ``skew`` (the receiver's rule)."""
    try:
        paths.check_not_future(f.path, now=now, skew=skew)
    except paths.ArchivePathError as e:
        return SkippedFile(f.source, f.name, e.rule, str(e), f.dump_time)
    return None


@dataclass(frozen=True, order=True)
class Month:
    """One month directory, ``YYYY.MM``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1000 <= self.year <= 9999 and 1 <= self.month <= 12):
            raise ValueError(f"not a month: {self.year}.{self.month:02d}")

    @classmethod
    def parse(cls, text: str) -> Month | None:
        """``"2024.01"`` gives ``Month(2024, 1)``; anything else gives ``None``."""
        m = _MONTH.fullmatch(text)
        if m is None or not 1 <= int(m["month"]) <= 12:
            return None
        return cls(int(m["year"]), int(m["month"]))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}.{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from ``first`` to ``last``, both included."""
    out: list[Month] = []
    m = first
    while m <= last:
        out.append(m)
        m = m.next()
    return out


def as_utc(value: date | datetime) -> datetime:
    """A range bound as an aware UTC datetime; a date is its midnight UTC.

    A naive datetime is refused: whether it meant UTC or local time cannot be told, and a
    wrong guess shifts every day of a backfill by hours.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value} has no time zone: give an aware datetime or a date")
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


@dataclass(frozen=True)
class SourceFile:
    """One dump file as a source lists it.

    ``size`` is exact for a local tree; an Apache index shows sizes rounded (``6.4M``) unless
    they are under 973 bytes, so ``size_exact`` says which. The size that counts is the one
    ``fetch_to_temp`` measures.
    """

    collector: str
    kind: FileKind
    name: str
    month: Month  # the month directory it was found in (not always the name's month)
    dump_time: datetime  # from the name, UTC (the source's Pacific rule applied)
    size: int
    size_exact: bool
    source: str  # the URL or local path it is fetched from
    modified: datetime | None  # the listing's "last modified", as shown
    #: where this file goes in the bucket, always under ``<collector>/``: checked once, when
    #: the listing found it (:func:`make_source_file`)
    path: paths.ArchivePath = field(repr=False, compare=False)

    @property
    def archive_path(self) -> str:
        return self.path.path


def source_file_to_dict(f: SourceFile) -> dict[str, object]:
    """``f`` as JSON-able values (an XCom between the plan and a conversion task)."""
    return {
        "collector": f.collector,
        "kind": f.kind.value,
        "name": f.name,
        "month": str(f.month),
        "dump_time": f.dump_time.isoformat(),
        "size": f.size,
        "size_exact": f.size_exact,
        "source": f.source,
    }


def source_file_from_dict(d: dict[str, object]) -> SourceFile:
    month = Month.parse(str(d["month"]))
    if month is None:
        raise ValueError(f"not a month directory: {d['month']!r}")
    kind = FileKind(d["kind"])
    return SourceFile(
        collector=str(d["collector"]),
        kind=kind,
        name=str(d["name"]),
        month=month,
        dump_time=datetime.fromisoformat(str(d["dump_time"])),
        size=int(str(d["size"])),
        size_exact=bool(d["size_exact"]),
        source=str(d["source"]),
        modified=None,
        path=paths.parse(f"{d['collector']}/bgpdata/{month}/{kind.value}/{d['name']}"),
    )


def make_source_file(
    *,
    collector: str,
    kind: FileKind,
    name: str,
    month: Month,
    size: int,
    size_exact: bool,
    source: str,
    modified: datetime | None,
    pacific_names_before: date | None,
) -> SourceFile | SkippedFile:
    """A ``SourceFile`` for a name found in ``month/kind``, or why it is skipped: the name must
    meet the archive's rules for a path (``cloudz.archive.paths``: the name's grammar in its
    kind folder, the month folder against the name's date), the ones the receiver applies."""
    try:
        path = paths.parse(f"{collector}/bgpdata/{month}/{kind.value}/{name}")
    except paths.ArchivePathError as e:
        return SkippedFile(
            source=source,
            name=name,
            rule=e.rule,
            reason=str(e),
            dump_time=_name_time(name, pacific_names_before),
        )
    return SourceFile(
        collector=collector,
        kind=kind,
        name=name,
        month=month,
        dump_time=paths.dump_time(path.named_time, pacific_names_before),
        size=size,
        size_exact=size_exact,
        source=source,
        modified=modified,
        path=path,
    )


def _name_time(name: str, pacific_names_before: date | None) -> datetime | None:
    """The UTC time a refused dump name claims, if it has one (a range reports its skips)."""
    m = _NAME_TIME.fullmatch(name)
    try:
        named = None if m is None else datetime.strptime(m[1], "%Y%m%d.%H%M")
    except ValueError:
        return None
    return None if named is None else paths.dump_time(named, pacific_names_before)


def split_listing(
    found: Iterable[SourceFile | SkippedFile],
    start: datetime,
    end: datetime,
    skipped: list[SkippedFile] | None,
) -> list[SourceFile]:
    """The files of a listing named in ``[start, end)`` (:func:`in_range`); the skips named in
    the range, or with no time in their name, are appended to ``skipped``."""
    files: list[SourceFile] = []
    for f in found:
        if isinstance(f, SourceFile):
            files.append(f)
        elif skipped is not None and (f.dump_time is None or start <= f.dump_time < end):
            skipped.append(f)
    return in_range(files, start, end)


#: a file named near a month's edge may sit in the neighbouring month's directory (Pacific
#: names, late rotation): listing a range also reads the months this far beyond its ends (the
#: archive's rules allow names this far outside their folder's month)
MONTH_EDGE: Final = paths.MONTH_EDGE


def months_to_scan(available: Iterable[Month], start: datetime, end: datetime) -> list[Month]:
    """The available months whose directories may hold files named in ``[start, end)``."""
    lo = Month.of((start - MONTH_EDGE).date())
    hi = Month.of((end + MONTH_EDGE).date())
    return sorted(m for m in set(available) if lo <= m <= hi)


def in_range(files: Iterable[SourceFile], start: datetime, end: datetime) -> list[SourceFile]:
    """The files whose dump time is in ``[start, end)``, in dump-time order.

    Ranges select by the name's time, so consecutive ranges partition the archive: every
    file belongs to exactly one daily (or monthly) run, wherever its directory is.
    """
    chosen = [f for f in files if start <= f.dump_time < end]
    return sorted(chosen, key=lambda f: (f.dump_time, f.kind.value, f.name, str(f.month)))


@dataclass
class FetchedFile:
    """A dump copied to a private temporary file, with the sha256 and size of that copy.

    ``ArchiveStore.store`` needs the sha256 before it streams, so the bytes are hashed once
    on the way in and then read back from this copy with ``chunks()``: what was hashed is
    exactly what is stored. Use it as a context manager (or call ``remove``) to delete it.
    """

    file: SourceFile
    path: Path
    sha256: str
    size: int

    def check_content(self) -> None:
        """Raise ``RefusedFile`` unless the copy's first bytes are what its name's suffix says
        (``cloudz.archive.paths.check_content``, the receiver's rule)."""
        with self.path.open("rb") as f:
            head = f.read(paths.MAGIC_BYTES)
        try:
            paths.check_content(self.file.path, head)
        except paths.ArchivePathError as e:
            raise RefusedFile(str(e), rule=e.rule, url=self.file.source) from e

    def chunks(self, chunk_size: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The copy's bytes, ``chunk_size`` at a time."""
        with self.path.open("rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> FetchedFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()


class HashingTempFile:
    """A temporary file that hashes what is written to it; removed unless ``keep`` is called."""

    def __init__(self, temp_dir: Path | None) -> None:
        fd, name = tempfile.mkstemp(prefix="cloudz-source-", suffix=".part", dir=temp_dir)
        self.path = Path(name)
        self._out: BinaryIO = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._out.write(chunk)
        self.size += len(chunk)

    def restart(self) -> None:
        """Forget what was written (a retried download starts from byte 0)."""
        self._out.seek(0)
        self._out.truncate()
        self._digest = hashlib.sha256()
        self.size = 0

    def keep(self, file: SourceFile) -> FetchedFile:
        self._out.close()
        return FetchedFile(
            file=file, path=self.path, sha256=self._digest.hexdigest(), size=self.size
        )

    def discard(self) -> None:
        self._out.close()
        self.path.unlink(missing_ok=True)
