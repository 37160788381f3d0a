"""One archived file version, known by a typed value made once where the file enters.

The receiver makes it after its checks, the mirror and backfill when a fetched copy is
hashed, the per-file DAG from its run conf: from there every stage, metric and catalog row
reads the path's facts (collector, kind, month, the name's time in UTC) from it instead of
parsing the archive path string again. Airflow's run conf and XComs are JSON, so it crosses
a process as :meth:`ArchivedFile.to_conf` and comes back through :meth:`ArchivedFile.from_conf`,
which applies the archive's rules again: a conf is input (an operator may type one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cloudz import pipeline_contract as contract
from cloudz.archive import paths


@dataclass(frozen=True)
class ArchivedFile:
    """An archive path that meets the layout, with the sha256 and size of its bytes."""

    path: paths.ArchivePath
    sha256: str
    #: bytes archived; 0 when not known (a conf typed without it)
    size: int = 0

    @classmethod
    def of(cls, archive_path: str, sha256: str, size: int = 0) -> ArchivedFile:
        """Check ``archive_path`` and ``sha256``; raise ``ValueError`` (an
        ``ArchivePathError`` for the path) when either is not what the archive holds."""
        if size < 0:
            raise ValueError(f"size {size} < 0")
        return cls(paths.parse(archive_path), paths.check_sha256(sha256), size)

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> ArchivedFile:
        """The file a run conf (or an XCom holding its keys) names; ``ValueError`` if none."""
        try:
            archive_path, sha256 = conf[contract.CONF_ARCHIVE_PATH], conf[contract.CONF_SHA256]
            size = int(conf.get(contract.CONF_SIZE) or 0)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"the conf names no archived file: {exc!r}") from exc
        if not isinstance(archive_path, str) or not isinstance(sha256, str):
            raise ValueError("the conf's archive_path and sha256 are text")
        return cls.of(archive_path, sha256, size)

    def to_conf(self) -> dict[str, Any]:
        """The run conf's keys for this file (the keys every receiver has written)."""
        return {
            contract.CONF_ARCHIVE_PATH: self.path.path,
            contract.CONF_SHA256: self.sha256,
            contract.CONF_SIZE: self.size,
        }

    @property
    def archive_path(self) -> str:
        return self.path.path

    @property
    def collector(self) -> str:
        return self.path.collector

    @property
    def kind(self) -> str:
        """``RIBS`` or ``UPDATES``."""
        return self.path.kind

    @property
    def dump_time(self) -> datetime:
        """The time in the file's name, in UTC (names before 2003-02-03 were Pacific time)."""
        return self.path.dump_time

    @property
    def month(self) -> date:
        """The first day of the path's ``YYYY.MM`` folder."""
        return self.path.month_date

    @property
    def run_id(self) -> str:
        """The per-file DAG's run of this version (:func:`cloudz.archive.paths.run_id`)."""
        return paths.run_id(self.path, self.sha256)
