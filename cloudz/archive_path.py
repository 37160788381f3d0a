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
        """Where the converted rows of this file live: next to the raw object."""
        return f"{self.path}.avro"


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
    if m["name"].lower().endswith(DERIVED_SUFFIXES):
        raise ArchivePathError(
            f"archive path {path!r} ends in {m['name'].rsplit('.', 1)[-1]!r}: that name is kept "
            "for the rows converted from the file beside it"
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
