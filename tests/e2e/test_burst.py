"""A burst like RouteViews' 15-minute boundary: many collectors upload at once.

16 generated update files go through the real CLI at the same moment, each collector with
its own credential: every one must come back SUCCEEDED with its rows in BigQuery exactly
once; the same 16 again must each reply "already archived" and start no run. (The bench,
bench/burst.py, drives 60 and measures.)
"""

from __future__ import annotations

import contextlib
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from google.cloud import bigquery
from stack_session import Stack, issue_token, upload_cli

from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.warehouse.clients import bigquery_client
from cloudz.warehouse.file_rows import TimeWindow

pytestmark = pytest.mark.stack

COLLECTORS = 16
ROWS = 2000
#: 2026-11-29 12:00 UTC: the files' records are dated as their name updates.20261129.1200 says
#: (rows a day away from the name's time are not loaded)
START = 1_795_953_600


def _upload(
    stack: Stack, file: Path, archive_path: str, token_file: Path
) -> tuple[int, dict[str, Any]]:
    return upload_cli(stack, file, archive_path, wait=600, token_file=token_file)


def _run_ids(stack: Stack, nonce: str) -> set[str]:
    with contextlib.closing(stack.airflow()) as client:
        resp = client.get(
            "/api/v2/dags/mrt_file/dagRuns",
            params={"run_id_pattern": f"%burst-{nonce}-%", "limit": 100},
        )
        resp.raise_for_status()
        body = resp.json()
        assert body["total_entries"] == len(body["dag_runs"]), body["total_entries"]
        return {r["dag_run_id"] for r in body["dag_runs"]}


def test_a_burst_of_uploads_all_load_exactly_once(stack: Stack, tmp_path: Path) -> None:
    nonce = secrets.token_hex(3)
    files: list[tuple[Path, str, Path]] = []
    for i in range(COLLECTORS):
        name = "updates.20261129.1200.gz"
        local = tmp_path / f"c{i}" / name
        local.parent.mkdir()
        write_file(local, generate_updates(UpdatesSpec(rows=ROWS, seed=1000 + i, timestamp=START)))
        collector = f"burst-{nonce}-{i:02d}"
        token = tmp_path / f"c{i}.token"
        issue_token(stack, collector, collector, token)
        files.append((local, f"{collector}/bgpdata/2026.11/UPDATES/{name}", token))

    with ThreadPoolExecutor(max_workers=COLLECTORS) as pool:
        replies = list(pool.map(lambda f: _upload(stack, *f), files))
    for (_, path, _), (code, reply) in zip(files, replies, strict=True):
        why = (path, reply.get("outcome"), reply.get("failure"), reply.get("runState"))
        assert code == 0, why
        assert reply["outcome"] == "OUTCOME_SUCCEEDED", why
        assert int(reply["conversion"]["rows"]) == ROWS, reply
        assert int(reply["load"]["rowsLoaded"]) == ROWS, reply

    bq = bigquery_client(stack.settings)
    # the generated rows start at the spec's timestamp, at most a second apart
    window = TimeWindow.of_micros((START * 10**6, (START + ROWS) * 10**6))
    counts = bq.query(
        "SELECT source_path, COUNT(*) AS n, COUNT(DISTINCT row_index) AS d, "
        f"MIN(row_index) AS lo, MAX(row_index) AS hi FROM `{stack.settings.table_ref}` "
        f"WHERE {window.where()} AND STARTS_WITH(source_path, 'burst-{nonce}-') "
        "GROUP BY source_path",
        job_config=bigquery.QueryJobConfig(query_parameters=window.query_parameters()),
    ).result()
    by_path = {r["source_path"]: (r["n"], r["d"], r["lo"], r["hi"]) for r in counts}
    assert by_path == {path: (ROWS, ROWS, 0, ROWS - 1) for _, path, _ in files}

    runs_before = _run_ids(stack, nonce)
    assert len(runs_before) == COLLECTORS
    with ThreadPoolExecutor(max_workers=COLLECTORS) as pool:
        again = list(pool.map(lambda f: _upload(stack, *f), files))
    for (code, reply), (_, first) in zip(again, replies, strict=True):
        assert code == 0, reply
        assert reply["archive"]["result"] == "ARCHIVE_RESULT_ALREADY_ARCHIVED", reply
        assert reply["runId"] == first["runId"]
    assert _run_ids(stack, nonce) == runs_before
