"""The stack's metrics endpoint after an upload: the tasks' own metrics for the file's
collector and kind (files, rows, bytes, seconds), beside Airflow's, all through the StatsD
bridge. StatsD is UDP, so the test polls the endpoint until the values are there."""

from __future__ import annotations

import time

import pytest
from bridge_metrics import Samples, labels, scrape
from samples import SAMPLES_DIR
from stack_session import Stack, upload_cli

pytestmark = pytest.mark.stack

#: a collector no other test uploads for, so the counters are this test's alone
COLLECTOR = "route-views.metricstest"
#: the sample under its own name (rows more than a day from the name's time are not loaded)
ARCHIVE_PATH = f"{COLLECTOR}/bgpdata/2002.07/UPDATES/updates.20020722.2238.gz"
SAMPLE = SAMPLES_DIR / "ripe-ris" / "updates.20020722.2238.gz"
#: a hang guard for UDP samples that never arrive, not a latency bound
PATIENCE = 120.0

#: Airflow's own metrics, its tags as labels: the scheduler beats, the run's tasks and the run
#: succeeded (the scheduler may send the run's duration just after the receiver's reply)
AIRFLOW = {
    "scheduler heartbeats": ("airflow_scheduler_heartbeat_total", {}),
    "convert successes": (
        "airflow_ti_successes_total",
        {"dag_id": "mrt_file", "task_id": "convert"},
    ),
    "load successes": ("airflow_ti_successes_total", {"dag_id": "mrt_file", "task_id": "load"}),
    "successful runs": ("airflow_dagrun_duration_success_seconds_count", {"dag_id": "mrt_file"}),
}


def test_the_metrics_endpoint_shows_the_task_metrics_of_an_upload(stack: Stack) -> None:
    code, reply = upload_cli(stack, SAMPLE, ARCHIVE_PATH, wait=300)
    assert (code, reply["outcome"]) == (0, "OUTCOME_SUCCEEDED"), reply
    rows = int(reply["conversion"]["rows"])
    assert rows > 0

    file = labels(collector=COLLECTOR, kind="UPDATES")
    expected = {
        ("cloudz_files_total", file | labels(state="converted")): 1.0,
        ("cloudz_files_total", file | labels(state="loaded")): 1.0,
        ("cloudz_rows_total", file): float(rows),
        ("cloudz_bytes_total", file): float(SAMPLE.stat().st_size),
        ("cloudz_parse_errors_total", file): float(reply["conversion"].get("parseErrors", 0)),
        ("cloudz_convert_seconds_count", file): 1.0,
        ("cloudz_load_seconds_count", file): 1.0,
    }
    deadline = time.monotonic() + PATIENCE
    while True:
        samples = scrape(stack)
        seen = {key: samples.get(key) for key in expected}
        airflow = _airflow_seen(samples)
        if seen == expected and all(n >= 1 for n in airflow.values()):
            break
        assert time.monotonic() < deadline, f"expected {expected}, the bridge has {seen}, {airflow}"
        time.sleep(0.5)
    assert ("cloudz_files_total", file | labels(state="failed")) not in samples
    assert samples[("cloudz_convert_seconds_sum", file)] > 0


def _airflow_seen(samples: Samples) -> dict[str, float]:
    """How often each of ``AIRFLOW`` happened, summed over the labels not asked for."""
    return {
        what: sum(v for (n, got), v in samples.items() if n == name and set(tags.items()) <= got)
        for what, (name, tags) in AIRFLOW.items()
    }
