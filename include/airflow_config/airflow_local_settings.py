"""Airflow imports this module (``airflow_local_settings``) in each of its processes.

The LocalExecutor's workers (and Celery's) fork one process per task from the process that
imported this module. Importing the per-file tasks' heavy modules here, in the scheduler and
Celery workers only, puts them in every task process for free: each task otherwise spent
1-2.5 s of CPU importing the Google clients and the provider (measured in bench/README.md),
which under a burst of 60 files is most of the machine. Copy-on-write keeps it one copy.
"""

from __future__ import annotations

import logging
import sys

#: Airflow copies a local settings module's public names into ``airflow.settings``: none here
__all__: list[str] = []

#: the ``airflow`` sub-commands whose processes fork task processes
_FORKS_TASKS = frozenset({"scheduler", "celery"})

if len(sys.argv) > 1 and sys.argv[1] in _FORKS_TASKS:
    try:
        from cloudz.file_pipeline.preload import preload
    except ImportError:  # only a speed-up: never keep the scheduler from starting
        logging.getLogger(__name__).warning("cloudz is not importable: nothing preloaded")
    else:
        preload()
