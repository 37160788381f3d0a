"""What a per-file step works on: the archived file, the bucket it is in, how to prove its load.

The convert task makes it from the run conf (:func:`cloudz.file_pipeline.convert_step.check_conf`)
and hands it to the load task as an XCom (JSON): :meth:`FileWork.to_xcom` writes the keys the
tasks have always passed (so a load reads the XCom of a convert from before this type), and
:meth:`FileWork.from_xcom` reads them back. The mirror's and backfill's items carry the same keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudz.archive.archived_file import ArchivedFile


@dataclass(frozen=True)
class FileWork:
    file: ArchivedFile
    bucket: str
    #: every load of the file follows the job ledger from the first (the receiver's runs):
    #: one successful job proves the rows without counting them (``load_step``)
    ledger: bool = False

    @classmethod
    def from_xcom(cls, item: Mapping[str, Any]) -> FileWork:
        """Read :meth:`to_xcom`'s keys (``ValueError`` when they name no archived file)."""
        return cls(ArchivedFile.from_conf(item), str(item["bucket"]), bool(item.get("ledger")))

    def to_xcom(self) -> dict[str, Any]:
        return {
            **self.file.to_conf(),
            "bucket": self.bucket,
            "collector": self.file.collector,
            "avro_object": self.file.path.avro_path,
            "ledger": self.ledger,
        }

    @property
    def uri(self) -> str:
        """``gs://<bucket>/<archive path>``: the raw object, for messages."""
        return f"gs://{self.bucket}/{self.file.archive_path}"
