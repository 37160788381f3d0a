"""Retention loses no answer: a loaded file whose run is cleaned is answered from the catalog.

Load a file, clean its run (the maintenance DAG removes it with ``airflow db clean``; here the
run alone is deleted, as the clean deletes it, so the other tests' runs stay), upload the same
bytes again and ask its status: ALREADY_ARCHIVED, succeeded with the rows and the load job,
no new run, no row appended again. Then the maintenance DAG runs for real and finds nothing
to clean (nothing in a test stack is 30 days old), drops archive tables older than a week and
vacuums the cleaned tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from stack_session import BIN, Stack, upload_cli

from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.reconcile import run_retention
from cloudz.stack import postgres
from cloudz.warehouse.clients import bigquery_client, count_file_rows

pytestmark = pytest.mark.stack

PATH = "route-views3/bgpdata/2024.02/UPDATES/updates.20240210.0000.bz2"
FEB_10 = 1_707_523_200  # 2024-02-10 00:00 UTC


def _status(stack: Stack, archive_path: str) -> dict[str, object]:
    proc = stack.run(
        str(BIN / "upload-to-cloudz"), "status", archive_path, "-d", stack.endpoint,
        "--ca-cert", str(stack.settings.tls_ca_cert),
        "--token-file", str(stack.settings.local_token_file), "--json",
    )  # fmt: skip
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def test_a_cleaned_run_is_answered_from_the_catalog(stack: Stack, tmp_path: Path) -> None:
    local = tmp_path / "updates.bz2"
    written = write_file(local, generate_updates(UpdatesSpec(rows=250, seed=23, timestamp=FEB_10)))
    code, first = upload_cli(stack, local, PATH, wait=300)
    assert (code, first["outcome"]) == (0, "OUTCOME_SUCCEEDED"), first.get("failure")
    run_id = str(first["runId"])
    load_job = first["load"].get("loadJob")
    assert load_job, first["load"]

    with contextlib.closing(stack.airflow()) as api:
        resp = api.delete(f"/api/v2/dags/mrt_file/dagRuns/{quote(run_id, safe='')}")
        assert resp.status_code == 204, resp.text
        assert api.get(f"/api/v2/dags/mrt_file/dagRuns/{quote(run_id, safe='')}").status_code == 404

        code, again = upload_cli(stack, local, PATH, wait=300)
        assert (code, again["outcome"]) == (0, "OUTCOME_SUCCEEDED"), again
        assert again["archive"]["result"] == "ARCHIVE_RESULT_ALREADY_ARCHIVED"
        assert again["runState"] == "cleaned" and again["runId"] == run_id
        assert int(again["load"]["rowsLoaded"]) == written.rows
        assert again["load"]["loadJob"] == load_job

        status = _status(stack, PATH)
        assert status["outcome"] == "OUTCOME_SUCCEEDED" and status["runState"] == "cleaned"
        assert status["load"] == again["load"]

        # no new run was started for it, and its rows are in the table once
        resp = api.get(
            "/api/v2/dags/mrt_file/dagRuns", params={"run_id_pattern": run_id.rsplit(":", 1)[0]}
        )
        assert resp.json()["total_entries"] == 0, resp.json()
    client = bigquery_client(stack.settings)
    assert count_file_rows(client, stack.settings, PATH) == written.rows


def test_the_maintenance_dag_runs_and_keeps_recent_runs(stack: Stack) -> None:
    started = dt.datetime.now(dt.UTC)
    # two archive tables of an earlier clean: one past CLOUDZ_RUN_ARCHIVE_DAYS, one of today
    old = "_airflow_deleted__xcom__20200101000000__b1"
    fresh = f"_airflow_deleted__xcom__{started:%Y%m%d%H%M%S}__b1"
    with psycopg.connect(postgres.conninfo(stack.settings)) as conn:
        for name in (old, fresh):
            conn.execute(f'CREATE TABLE "{name}" (id integer)')
    with contextlib.closing(stack.airflow()) as api:
        dag = "mrt_maintenance"
        for _ in range(60):
            if api.get(f"/api/v2/dags/{dag}").status_code == 200:
                break
            time.sleep(2)
        api.patch(f"/api/v2/dags/{dag}", json={"is_paused": False})
        before = api.get("/api/v2/dags/mrt_file/dagRuns", params={"limit": 1}).json()
        run_id = f"test-{time.time_ns()}"
        resp = api.post(
            f"/api/v2/dags/{dag}/dagRuns", json={"dag_run_id": run_id, "logical_date": None}
        )
        assert resp.status_code == 200, resp.text
        for _ in range(300):
            run = api.get(f"/api/v2/dags/{dag}/dagRuns/{run_id}").json()
            if run["state"] in ("success", "failed"):
                break
            time.sleep(2)
        assert run["state"] == "success", run
        xcom = api.get(
            f"/api/v2/dags/{dag}/dagRuns/{run_id}/taskInstances/clean_runs/xcomEntries/return_value",
            params={"deserialize": True},
        ).json()["value"]
        assert xcom["older_than_setting"] == 0 and xcom["held_not_in_catalog_count"] == 0, xcom
        # the cleaned tables were vacuumed and analyzed by the clean itself (not autovacuum)
        assert set(xcom["vacuum_s"]) == set(run_retention.TABLES), xcom
        with psycopg.connect(postgres.conninfo(stack.settings)) as conn:
            vacuumed: dict[str, bool] = dict(
                conn.execute(
                    "SELECT relname, last_vacuum >= %s AND last_analyze >= %s"
                    " FROM pg_stat_user_tables WHERE relname = ANY(%s)",
                    (started, started, list(run_retention.TABLES)),
                ).fetchall()
            )
        assert vacuumed == dict.fromkeys(run_retention.TABLES, True), vacuumed
        # archive tables past the setting are dropped, recent ones kept (by this run or by
        # the scheduled run that unpausing the DAG started)
        assert isinstance(xcom["archives_dropped"], int), xcom
        with psycopg.connect(postgres.conninfo(stack.settings)) as conn:
            left = conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename = ANY(%s)", ([old, fresh],)
            ).fetchall()
            conn.execute(f'DROP TABLE IF EXISTS "{fresh}"')
            indexes = conn.execute(
                "SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)",
                (list(run_retention.INDEXES),),
            ).fetchall()
        assert left == [(fresh,)], left
        # the index Airflow does not ship (the runs list by start date) is there
        assert sorted(indexes) == sorted((name,) for name in run_retention.INDEXES), indexes
        after = api.get("/api/v2/dags/mrt_file/dagRuns", params={"limit": 1}).json()
        assert after["total_entries"] >= before["total_entries"]
