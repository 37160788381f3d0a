"""
### The latency floor of the per-file DAG (bench only)

A bare TaskFlow DAG with as many chained no-op tasks as the per-file DAG `mrt_file`
has (`cloudz.pipeline_contract.PER_FILE_TASKS`), and nothing else: no parameters, no
retries, no provider, no I/O. What one run of it takes from trigger to success is what
Airflow itself costs on this stack for that many task boundaries (scheduling, one process
start and one parse of this file per task), the floor no per-file run can go under.

`bench/burst.py latency` triggers it through the REST API, alternating with uploads of
one sample file, and reports upload -> reply of the per-file path as a multiple of this
floor measured in the same run (see `bench/README.md`). Nothing in the pipeline triggers
it; it is safe to run at any time.

#### When runs fail

Only the bench starts it and nothing depends on it: a failed run is a failed measurement.
Its tasks do nothing, so a failure is Airflow's own (the scheduler, the executor, the
metadata DB): read the failed task's log; `bench/burst.py latency` starts new runs.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import chain, dag, task

from cloudz import pipeline_contract as contract

DAG_ID = "per_file_floor"
#: one no-op task per task of the per-file DAG, named after it
FLOOR_TASK_IDS = tuple(f"floor_{name}" for name in contract.PER_FILE_TASKS)


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=16,
    tags=["cloudz", "bench"],
    doc_md=__doc__,
    default_args={"owner": "cloudz", "retries": 0},
)
def per_file_floor() -> None:
    def noop() -> None:
        """Do nothing: the task's cost is Airflow's alone."""

    chain(*(task(task_id=task_id)(noop)() for task_id in FLOOR_TASK_IDS))


per_file_floor()
