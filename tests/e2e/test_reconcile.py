"""The reconcile DAG on the real stack: a file archived while Airflow's api-server was down is
loaded with no new upload; a silent collector and an unknown one are flagged.

The api-server is stopped for real: the stack's supervisor is frozen (``SIGSTOP``) so it
cannot restart it, the api-server is killed, the upload runs against a receiver whose Airflow
refuses connections, then the supervisor resumes and restarts the api-server as after a crash.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from bridge_metrics import labels, scrape
from reconcile_run import reconcile
from samples import SAMPLES_DIR
from stack_session import Stack, upload_cli

from cloudz.archive import paths
from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.stack import readiness
from cloudz.stack.layout import Layout
from cloudz.stack.supervisor import read_pid, running_supervisor
from cloudz.warehouse.clients import bigquery_client, count_file_rows, storage_client
from cloudz.warehouse.file_rows import TimeWindow

pytestmark = pytest.mark.stack

#: hang guard only: nothing here is a performance expectation
GUARD_SECONDS = 900.0
SAMPLE = SAMPLES_DIR / "ripe-ris" / "updates.20160811.1600.gz"


def _wait_for(what: str, done: Any, timeout: float = GUARD_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = done()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: {what} not within {timeout:.0f} s")
        time.sleep(1)


@contextlib.contextmanager
def api_server_down(stack: Stack) -> Iterator[None]:
    """Airflow's api-server stopped (killed, not restarted) for the block; serving after it."""
    layout = Layout.of(stack.settings)
    supervisor_pid = running_supervisor(layout)
    api_pid = read_pid(layout.pid_file("airflow-api-server"))
    assert supervisor_pid and api_pid, "no supervisor or api-server pid: is the stack up?"
    supervisor = psutil.Process(supervisor_pid)
    supervisor.suspend()
    try:
        api = psutil.Process(api_pid)
        for child in api.children(recursive=True):
            child.send_signal(signal.SIGKILL)
        api.send_signal(signal.SIGKILL)
        _wait_for(
            "the api-server gone",
            lambda: not readiness.port_in_use(stack.settings.airflow_port),
            timeout=60,
        )
        yield
    finally:
        supervisor.resume()
        _wait_for("the api-server serving again", lambda: readiness.airflow_ready(stack.settings))


def test_a_file_archived_while_airflow_was_down_is_loaded_by_reconcile(
    stack: Stack, tmp_path: Path
) -> None:
    # the sample under its own name: its rows are loaded only within a day of the name's time
    archive_path = "route-views.saopaulo/bgpdata/2016.08/UPDATES/updates.20160811.1600.gz"
    rows = None
    with api_server_down(stack):
        code, reply = upload_cli(stack, SAMPLE, archive_path, wait=60)
    assert code != 0, reply
    assert reply["archive"]["result"] == "ARCHIVE_RESULT_STORED", reply
    assert reply["failure"]["stage"] == "trigger", reply
    assert "will be picked up" in reply["failure"]["reason"], reply
    sha256 = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    run_id = paths.run_id(paths.parse(archive_path), sha256)

    with contextlib.closing(stack.airflow()) as api:
        assert api.get(f"/api/v2/dags/mrt_file/dagRuns/{run_id}").status_code == 404
        conf = {
            "from_day": "2016-08-11",
            "to_day": "2016-08-11",
            "collectors": "route-views.saopaulo",
            "settle_minutes": 0,
        }
        healed = reconcile(api, **conf)
        assert (healed["archived"], healed["to_heal"], healed["healed"]) == (1, 1, 1), healed
        assert healed["failed_count"] == 0 and healed["loaded"] == 0, healed
        rows = healed["heal_rows"]
        assert rows > 0
        # no collector action: the file's own run was never started
        assert api.get(f"/api/v2/dags/mrt_file/dagRuns/{run_id}").status_code == 404

        again = reconcile(api, **conf)
        assert (again["archived"], again["loaded"], again["to_heal"]) == (1, 1, 0), again

    client = bigquery_client(stack.settings)
    assert count_file_rows(client, stack.settings, archive_path) == rows
    sql = (
        f"SELECT state, rows FROM `{stack.settings.files_ref}` "
        "WHERE month = DATE '2016-08-01' AND archive_path = @path"
    )
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("path", "STRING", archive_path)]
    )
    catalog = [dict(r.items()) for r in client.query(sql, job_config=config).result()]
    assert catalog == [{"state": "loaded", "rows": rows}], catalog
    # exactly once: every row of the file is there once
    window = TimeWindow.days(dt.date(2016, 8, 11), dt.date(2016, 8, 12))
    dup_sql = (
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT row_index) AS d FROM `{stack.settings.table_ref}` "
        f"WHERE {window.where()} AND collector = 'route-views.saopaulo' AND source_path = @path"
    )
    dup_config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("path", "STRING", archive_path),
            bigquery.ScalarQueryParameter("ts_lo", "TIMESTAMP", window.lo),
            bigquery.ScalarQueryParameter("ts_hi", "TIMESTAMP", window.hi),
        ]
    )
    (counted,) = client.query(dup_sql, job_config=dup_config).result()
    assert (counted["n"], counted["d"]) == (rows, rows)

    # rows lost after the load (a hand-run DML): the recount finds and reloads the file
    client.query(
        f"DELETE FROM `{stack.settings.table_ref}` WHERE {window.where()} "
        "AND collector = 'route-views.saopaulo' AND source_path = @path AND row_index < 10",
        job_config=dup_config,
    ).result()
    assert count_file_rows(client, stack.settings, archive_path) == rows - 10
    with contextlib.closing(stack.airflow()) as api:
        fixed = reconcile(api, **conf, recount="all")
    assert fixed["recounted"] == 1 and fixed["recount_differed"] == 1, fixed
    assert fixed["reloaded"] == [{"archive_path": archive_path, "found": rows - 10, "rows": rows}]
    (counted,) = client.query(dup_sql, job_config=dup_config).result()
    assert (counted["n"], counted["d"]) == (rows, rows)


def _named(tmp_path: Path, when: dt.datetime) -> Path:
    """An updates file under a RouteViews name for ``when`` (the name is what freshness reads),
    its records dated ``when`` (rows more than a day from the name's time are not loaded)."""
    path = tmp_path / when.strftime("updates.%Y%m%d.%H%M.gz")
    spec = UpdatesSpec(rows=500, seed=7, timestamp=int(when.timestamp()))
    write_file(path, generate_updates(spec))
    return path


def test_a_silent_collector_and_an_unknown_one_are_flagged(stack: Stack, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    recent = now - dt.timedelta(minutes=now.minute % 15 + 15)
    stopped = recent - dt.timedelta(hours=6)
    uploads = {
        "route-views.gorex": stopped,  # listed; its last file six hours ago
        "route-views.fortaleza": recent,  # listed, sending
        "route-views.unlisted": recent,  # not in include/collectors.yaml
    }
    for collector, when in uploads.items():
        file = _named(tmp_path, when)
        archive_path = f"{collector}/bgpdata/{when:%Y.%m}/UPDATES/{file.name}"
        code, reply = upload_cli(stack, file, archive_path)
        # an unknown collector's file is accepted, archived and loaded like any other
        assert code == 0 and reply["outcome"] == "OUTCOME_SUCCEEDED", reply

    # an Avro object whose raw object is gone, and a raw object not written by the pipeline
    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    month = f"{recent:%Y.%m}"
    orphan = f"route-views.fortaleza/bgpdata/{month}/UPDATES/updates.{recent:%Y%m%d}.0001.gz.avro"
    bucket.blob(orphan).upload_from_string(b"rows of a file deleted by hand")
    unverified = f"route-views.fortaleza/bgpdata/{month}/UPDATES/updates.{recent:%Y%m%d}.0002.gz"
    bucket.blob(unverified).upload_from_string(SAMPLE.read_bytes())

    first, last = now.date() - dt.timedelta(days=1), now.date()
    with contextlib.closing(stack.airflow()) as api:
        report = reconcile(
            api,
            from_day=first.isoformat(),
            to_day=last.isoformat(),
            collectors=",".join(uploads),
        )
    flagged = {(f["collector"], f["kind"]): f for f in report["flagged"]}
    assert flagged[("route-views.gorex", "UPDATES")]["silent"] is True
    assert flagged[("route-views.gorex", "UPDATES")]["latest"] == stopped.isoformat()
    assert ("route-views.fortaleza", "UPDATES") not in flagged  # sending, known
    assert flagged[("route-views.fortaleza", "RIBS")]["silent"] is True  # no RIB at all
    assert flagged[("route-views.unlisted", "UPDATES")]["known"] is False
    assert report["loaded"] == 3 and report["to_heal"] == 0, report
    assert report["orphan_avro"] == [orphan] and report["unverified"] == [unverified], report

    client = bigquery_client(stack.settings)
    sql = (
        f"SELECT collector, kind, archived, known, silent FROM `{stack.settings.coverage_ref}` "
        "WHERE day = @day AND collector IN UNNEST(@collectors) AND kind = 'UPDATES' "
        "ORDER BY checked_at DESC"
    )
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("day", "DATE", recent.date()),
            bigquery.ArrayQueryParameter("collectors", "STRING", sorted(uploads)),
        ]
    )
    newest: dict[str, dict[str, Any]] = {}
    for row in client.query(sql, job_config=config).result():
        newest.setdefault(row["collector"], dict(row.items()))
    assert newest["route-views.fortaleza"]["archived"] == 2  # the upload and the unverified one
    assert newest["route-views.fortaleza"]["silent"] is False
    assert newest["route-views.unlisted"]["known"] is False
    assert newest["route-views.gorex"]["silent"] is True

    # and as gauges on the metrics endpoint (StatsD is UDP: polled until they are there)
    expected = {
        ("cloudz_collector_silent", labels(collector="route-views.gorex", kind="UPDATES")): 1.0,
        ("cloudz_collector_silent", labels(collector="route-views.fortaleza", kind="UPDATES")): 0.0,
        ("cloudz_collector_unknown", labels(collector="route-views.unlisted", kind="UPDATES")): 1.0,
        ("cloudz_collector_unknown", labels(collector="route-views.gorex", kind="UPDATES")): 0.0,
    }  # fmt: skip

    def gauges() -> bool:
        samples = scrape(stack)
        return all(samples.get(key) == value for key, value in expected.items())

    _wait_for("the freshness gauges on the metrics endpoint", gauges, timeout=120)


def test_a_file_loaded_before_the_catalog_and_claims_is_adopted_not_loaded_again(
    stack: Stack,
) -> None:
    """A file its own run loaded before the files catalog and the load claims existed: no
    catalog row, no claim. The reconcile finds the run's load job and adopts it (a loaded
    claim, a catalog row) instead of appending its rows a second time."""
    archive_path = "route-views.sydney/bgpdata/2016.08/UPDATES/updates.20160811.1600.gz"
    code, reply = upload_cli(stack, SAMPLE, archive_path)
    assert code == 0 and reply["outcome"] == "OUTCOME_SUCCEEDED", reply
    sha256 = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    client = bigquery_client(stack.settings)
    rows = count_file_rows(client, stack.settings, archive_path)
    assert rows > 0
    # what a deployment from before the catalog and the claims holds for it (the emulator
    # takes DML on streamed rows at once; BigQuery would wait for its streaming buffer)
    from google.cloud import bigquery

    from cloudz.warehouse.load_claims import claim_name

    storage_client(stack.settings).bucket(stack.settings.working_bucket).blob(
        claim_name(stack.settings.table_ref, archive_path, sha256)
    ).delete()
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("path", "STRING", archive_path)]
    )
    client.query(
        f"DELETE FROM `{stack.settings.files_ref}` "
        "WHERE month = DATE '2016-08-01' AND archive_path = @path",
        job_config=config,
    ).result()

    with contextlib.closing(stack.airflow()) as api:
        report = reconcile(
            api,
            from_day="2016-08-11",
            to_day="2016-08-11",
            collectors="route-views.sydney",
            settle_minutes=0,
        )
    assert report["adopted_count"] == 1 and report["adopted"][0]["archive_path"] == archive_path
    assert (report["to_heal"], report["healed"]) == (0, 0), report
    # the adopted row has no record times (the job does not say): the rows are found by the
    # sample's own (2016-08-11 16:00-16:05)
    window = TimeWindow.days(dt.date(2016, 8, 11), dt.date(2016, 8, 12))
    assert count_file_rows(client, stack.settings, archive_path, window) == rows
    sql = (
        f"SELECT state, rows, load_job FROM `{stack.settings.files_ref}` "
        "WHERE month = DATE '2016-08-01' AND archive_path = @path"
    )
    (row,) = client.query(sql, job_config=config).result()
    assert (row["state"], row["rows"]) == ("loaded", rows)
    assert row["load_job"] == report["adopted"][0]["load_job"]
