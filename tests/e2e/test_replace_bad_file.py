"""Replace a bad file (issue 25 item 3): garbage under a right name, quarantined, replaced.

A collector uploads the wrong bytes under the right name (here another valid file of fewer
rows, so the bad version has rows in the table to be deleted); the correct bytes then get
CONFLICT. The operator runs ``cloudz-quarantine``; the path is open, the bad bytes are still
readable in the working bucket's ``_quarantine/``, the receiver says what happened and refuses
the bad bytes again, and the correct upload is STORED and loads exactly its own rows. Running
the command again records the replacement's sha256 once, then does nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from stack_session import BIN, Stack, upload_cli

from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.quarantine import audit, objects
from cloudz.warehouse.clients import bigquery_client, storage_client

pytestmark = pytest.mark.stack

PATH = "route-views4/bgpdata/2024.03/UPDATES/updates.20240312.0000.bz2"
MAR_12 = 1_710_201_600  # 2024-03-12 00:00 UTC


def _quarantine(stack: Stack, sha256: str) -> dict[str, Any]:
    proc = stack.run(
        str(BIN / "cloudz-quarantine"), PATH, "--sha256", sha256,
        "--reason", "garbage under the right name", "--by", "e2e-operator", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def _rows_by_version(stack: Stack) -> dict[str, int]:
    from google.cloud import bigquery

    job = bigquery_client(stack.settings).query(
        f"SELECT source_sha256, COUNT(*) AS n FROM `{stack.settings.table_ref}` "
        "WHERE timestamp >= '2024-03-10' AND timestamp < '2024-03-15' AND source_path = @path "
        "GROUP BY source_sha256",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("path", "STRING", PATH)]
        ),
    )
    return {row["source_sha256"]: int(row["n"]) for row in job.result()}


def test_a_bad_file_is_quarantined_and_the_correct_one_loads(stack: Stack, tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.bz2", tmp_path / "good.bz2"
    bad_rows = write_file(bad, generate_updates(UpdatesSpec(rows=120, seed=5, timestamp=MAR_12)))
    good_rows = write_file(good, generate_updates(UpdatesSpec(rows=300, seed=6, timestamp=MAR_12)))
    bad_sha = hashlib.sha256(bad.read_bytes()).hexdigest()
    good_sha = hashlib.sha256(good.read_bytes()).hexdigest()

    code, first = upload_cli(stack, bad, PATH)
    assert (code, first["outcome"]) == (0, "OUTCOME_SUCCEEDED"), first
    code, refused = upload_cli(stack, good, PATH)
    assert refused["archive"]["result"] == "ARCHIVE_RESULT_CONFLICT", refused
    assert _rows_by_version(stack) == {bad_sha: bad_rows.rows}

    # as if an earlier run had crashed right after copying the raw file: the copy is kept
    gcs = storage_client(stack.settings)
    raw = gcs.bucket(stack.settings.bucket).get_blob(PATH)
    work = gcs.bucket(stack.settings.working_bucket)
    objects.copy(raw, work, objects.raw_name(PATH, bad_sha))
    out = _quarantine(stack, bad_sha)
    assert out["action"] == "quarantined", out
    assert out["rows_deleted"] == bad_rows.rows and out["avro_objects"] >= 1, out
    assert _rows_by_version(stack) == {}
    kept = work.blob(objects.raw_name(PATH, bad_sha)).download_as_bytes()
    assert hashlib.sha256(kept).hexdigest() == bad_sha  # the quarantined bytes, still readable

    status = stack.run(
        str(BIN / "upload-to-cloudz"), "status", PATH, "-d", stack.endpoint,
        "--ca-cert", str(stack.settings.tls_ca_cert),
        "--token-file", str(stack.settings.local_token_file), "--json",
    )  # fmt: skip
    error = json.loads(status.stdout)["error"]
    assert (error["code"], error["reason"]) == ("NOT_FOUND", "QUARANTINED"), error
    assert bad_sha in error["message"]
    code, again = upload_cli(stack, bad, PATH)
    assert (code, again["error"]["reason"]) == (3, "QUARANTINED"), again

    code, second = upload_cli(stack, good, PATH)
    assert (code, second["outcome"]) == (0, "OUTCOME_SUCCEEDED"), second
    assert second["archive"]["result"] == "ARCHIVE_RESULT_STORED"
    assert int(second["load"]["rowsLoaded"]) == good_rows.rows
    assert _rows_by_version(stack) == {good_sha: good_rows.rows}  # exactly the new rows

    replaced = _quarantine(stack, bad_sha)
    assert (replaced["action"], replaced["replacement_sha256"]) == (
        "replacement recorded",
        good_sha,
    )
    assert _quarantine(stack, bad_sha)["action"] == "already"  # a no-op from here
    assert _rows_by_version(stack) == {good_sha: good_rows.rows}
    from cloudz.archive import paths

    records = audit.rows_of(
        bigquery_client(stack.settings), stack.settings.quarantine_ref, paths.parse(PATH)
    )
    assert [(r["state"], r["sha256"], r["replacement_sha256"]) for r in records] == [
        (audit.STATE_STARTED, bad_sha, None),
        (audit.STATE_QUARANTINED, bad_sha, None),
        (audit.STATE_REPLACED, bad_sha, good_sha),
    ]
    assert {r["operator"] for r in records} == {"e2e-operator"}


def test_a_move_never_deletes_what_another_writer_wrote(stack: Stack) -> None:
    """The preconditions a move relies on, on the stack's object store: the delete names the
    generation copied, so an object rewritten since stays; a copy never replaces other bytes."""
    gcs = storage_client(stack.settings)
    archive = gcs.bucket(stack.settings.bucket)
    work = gcs.bucket(stack.settings.working_bucket)
    name = "route-views4/bgpdata/2024.03/UPDATES/updates.20240313.0000.bz2"
    archive.blob(name).upload_from_string(b"BZh first writer")
    first = archive.get_blob(name)
    archive.blob(name).upload_from_string(b"BZh second writer")
    with pytest.raises(objects.ObjectChanged):
        objects.delete_generation(first)
    assert archive.blob(name).download_as_bytes() == b"BZh second writer"
    destination = objects.raw_name(name, "cd" * 32)
    objects.copy(archive.get_blob(name), work, destination)
    archive.blob(name).upload_from_string(b"BZh third writer")
    with pytest.raises(objects.ObjectChanged):
        objects.copy(archive.get_blob(name), work, destination)
    assert work.blob(destination).download_as_bytes() == b"BZh second writer"
