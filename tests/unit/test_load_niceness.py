"""The embedded warehouse decodes a RIB's load in a thread of lower CPU priority; an update
file's load, or a batch that mixes kinds, at the process's own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cloudz.stack.bigquery_emulator_load import rib_niceness

RIB = "gs://archive/route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2.avro*"
RIB_PART = "gs://archive/route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2.avro"
ROOT = Path(__file__).resolve().parents[2]
UPDATES = "gs://archive/route-views2/bgpdata/2024.01/UPDATES/updates.20240101.0000.bz2.avro*"


@pytest.mark.parametrize(
    ("uris", "niceness"),
    [([RIB], 10), ([RIB, RIB_PART], 10), ([UPDATES], 0), ([RIB, UPDATES], 0), ([], 0)],
)
def test_only_a_load_of_ribs_yields_the_cpu(uris: list[str], niceness: int) -> None:
    assert rib_niceness(uris) == niceness


def test_the_setting_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDZ_RIB_NICE", "0")
    assert rib_niceness([RIB]) == 0


#: run in the warehouse emulator's own venv (Python 3.13, polars): the thread decodes one real
#: Avro object and reports the niceness it decoded at
_PROBE = """
import io, os, sys, threading
import fastavro
from cloudz.stack.bigquery_emulator_load import _Decoded

schema = {"type": "record", "name": "r", "fields": [{"name": "a", "type": "long"}]}
data = io.BytesIO()
fastavro.writer(data, schema, [{"a": 1}, {"a": 2}])
seen = []

def opener():
    seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    return io.BytesIO(data.getvalue())

decoded = _Decoded([("gs://archive/x", opener)], 1 << 20, int(sys.argv[1]))
rows = sum(b.num_rows for b in decoded.batches())
decoded.close()
own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
print(seen[0] - own, rows)
"""


@pytest.mark.parametrize("niceness", [0, 5])
def test_the_niceness_is_the_decoding_threads_own(niceness: int) -> None:
    python = ROOT / ".venv-bq" / "bin" / "python"
    own = os.getpriority(os.PRIO_PROCESS, 0)
    done = subprocess.run(
        [str(python), "-c", _PROBE, str(niceness)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    raised, rows = map(int, done.stdout.split())
    assert rows == 2
    assert raised == min(niceness, 19 - own)
