"""Load claims (``cloudz.warehouse.load_claims``) on fake-gcs-server and the BigQuery emulator, with
real load jobs: whoever claims first loads, the other path sees it loaded; a failed job's
claim is taken over; an abandoned claim is fenced, so its late load cannot append."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import Conflict, PreconditionFailed
from google.cloud import bigquery

from cloudz.convert import convert_file
from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.settings import Settings
from cloudz.warehouse import load_claims, schema
from cloudz.warehouse.clients import bigquery_client, storage_client
from cloudz.warehouse.load_claims import LoadClaims, Verdict, claim_name

pytestmark = pytest.mark.stack

SHA = "ab" * 32
#: 2024-01-31 00:00 UTC: the files' records dated as their names updates.20240131.HHMM say
#: (rows a day away from the name's time are not converted)
JAN_31 = 1_706_659_200


def _avro(settings: Settings, tmp: Path, name: str, seed: int) -> tuple[str, str, int]:
    """Convert a generated update file and put its Avro object in the bucket; (path, uri, rows)."""
    path = f"route-views.sg/bgpdata/2024.01/UPDATES/updates.20240131.{name}.bz2"
    raw = tmp / f"{name}.bz2"
    write_file(raw, generate_updates(UpdatesSpec(rows=50, seed=seed, timestamp=JAN_31)))
    report = convert_file(
        raw, tmp / f"{name}.avro", collector="route-views.sg", source_path=path,
        source_sha256=SHA,
    )  # fmt: skip
    assert report.rows == 50, report  # every row: a count of 0 would prove nothing below
    bucket = storage_client(settings).bucket(settings.bucket)
    bucket.blob(f"{path}.avro").upload_from_filename(str(tmp / f"{name}.avro"))
    return path, f"gs://{settings.bucket}/{path}.avro", report.rows


def _load(settings: Settings, uri: str, job_id: str) -> bigquery.LoadJob:
    config = bigquery.LoadJobConfig(
        source_format="AVRO", use_avro_logical_types=True, write_disposition="WRITE_APPEND"
    )
    return bigquery_client(settings).load_table_from_uri(
        uri, settings.table_ref, job_id=job_id, job_config=config
    )


def _rows(settings: Settings, path: str) -> int:
    sql = (
        f"SELECT COUNT(*) AS n FROM `{settings.table_ref}` WHERE {schema.PARTITION_FIELD} "
        f">= TIMESTAMP '2000-01-01' AND source_path = '{path}'"
    )
    return int(next(iter(bigquery_client(settings).query(sql).result()))["n"])


def _claims(settings: Settings) -> LoadClaims:
    bucket = storage_client(settings).bucket(settings.bucket)
    return LoadClaims(bucket, bigquery_client(settings), settings.table_ref)


def test_first_claim_loads_and_the_other_path_sees_it_loaded(
    cloud: Settings, tmp_path: Path
) -> None:
    path, uri, rows = _avro(cloud, tmp_path, "0000", 1)
    claims = _claims(cloud)
    batch = claims.take(path, SHA, uri, "cloudz_batch_t1_0", "backfill-run")
    assert batch.verdict is Verdict.OURS
    # the per-file path comes while the batch job is not submitted yet: busy, not loadable
    live = claims.take(path, SHA, uri, "cloudz_load_t1_0", "mrt-run")
    assert (live.verdict, live.claim.job_id) == (Verdict.BUSY, "cloudz_batch_t1_0")
    _load(cloud, uri, "cloudz_batch_t1_0").result()
    live = claims.settle(path, SHA, uri, "cloudz_load_t1_0", "mrt-run")
    assert (live.verdict, live.claim.job_id) == (Verdict.LOADED, "cloudz_batch_t1_0")
    assert _rows(cloud, path) == rows
    # the claimant itself (a retry) finds its own claim
    assert claims.take(path, SHA, uri, "cloudz_batch_t1_0", "backfill-run").verdict is Verdict.OURS


def test_a_failed_jobs_claim_is_taken_over(cloud: Settings, tmp_path: Path) -> None:
    path, uri, rows = _avro(cloud, tmp_path, "0015", 2)
    claims = _claims(cloud)
    assert claims.take(path, SHA, uri, "cloudz_batch_t2_0", "r1").verdict is Verdict.OURS
    failed = _load(cloud, f"gs://{cloud.bucket}/no-such-object.avro", "cloudz_batch_t2_0")
    with pytest.raises(Exception):  # noqa: B017 - the emulator's error type varies
        failed.result()
    taken = claims.take(path, SHA, uri, "cloudz_load_t2_0", "r2")
    assert (taken.verdict, taken.claim.job_id) == (Verdict.OURS, "cloudz_load_t2_0")
    _load(cloud, uri, "cloudz_load_t2_0").result()
    assert _rows(cloud, path) == rows


def test_an_abandoned_claim_is_fenced_so_a_late_load_cannot_append(
    cloud: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, uri, rows = _avro(cloud, tmp_path, "0030", 3)
    claims = _claims(cloud)
    assert claims.take(path, SHA, uri, "cloudz_batch_t3_0", "dead-run").verdict is Verdict.OURS
    # the claimant "died" before submitting; the claim counts as abandoned after
    # STALE_SECONDS (10 min): the test sets the limit to 0 instead of waiting
    monkeypatch.setattr(load_claims, "STALE_SECONDS", 0.0)
    taken = claims.take(path, SHA, uri, "cloudz_load_t3_0", "live-run")
    assert (taken.verdict, taken.claim.job_id) == (Verdict.OURS, "cloudz_load_t3_0")
    _load(cloud, uri, "cloudz_load_t3_0").result()
    # the dead claimant wakes up and submits its load under its id: the fence holds it
    with pytest.raises(Conflict):
        _load(cloud, uri, "cloudz_batch_t3_0").result()
    assert _rows(cloud, path) == rows


def test_of_two_racing_claimants_exactly_one_wins(cloud: Settings, tmp_path: Path) -> None:
    path, uri, _ = _avro(cloud, tmp_path, "0045", 4)
    verdicts: dict[str, Any] = {}
    start = threading.Barrier(2)

    def claim(job_id: str) -> None:
        start.wait()
        verdicts[job_id] = _claims(cloud).take(path, SHA, uri, job_id, job_id).verdict

    threads = [threading.Thread(target=claim, args=(f"cloudz_race_{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(v.value for v in verdicts.values()) == ["busy", "ours"], verdicts


def test_the_bucket_refuses_a_claim_write_on_a_stale_generation(cloud: Settings) -> None:
    """What the take-over relies on: fake-gcs-server (like GCS) enforces the precondition."""
    blob = (
        storage_client(cloud)
        .bucket(cloud.bucket)
        .blob(claim_name(cloud.table_ref, "x/bgpdata/p", SHA))
    )
    blob.upload_from_string("{}", if_generation_match=0)
    first = int(blob.generation or 0)
    blob.upload_from_string("{}", if_generation_match=first)
    with pytest.raises(PreconditionFailed):
        blob.upload_from_string("{}", if_generation_match=first)


def test_a_loaded_mark_outlives_the_job_and_claims_are_per_table(
    cloud: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, uri, rows = _avro(cloud, tmp_path, "0100", 5)
    claims = _claims(cloud)
    taken = claims.take(path, SHA, uri, "cloudz_batch_t5_0", "r1")
    _load(cloud, uri, "cloudz_batch_t5_0").result()
    claims.mark_loaded(taken.claim)
    held = claims.read(path, SHA)
    assert held is not None and held.loaded
    # BigQuery forgets jobs after months: the mark alone says LOADED
    monkeypatch.setattr(claims, "job", lambda job_id: None)
    assert claims.take(path, SHA, uri, "cloudz_load_t5_0", "r2").verdict is Verdict.LOADED
    # another table has claims of its own: this file is not loaded there
    other = LoadClaims(claims.bucket, claims.bq, f"{cloud.table_ref}_rebuilt")
    assert other.take(path, SHA, uri, "cloudz_load_t5_1", "r3").verdict is Verdict.OURS
    assert _rows(cloud, path) == rows


def test_a_claim_whose_job_is_forgotten_is_never_fenced(
    cloud: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unmarked claim older than a day whose job BigQuery does not know (forgotten after
    months) is left BUSY and reported, not taken over: its rows may well be in the table.
    The test sets the age limits to 0 instead of waiting a day."""
    path, uri, _ = _avro(cloud, tmp_path, "0115", 6)
    claims = _claims(cloud)
    assert claims.take(path, SHA, uri, "cloudz_batch_t6_0", "old-run").verdict is Verdict.OURS
    monkeypatch.setattr(load_claims, "STALE_SECONDS", 0.0)
    monkeypatch.setattr(load_claims, "NEVER_FENCE_AFTER", 0.0)
    busy = claims.take(path, SHA, uri, "cloudz_load_t6_0", "new-run")
    assert (busy.verdict, busy.claim.job_id) == (Verdict.BUSY, "cloudz_batch_t6_0")
    assert claims.job("cloudz_batch_t6_0") is None  # not fenced
