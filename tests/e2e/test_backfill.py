"""Mirror and backfill on the stack: a generated RouteViews-style archive served by a real
HTTP server process (tests/archive_server.py: 3 collectors, route-views2 at the archive root,
2 days across a month edge, one truncated file), brought in by Airflow backfills of
``mrt_backfill`` and a run of ``mrt_mirror``, through the real scheduler, workers, buckets
and warehouse."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from archive_server import DEFAULT_COLLECTORS, ArchiveServer, build_archive, serve_archive
from stack_session import Stack, upload_cli

from cloudz.warehouse.clients import bigquery_client, storage_client

pytestmark = pytest.mark.stack

DAYS = (date(2023, 1, 31), date(2023, 2, 1))
RUN_TIMEOUT = 900


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveServer]:
    tree = build_archive(
        tmp_path_factory.mktemp("archive"),
        days=DAYS,
        rib_every=timedelta(hours=8),
        updates_every=timedelta(hours=4),
        truncated=True,
    )
    with serve_archive(tree) as server:
        yield server


def _conf(served: ArchiveServer) -> dict[str, str]:
    return {"source": served.url, "collectors": ",".join(DEFAULT_COLLECTORS)}


def _turn_on(api: httpx.Client, dag_id: str) -> None:
    deadline = time.monotonic() + 120
    while True:  # the DAG exists once the dag-processor has parsed its file
        reply = api.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        if reply.status_code == 200:
            return
        assert time.monotonic() < deadline, reply.text
        time.sleep(2)


def _wait_runs(api: httpx.Client, dag_id: str, run_ids: set[str]) -> dict[str, str]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        runs = api.get(f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100}).json()
        states = {
            r["dag_run_id"]: r["state"] for r in runs["dag_runs"] if r["dag_run_id"] in run_ids
        }
        if len(states) == len(run_ids) and all(s in ("success", "failed") for s in states.values()):
            return states
        assert time.monotonic() < deadline, states
        time.sleep(3)


def _backfill(api: httpx.Client, conf: dict[str, str], **extra: Any) -> dict[str, str]:
    """Create a backfill of both days through the REST API; wait for its runs' states."""
    body = {
        "dag_id": "mrt_backfill",
        "from_date": f"{DAYS[0]}T00:00:00Z",
        "to_date": f"{DAYS[-1]}T00:00:00Z",
        "dag_run_conf": conf,
        "max_active_runs": 1,
        **extra,
    }
    created = api.post("/api/v2/backfills", json=body)
    assert created.status_code == 200, created.text
    backfill_id = created.json()["id"]
    deadline = time.monotonic() + RUN_TIMEOUT
    while api.get(f"/api/v2/backfills/{backfill_id}").json().get("completed_at") is None:
        assert time.monotonic() < deadline, "the backfill did not complete"
        time.sleep(3)
    runs = api.get(
        "/api/v2/dags/mrt_backfill/dagRuns", params={"run_type": "backfill", "limit": 100}
    ).json()["dag_runs"]
    ours = {r["dag_run_id"] for r in runs if r["logical_date"][:10] in {str(d) for d in DAYS}}
    assert len(ours) == len(DAYS), runs
    return _wait_runs(api, "mrt_backfill", ours)


def _mirror(api: httpx.Client, served: ArchiveServer, run_id: str, logical: str) -> Any:
    """Trigger ``mrt_mirror`` whose window (48 h up to an hour before its interval's end)
    covers both days; wait; its plan's summary."""
    trigger = api.post(
        "/api/v2/dags/mrt_mirror/dagRuns",
        json={
            "dag_run_id": run_id,
            "logical_date": logical,
            "data_interval_start": "2023-02-02T00:00:00Z",
            "data_interval_end": "2023-02-02T01:00:00Z",
            "conf": _conf(served),
        },
    )
    assert trigger.status_code == 200, trigger.text
    assert _wait_runs(api, "mrt_mirror", {run_id}) == {run_id: "success"}
    return _xcom(api, "mrt_mirror", run_id, "plan", "summary")


def _task_instances(api: httpx.Client, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    reply = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
    assert reply.status_code == 200, reply.text
    return list(reply.json()["task_instances"])


def _xcom(api: httpx.Client, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    reply = api.get(
        f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
        params={"deserialize": True},
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["value"]


def _rows_per_file(stack: Stack) -> dict[str, int]:
    s = stack.settings
    sql = (
        f"SELECT source_path, COUNT(*) AS n, COUNT(DISTINCT row_index) AS d FROM `{s.table_ref}` "
        "WHERE timestamp >= TIMESTAMP '2023-01-30' AND timestamp < TIMESTAMP '2023-02-03' "
        f"AND collector IN UNNEST({list(DEFAULT_COLLECTORS)!r}) GROUP BY source_path"
    )
    out = {}
    for row in bigquery_client(s).query(sql).result():
        assert row["n"] == row["d"], f"{row['source_path']}: a row is there twice"
        out[row["source_path"]] = row["n"]
    return out


def _catalog(stack: Stack) -> tuple[int, dict[str, dict[str, Any]]]:
    """(rows in the catalog for the test's months, the newest row per archive path)."""
    s = stack.settings
    sql = (
        f"SELECT * FROM `{s.files_ref}` WHERE month IN (DATE '2023-01-01', DATE '2023-02-01') "
        f"AND collector IN UNNEST({list(DEFAULT_COLLECTORS)!r})"
    )
    rows = [dict(r.items()) for r in bigquery_client(s).query(sql).result()]
    newest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["recorded_at"]):
        newest[row["archive_path"]] = row
    return len(rows), newest


def _bucket(stack: Stack) -> dict[str, int]:
    """Every object of the test's collectors, by name: its generation."""
    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    return {
        b.name: int(b.generation)
        for collector in DEFAULT_COLLECTORS
        for b in bucket.list_blobs(prefix=f"{collector}/")
    }


def test_backfill_archives_loads_and_catalogs_every_file_once(
    stack: Stack, served: ArchiveServer
) -> None:
    tree = served.tree
    assert tree is not None
    files = tree.by_archive_path()
    truncated = [f for f in files.values() if f.damage_offset is not None]
    assert len(truncated) == 1
    # a collector uploads one file before the backfill: archived once, loaded once
    pushed = next(f for f in files.values() if f.collector == "route-views.sg")
    code, reply = upload_cli(stack, pushed.local_path, pushed.archive_path)
    assert (code, reply["outcome"]) == (0, "OUTCOME_SUCCEEDED"), reply

    with contextlib.closing(stack.airflow()) as api:
        _turn_on(api, "mrt_backfill")
        states = _backfill(api, _conf(served))
        assert set(states.values()) == {"success"}, states

    # the bucket holds every file byte for byte (sha256 in metadata and of the bytes)
    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    for path, f in files.items():
        blob = bucket.get_blob(path)
        assert blob is not None, path
        assert blob.metadata["sha256"] == f.sha256, path
        assert hashlib.sha256(blob.download_as_bytes()).hexdigest() == f.sha256, path

    # every row once: per file, the rows the generator wrote (up to the damage)
    assert _rows_per_file(stack) == {p: f.rows for p, f in files.items() if f.rows}

    # every file in the catalog; the truncated one partial with its offset
    _, catalog = _catalog(stack)
    assert set(catalog) == set(files)
    for path, f in files.items():
        row = catalog[path]
        assert row["sha256"] == f.sha256 and row["rows"] == f.rows, row
        if f.damage_offset is None:
            assert row["state"] == "loaded", row
        else:
            assert (row["state"], row["damage_offset"]) == ("partial", f.damage_offset), row

    # a collector uploads a file the backfill brought in: archived once, loaded once (the
    # per-file run finds the batch job's claim and reports the file loaded by it)
    mirrored = next(f for f in files.values() if f.collector == "route-views2" and f.rows)
    code, reply = upload_cli(stack, mirrored.local_path, mirrored.archive_path)
    assert (code, reply["outcome"]) == (0, "OUTCOME_SUCCEEDED"), reply
    assert reply["archive"]["result"] == "ARCHIVE_RESULT_ALREADY_ARCHIVED", reply["archive"]
    assert _rows_per_file(stack)[mirrored.archive_path] == mirrored.rows

    # an operator clears a finished load (as if its task was killed after the job ran): the
    # re-run finds the group's job in its ledger and appends nothing
    rows_before = _rows_per_file(stack)
    first_day = min(states)
    with contextlib.closing(stack.airflow()) as api:
        loaded = _xcom(api, "mrt_backfill", first_day, "load", "return_value")
        cleared = api.post(
            "/api/v2/dags/mrt_backfill/clearTaskInstances",
            json={"dry_run": False, "only_failed": False, "task_ids": ["load"],
                  "dag_run_id": first_day},
        )  # fmt: skip
        assert cleared.status_code == 200, cleared.text
        assert _wait_runs(api, "mrt_backfill", {first_day}) == {first_day: "success"}
        reloaded = _xcom(api, "mrt_backfill", first_day, "load", "return_value")
    assert reloaded["load_jobs"] == loaded["load_jobs"] and loaded["rows_loaded"] > 0, reloaded
    assert _rows_per_file(stack) == rows_before

    # a second backfill of the same range: no conversion starts, nothing is written
    before = (_bucket(stack), _catalog(stack)[0], _rows_per_file(stack))
    with contextlib.closing(stack.airflow()) as api:
        again = _backfill(api, _conf(served), reprocess_behavior="completed")
        assert set(again.values()) == {"success"}, again
        for run_id in again:
            summary = _xcom(api, "mrt_backfill", run_id, "plan", "summary")
            assert (summary["to_fetch"], summary["to_convert"]) == (0, 0), summary
            assert summary["done"] == summary["listed"] > 0, summary
            # the re-run expanded no conversion: the first run's mapped instances are
            # "removed" by the empty expansion (or a lone "skipped" placeholder)
            converts = [
                (ti["map_index"], ti["state"])
                for ti in _task_instances(api, "mrt_backfill", run_id)
                if ti["task_id"] == "convert"
            ]
            assert all(state in ("removed", "skipped") for _, state in converts), converts
    assert (_bucket(stack), _catalog(stack)[0], _rows_per_file(stack)) == before

    # two mirror runs over the same window: the first finds nothing new; a file that appears
    # before the second is brought in by it, alone
    with contextlib.closing(stack.airflow()) as api:
        _turn_on(api, "mrt_mirror")
        first = _mirror(api, served, "mirror-1", "2023-02-02T00:00:00Z")
        assert (first["to_fetch"], first["to_convert"]) == (0, 0), first
        late = tree.add_file(
            "route-views.linx", "UPDATES", datetime(2023, 2, 1, 23, 50, tzinfo=UTC)
        )
        second = _mirror(api, served, "mirror-2", "2023-02-02T00:05:00Z")
        assert (second["to_fetch"], second["to_convert"]) == (1, 1), second
    rows = _rows_per_file(stack)
    assert rows[late.archive_path] == late.rows
    assert {p: n for p, n in rows.items() if p != late.archive_path} == before[2]
    assert _catalog(stack)[1][late.archive_path]["state"] == "loaded"
    assert set(_bucket(stack)) - set(before[0]) == {late.archive_path, late.archive_path + ".avro"}
