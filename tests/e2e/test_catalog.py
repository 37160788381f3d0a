"""The files catalog on the stack: every outcome of a file has its row, and the example
queries of docs/catalog.md run and answer what they claim."""

from __future__ import annotations

import bz2
import random
import re
from pathlib import Path
from typing import Any

import pytest
from stack_session import Stack, upload_cli

from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.settings import PROJECT_ROOT
from cloudz.warehouse.clients import bigquery_client

pytestmark = pytest.mark.stack

DAY = "route-views2/bgpdata/2024.01/UPDATES/updates.20240115"
GOOD = f"{DAY}.0000.bz2"
JAN_15 = 1_705_276_800  # 2024-01-15 00:00 UTC: the records dated as the names say
CUT = f"{DAY}.0015.bz2"
NOT_MRT = f"{DAY}.0100.bz2"


def _doc_queries() -> list[str]:
    text = (PROJECT_ROOT / "docs" / "catalog.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, re.S)


def _latest(stack: Stack, path: str) -> dict[str, Any]:
    rows = list(
        bigquery_client(stack.settings)
        .query(
            f"SELECT * FROM `{stack.settings.files_ref}_latest` "
            f"WHERE month = DATE '2024-01-01' AND archive_path = '{path}'"
        )
        .result()
    )
    assert len(rows) == 1, (path, rows)
    return dict(rows[0].items())


def test_each_outcome_has_its_row_and_the_doc_queries_answer(stack: Stack, tmp_path: Path) -> None:
    good = tmp_path / "good.bz2"
    written = write_file(good, generate_updates(UpdatesSpec(rows=300, seed=7, timestamp=JAN_15)))
    raw = tmp_path / "raw"
    write_file(raw, generate_updates(UpdatesSpec(rows=300, seed=8, timestamp=JAN_15)))
    # bzip2 as the .bz2 names say (the receiver refuses a .bz2 name whose content is not):
    # MRT cut mid-file, and bytes that are no MRT (the first record's type 14808 is none)
    cut = tmp_path / "cut"
    cut.write_bytes(bz2.compress(raw.read_bytes()[: raw.stat().st_size // 2]))
    junk = tmp_path / "junk"
    junk.write_bytes(bz2.compress(random.Random(5).randbytes(4096)))

    code, reply = upload_cli(stack, good, GOOD, wait=300)
    assert (code, reply["outcome"]) == (0, "OUTCOME_SUCCEEDED"), reply.get("failure")
    code, cut_reply = upload_cli(stack, cut, CUT, wait=300)
    assert cut_reply["outcome"] == "OUTCOME_PARTIAL", cut_reply
    code, junk_reply = upload_cli(stack, junk, NOT_MRT, wait=300)
    assert junk_reply["outcome"] == "OUTCOME_FAILED", junk_reply

    row = _latest(stack, GOOD)
    assert (row["state"], row["rows"], row["collector"], row["kind"]) == (
        "loaded", written.rows, "route-views2", "UPDATES"
    )  # fmt: skip
    assert row["run_id"] == reply["runId"] and row["load_job"]
    assert row["dump_time"].isoformat() == "2024-01-15T00:00:00+00:00"
    row = _latest(stack, CUT)
    assert row["state"] == "partial"
    assert row["rows"] == int(cut_reply["conversion"]["rows"])
    assert row["damage_offset"] == int(cut_reply["conversion"]["damage"]["offset"])
    row = _latest(stack, NOT_MRT)
    assert (row["state"], row["stage"]) == ("failed", "convert")
    assert row["reason"].startswith("not an MRT file")

    # the same file again: no new run, so no new row
    code, _ = upload_cli(stack, good, GOOD, wait=300)
    assert code == 0
    (count,) = (
        bigquery_client(stack.settings)
        .query(
            f"SELECT COUNT(*) AS n FROM `{stack.settings.files_ref}` "
            f"WHERE month = DATE '2024-01-01' AND archive_path = '{GOOD}'"
        )
        .result()
    )
    assert count["n"] == 1

    answers = [
        [dict(r.items()) for r in bigquery_client(stack.settings).query(
            sql.replace("{files}", stack.settings.files_ref)).result()]
        for sql in _doc_queries()
    ]  # fmt: skip
    by_day, by_state, damaged, missing = answers
    assert [r["archive_path"] for r in by_day] == [GOOD, CUT, NOT_MRT]
    assert {(r["state"], r["files"]) for r in by_state if r["collector"] == "route-views2"} >= {
        ("loaded", 1), ("partial", 1), ("failed", 1)
    }  # fmt: skip
    assert CUT in [r["archive_path"] for r in damaged]
    # 00:15 then 01:00: the three files of 00:30, 00:45 are missing (two)
    assert [(r["collector"], r["missing"]) for r in missing] == [("route-views2", 2)]
