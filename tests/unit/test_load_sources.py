"""Every load names a file's rows with the wildcard of its Avro parts, and a job of an older
run that named the single ``<path>.avro`` is still recognised as having loaded the file."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from cloudz.archive import paths
from cloudz.batch import batch_load
from cloudz.warehouse.load_claims import Claim, LoadClaims, Verdict

A = "route-views2/bgpdata/2024.01/UPDATES/updates.20240101.0000.bz2"
B = "route-views2/bgpdata/2024.01/UPDATES/updates.20240101.0015.bz2"
SHA = "ab" * 32


def _job(job_id: str, uris: list[str], rows: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        job_id=job_id,
        state="DONE",
        error_result=None,
        job_type="load",
        source_uris=uris,
        output_rows=rows,
    )


class _BigQuery:
    def __init__(self, *jobs: SimpleNamespace) -> None:
        self.jobs = {j.job_id: j for j in jobs}

    def get_job(self, job_id: str, **_: Any) -> SimpleNamespace:
        return self.jobs[job_id]


def _held(job_id: str) -> Claim:
    return Claim(A, SHA, job_id, "run", 1, dt.datetime.now(dt.UTC))


@pytest.mark.parametrize(
    ("uris", "verdict"),
    [
        ([f"gs://b/{A}.avro*"], Verdict.LOADED),
        ([f"gs://b/{B}.avro*", f"gs://b/{A}.avro*"], Verdict.LOADED),  # a batch job
        ([f"gs://b/{A}.avro"], Verdict.LOADED),  # a job of a run before the parts
        ([f"gs://b/{A}.avro-0001.avro"], None),  # one part only: not the file's rows
        ([f"gs://b/{B}.avro*"], None),
        ([f"gs://other/{A}.avro*"], None),
    ],
)
def test_a_claims_job_loaded_the_file_if_it_named_its_rows_either_way(
    uris: list[str], verdict: Verdict | None
) -> None:
    claims = LoadClaims(None, _BigQuery(_job("j", uris)), "p.d.t")  # type: ignore[arg-type]
    assert claims.judge(_held("j"), paths.avro_source_uri("b", A)) is verdict


class _Ledger:
    def __init__(self, *history: SimpleNamespace, rows: int = 0) -> None:
        self._history = list(history)
        self.loads: list[list[str]] = []
        self.rows = rows

    def history(self) -> list[SimpleNamespace]:
        return self._history

    def job_id(self, k: int) -> str:
        return f"batch_{k}"

    def load(self, k: int, context: Any, objects: list[str]) -> SimpleNamespace:
        self.loads.append(objects)
        return _job(self.job_id(k), [f"gs://b/{o}" for o in objects], self.rows)


class _Claims:
    def __init__(self) -> None:
        self.taken: list[tuple[str, str]] = []
        self.marked: list[tuple[str, str]] = []

    def take(
        self, archive_path: str, sha256: str, uri: str, job_id: str, *_: Any, **__: Any
    ) -> Any:
        self.taken.append((archive_path, uri))
        return SimpleNamespace(verdict=Verdict.OURS, claim=_held(job_id))

    def mark_loaded_by(self, archive_path: str, sha256: str, job_id: str) -> None:
        self.marked.append((archive_path, job_id))


def _item(path: str, rows: int) -> dict[str, Any]:
    file = {"bucket": "b", "archive_path": path, "sha256": SHA, "avro_object": path + ".avro"}
    return {"file": file, "report": {"rows": rows}}


CONTEXT = {"ti": SimpleNamespace(run_id="run")}


def test_a_batch_loads_each_files_parts_by_their_wildcard() -> None:
    ledger, claims = _Ledger(rows=30), _Claims()
    result = batch_load.load_group(CONTEXT, ledger, claims, [_item(A, 10), _item(B, 20)])  # type: ignore[arg-type]
    assert ledger.loads == [[A + ".avro*", B + ".avro*"]]
    assert sorted(uri for _, uri in claims.taken) == [f"gs://b/{A}.avro*", f"gs://b/{B}.avro*"]
    assert result.loaded == {A: "batch_0", B: "batch_0"} and result.rows == 30


def test_a_batch_job_of_an_older_try_with_plain_uris_counts_as_loaded() -> None:
    older = _job("batch_0", [f"gs://b/{A}.avro", f"gs://b/{B}.avro"], 30)
    ledger, claims = _Ledger(older), _Claims()
    result = batch_load.load_group(CONTEXT, ledger, claims, [_item(A, 10), _item(B, 20)])  # type: ignore[arg-type]
    assert ledger.loads == [] and claims.taken == []  # nothing loaded twice
    assert result.loaded == {A: "batch_0", B: "batch_0"} and result.rows == 30


def test_a_batch_job_that_read_other_files_than_claimed_is_not_taken() -> None:
    from cloudz.file_pipeline.stage_failure import StageError

    class Other(_Ledger):
        def load(self, k: int, context: Any, objects: list[str]) -> SimpleNamespace:
            return _job(self.job_id(k), [f"gs://b/{A}.avro*"], 10)  # B is missing

    with pytest.raises(StageError, match="other files"):
        batch_load.load_group(CONTEXT, Other(), _Claims(), [_item(A, 10), _item(B, 20)])  # type: ignore[arg-type]
