"""``dag.test()`` of the per-file DAG, in-process against the stack's DB and emulators.

This is the run an operator's local debugging takes: no scheduler, no receiver;
the file is put into the bucket by hand and the DAG is run with its conf. The stack's
scheduler is running, and a ``dag.test()`` run is an ordinary running run in the same DB:
the DAG is paused for the test's duration so only ``dag.test()`` schedules its tasks (with
both at it, the scheduler expanded and ran the same task instances: a deadlock on
``task_instance`` in one CI run, a missing mapped task in another).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from samples import SAMPLES_DIR
from stack_session import Stack

from cloudz import pipeline_contract as contract
from cloudz.settings import PROJECT_ROOT
from cloudz.stack.airflow_env import airflow_env
from cloudz.warehouse.clients import bigquery_client, count_file_rows, storage_client

pytestmark = pytest.mark.stack

SAMPLE = SAMPLES_DIR / "ripe-ris" / "updates.20020722.2238.gz"
ARCHIVE_PATH = "dagtest/bgpdata/2002.07/UPDATES/updates.20020722.2238.gz"
STATE_AND_ROUTE_ROWS = 3337  # bgpdump -m lines of this sample


@contextlib.contextmanager
def _paused(stack: Stack, dag_id: str) -> Iterator[None]:
    """The DAG paused in the stack, so its scheduler leaves the DAG's runs alone; on again
    after (the stack runs every DAG but the archive ones unpaused)."""
    with contextlib.closing(stack.airflow()) as api:
        reply = api.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": True})
        assert reply.status_code == 200, reply.text
        try:
            yield
        finally:
            api.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()


def _dag_test(stack: Stack, dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
    """``dag.test(run_conf=conf)`` in a fresh interpreter with the stack's Airflow config,
    the DAG paused in the stack meanwhile; the run's state and its tasks' states."""
    script = textwrap.dedent(
        f"""
        import json
        from airflow.dag_processing.dagbag import DagBag
        dag = DagBag(dag_folder={str(PROJECT_ROOT / "dags")!r}).get_dag({dag_id!r})
        run = dag.test(run_conf={conf!r})
        states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
        print("RESULT " + json.dumps({{"state": str(run.state), "tasks": states}}))
        """
    )
    env = {**stack.env, **airflow_env(stack.settings)}
    with _paused(stack, dag_id):
        proc = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
        )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


def test_dag_test_converts_and_loads_a_file(stack: Stack) -> None:
    data = SAMPLE.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    bucket.blob(ARCHIVE_PATH).upload_from_string(data)
    conf = {"archive_path": ARCHIVE_PATH, "sha256": sha256, "size": len(data), "bucket": ""}
    result = _dag_test(stack, "mrt_file", conf)
    assert result["state"].endswith("success"), result
    assert set(result["tasks"]) == set(contract.PER_FILE_TASKS)
    rows = count_file_rows(bigquery_client(stack.settings), stack.settings, ARCHIVE_PATH)
    assert rows == STATE_AND_ROUTE_ROWS


def test_dag_test_of_the_reconcile_heals_a_file_left_in_the_bucket(stack: Stack) -> None:
    """A file archived with no run (its sha256 in its metadata, as the receiver writes it):
    ``dag.test()`` of ``mrt_reconcile`` over its day converts and loads it."""
    archive_path = "dagtest-reconcile/bgpdata/2002.07/UPDATES/updates.20020722.2238.gz"
    data = SAMPLE.read_bytes()
    blob = storage_client(stack.settings).bucket(stack.settings.bucket).blob(archive_path)
    blob.metadata = {"sha256": hashlib.sha256(data).hexdigest()}
    blob.upload_from_string(data)
    conf = {  # names before 2003-02-03 are Pacific time: 22:38 on the 22nd is the 23rd in UTC
        "from_day": "2002-07-23",
        "to_day": "2002-07-23",
        "collectors": "dagtest-reconcile",
        "settle_minutes": 0,
    }
    result = _dag_test(stack, "mrt_reconcile", conf)
    assert result["state"].endswith("success"), result
    assert set(result["tasks"]) == {"scan", "convert", "load", "recount", "report"}
    rows = count_file_rows(bigquery_client(stack.settings), stack.settings, archive_path)
    assert rows == STATE_AND_ROUTE_ROWS
