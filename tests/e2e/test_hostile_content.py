"""Content that is not MRT, and decompression bombs, through the real stack.

Each file goes CLI → receiver → GCS → Airflow like any other: the archive keeps its bytes,
but the run fails at the ``convert`` stage (not *partial* with 0 rows) on its first try (the
file cannot get better), with a reason that says what was found; nothing is loaded and no Avro
object is written. No timing thresholds: each file is refused by what it holds.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import random
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from samples import SAMPLES_DIR
from stack_session import Stack, upload_cli

from cloudz.warehouse.clients import bigquery_client, count_file_rows, storage_client

pytestmark = pytest.mark.stack


def _random_bytes() -> bytes:
    return random.Random(9).randbytes(1 << 16)


def _empty_gzip() -> bytes:
    return gzip.compress(b"")


def _zero_bomb() -> bytes:
    """1 GiB of zeros as bz2: 785 bytes (compressed in 16 MiB steps)."""
    comp = bz2.BZ2Compressor()
    zeros = bytes(16 << 20)
    return b"".join(comp.compress(zeros) for _ in range(64)) + comp.flush()


def _row_bomb() -> bytes:
    """One real UPDATE repeated to 72 MiB, as gzip (~1000:1): every copy gives rows, so only
    the expansion limit (100x the file, at least 64 MiB) stops it."""
    mrt = gzip.decompress((SAMPLES_DIR / "ripe-ris/updates.20160811.1600.gz").read_bytes())
    at = 0
    for _ in range(200):
        at += 12 + struct.unpack_from(">I", mrt, at + 8)[0]
    one = mrt[at : at + 12 + struct.unpack_from(">I", mrt, at + 8)[0]]
    return gzip.compress(one * ((72 << 20) // len(one)), 9)


#: name: (the file's bytes, how the reply's failure reason starts)
HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "random": (_random_bytes, "not an MRT file: the first record has MRT type 28332 at offset 0"),
    "empty.gz": (_empty_gzip, "not an MRT file: empty gzip stream: it decompressed to 0 bytes"),
    "zeros.bz2": (_zero_bomb, "not an MRT file: the first record has MRT type 0 at offset 0"),
    "rows.gz": (_row_bomb, "conversion limit: the "),
}


#: name: where it is archived, under a name of RouteViews' grammar (cloudz.archive.paths: the
#: suffix says what the content is, nothing follows it); the row bomb's record is the sample's
#: (2016-08-11 16:00), so it is named for that time like any real file
ARCHIVED: dict[str, str] = {
    "random": "2026.11/UPDATES/updates.20261101.0000",
    "empty.gz": "2026.11/UPDATES/updates.20261101.0015.gz",
    "zeros.bz2": "2026.11/UPDATES/updates.20261101.0030.bz2",
    "rows.gz": "2016.08/UPDATES/updates.20160811.1600.gz",
}


def _reason(reply: dict[str, Any]) -> str:
    """The failure's reason, as the collector reads it."""
    return str(reply["failure"]["reason"])


def _convert_tries(stack: Stack, run_id: str) -> int:
    """How many times the run's ``convert`` task ran (Airflow's REST API)."""
    with contextlib.closing(stack.airflow()) as client:
        resp = client.get(f"/api/v2/dags/mrt_file/dagRuns/{run_id}/taskInstances/convert")
        resp.raise_for_status()
        return int(resp.json()["try_number"])


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_content_fails_conversion_and_keeps_the_bytes(
    stack: Stack, name: str, tmp_path: Path
) -> None:
    make, says = HOSTILE[name]
    file = tmp_path / name
    file.write_bytes(make())
    path = f"hostile/bgpdata/{ARCHIVED[name]}"

    code, reply = upload_cli(stack, file, path)

    shown = json.dumps(reply, indent=2)
    assert code == 4, shown  # archived, but a later stage failed
    assert reply["outcome"] == "OUTCOME_FAILED", shown
    assert reply["archive"]["result"] == "ARCHIVE_RESULT_STORED", shown
    assert reply["verify"] == "STAGE_STATE_SUCCEEDED", shown
    assert reply["conversion"]["state"] == "STAGE_STATE_FAILED", shown
    assert reply["load"]["state"] == "STAGE_STATE_SKIPPED", shown
    assert reply["failure"]["stage"] == "convert", shown
    assert _reason(reply).startswith(says), shown
    if name == "rows.gz":
        assert "a decompression bomb, not converted" in _reason(reply), shown
    assert reply["runState"] == "failed", shown
    assert _convert_tries(stack, reply["runId"]) == 1, shown

    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    assert bucket.blob(path).download_as_bytes() == file.read_bytes()
    assert bucket.get_blob(f"{path}.avro") is None
    assert count_file_rows(bigquery_client(stack.settings), stack.settings, path) == 0
