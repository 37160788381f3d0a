"""What the bucket holds for some days: raw objects (with sha256 and age) and Avro objects.

One listing per collector and month directory (``<collector>/bgpdata/YYYY.MM/``), paged, asking
only for the fields used: a month of a busy collector is ~3,400 raw files plus their Avro
objects, seven pages. The collectors are those of the list plus every top-level directory of
the bucket (one delimiter listing), so a collector missing from ``include/collectors.yaml``
is seen, archived and flagged rather than ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cloudz.archive import paths
from cloudz.archive.store import SHA256_METADATA_KEY

if TYPE_CHECKING:
    from google.cloud import storage

_FIELDS = "items(name,size,metadata,timeCreated),nextPageToken"


@dataclass(frozen=True)
class RawObject:
    """An archived file as the bucket lists it."""

    path: str
    collector: str
    kind: str
    dump_time: dt.datetime | None  # from the file name; None when the name has no time
    sha256: str  # empty when not written through ArchiveStore
    size: int
    created: dt.datetime | None

    @property
    def day(self) -> dt.date | None:
        return self.dump_time.date() if self.dump_time else None


@dataclass
class BucketScan:
    raw: list[RawObject] = field(default_factory=list)
    avro: set[str] = field(default_factory=set)
    #: objects under a month directory that are not archive paths (left for a person)
    strays: list[str] = field(default_factory=list)

    @property
    def orphan_avro(self) -> list[str]:
        """Avro objects (every part) whose raw object is gone (or never was)."""
        raw = {r.path for r in self.raw}
        return sorted(a for a in self.avro if _raw_of(a) not in raw)


def _raw_of(avro: str) -> str | None:
    source = paths.derived_source(avro)
    return source[0] if source else None


def _parsed(path: str | None) -> paths.ArchivePath | None:
    try:
        return paths.parse(path) if path is not None else None
    except paths.ArchivePathError:
        return None


def months_of(first: dt.date, last: dt.date) -> list[str]:
    """``YYYY.MM`` of every month from ``first`` to ``last``."""
    out, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(f"{year:04d}.{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def bucket_collectors(bucket: storage.Bucket) -> set[str]:
    """The top-level directories that may be collectors (``_``-prefixed ones are the
    pipeline's own: staging, claims, load claims)."""
    blobs = bucket.list_blobs(delimiter="/", fields="prefixes,nextPageToken")
    for _ in blobs:  # the prefixes are filled in while the pages are read
        pass
    return {p.rstrip("/") for p in blobs.prefixes if not p.startswith("_")}


def scan(
    bucket: storage.Bucket, collectors: Iterable[str], first: dt.date, last: dt.date
) -> BucketScan:
    """The raw and Avro objects of ``collectors`` named from ``first`` to ``last`` (days).

    A raw object whose name carries no time is kept when its month directory is in range.
    """
    out = BucketScan()
    # a directory is the month of the file's name in its own time zone: before 2003-02-03
    # that was Pacific time, so the first UTC day's files may sit in the month before
    months = months_of(first - dt.timedelta(days=1), last)
    for collector in sorted(set(collectors)):
        for month in months:
            prefix = f"{collector}/bgpdata/{month}/"
            for blob in bucket.list_blobs(prefix=prefix, fields=_FIELDS):
                _add(out, blob, first, last)
    out.raw.sort(key=lambda r: r.path)
    return out


def _add(out: BucketScan, blob: storage.Blob, first: dt.date, last: dt.date) -> None:
    name: str = blob.name
    if name.endswith(paths.DERIVED_SUFFIXES):
        # <path>.avro or a further part <path>.avro-0001.avro (cloudz.file_pipeline.avro_parts)
        path = _parsed(_raw_of(name))
        if path is None:
            out.strays.append(name)
            return
        if first <= path.dump_time.date() <= last:
            out.avro.add(name)
        return
    try:
        path = paths.parse(name)
    except paths.ArchivePathError:
        out.strays.append(name)
        return
    when = path.dump_time
    if not first <= when.date() <= last:
        return
    out.raw.append(
        RawObject(
            path=name,
            collector=path.collector,
            kind=path.kind,
            dump_time=when,
            sha256=(blob.metadata or {}).get(SHA256_METADATA_KEY, ""),
            size=int(blob.size or 0),
            created=blob.time_created,
        )
    )


def days_between(first: dt.date, last: dt.date) -> Sequence[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
