"""Airflow imports this module (``airflow_local_settings``) in each of its processes.

The LocalExecutor's workers (and Celery's) fork one process per task from the process that
imported this module. Importing the per-file tasks' heavy modules here, in the scheduler and
Celery workers only, puts them in every task process for free: each task otherwise spent
1-2.5 s of CPU importing the Google clients and the provider (measured in bench/README.md),
which under a burst of 60 files is most of the machine. Copy-on-write keeps it one copy.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

#: what Airflow takes from this module: the cluster policy below (nothing else is copied
#: into ``airflow.settings``)
__all__ = ["task_instance_mutation_hook"]

# docker-compose passes ``${BIGQUERY_EMULATOR_HOST:-}`` as an empty variable when its
# ``emulators`` profile is off, and the BigQuery client then takes "" for its endpoint instead
# of Google's: an empty emulator variable means none, in this process and every task it starts
for _name in ("STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST"):
    if os.environ.get(_name) == "":
        del os.environ[_name]

#: the ``airflow`` sub-commands whose processes fork task processes
_FORKS_TASKS = frozenset({"scheduler", "celery"})

if len(sys.argv) > 1 and sys.argv[1] in _FORKS_TASKS:
    try:
        from cloudz.file_pipeline.preload import preload
    except ImportError:  # only a speed-up: never keep the scheduler from starting
        logging.getLogger(__name__).warning("cloudz is not importable: nothing preloaded")
    else:
        preload()


#: the DAGs whose tasks run as a Google account of their own (docs/deploy.md "Service
#: accounts"), each with the variable naming its queue: a worker set serving only that queue
#: runs as the account Terraform gives their grants. Unset or empty: the default queue (the
#: embedded stack: its LocalExecutor ignores queues, its Celery workers serve default and ribs)
DAG_QUEUES = {
    "mrt_reconcile": "CLOUDZ_RECONCILE_QUEUE",
    "mrt_mirror": "CLOUDZ_MIRROR_QUEUE",
    "mrt_backfill": "CLOUDZ_MIRROR_QUEUE",
}

#: priority of a RIB's tasks: below an update file's (the DAG's 100), so when a slot frees
#: the update files of the same minutes go first, above the batch DAGs' (1)
RIB_PRIORITY = 50


def task_instance_mutation_hook(task_instance: Any, dag_run: Any = None) -> None:
    """Cluster policy: a RIB's conversion and load get a queue and a pool of their own and a
    lower priority; batch conversions (the ``backfill`` pool) a queue of their own if set;
    the reconcile's and the mirror's other tasks their DAG's queue (``DAG_QUEUES``) if set.

    Every two hours ~60 RIBs of minutes of CPU each arrive at once. On their own queue,
    served by the workers sized for them, they cannot take the slots the update files of the
    next 15 minutes need; in their own pool (as many slots as those workers have) the
    scheduler queues no more of them than can run, so RIBs waiting in the broker never hold
    the executor's slots either (docs/stack.md "The CeleryExecutor"). Their loads go there too:
    in the table-writes pool, 58 RIB loads (the longest loads of the day) held every executor
    slot and the warehouse while the update files waited (bench/README.md, "The even hour").
    A queue, a pool and a priority are properties of a task, not of a run, so this is the one
    place that can look at the run's file. Airflow calls it while it creates or refreshes task
    instances; it reads only the run already in hand and never fails the scheduler: anything
    unexpected leaves the task as is.
    """
    try:
        backfill_queue = os.environ.get("CLOUDZ_BACKFILL_QUEUE", "")
        backfill_pool = os.environ.get("CLOUDZ_BACKFILL_POOL", "backfill")
        if backfill_queue and task_instance.pool == backfill_pool:
            task_instance.queue = backfill_queue
            return
        dag_queue = os.environ.get(DAG_QUEUES.get(task_instance.dag_id, ""), "")
        if dag_queue:
            # every task of the DAG runs as the account its grants belong to
            task_instance.queue = dag_queue
            return
        if dag_run is None:
            return
        from cloudz import pipeline_contract
        from cloudz.archive import paths

        if task_instance.dag_id != pipeline_contract.DAG_ID or task_instance.task_id not in (
            pipeline_contract.PER_FILE_TASKS
        ):
            return
        path = (dag_run.conf or {}).get("archive_path")
        if not (isinstance(path, str) and paths.parse(path).kind == "RIBS"):
            return
        queue = os.environ.get("CLOUDZ_RIB_QUEUE", "ribs")
        pool = os.environ.get("CLOUDZ_RIB_POOL", "ribs")
        if queue:
            task_instance.queue = queue
        if pool:
            task_instance.pool = pool
        task_instance.priority_weight = RIB_PRIORITY
    except Exception:  # a bad path fails the run's own check, not the scheduler
        return
