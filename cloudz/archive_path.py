"""The rules for archive paths: the one module that knows RouteViews' layout.

An archive path names a file in the archive the way RouteViews does,
``<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/<file>``, and is also the object
name in the bucket. It is hostile input on the receiver, so it is checked
against a strict grammar rather than cleaned up: ``..``, absolute paths,
empty segments, control characters and unknown layouts are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

MAX_LENGTH = 200
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
# [0-9], not \d: Python's \d takes any Unicode digit (fullwidth, Arabic-Indic), Airflow does not
_LAYOUT = re.compile(
    rf"(?P<collector>{_SEGMENT})/bgpdata/(?P<year>[0-9]{{4}})\.(?P<month>[0-9]{{2}})/"
    rf"(?P<kind>RIBS|UPDATES)/(?P<name>{_SEGMENT})",
    re.ASCII,
)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)
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
    """The path does not follow the archive layout; the message says why."""


@dataclass(frozen=True)
class ArchivePath:
    """A validated archive path and the facts its layout carries."""

    path: str
    collector: str
    year: int
    month: int
    kind: str  # "RIBS" or "UPDATES"
    name: str

    def __str__(self) -> str:
        return self.path

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
    return ArchivePath(
        path=path,
        collector=m["collector"],
        year=int(m["year"]),
        month=month,
        kind=m["kind"],
        name=m["name"],
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
