"""Import what the per-file tasks use, once, in a process that forks task processes.

Called from ``include/airflow_config/airflow_local_settings.py``; nothing is connected or
read here (a fork must not inherit sockets or threads), only modules imported.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

MODULES = (
    "google.cloud.storage",
    "google.cloud.bigquery",
    "airflow.providers.google.cloud.hooks.gcs",
    "airflow.providers.google.cloud.hooks.bigquery",
    "airflow.providers.google.cloud.transfers.gcs_to_bigquery",
    "cloudz.convert",
    "cloudz.convert.fast_path",
    "cloudz.file_pipeline.convert_step",
    "cloudz.file_pipeline.load_step",
)


def preload() -> None:
    """Import :data:`MODULES`; a failure is logged, never fatal (the tasks import them again)."""
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # the tasks will report the real error when they import it
            log.warning("could not preload %s", name, exc_info=True)
