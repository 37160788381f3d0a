"""The rules for archive paths: the one module that knows RouteViews' layout.

An archive path names a file in the archive the way RouteViews does,
``<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/<file>``, and is also the object
name in the bucket. It is hostile input on the receiver, so it is checked
against a strict grammar rather than cleaned up: ``..``, absolute paths,
empty segments, control characters and unknown layouts are refused.

It also owns the rules a *new* file must meet before it is archived for good (the receiver,
the mirror and the backfill apply the same ones; once written, a path belongs to whoever
wrote it first):

- ``file-name``: the name is RouteViews' ``rib.YYYYMMDD.HHMM`` in ``RIBS/`` and
  ``updates.YYYYMMDD.HHMM`` in ``UPDATES/``, then ``.bz2`` (every file RouteViews has
  listed since 2001), ``.gz`` (other MRT archives, e.g. RIPE RIS) or nothing (raw MRT);
- ``kind-prefix``: ``rib.`` only under ``RIBS/``, ``updates.`` only under ``UPDATES/``;
- ``name-date``: the name's date and time exist (no 2024-02-30, no 24:00);
- ``month-folder``: the name's date is in the folder's month, or within ``MONTH_EDGE`` of
  it (a file rotated just after midnight of the 1st sits in the month it started in);
- ``archive-years``: the folder's year is within ``FIRST_YEAR`` .. ``LAST_YEAR`` (2001-2159);
- ``reserved-collector``: the collector is none of the layout's own words (``bgpdata``,
  ``RIBS``, ``UPDATES``);
- ``future-date`` (:func:`check_not_future`): the name's time is not after now plus a small
  skew (``Settings.archive_future_skew_seconds``);
- ``suffix-content`` (:func:`check_content`): ``.bz2`` content starts with ``BZh``, ``.gz``
  with ``1f 8b``, a name without either suffix holds neither (raw MRT).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePath
from zoneinfo import ZoneInfo

MAX_LENGTH = 200
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
# [0-9], not \d: Python's \d takes any Unicode digit (fullwidth, Arabic-Indic), Airflow does not
_LAYOUT = re.compile(
    rf"(?P<collector>{_SEGMENT})/bgpdata/(?P<year>[0-9]{{4}})\.(?P<month>[0-9]{{2}})/"
    rf"(?P<kind>RIBS|UPDATES)/(?P<name>{_SEGMENT})",
    re.ASCII,
)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)
#: RouteViews' dump names: ``rib.20011026.1648.bz2`` (route-views2, 2001) to
#: ``updates.20240118.2145.bz2`` (route-views.sg, 2024): ``<prefix>.YYYYMMDD.HHMM.bz2`` in every
#: month RouteViews has listed (bgpkit/bgpkit-broker's crawler reads every RIBS/UPDATES link
#: of every collector with ``(........\.....)\.bz2``); ``.gz`` for other MRT archives and no
#: suffix for raw MRT
_DUMP_NAME = re.compile(
    r"(?P<prefix>rib|updates)\.(?P<date>[0-9]{8})\.(?P<time>[0-9]{4})(?P<suffix>\.bz2|\.gz)?",
    re.ASCII,
)
#: the file-name prefix of each kind folder
KIND_PREFIX = {"RIBS": "rib", "UPDATES": "updates"}
#: how far outside its folder's month a name's date may be (a file rotated just after
#: midnight of the 1st is kept in the month it started in; ``cloudz.sources`` lists this far
#: beyond a range's months for the same reason)
MONTH_EDGE = timedelta(days=1)
#: collector names that are words of the layout itself (``bgpdata/bgpdata/...`` is the
#: root of route-views2's old tree, not a collector)
RESERVED_COLLECTORS = frozenset({"bgpdata", "ribs", "updates"})
#: the folder years a path may name (rule ``archive-years``): RouteViews' MRT archive starts in
#: 2001 (route-views2's 2001.10; include/collectors.yaml, every collector's first_date is later),
#: and BigQuery's time-unit partitions end with 2159-12-31 (rows after it, or before 1960, all go
#: to one ``__UNPARTITIONED__`` partition). A year outside them is no file of this archive: before
#: this rule a ``0000.01`` folder was archived and its catalog row (month 0000-01-01, a DATE
#: BigQuery cannot hold) could not be read back
FIRST_YEAR = 2001
LAST_YEAR = 2159
#: RouteViews named files in Pacific wall-clock time before this day (include/collectors.yaml,
#: FIELD-NOTES §9), in UTC after it
PACIFIC_NAMES_BEFORE = date(2003, 2, 3)
PACIFIC = ZoneInfo("America/Los_Angeles")
#: the default of how far in the future a name's time may be (``Settings``)
FUTURE_SKEW = timedelta(hours=1)
#: the first bytes each suffix's content starts with
MAGIC = {".bz2": b"BZh", ".gz": b"\x1f\x8b"}
#: the bytes :func:`check_content` needs to tell (fewer only at the end of a file)
MAGIC_BYTES = max(len(m) for m in MAGIC.values())
#: objects the pipeline writes next to an archived file: never an archive path themselves
DERIVED_SUFFIXES = (".avro",)
#: a file's converted rows are ``<archive path>.avro`` (part 0) and, when they are bigger
#: than one part (``Settings.avro_part_mb``), ``<archive path>.avro-0001.avro``, ``-0002.avro``
#: ...: every part a whole Avro object container file. A load names them all with the
#: wildcard ``<archive path>.avro*``, so the bucket must hold nothing else under that prefix:
#: no archive name contains ``.avro`` (:func:`parse`), and the conversion deletes the parts a
#: longer earlier conversion left.
AVRO_MARK = ".avro"
_PART_DIGITS = 4
_DERIVED = re.compile(r"(?P<raw>.+?)\.avro(?:-(?P<part>[0-9]{4,})\.avro)?", re.ASCII)


class ArchivePathError(ValueError):
    """The path does not follow the archive layout; the message says why and ``rule``
    names the rule (``layout`` for the structure, else one of the module's rules)."""

    def __init__(self, message: str, rule: str = "layout") -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class ArchivePath:
    """A validated archive path and the facts its layout carries."""

    path: str
    collector: str
    year: int
    month: int
    kind: str  # "RIBS" or "UPDATES"
    name: str
    #: the time in the file's name, as written (UTC since 2003-02-03, Pacific time before)
    named_time: datetime
    #: ".bz2", ".gz" or "" (raw MRT): what the content must be
    suffix: str

    def __str__(self) -> str:
        return self.path

    @property
    def dump_time(self) -> datetime:
        """The time in the file's name in UTC (the Pacific rule applied): a label, the
        records' own timestamps are the truth."""
        return dump_time(self.named_time)

    @property
    def month_date(self) -> date:
        """The first day of the path's ``YYYY.MM`` folder (the catalog's partition)."""
        return date(self.year, self.month, 1)

    @property
    def avro_path(self) -> str:
        """The first (often only) part of this file's converted rows: next to the raw object."""
        return avro_part_name(self.path, 0)

    def avro_part_path(self, part: int) -> str:
        """The object name of part ``part`` (from 0) of this file's converted rows."""
        return avro_part_name(self.path, part)

    @property
    def avro_pattern(self) -> str:
        """The wildcard that names every part of this file's rows (the load's source)."""
        return avro_pattern(self.path)


def avro_part_name(archive_path: str, part: int) -> str:
    """Part ``part`` of the rows of ``archive_path``: ``.avro``, then ``.avro-0001.avro`` ..."""
    if part < 0:
        raise ValueError(f"part {part} < 0")
    if part == 0:
        return f"{archive_path}{AVRO_MARK}"
    return f"{archive_path}{AVRO_MARK}-{part:0{_PART_DIGITS}d}{AVRO_MARK}"


def avro_pattern(archive_path: str) -> str:
    """``<archive path>.avro*``: every part of the file's rows, as a load's source names them."""
    return f"{archive_path}{AVRO_MARK}*"


def avro_source_uri(bucket: str, archive_path: str) -> str:
    """The one source URI a load of the file's rows names: ``gs://<bucket>/<path>.avro*``."""
    return f"gs://{bucket}/{avro_pattern(archive_path)}"


def avro_source_uris(bucket: str, archive_path: str) -> frozenset[str]:
    """Every source URI that named the file's rows in a load job: the wildcard, and the
    single object ``<path>.avro`` that loads named before the rows were split in parts."""
    return frozenset(
        {avro_source_uri(bucket, archive_path), f"gs://{bucket}/{avro_part_name(archive_path, 0)}"}
    )


def source_of_uri(uri: str) -> tuple[str, str] | None:
    """``(bucket, archive path)`` whose rows a load source URI names (either form of
    :func:`avro_source_uris`); None for any other URI."""
    if not uri.startswith("gs://"):
        return None
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    name = name.removesuffix("*") if name.endswith(f"{AVRO_MARK}*") else name
    if not name.endswith(AVRO_MARK):
        return None
    raw = name.removesuffix(AVRO_MARK)
    return (bucket, raw) if raw and AVRO_MARK not in raw.rsplit("/", 1)[-1] else None


def derived_source(name: str) -> tuple[str, int] | None:
    """``(archive path, part)`` of a converted-rows object name (``<path>.avro`` is part 0,
    ``<path>.avro-0003.avro`` part 3); None if ``name`` is not one (the path is not checked
    against the layout: :func:`parse` it)."""
    m = _DERIVED.fullmatch(name)
    if m is None or AVRO_MARK in m["raw"].rsplit("/", 1)[-1]:
        return None
    part = int(m["part"]) if m["part"] is not None else 0
    if m["part"] is not None and (part == 0 or avro_part_name(m["raw"], part) != name):
        return None  # "-0000" and "-00001" are no names the conversion writes
    return m["raw"], part


def parse(path: str) -> ArchivePath:
    """Validate ``path`` against the archive layout, or raise ``ArchivePathError``."""
    if not path:
        raise ArchivePathError("archive path is empty")
    if len(path) > MAX_LENGTH:
        raise ArchivePathError(f"archive path is longer than {MAX_LENGTH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise ArchivePathError("archive path contains control characters")
    if not path.isascii():
        raise ArchivePathError(
            "archive path contains non-ASCII characters: RouteViews' layout is ASCII only"
        )
    if path.startswith("/"):
        raise ArchivePathError("archive path must be relative (no leading '/')")
    if "\\" in path:
        raise ArchivePathError("archive path must use '/' separators")
    segments = path.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise ArchivePathError("archive path has an empty, '.' or '..' segment")
    if ".." in path:
        # inside a segment too: Airflow refuses '..' anywhere in a run id (path traversal),
        # so such a file would be archived and its run never start
        raise ArchivePathError(f"archive path {path!r} contains '..'")
    m = _LAYOUT.fullmatch(path)
    if m is None:
        raise ArchivePathError(
            f"archive path {path!r} does not follow "
            "<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/<file>"
        )
    if AVRO_MARK in m["name"].lower():
        # <file>.avro* names the converted rows of <file> (every part, one wildcard): an
        # archived file named so would be loaded with them
        raise ArchivePathError(
            f"archive path {path!r} contains {AVRO_MARK!r}: names that hold it are kept "
            "for the rows converted from the file beside them"
        )
    month = int(m["month"])
    if not 1 <= month <= 12:
        raise ArchivePathError(f"archive path {path!r} has month {month:02d}")
    year = int(m["year"])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ArchivePathError(
            f"archive path {path!r}: year {m['year']} is outside {FIRST_YEAR}-{LAST_YEAR} "
            f"(RouteViews' archive starts in {FIRST_YEAR}; the warehouse's monthly partitions "
            f"end in {LAST_YEAR})",
            rule="archive-years",
        )
    if m["collector"].lower() in RESERVED_COLLECTORS:
        raise ArchivePathError(
            f"archive path {path!r}: collector {m['collector']!r} is a word of the layout "
            "itself, not a collector name",
            rule="reserved-collector",
        )
    named_time, suffix = _check_name(path, m["kind"], m["name"], int(m["year"]), month)
    return ArchivePath(
        path=path,
        collector=m["collector"],
        year=int(m["year"]),
        month=month,
        kind=m["kind"],
        name=m["name"],
        named_time=named_time,
        suffix=suffix,
    )


def dump_time(
    named_time: datetime, pacific_names_before: date | None = PACIFIC_NAMES_BEFORE
) -> datetime:
    """A name's time in UTC: wall-clock Pacific time before ``pacific_names_before``
    (RouteViews' names until 2003-02-03; None for an archive that always named in UTC)."""
    if pacific_names_before is not None and named_time.date() < pacific_names_before:
        return named_time.replace(tzinfo=PACIFIC).astimezone(UTC)
    return named_time.replace(tzinfo=UTC)


def stored_month(path: str) -> tuple[int, int] | None:
    """``(year, month)`` of the folder of a path that follows the layout, whatever the rules
    for a *new* file say: for reading what the archive and the warehouse already hold (a path
    archived before a rule existed, e.g. a ``0000.01`` folder). None when the path has no
    such folder. Never use it to accept a new file: :func:`parse` does that."""
    m = _LAYOUT.fullmatch(path) if path.isascii() else None
    return None if m is None else (int(m["year"]), int(m["month"]))


def _check_name(path: str, kind: str, name: str, year: int, month: int) -> tuple[datetime, str]:
    """The rules of a file name in its kind folder: the name's time and suffix."""
    prefix = KIND_PREFIX[kind]
    d = _DUMP_NAME.fullmatch(name)
    if d is None:
        raise ArchivePathError(
            f"archive path {path!r}: a file in {kind}/ is named "
            f"{prefix}.YYYYMMDD.HHMM.bz2 (or .gz, or no suffix for raw MRT), not {name!r}",
            rule="file-name",
        )
    if d["prefix"] != prefix:
        raise ArchivePathError(
            f"archive path {path!r}: {d['prefix']}.* files do not belong in {kind}/ "
            f"(names there start with {prefix}.)",
            rule="kind-prefix",
        )
    try:
        named = datetime.strptime(d["date"] + d["time"], "%Y%m%d%H%M")
    except ValueError:
        raise ArchivePathError(
            f"archive path {path!r}: {d['date']}.{d['time']} is no date and time",
            rule="name-date",
        ) from None
    first = datetime(year, month, 1)
    after = datetime(year + 1, 1, 1) if month == 12 else datetime(year, month + 1, 1)
    if not first - MONTH_EDGE <= named < after + MONTH_EDGE:
        raise ArchivePathError(
            f"archive path {path!r}: a file named {named:%Y-%m-%d %H:%M} does not belong in "
            f"the {year:04d}.{month:02d} folder (its month's folder is {named:%Y.%m})",
            rule="month-folder",
        )
    return named, d["suffix"] or ""


def check_not_future(
    path: ArchivePath, now: datetime | None = None, skew: timedelta = FUTURE_SKEW
) -> None:
    """Refuse (rule ``future-date``) a name whose time is after ``now`` + ``skew``: nobody
    has a file from the future, and whoever wrote its path first would own it."""
    now = now or datetime.now(UTC)
    named = path.named_time.replace(tzinfo=UTC)  # Pacific names are all before 2003
    if named > now + skew:
        raise ArchivePathError(
            f"archive path {path.path!r}: its name's time {named:%Y-%m-%d %H:%M} UTC is after "
            f"now ({now:%Y-%m-%d %H:%M} UTC) plus {skew.total_seconds() / 60:.0f} minutes: "
            "a file cannot be named for a time that has not come",
            rule="future-date",
        )


def check_content(path: ArchivePath, head: bytes) -> None:
    """Refuse (rule ``suffix-content``) content whose first bytes are not what the name's
    suffix says: ``.bz2`` starts with ``BZh``, ``.gz`` with ``1f 8b``, no suffix with
    neither. ``head`` is the start of the file (at least ``MAGIC_BYTES`` unless shorter)."""
    found = next((s for s, magic in MAGIC.items() if head.startswith(magic)), "")
    if found == path.suffix:
        return
    said = f"the name says {path.suffix[1:]}" if path.suffix else "the name says raw MRT"
    holds = (
        f"the content is {found[1:]}"
        if found
        else "the content is not "
        + ("bzip2 (no BZh)" if path.suffix == ".bz2" else "gzip (no 1f 8b)")
    )
    raise ArchivePathError(
        f"{path.path}: {said} but {holds} (first bytes {head[:MAGIC_BYTES].hex(' ')}); "
        "name the file for what it holds",
        rule="suffix-content",
    )


def from_local_file(local: str | PurePath) -> ArchivePath:
    """Derive the archive path of a file kept in RouteViews' layout on a collector.

    ``/srv/archive/route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2`` gives
    ``route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2``: the segment before
    the last ``bgpdata`` names the collector.
    """
    parts = PurePath(local).parts
    for i in range(len(parts) - 4, 0, -1):
        if parts[i] == "bgpdata":
            return parse("/".join(parts[i - 1 :]))
    raise ArchivePathError(
        f"{local} is not kept in the layout <collector>/bgpdata/YYYY.MM/{{RIBS,UPDATES}}/<file>; "
        "give the archive path explicitly"
    )


def check_sha256(value: str) -> str:
    """Return a sha256 hex digest in lower case, or raise ``ValueError``."""
    if value != value.strip():
        raise ValueError(
            f"sha256 {value!r} has leading or trailing whitespace: send the 64 hex digits only"
        )
    lowered = value.lower()
    if not _SHA256.fullmatch(lowered):
        raise ValueError(f"not a sha256 hex digest (64 hex digits): {value!r}")
    return lowered


def run_id(archive_path: ArchivePath, sha256: str) -> str:
    """The Airflow run id of one file's version: stable, so a retry finds the same run.

    Airflow run ids allow ``[A-Za-z0-9_.~:+-]`` only, so ``/`` becomes ``~`` (which
    the layout never allows in a segment); the hash prefix tells versions apart.
    """
    return f"mrt:{archive_path.path.replace('/', '~')}:{check_sha256(sha256)[:16]}"
