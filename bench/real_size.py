"""A real-size RIB through a running stack, with the peak memory of every process (issue 19).

For each ``--file`` (a RIB generated like a real RouteViews one, e.g.
``python -m cloudz.mrtgen rib --peers 40 --prefixes 1250000 --peer-presence 1 --addpath-share 0
--multicast-share 0 --generic-share 0 --locality 0.98 --pool 64 -o rib50m.bz2`` for 50M rows):

1. **reference**, measured in the same run: ``cloudz-convert`` of the file alone, pinned to one
   core, its rows per second and peak RSS;
2. the file uploaded with the real ``upload-to-cloudz`` under a fresh archive path (a
   credential of its own collector), then ``upload-to-cloudz status`` until the file's outcome
   when the reply says RUNNING;
3. every row counted in BigQuery (``COUNT(*)`` of the file's rows) against the converter's;
4. throughout, the RSS of every process of the stack sampled every 0.25 s, the highest per
   role (receiver replica, task process, object store, warehouse, scheduler, ...).

The conversion's and the load's row rates are those of their Airflow tasks (start to end, as
the REST API reports them), each as a ratio to the reference's. Prints a table and writes
``bench/out/real_size.json``.

    .venv/bin/python bench/real_size.py --file /tmp/rib10m.bz2 --file /tmp/rib50m.bz2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import credentials
from harness.airflow_api import Airflow, parse_time
from harness.figures import loadavg, write_json
from harness.places import BIN, OUT
from harness.process_usage import RssSampler, run_measured

from cloudz.archive import paths
from cloudz.settings import Settings
from cloudz.warehouse.clients import bigquery_client, count_file_rows

TERMINAL = {"OUTCOME_SUCCEEDED", "OUTCOME_PARTIAL", "OUTCOME_FAILED", "OUTCOME_REJECTED"}

#: (role, pattern over /proc/<pid>/cmdline joined by spaces), first match wins
ROLES: list[tuple[str, re.Pattern[str]]] = [
    (role, re.compile(pattern))
    for role, pattern in [
        ("upload-to-cloudz", r"upload-to-cloudz"),
        ("receiver", r"ingest_service\.server"),
        ("object store (fake-gcs-server)", r"fake-gcs-server"),
        ("warehouse (BigQuery emulator)", r"bigquery-emulator-serve|local-bigquery"),
        ("task process", r"task runner|task supervisor|airflow.*tasks? run|execute_workload"),
        ("executor worker", r"LocalExecutor|celery"),
        ("scheduler", r"airflow scheduler"),
        ("api-server", r"airflow api[-_]server|uvicorn"),
        ("dag-processor", r"airflow dag[-_]processor"),
        ("triggerer", r"airflow triggerer"),
        ("postgres", r"(^|/)postgres( |$)|postgres:"),
        ("statsd bridge", r"statsd_bridge"),
    ]
]


def role_of(cmdline: str) -> str | None:
    return next((r for r, p in ROLES if p.search(cmdline)), None)


def reference(path: Path, work: Path) -> dict[str, Any]:
    """The converter alone on one core: rows per second and peak RSS."""
    target = work / "reference.avro"
    cmd = [str(BIN / "cloudz-convert"), str(path), "-o", str(target), "--codec", "zstandard",
           "--report-json"]  # fmt: skip
    run = run_measured(cmd, core=0, check=False)
    wall = run.seconds
    report = json.loads(run.stderr.strip().splitlines()[-1])
    size = target.stat().st_size
    target.unlink()
    return {
        "rows": report["rows"],
        "seconds": round(wall, 1),
        "rows_per_second": round(report["rows"] / wall),
        "peak_rss_mib": run.maxrss_kib // 1024,
        "avro_bytes": size,
    }


def cli(settings: Settings, token_file: Path, *args: str) -> tuple[dict[str, Any], int, float]:
    cmd = [str(BIN / "upload-to-cloudz"), *args, "--ca-cert", str(settings.tls_ca_cert),
           "--token-file", str(token_file), "--json"]  # fmt: skip
    run = run_measured(cmd, check=False)
    try:
        reply = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"upload-to-cloudz said no JSON: {run.stdout!r} {run.stderr!r}") from None
    return reply, run.maxrss_kib // 1024, run.seconds


@dataclass
class Result:
    file: str
    bz2_bytes: int
    archive_path: str
    reference: dict[str, Any]
    reply_outcome: str = ""
    first_reply: str = ""
    first_reply_seconds: float = 0.0
    end_to_end_seconds: float = 0.0
    rows_converted: int = 0
    rows_loaded: int = 0
    rows_in_bigquery: int = 0
    task_seconds: dict[str, float] = field(default_factory=dict)
    load_rows_per_second: float = 0.0
    load_to_converter_ratio: float = 0.0
    client_peak_rss_mib: int = 0
    peak_rss_mib: dict[str, int] = field(default_factory=dict)
    peak_rss_sum_mib: dict[str, int] = field(default_factory=dict)
    loadavg: str = ""


def one_file(path: Path, settings: Settings, work: Path) -> Result:
    nonce = secrets.token_hex(3)
    collector = f"bench-real-{nonce}"
    stamp = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    stamp -= dt.timedelta(hours=stamp.hour % 2)
    archive = paths.parse(
        f"{collector}/bgpdata/{stamp:%Y.%m}/RIBS/rib.{stamp:%Y%m%d.%H%M}.bz2"
    ).path
    print(f"{path.name}: reference conversion on one core ...", flush=True)
    ref = reference(path, work)
    print(f"  {ref}", flush=True)
    credential_id, token = credentials.issue(settings, collector, [collector])
    token_file = credentials.write_token_file(work / f"{collector}.token", token)
    result = Result(path.name, path.stat().st_size, archive, ref)
    started = time.monotonic()
    with RssSampler(role_of) as rss:
        reply, client_rss, wall = cli(
            settings, token_file, "-f", str(path), "-d", settings.receiver_url,
            "--archive-path", archive, "--wait", "120",
        )  # fmt: skip
        result.first_reply = reply.get("outcome", "?") + "/" + reply.get("run_state", "")
        result.first_reply_seconds = round(wall, 1)
        result.client_peak_rss_mib = client_rss
        print(f"  first reply after {wall:.0f} s: {result.first_reply}", flush=True)
        while reply.get("outcome") not in TERMINAL:
            reply, _, _ = cli(
                settings, token_file, "status", archive, "-d", settings.receiver_url, "--wait", "60"
            )
        result.end_to_end_seconds = round(time.monotonic() - started, 1)
    credentials.revoke(settings, [credential_id])
    result.reply_outcome = reply["outcome"]
    result.peak_rss_mib = {k: v // 1024 for k, v in sorted(rss.peak.items())}
    result.peak_rss_sum_mib = {k: v // 1024 for k, v in sorted(rss.peak_sum.items())}
    result.loadavg = loadavg(3)
    conversion = reply.get("conversion", {})
    result.rows_converted = int(conversion.get("rows", 0))
    result.rows_loaded = int(reply.get("load", {}).get("rowsLoaded", 0))
    result.rows_in_bigquery = count_file_rows(bigquery_client(settings), settings, archive)
    airflow = Airflow.of(settings)
    try:
        for ti in airflow.task_instances("mrt_file", reply["runId"]):
            start, end = parse_time(ti.get("start_date")), parse_time(ti.get("end_date"))
            if start is not None and end is not None:
                name = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
                result.task_seconds[name] = round(end - start, 1)
    finally:
        airflow.close()
    load_seconds = sum(v for k, v in result.task_seconds.items() if k.startswith("load"))
    if load_seconds:
        result.load_rows_per_second = round(result.rows_in_bigquery / load_seconds)
        result.load_to_converter_ratio = round(
            result.load_rows_per_second / ref["rows_per_second"], 2
        )
    return result


def print_result(r: Result) -> None:
    print(f"\n## {r.file}: {r.reference['rows']:,} rows, {r.bz2_bytes / 1e6:.0f} MB bz2")
    print(f"- outcome {r.reply_outcome}; first reply {r.first_reply} after "
          f"{r.first_reply_seconds} s; end to end {r.end_to_end_seconds} s; "
          f"load average {r.loadavg}")  # fmt: skip
    print(f"- rows: converted {r.rows_converted:,}, loaded {r.rows_loaded:,}, "
          f"COUNT(*) {r.rows_in_bigquery:,}")  # fmt: skip
    print(f"- reference (cloudz-convert, 1 core): {r.reference['seconds']} s, "
          f"{r.reference['rows_per_second']:,} rows/s, "
          f"{r.reference['peak_rss_mib']} MiB")  # fmt: skip
    print(f"- tasks (s): {r.task_seconds}; load {r.load_rows_per_second:,} rows/s = "
          f"{r.load_to_converter_ratio}x the reference's rate")  # fmt: skip
    print("\n| process | peak RSS of one process (MiB) | peak of all of that role (MiB) |")
    print("|---|---|---|")
    for role, mib in r.peak_rss_mib.items():
        print(f"| {role} | {mib} | {r.peak_rss_sum_mib.get(role, 0)} |")
    print(f"| upload-to-cloudz (wait4) | {r.client_peak_rss_mib} | |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, action="append", required=True)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    # the stack's emulators, unless the environment names real services
    os.environ.setdefault("BIGQUERY_EMULATOR_HOST", settings.bigquery_url)
    os.environ.setdefault("STORAGE_EMULATOR_HOST", settings.gcs_url)
    results = []
    with tempfile.TemporaryDirectory(prefix="real-size-") as tmp:
        for path in args.file:
            result = one_file(path, settings, Path(tmp))
            print_result(result)
            results.append(asdict(result))
    write_json(OUT / "real_size.json", results)
    ok = all(
        r["reply_outcome"] == "OUTCOME_SUCCEEDED"
        and r["rows_in_bigquery"] == r["reference"]["rows"] == r["rows_loaded"]
        for r in results
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
