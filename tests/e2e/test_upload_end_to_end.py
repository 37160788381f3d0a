"""Every sample MRT file goes CLI → receiver → GCS → Airflow → Avro → BigQuery → reply.

Runs against the real embedded stack (see conftest.py). Row counts are checked
against ``bgpdump -m`` (Debian's bgpdump), the reference every researcher knows.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import fastavro
import grpc
import pytest
from google.cloud import bigquery
from samples import SAMPLES_DIR, archive_name
from stack_session import BIN, Stack, upload_cli

from cloudz.archive import paths
from cloudz.convert import convert_file
from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.ingest.v1 import ingest_pb2_grpc as pb_grpc
from cloudz.mrtgen import RibSpec, generate_rib, write_file
from cloudz.settings import PROJECT_ROOT, Settings
from cloudz.warehouse.clients import bigquery_client, count_file_rows, storage_client
from cloudz.warehouse.file_rows import file_window

pytestmark = pytest.mark.stack

SAMPLES = SAMPLES_DIR

#: files where ``bgpdump -m`` is not the right count, and why (docs/row-schema.md)
BGPDUMP_DIFFERS = {
    # BGP4MP_ENTRY records (an old OpenBGPD RIB format): bgpdump prints nothing
    "openbgpd_rib_table-mp",
    # bgpdump misreads these BIRD dumps (see ../shared/mrt-samples/README.md)
    "bird_bgp",
    "bird6_bgp",
}


@dataclass(frozen=True)
class Sample:
    file: Path
    archive_path: str

    @property
    def name(self) -> str:
        return self.file.name


def _samples() -> list[Sample]:
    if not SAMPLES.is_dir():
        return []
    out = []
    # archived under names of RouteViews' grammar (cloudz.archive.paths) for the time of their
    # records: the samples' own names (quagga_rib, bview.ipv4_unicast_add_path.gz) are no
    # RouteViews names, and rows dated more than a day from the name's time are not loaded
    # (cloudz.archive.time_window); raw MRT has no suffix
    for f in sorted(SAMPLES.iterdir()):
        if f.is_file() and f.name != "README.md":
            kind, prefix = ("RIBS", "rib") if "rib" in f.name else ("UPDATES", "updates")
            collector = f"sample-{f.name.split('_')[0].split('-')[0]}"
            month, name = archive_name(f, prefix)
            out.append(Sample(f, f"{collector}/bgpdata/{month}/{kind}/{name}"))
    for f in sorted((SAMPLES / "ripe-ris").iterdir()):
        if f.name.startswith("bview"):  # RIPE RIS's name of a RIB
            kind, (month, name) = "RIBS", archive_name(f, "rib", ".gz")
        else:
            kind, (month, name) = "UPDATES", archive_name(f, "updates", ".gz")
            assert name == f.name, (name, f.name)  # RIPE's updates are named by their time
        out.append(Sample(f, f"rrc00/bgpdata/{month}/{kind}/{name}"))
    assert len({s.archive_path for s in out}) == len(out), out
    return out


ALL_SAMPLES = _samples()


def _make_default(name: str) -> str:
    """A ``NAME ?= value`` of the Makefile: what ``make demo`` uploads, read where it is set."""
    found = re.search(rf"^{name} \?= (.+)$", (PROJECT_ROOT / "Makefile").read_text(), re.M)
    assert found, f"no {name} in the Makefile"
    return found.group(1).strip()


DEMO_SAMPLE = _make_default("SAMPLE")
DEMO_PATH = _make_default("SAMPLE_PATH")
#: README.md's copy of what ``make demo`` prints is the text between these lines
DEMO_MARKERS = ("<!-- demo output: start -->\n```\n", "```\n<!-- demo output: end -->")
#: README.md's example query on the demo's rows: a shell command, then what it prints
QUERY_MARKERS = ("<!-- demo query: start -->\n```sh\n", "```\n<!-- demo query: end -->")


@dataclass(frozen=True)
class DemoRun:
    printed: str  # what scripts/demo printed
    query: str  # README.md's query command, as run
    answer: str  # what it printed


def _readme_between(markers: tuple[str, str]) -> str:
    readme = (PROJECT_ROOT / "README.md").read_text()
    start, end = markers
    assert readme.count(start) == 1 and readme.count(end) == 1, f"README.md's markers {markers}"
    return readme.split(start)[1].split(end)[0]


def _readme_query() -> tuple[str, str]:
    """README.md's example query: (the command, the answer it shows)."""
    command, sep, answer = _readme_between(QUERY_MARKERS).partition("```\n```\n")
    assert sep, "README.md's query block: a sh block, then a block of its answer"
    return command, answer


def bgpdump_lines(path: Path) -> int:
    out = subprocess.run(["bgpdump", "-m", str(path)], capture_output=True, check=True)
    return len(out.stdout.splitlines())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def upload(stack: Stack, file: Path, archive_path: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """Run the real CLI; return its exit status and its JSON reply."""
    return upload_cli(stack, file, archive_path, *extra)


class Airflow:
    """Just enough of Airflow's REST API to look at runs from the outside."""

    def __init__(self, stack: Stack) -> None:
        self.client = stack.airflow()

    def runs(self) -> list[dict[str, Any]]:
        resp = self.client.get("/api/v2/dags/mrt_file/dagRuns", params={"limit": 1000})
        resp.raise_for_status()
        return list(resp.json()["dag_runs"])

    def run(self, run_id: str) -> dict[str, Any]:
        resp = self.client.get(f"/api/v2/dags/mrt_file/dagRuns/{run_id}")
        resp.raise_for_status()
        return dict(resp.json())

    def load_result(self, run_id: str) -> dict[str, Any]:
        resp = self.client.get(
            f"/api/v2/dags/mrt_file/dagRuns/{run_id}/taskInstances/load/xcomEntries/return_value",
            params={"deserialize": "true"},
        )
        resp.raise_for_status()
        return dict(resp.json()["value"])

    def clear(self, run_id: str, task_ids: list[str], *, downstream: bool) -> None:
        resp = self.client.post(
            "/api/v2/dags/mrt_file/clearTaskInstances",
            json={
                "dag_run_id": run_id,
                "task_ids": task_ids,
                "only_failed": False,
                "include_downstream": downstream,
                "reset_dag_runs": True,
                "dry_run": False,
            },
        )
        resp.raise_for_status()


@pytest.fixture(scope="module")
def demo(stack: Stack) -> DemoRun:
    """``scripts/demo`` run as ``make demo`` runs it (the Makefile's sample, from the checkout),
    then README.md's example query, before any other upload of the module: the demo's file is
    new to the stack and the only one of its collector and day."""
    assert (PROJECT_ROOT / DEMO_SAMPLE).is_file(), f"the demo's sample {DEMO_SAMPLE} is missing"
    demo = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "demo"), DEMO_SAMPLE, DEMO_PATH],
        cwd=PROJECT_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    # the command as README.md gives it, on this stack's BigQuery port instead of the default
    command, _ = _readme_query()
    default_port = f":{Settings.from_env({}).bigquery_port}"
    assert default_port in command, command
    command = command.replace(default_port, f":{stack.settings.bigquery_port}")
    query = subprocess.run(
        ["bash", "-c", command],
        cwd=PROJECT_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert query.returncode == 0, query.stdout + query.stderr
    return DemoRun(printed=demo.stdout, query=command, answer=query.stdout)


@pytest.fixture(scope="module")
def uploaded(stack: Stack, demo: DemoRun) -> dict[str, tuple[int, dict[str, Any]]]:
    """Upload every sample once, four at a time, as collectors would (the demo's sample a
    second time: ``demo`` archived it first)."""
    if not ALL_SAMPLES:
        pytest.fail(f"no MRT samples at {SAMPLES}")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda s: upload(stack, s.file, s.archive_path), ALL_SAMPLES)
        return {s.name: r for s, r in zip(ALL_SAMPLES, results, strict=True)}


@pytest.fixture(scope="module")
def airflow(stack: Stack) -> Iterator[Airflow]:
    a = Airflow(stack)
    yield a
    a.client.close()


@pytest.mark.parametrize("sample", ALL_SAMPLES, ids=lambda s: s.name)
def test_sample_goes_end_to_end(
    stack: Stack, uploaded: dict[str, tuple[int, dict[str, Any]]], sample: Sample
) -> None:
    code, reply = uploaded[sample.name]
    assert code == 0, json.dumps(reply, indent=2)
    assert reply["outcome"] == "OUTCOME_SUCCEEDED"
    first_upload = sample.archive_path != DEMO_PATH  # the demo's reply said stored (README)
    assert reply["archive"]["result"] == (
        "ARCHIVE_RESULT_STORED" if first_upload else "ARCHIVE_RESULT_ALREADY_ARCHIVED"
    )
    assert reply["sha256"] == sha256_of(sample.file)
    assert reply["runState"] == "success"

    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    assert bucket.blob(sample.archive_path).download_as_bytes() == sample.file.read_bytes()
    avro = bucket.get_blob(sample.archive_path + ".avro")
    assert avro is not None and avro.size > 0
    # the load's source: every part of the file's rows (one part for these small files)
    assert (
        reply["conversion"]["avroUri"]
        == f"gs://{stack.settings.bucket}/{sample.archive_path}.avro*"
    )

    rows = count_file_rows(bigquery_client(stack.settings), stack.settings, sample.archive_path)
    assert rows == int(reply["conversion"]["rows"]) == int(reply["load"]["rowsLoaded"])
    if sample.name not in BGPDUMP_DIFFERS:
        assert rows == bgpdump_lines(sample.file)


def test_readme_shows_what_the_demo_prints(stack: Stack, demo: DemoRun) -> None:
    """README.md's demo output is the demo's own, character for character, except what differs
    between this stack and ``make demo``'s: its state directory and its free ports."""
    default = Settings.from_env({})
    printed = (
        demo.printed.replace(str(stack.settings.state_dir), ".state")
        .replace(f":{stack.settings.receiver_port}", f":{default.receiver_port}")
        .replace(f":{stack.settings.airflow_port}", f":{default.airflow_port}")
    )
    assert "archive     stored" in printed, printed  # the demo's file was new to the stack
    assert _readme_between(DEMO_MARKERS) == printed, f"README.md: the demo printed\n{printed}"


def test_readme_query_answers_as_shown(demo: DemoRun) -> None:
    """README.md's example query, run as written on the demo's rows, prints what README shows."""
    _, shown = _readme_query()
    assert demo.answer.count("\n") > 1, demo.answer  # a header and at least one row
    assert shown == demo.answer, f"README.md: {demo.query}\nprinted\n{demo.answer}"


def test_working_objects_stay_in_the_private_bucket(
    stack: Stack, uploaded: dict[str, tuple[int, dict[str, Any]]]
) -> None:
    """Staging objects and claims go to the working bucket, never to the archive bucket a
    deployment makes public (a public-read binding takes no IAM condition): the stack runs
    with a second bucket, as a deployment does, and each file's load claim is there."""
    from cloudz.warehouse.load_claims import claim_name

    settings = stack.settings
    assert settings.working_bucket != settings.bucket
    archive = storage_client(settings).bucket(settings.bucket)
    work = storage_client(settings).bucket(settings.working_bucket)
    for prefix in ("_incoming/", "_claims/", "_loads/"):
        assert [b.name for b in archive.list_blobs(prefix=prefix)] == [], prefix
    for sample in ALL_SAMPLES:
        assert uploaded[sample.name][0] == 0
        name = claim_name(settings.table_ref, sample.archive_path, sha256_of(sample.file))
        assert work.get_blob(name) is not None, name
        assert archive.get_blob(sample.archive_path) is not None


def test_second_upload_is_already_archived_and_starts_nothing(
    stack: Stack, uploaded: dict[str, tuple[int, dict[str, Any]]], airflow: Airflow
) -> None:
    sample = next(s for s in ALL_SAMPLES if s.name == "updates.20020722.2238.gz")
    _, first = uploaded[sample.name]
    runs_before = {r["dag_run_id"] for r in airflow.runs()}
    bq = bigquery_client(stack.settings)
    rows_before = count_file_rows(bq, stack.settings, sample.archive_path)

    code, again = upload(stack, sample.file, sample.archive_path)

    assert code == 0, again
    assert again["archive"]["result"] == "ARCHIVE_RESULT_ALREADY_ARCHIVED"
    assert again["runId"] == first["runId"]
    assert {r["dag_run_id"] for r in airflow.runs()} == runs_before
    assert count_file_rows(bq, stack.settings, sample.archive_path) == rows_before
    assert int(again["load"]["rowsLoaded"]) == rows_before


def test_other_bytes_at_an_archived_path_conflict(
    stack: Stack, uploaded: dict[str, tuple[int, dict[str, Any]]], tmp_path: Path
) -> None:
    sample = next(s for s in ALL_SAMPLES if s.name == "quagga_bgp")
    other = tmp_path / sample.name
    other.write_bytes(sample.file.read_bytes() + b"\x00")

    code, reply = upload(stack, other, sample.archive_path)

    assert code == 3, reply
    assert reply["outcome"] == "OUTCOME_REJECTED"
    assert reply["archive"]["result"] == "ARCHIVE_RESULT_CONFLICT"
    assert sha256_of(sample.file) in reply["failure"]["reason"]
    assert sha256_of(other) in reply["failure"]["reason"]
    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    assert bucket.blob(sample.archive_path).download_as_bytes() == sample.file.read_bytes()


def _truncated_copies(tmp_path: Path) -> list[tuple[str, Path]]:
    """A raw copy cut mid-record, and a gzip copy cut mid-stream."""
    src = SAMPLES / "ripe-ris" / "updates.20160811.1600.gz"
    raw = gzip.decompress(src.read_bytes())
    cut_raw = tmp_path / "updates.20160811.1615"
    cut_raw.write_bytes(raw[: len(raw) // 2 + 7])
    cut_gz = tmp_path / "updates.20160811.1630.gz"
    data = src.read_bytes()
    cut_gz.write_bytes(data[: len(data) // 2])
    return [("raw", cut_raw), ("gzip", cut_gz)]


def test_truncated_file_is_archived_and_reported_partial(
    stack: Stack, uploaded: dict[str, tuple[int, dict[str, Any]]], tmp_path: Path
) -> None:
    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    bq = bigquery_client(stack.settings)
    for kind, cut in _truncated_copies(tmp_path):
        path = f"rrc00/bgpdata/2016.08/UPDATES/{cut.name}"
        code, reply = upload(stack, cut, path)

        assert code == 4, (kind, reply)
        assert reply["outcome"] == "OUTCOME_PARTIAL", (kind, reply)
        conv = reply["conversion"]
        assert conv["state"] == "STAGE_STATE_PARTIAL"
        assert conv["damage"]["reason"], conv
        assert int(conv["damage"]["offset"]) > 0
        assert int(conv["rows"]) > 0
        assert bucket.blob(path).download_as_bytes() == cut.read_bytes()
        assert count_file_rows(bq, stack.settings, path) == int(conv["rows"])


def _stub(stack: Stack) -> pb_grpc.IngestServiceStub:
    return pb_grpc.IngestServiceStub(stack.channel())


def test_wrong_checksum_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    data = (SAMPLES / "quagga_rib").read_bytes()
    path = "sample-x/bgpdata/2026.01/RIBS/rib.20260101.0000"
    header = pb.FileHeader(archive_path=path, sha256="0" * 64, size=len(data))
    with pytest.raises(grpc.RpcError) as err:
        _stub(stack).Upload(
            iter([pb.UploadRequest(header=header), pb.UploadRequest(chunk=data)]),
            timeout=30,
            metadata=stack.metadata,
        )
    assert err.value.code() == grpc.StatusCode.DATA_LOSS
    assert "sha256" in (err.value.details() or "")
    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    assert bucket.get_blob(path) is None
    work = storage_client(stack.settings).bucket(stack.settings.working_bucket)
    assert list(work.list_blobs(prefix="_incoming/")) == []


def test_aborted_stream_leaves_nothing(stack: Stack) -> None:
    data = (SAMPLES / "quagga_rib").read_bytes()
    path = "sample-x/bgpdata/2026.01/RIBS/rib.20260101.0015"
    header = pb.FileHeader(
        archive_path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )
    # the stream ends after half the bytes: the receiver must not publish anything
    with pytest.raises(grpc.RpcError) as err:
        _stub(stack).Upload(
            iter([pb.UploadRequest(header=header), pb.UploadRequest(chunk=data[:500])]),
            timeout=30,
            metadata=stack.metadata,
        )
    assert err.value.code() == grpc.StatusCode.DATA_LOSS
    assert storage_client(stack.settings).bucket(stack.settings.bucket).get_blob(path) is None


@pytest.mark.parametrize(
    "hostile",
    [
        "../../etc/passwd",
        "/abs/bgpdata/2026.01/RIBS/x",
        "a/bgpdata/2026.01/RIBS/..",
        # the name of the converted rows of an archived file
        "rrc00/bgpdata/2016.08/UPDATES/updates.20160811.1600.gz.avro",
    ],
)
def test_hostile_path_is_refused(stack: Stack, hostile: str) -> None:
    header = pb.FileHeader(archive_path=hostile, sha256="0" * 64, size=1)
    with pytest.raises(grpc.RpcError) as err:
        _stub(stack).Upload(
            iter([pb.UploadRequest(header=header)]), timeout=30, metadata=stack.metadata
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_status_command_reports_the_archived_file(
    stack: Stack, uploaded: dict[str, tuple[int, dict[str, Any]]]
) -> None:
    sample = next(s for s in ALL_SAMPLES if s.name == "bview.ipv4_unicast_add_path.gz")
    proc = stack.run(
        str(BIN / "upload-to-cloudz"), "status", sample.archive_path, "-d", stack.endpoint, "--json"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reply = json.loads(proc.stdout)
    assert reply["runId"] == uploaded[sample.name][1]["runId"]
    assert reply["outcome"] == "OUTCOME_SUCCEEDED"

    missing = stack.run(
        str(BIN / "upload-to-cloudz"),
        "status",
        "nobody/bgpdata/2026.01/RIBS/rib.20260101.0000",
        "-d",
        stack.endpoint,
    )
    assert missing.returncode == 3
    assert "nothing is archived" in missing.stderr


def test_unreachable_receiver_exit_status(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"\x00")
    proc = subprocess.run(
        [
            str(BIN / "upload-to-cloudz"),
            "-f",
            str(f),
            "-d",
            "http://127.0.0.1:9",
            "--archive-path",
            "c/bgpdata/2026.01/RIBS/rib.20260101.0000",
            "--wait",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 6, proc.stderr
    assert "unreachable" in proc.stderr


def test_clearing_tasks_never_duplicates_rows(
    stack: Stack, uploaded: dict[str, tuple[int, dict[str, Any]]], airflow: Airflow
) -> None:
    """Clear each task as the UI does: the table holds the file's rows once every time.

    Clearing ``load`` alone finds its finished load job and loads nothing again; clearing
    ``convert`` with its downstream writes a new Avro object, so the load loads it and, seeing
    the earlier conversion's rows too, replaces them (the one path that runs a DELETE).
    """
    sample = next(s for s in ALL_SAMPLES if s.name == "updates.20071015.1505.gz")
    run_id = uploaded[sample.name][1]["runId"]
    bq = bigquery_client(stack.settings)
    expected = bgpdump_lines(sample.file)
    assert count_file_rows(bq, stack.settings, sample.archive_path) == expected
    first = airflow.load_result(run_id)
    assert first["rows_loaded"] == expected and "replaced_rows" not in first

    airflow.clear(run_id, ["load"], downstream=False)
    code, reply = _wait_status(stack, sample.archive_path)
    assert code == 0, reply
    assert count_file_rows(bq, stack.settings, sample.archive_path) == expected
    assert airflow.load_result(run_id) == first  # the same job: nothing loaded again

    airflow.clear(run_id, ["convert"], downstream=False)
    code, reply = _wait_status(stack, sample.archive_path)
    assert code == 0, reply
    assert count_file_rows(bq, stack.settings, sample.archive_path) == expected

    airflow.clear(run_id, ["convert"], downstream=True)
    code, reply = _wait_status(stack, sample.archive_path)
    assert code == 0, reply
    assert count_file_rows(bq, stack.settings, sample.archive_path) == expected
    again = airflow.load_result(run_id)
    assert again["load_job"] != first["load_job"]
    # the DELETE took the earlier conversion's rows and this load's, then it loaded once more
    assert again["replaced_rows"] == 2 * expected


def _wait_status(stack: Stack, archive_path: str) -> tuple[int, dict[str, Any]]:
    for _ in range(60):
        proc = stack.run(
            str(BIN / "upload-to-cloudz"),
            "status",
            archive_path,
            "-d",
            stack.endpoint,
            "--json",
            "--wait",
            "30",
        )
        reply = json.loads(proc.stdout)
        if reply.get("outcome") != "OUTCOME_RUNNING" and reply.get("runState") in (
            "success",
            "failed",
        ):
            return proc.returncode, reply
    pytest.fail(f"{archive_path} did not finish")


def test_bgpdump_is_installed() -> None:
    """The row counts above are only meaningful against the real reference tool."""
    assert shutil.which("bgpdump"), "install Debian's bgpdump (make test does it)"


def _record_boundaries(mrt: bytes) -> list[int]:
    """Offsets where MRT records start (RFC 6396 §2: 12-byte header, length excludes it)."""
    offsets, pos = [], 0
    while pos + 12 <= len(mrt):
        offsets.append(pos)
        pos += 12 + int.from_bytes(mrt[pos + 8 : pos + 12], "big")
    return offsets


def test_truncated_rib_loads_its_readable_rows_exactly(
    stack: Stack, airflow: Airflow, tmp_path: Path
) -> None:
    """A RIB cut mid-record, as a crashed collector leaves it: archived, whole records loaded."""
    mrt = gzip.decompress((SAMPLES / "ripe-ris" / "bview.ipv4_unicast_add_path.gz").read_bytes())
    starts = _record_boundaries(mrt)
    cut_record = len(starts) // 2
    whole = tmp_path / "whole-records"
    whole.write_bytes(mrt[: starts[cut_record]])
    cut = tmp_path / "bview.20160107.1215.bz2"
    cut.write_bytes(bz2.compress(mrt[: starts[cut_record] + 20]))
    # named for its records' time (2016-01-07 12:01), as its rows are loaded only within a day
    path = "rrc00/bgpdata/2016.01/RIBS/rib.20160107.1215.bz2"

    code, reply = upload(stack, cut, path)

    assert code == 4, reply
    assert reply["outcome"] == "OUTCOME_PARTIAL", reply
    conv = reply["conversion"]
    assert conv["state"] == "STAGE_STATE_PARTIAL"
    assert int(conv["damage"]["offset"]) == starts[cut_record]
    assert "truncated" in conv["damage"]["reason"]
    readable = bgpdump_lines(whole)
    assert 0 < readable < 62
    assert int(conv["rows"]) == readable
    assert reply["load"]["state"] == "STAGE_STATE_SUCCEEDED"
    bq = bigquery_client(stack.settings)
    assert count_file_rows(bq, stack.settings, path) == readable
    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    assert bucket.blob(path).download_as_bytes() == cut.read_bytes()
    # the Airflow run says so too, on the run's page
    note = airflow.run(reply["runId"])["note"]
    assert note.startswith("partial:") and str(starts[cut_record]) in note


def test_generated_rib_with_every_column_round_trips_through_the_warehouse(
    stack: Stack, tmp_path: Path
) -> None:
    """A generated RIB exercises what the samples lack: ADD-PATH, IPv6, 4-byte ASNs, large and
    extended communities, ONLY_TO_CUSTOMER and raw attributes (a REPEATED RECORD with BYTES)."""
    rib = tmp_path / "rib.20260101.0000.bz2"
    written = write_file(
        rib, generate_rib(RibSpec(peers=6, prefixes=300, seed=7, timestamp=1_767_225_600))
    )
    avro = tmp_path / "local.avro"
    path = f"route-views.gen/bgpdata/2026.01/RIBS/{rib.name}"
    convert_file(rib, avro, collector="route-views.gen", source_path=path, source_sha256="x")
    with avro.open("rb") as f:
        local = [r for r in fastavro.reader(f) if isinstance(r, dict)]
    raw_attributes = sorted(
        (r["row_index"], a["type"], a["flags"], a["value"])
        for r in local
        for a in r["other_attributes"]
    )
    assert raw_attributes, "the generator writes raw attributes"
    assert any(r["only_to_customer"] is not None for r in local)

    code, reply = upload(stack, rib, path)

    assert code == 0, reply
    assert int(reply["load"]["rowsLoaded"]) == written.rows == len(local)
    bq = bigquery_client(stack.settings)
    window = file_window(bq, stack.settings.files_ref, path)
    job = bq.query(
        f"SELECT row_index, a.type AS type, a.flags AS flags, a.value AS value "
        f"FROM `{stack.settings.table_ref}`, UNNEST(other_attributes) AS a "
        f"WHERE {window.where()} AND source_path = @path",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[
                *window.query_parameters(),
                bigquery.ScalarQueryParameter("path", "STRING", path),
            ]
        ),
    )
    loaded = sorted(
        (r["row_index"], r["type"], r["flags"], bytes(r["value"])) for r in job.result()
    )
    assert loaded == raw_attributes
    job = bq.query(
        f"SELECT COUNT(*) AS n, COUNTIF(only_to_customer IS NOT NULL) AS otc, "
        f"SUM(ARRAY_LENGTH(large_communities)) AS large, "
        f"SUM(ARRAY_LENGTH(extended_communities)) AS ext, COUNTIF(path_id IS NOT NULL) AS ap "
        f"FROM `{stack.settings.table_ref}` WHERE {window.where()} AND source_path = @path",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[
                *window.query_parameters(),
                bigquery.ScalarQueryParameter("path", "STRING", path),
            ]
        ),
    )
    got = dict(next(iter(job.result())).items())
    assert got == {
        "n": len(local),
        "otc": sum(r["only_to_customer"] is not None for r in local),
        "large": sum(len(r["large_communities"]) for r in local),
        "ext": sum(len(r["extended_communities"]) for r in local),
        "ap": sum(r["path_id"] is not None for r in local),
    }


def test_a_rib_in_several_avro_parts_is_loaded_once_and_stale_parts_are_removed(
    stack: Stack, airflow: Airflow, tmp_path: Path
) -> None:
    """The e2e stack writes Avro parts of 1 MiB (stack_session.py): a RIB of several MiB of
    Avro is uploaded as several parts, each a whole Avro file, and loaded by one job through
    the wildcard ``<path>.avro*``. Then, as if an earlier conversion had written more parts,
    two extra parts (copies of part 1) sit under the wildcard when ``convert`` runs again: the
    conversion deletes them, so the load reads each row once (else it would fail on its count).
    """
    rib = tmp_path / "rib.20260102.0000.bz2"
    written = write_file(
        rib, generate_rib(RibSpec(peers=20, prefixes=12_000, seed=11, timestamp=1_767_312_000))
    )
    path = f"route-views.parts/bgpdata/2026.01/RIBS/{rib.name}"
    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)

    def parts() -> list[str]:
        return sorted(b.name for b in bucket.list_blobs(prefix=paths.avro_part_name(path, 0)))

    code, reply = upload(stack, rib, path)

    assert code == 0, reply
    assert reply["conversion"]["avroUri"] == f"gs://{stack.settings.bucket}/{path}.avro*"
    names = parts()
    assert len(names) >= 3 and names == [paths.avro_part_name(path, n) for n in range(len(names))]
    row_index: list[int] = []
    for name in names:
        data = bucket.blob(name).download_as_bytes()
        assert len(data) <= 1 << 20
        row_index += [
            cast(dict[str, Any], r)["row_index"] for r in fastavro.reader(io.BytesIO(data))
        ]
    assert row_index == list(range(written.rows))
    bq = bigquery_client(stack.settings)
    assert int(reply["load"]["rowsLoaded"]) == written.rows
    assert count_file_rows(bq, stack.settings, path) == written.rows
    first = airflow.load_result(reply["runId"])
    assert first["proof"] == "load job"  # one job read every part, its outputRows exact

    spare = bucket.blob(names[1]).download_as_bytes()
    for n in (len(names), len(names) + 1):
        bucket.blob(paths.avro_part_name(path, n)).upload_from_string(spare)
    assert len(parts()) == len(names) + 2
    airflow.clear(reply["runId"], ["convert"], downstream=True)
    code, again = _wait_status(stack, path)

    assert code == 0, again
    assert parts() == names  # the stale parts are gone
    assert count_file_rows(bq, stack.settings, path) == written.rows
    second = airflow.load_result(reply["runId"])
    # the new conversion's load, then the earlier conversion's rows replaced (as clearing
    # convert always does), never a row of the stale parts
    assert second["load_job"] != first["load_job"]
    assert second["replaced_rows"] == 2 * written.rows


def test_empty_file_is_refused(stack: Stack) -> None:
    header = pb.FileHeader(
        archive_path="sample-x/bgpdata/2026.01/RIBS/rib.20260101.0030",
        sha256=hashlib.sha256(b"").hexdigest(),
        size=0,
    )
    with pytest.raises(grpc.RpcError) as err:
        _stub(stack).Upload(
            iter([pb.UploadRequest(header=header)]), timeout=30, metadata=stack.metadata
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "empty" in (err.value.details() or "")
