"""A RIB of 5M rows, shaped like a real RouteViews one, through the whole stack (``-m big``).

Uploaded with the real ``upload-to-cloudz`` (a credential of its own collector), followed with
``upload-to-cloudz status`` while the reply says RUNNING, converted, loaded by the Google
provider's operator into the BigQuery emulator, and every row counted once. The warehouse and
the object store must stay within 2 GiB of memory: local-bigquery's own Avro load held ~1.7 KB
per row (18 GB on a 10.6M-row RIB) before the project's load replaced it. bench/real_size.py
measures the same at 50M rows; this test has no timing threshold.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from google.cloud import bigquery
from stack_faults import component_process
from stack_session import BIN, Stack, issue_token, upload_cli

from cloudz.archive import paths
from cloudz.mrtgen import RibSpec, generate_rib, write_file
from cloudz.warehouse.clients import bigquery_client
from cloudz.warehouse.file_rows import TimeWindow

pytestmark = [pytest.mark.stack, pytest.mark.big]

PEERS = 40
PREFIXES = 125_000  # 40 x 125,000 = 5M rows
GIB = 1 << 30
TERMINAL = {"OUTCOME_SUCCEEDED", "OUTCOME_PARTIAL", "OUTCOME_FAILED", "OUTCOME_REJECTED"}


def _peak_rss(stack: Stack, component: str) -> int:
    """VmHWM (bytes) of one of the stack's supervised components."""
    proc = component_process(stack, component)
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {component} (pid {proc.pid})")


def test_a_five_million_row_rib_loads_exactly_in_bounded_memory(
    stack: Stack, tmp_path: Path
) -> None:
    when = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    collector = "real-size-rib"
    archive = paths.parse(f"{collector}/bgpdata/{when:%Y.%m}/RIBS/rib.{when:%Y%m%d.%H%M}.bz2").path
    local = tmp_path / "rib.bz2"
    spec = RibSpec(
        peers=PEERS, prefixes=PREFIXES, seed=19, timestamp=int(when.timestamp()),
        peer_presence=1.0, addpath_share=0.0, multicast_share=0.0, generic_share=0.0,
        locality=0.98, pool=64,
    )  # fmt: skip
    generated = write_file(local, generate_rib(spec))
    assert generated.rows == PEERS * PREFIXES
    assert local.stat().st_size < 8 * generated.rows  # bytes of bz2 per row like a real RIB

    token_file = tmp_path / "token"
    issue_token(stack, "real-size", collector, token_file)
    code, reply = upload_cli(stack, local, archive, wait=60, token_file=token_file)
    replies = [reply]
    while reply.get("outcome") not in TERMINAL:
        assert reply.get("outcome") == "OUTCOME_RUNNING", reply
        proc = stack.run(
            str(BIN / "upload-to-cloudz"), "status", archive, "-d", stack.endpoint,
            "--ca-cert", str(stack.settings.tls_ca_cert), "--token-file", str(token_file),
            "--json", "--wait", "60",
        )  # fmt: skip
        reply = json.loads(proc.stdout)
        replies.append(reply)
        assert len(replies) < 60, "no outcome after an hour of asking"
    assert (code if len(replies) == 1 else 0, reply["outcome"]) == (0, "OUTCOME_SUCCEEDED"), reply
    assert int(reply["conversion"]["rows"]) == generated.rows
    assert int(reply["load"]["rowsLoaded"]) == generated.rows

    client = bigquery_client(stack.settings)
    window = TimeWindow(when - dt.timedelta(days=1), when + dt.timedelta(days=1))
    rows = list(
        client.query(
            f"SELECT COUNT(*) AS n, COUNT(DISTINCT row_index) AS d, MIN(row_index) AS lo, "
            f"MAX(row_index) AS hi FROM `{stack.settings.table_ref}` "
            f"WHERE {window.where()} AND source_path = @path",
            job_config=bigquery.QueryJobConfig(
                query_parameters=[
                    *window.query_parameters(),
                    bigquery.ScalarQueryParameter("path", "STRING", archive),
                ]
            ),
        ).result()
    )
    assert dict(rows[0].items()) == {
        "n": generated.rows,
        "d": generated.rows,
        "lo": 0,
        "hi": generated.rows - 1,
    }

    warehouse, store = _peak_rss(stack, "bigquery"), _peak_rss(stack, "gcs")
    assert warehouse <= 2 * GIB, warehouse
    assert store <= 2 * GIB, store
