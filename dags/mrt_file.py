"""
### One archived MRT file → rows in BigQuery

The receiver triggers one run of this DAG per archived file (run id
`mrt:<archive path with / as ~>:<sha256 prefix>`, conf `archive_path`, `sha256`,
`size`, `bucket`, `ledger`). The receiver reads this run's task states and XComs to answer
the collector, so the task ids below are a contract (`cloudz.pipeline_contract`).

1. **`convert`** (stages *verify* and *convert*): download the archived object while
   hashing it; a size or sha256 mismatch fails the run at once (no retries). Then decode
   the MRT file (bz2, gzip or raw) into Avro rows written next to the raw object
   (`<archive path>.avro`, and past `CLOUDZ_AVRO_PART_MB` further parts
   `<archive path>.avro-0001.avro` …, each a whole Avro file; the load reads them all through
   the wildcard `<archive path>.avro*`). A damaged file is not a failure: the rows before
   the damage are converted and the XCom report carries the byte offset and reason
   (*partial*).
2. **`load`** (stages *load* and *check*): the Google provider's GCS-to-BigQuery load with a
   job id from a per-file sequence (the ledger), so a retry re-uses a finished load instead
   of appending again. The proof costs no query on the hot path: in a run the receiver
   started (conf `ledger` true) whose ledger holds one successful load job, that job's own
   output row count equal to the converted rows proves every row is in the table exactly
   once. Only when the ledger holds another successful load of the file (a retry whose answer
   was lost, a cleared `convert`), when the conf has no `ledger` (a run triggered by hand or
   by the coverage page's **Run**), or when the job reports no row count, does the task count
   the rows with one SELECT bounded to the file's partitions, and only when that count finds
   other rows does it delete them and load once more (`cloudz.file_pipeline.load_step`).

A file the **load policy** skips (`cloudz.load_policy`: the Airflow Variable
`cloudz_load_policy`, else `CLOUDZ_LOAD_POLICY`; by default every file is loaded) is
downloaded and verified by `convert`, not converted; `load` adds a `not_loaded_by_policy`
row to the files catalog and the run succeeds: the collector's reply says "archived, not
loaded (load policy: ...)". The backfill loads such files on request
(`cloudz-backfill --ignore-load-policy`); the reconcile leaves them.

Clearing either task (with or without downstream) leaves the table holding the file's rows
exactly once. A failing task records `{"stage", "reason"}` as the XCom `failure`, which the
receiver passes on to the collector, and a *failed* row in the files catalog.

#### When runs fail

The failed file is on Browse → Coverage under "Failed files" with its stage and reason (and
in the files catalog: docs/runbook.md, `FilesFailing`).

- **The bytes are at fault: a re-run cannot succeed.** These fail at once, without retries:
  *verify* "does not exist", "holds N bytes, expected M" or "has sha256 …, expected …"
  (the archived object is not what the receiver stored); *convert* "not an MRT file", or a
  converter limit (a decompression or row bomb). The archived path is create-only, so the
  collector's correct upload under the same name gets CONFLICT: tell the collector, and
  leave the file failed until it is replaced.
- **Failed at once, but not the bytes' fault**: *verify* "bad run conf" (a run triggered by
  hand without the receiver's conf: trigger it again with `archive_path` and `sha256`), and
  *load* "load job … wrote N rows, the conversion wrote M" (BigQuery and the converter
  disagree: read the `load` log before one Re-run; a second failure is a bug to report).
- **Something around the file failed: a re-run can succeed.** The object store, BigQuery or
  the network did not answer, a quota, a task timeout, a load job still running, a count
  another try disturbed, a fixed bug. Each task was retried twice already (from 10 s, doubling).
  Press **Re-run** on the coverage page (it clears `convert` with downstream), or clear
  `convert` with downstream on the run's page. The rows stay single however often it runs.
- **A damaged file is not a failure**: its state is *partial*, its rows up to the damage are
  loaded; nothing to re-run.

This file is parsed by every task process: it imports nothing but `airflow.sdk` and the
contract. The work lives in `cloudz.file_pipeline`, imported inside the tasks.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from cloudz import pipeline_contract as contract

GCP_CONN_ID = "google_cloud_default"
#: the pool every write into the routes table takes a slot of (BigQuery: 50 writes/10 s/table)
TABLE_WRITES_POOL = os.environ.get("CLOUDZ_TABLE_WRITES_POOL") or "routes_table_writes"
#: each task's time limit: the last stop for a file the converter's own limits let through
#: (cloudz/convert/limits.py stops bombs in seconds). Derived from the largest real file, a
#: ~100 MB bz2 RIB (~10^7 rows, up to 10^8): bench/README.md converts 10M rows from 232 MB of
#: bz2 in 46 s on one core, so ~20 s for 100 MB and ~500 s for 10^8 rows, and the mrtparse
#: fallback takes ~15 min for 10^7 rows. One hour leaves room for a loaded machine and a slow
#: BigQuery load; a retry gets the same limit.
TASK_TIMEOUT = timedelta(seconds=float(os.environ.get("CLOUDZ_TASK_TIMEOUT_SECONDS") or 3600))


def record_failure(context: Any) -> None:
    """Keep the stage and reason of a failed try where the receiver reads them (an XCom)."""
    exc = context.get("exception")
    ti = context["ti"]
    stage = getattr(exc, "stage", None)
    if exc is None:
        reason = "failed"
    elif stage:  # the project's own errors say what happened in words: no type name
        reason = str(exc)
    else:
        reason = f"{type(exc).__name__}: {exc}"
    stage = stage or contract.DEFAULT_STAGE_OF_TASK.get(ti.task_id, ti.task_id)
    failure = {"stage": stage, "reason": reason[:2000]}
    ti.xcom_push(key=contract.XCOM_FAILURE, value=failure)
    from cloudz.file_pipeline import catalog_step

    catalog_step.record_failed(context, GCP_CONN_ID, _settings().files_ref, failure)


def _settings() -> Any:
    from cloudz.settings import Settings

    return Settings.from_env()


@dag(
    dag_id=contract.DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=256,
    tags=["cloudz", "mrt", "per-file"],
    doc_md=__doc__,
    default_args={
        "owner": "cloudz",
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": 2.0,
        "on_failure_callback": record_failure,
        "execution_timeout": TASK_TIMEOUT,
        # a collector waits for this run: it goes before mirror and backfill tasks (weight 1)
        "priority_weight": 100,
        "weight_rule": "absolute",
    },
    params={
        contract.CONF_ARCHIVE_PATH: Param(
            "", type="string", description="<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/<file>"
        ),
        contract.CONF_SHA256: Param("", type="string", description="sha256 of the raw file"),
        contract.CONF_SIZE: Param(0, type="integer", minimum=0),
        contract.CONF_BUCKET: Param(
            "", type="string", description="archive bucket (default: CLOUDZ_BUCKET)"
        ),
        contract.CONF_LEDGER: Param(
            False,
            type="boolean",
            description="every load of this file follows the job ledger (no count needed)",
        ),
    },
)
def mrt_file() -> None:
    @task(task_id=contract.TASK_CONVERT)
    def convert(params: dict[str, Any]) -> dict[str, Any]:
        from cloudz.file_pipeline import convert_step, load_policy_source, load_step

        settings = _settings()
        work = convert_step.check_conf(params, settings.bucket)
        policy = load_policy_source.current(settings).loads(work.file)
        if policy.load:
            convert_step.yield_cpu_if_rib(work.file, settings.rib_nice)
        report = convert_step.fetch_verify_convert(GCP_CONN_ID, work, policy=policy)
        run_id = get_current_context()["ti"].run_id
        report["load_claim"] = load_step.reserve_first_load(
            GCP_CONN_ID, settings.table_ref, work, report, run_id
        )
        return {"file": work.to_xcom(), "report": report}

    @task(task_id=contract.TASK_LOAD, pool=TABLE_WRITES_POOL)
    def load(converted: dict[str, Any]) -> dict[str, Any]:
        from cloudz.file_pipeline import catalog_step, load_step
        from cloudz.file_pipeline.file_work import FileWork

        context = get_current_context()
        settings = _settings()
        work, report = FileWork.from_xcom(converted["file"]), converted["report"]
        if report.get("not_loaded"):  # the load policy skips it: archived and verified only
            return catalog_step.record_not_loaded(
                context, GCP_CONN_ID, settings.files_ref, settings.table_ref, work.file,
                report["not_loaded"],
            )  # fmt: skip
        result = load_step.load_and_check(context, GCP_CONN_ID, settings.table_ref, work, report)
        catalog_step.record_loaded(
            context, GCP_CONN_ID, settings.files_ref, work.file, report, result
        )
        return result

    load(convert())


mrt_file()
