"""The benches' shared harness (``bench/harness/``), the parts that need no stack: a stack's
free ports, the JSON results files, and the peak RSS of child processes and of running ones."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from harness import figures, own_stack, process_usage  # noqa: E402

MIB = 1024
#: a child that holds ``argv[1]`` MiB of touched memory, says so, and waits for its stdin
HOLD = """
import sys
block = bytearray(int(sys.argv[1]) * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
print("holding", flush=True)
sys.stdin.read()
"""


def test_a_stack_env_names_its_own_state_dir_and_distinct_free_ports(tmp_path: Path) -> None:
    env = own_stack.stack_env(tmp_path, {"CLOUDZ_EXECUTOR": "celery"})
    ports = [int(v) for k, v in env.items() if k.startswith("CLOUDZ_") and k.endswith("_PORT")]
    assert env["CLOUDZ_STATE_DIR"] == str(tmp_path)
    assert env["CLOUDZ_EXECUTOR"] == "celery"
    assert len(ports) == 10
    assert len(set(ports)) == len(ports)
    assert env["BIGQUERY_EMULATOR_HOST"] == f"http://127.0.0.1:{env['CLOUDZ_BIGQUERY_PORT']}"
    for port in ports:  # free a moment ago: nothing listens there
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_results_json_round_trips_and_writes_what_json_has_no_type_for_as_text(
    tmp_path: Path,
) -> None:
    when = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
    payload = {"rows": [1, 2], "file": Path("/x/y.bz2"), "date": when, "ratio": 0.5}
    path = figures.write_json(tmp_path / "new" / "folder" / "burst.json", payload)
    text = path.read_text()
    assert text.endswith("}\n")
    assert figures.read_json(path) == {
        "rows": [1, 2],
        "file": "/x/y.bz2",
        "date": str(when),
        "ratio": 0.5,
    }
    assert json.loads(text)["rows"] == [1, 2]


def test_spread_is_nearest_rank() -> None:
    s = figures.spread([float(x) for x in range(1, 21)])
    assert (s["n"], s["min"], s["p50"], s["p95"], s["max"]) == (20, 1.0, 10.0, 19.0, 20.0)
    assert figures.spread([]) == {}


def test_a_child_s_peak_rss_is_its_own_not_the_bench_s() -> None:
    """Linux counts the memory a process is exec'd from into its ``ru_maxrss``: a child spawned
    straight from a bench holding 160 MiB reported 160 MiB however little it used."""
    held = bytearray(160 * 1024 * 1024)
    for i in range(0, len(held), 4096):
        held[i] = 1
    once = HOLD.replace("sys.stdin.read()", "")
    big = process_usage.run_measured([sys.executable, "-c", once, "96"])
    small = process_usage.run_measured([sys.executable, "-c", once, "1"])
    assert held[0] == 1
    assert big.returncode == 0
    assert big.stdout == "holding\n"
    assert big.maxrss_kib >= 96 * MIB
    assert small.maxrss_kib < 64 * MIB
    assert small.spawner_kib < 64 * MIB
    assert big.cpu == big.user + big.system


def test_a_failing_child_raises_with_its_stderr_unless_told_not_to(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; sys.exit('no such input')"]
    with pytest.raises(RuntimeError, match="no such input"):
        process_usage.run_measured(argv)
    run = process_usage.run_measured(argv, check=False)
    assert run.returncode == 1
    assert "no such input" in run.stderr
    with pytest.raises(RuntimeError, match="did not start"):
        process_usage.run_measured([str(tmp_path / "no-such-program")], check=False)


def test_rss_sampling_sees_a_running_process_by_its_role() -> None:
    marker = "bench-harness-rss-probe"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, "64", marker],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "holding\n"
        sampler = process_usage.RssSampler(lambda cmd: "probe" if marker in cmd else None)
        sampler.sample()
    finally:
        child.communicate("")
    assert set(sampler.peak) == {"probe"}
    assert sampler.peak["probe"] >= 64 * MIB
    assert sampler.peak_sum["probe"] == sampler.peak["probe"]
