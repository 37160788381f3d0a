"""Where the real MRT sample files are: ``../shared/mrt-samples`` beside the checkout,
or ``CLOUDZ_MRT_SAMPLES``. Tests that need them fail (not skip) when they are missing."""

from __future__ import annotations

import bz2
import gzip
import os
from datetime import UTC, datetime
from pathlib import Path

from cloudz.settings import PROJECT_ROOT

SAMPLES_DIR = Path(
    os.environ.get("CLOUDZ_MRT_SAMPLES") or PROJECT_ROOT.parent / "shared" / "mrt-samples"
).resolve()


def record_time(path: Path) -> datetime:
    """The header time of the first MRT record of ``path`` (gzip, bzip2 or raw), in UTC.

    The pipeline keeps a file's rows only within a day of the time in its archive name
    (:mod:`cloudz.archive.time_window`), so a sample is archived under a name of its own time.
    """
    with path.open("rb") as f:
        magic = f.read(3)
    opener = gzip.open if magic[:2] == b"\x1f\x8b" else bz2.open if magic == b"BZh" else open
    with opener(path, "rb") as f:
        header = f.read(4)
    return datetime.fromtimestamp(int.from_bytes(header, "big"), UTC)


def archive_name(path: Path, prefix: str, suffix: str = "") -> tuple[str, str]:
    """``(month folder, name)`` RouteViews would give ``path``'s content: ``YYYY.MM`` and
    ``<prefix>.YYYYMMDD.HHMM<suffix>`` of its first record's time."""
    when = record_time(path)
    return f"{when:%Y.%m}", f"{prefix}.{when:%Y%m%d.%H%M}{suffix}"
