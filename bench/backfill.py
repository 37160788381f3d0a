"""Backfill throughput: one day of 3 collectors through ``mrt_backfill`` against the bare converter.

One run of this script measures, on the same machine and the same 324 files:

1. **the archive**: one day of 3 collectors at RouteViews' cadence (a RIB every 2 h, an
   UPDATES file every 15 min: 12 + 96 files per collector) written by
   ``tests/archive_server.build_archive`` (bz2; ``--rib-peers`` x ``--rib-prefixes`` rows per
   RIB, ``--updates-rows`` per update file), served by its real HTTP server process;
2. **the reference**: ``cloudz.convert.convert_file`` over the 324 files, one after the other
   in one child process (one core), before the stack starts and again after it stopped, and
   (``--two-cores``, default on) the files split in two halves converted by two processes at
   once: seconds, rows, files/hour, rows/s (timed inside the children: no interpreter start);
3. **the backfill**: an embedded stack of its own (``cloudz-stack up`` in a temp state dir on
   free ports, like the e2e tests; no receivers: a backfill does not use them), a backfill of
   the day created through Airflow's REST API (``POST /api/v2/backfills``, what
   ``cloudz-backfill`` does), timed from creation to the run's end; per task (plan / convert /
   load) the sum of the task instances' durations, their spans and the gaps between them; what
   the task logs' timestamps say of each task's steps (start-up, fetch, convert, claims, load
   job); the CPU each stack component used during the backfill (sampled every 0.5 s); and the
   result checked: every file's rows in the routes table once (one grouped query);
4. **the table**: the backfill's rate as a share of the bare one-core rate (goal >= 70 %) and
   of the two-process rate, end to end and up to the load's start (the emulator's load is
   not BigQuery's), and a projection of RouteViews' whole history (collector-days of
   ``include/collectors.yaml`` x 108 files) on N workers of 2 cores, from the measured
   files/hour and from rows/s with an assumed real average of rows per file.

    .venv/bin/python bench/backfill.py
    .venv/bin/python bench/backfill.py --rib-peers 10 --rib-prefixes 10000 --updates-rows 2000

Absolute times on a shared 2-core machine are noise; only the ratios of one run mean anything.
Figures go to ``bench/out/backfill-<stamp>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.airflow_api import Airflow, parse_time
from harness.figures import loadavg, write_json
from harness.own_stack import own_stack
from harness.places import OUT, ROOT, tests_on_path
from harness.process_usage import CpuSampler, first_needle
from harness.row_counts import rows_per_file

from cloudz.settings import Settings

if TYPE_CHECKING:
    from archive_server import ArchiveTree, GeneratedFile

DAG_ID = "mrt_backfill"
#: RouteViews' cadence: 12 RIBs and 96 UPDATES files per collector and day
FILES_PER_COLLECTOR_DAY = 12 + 96
GOAL = 0.70
TERMINAL = ("success", "failed")


# --- machine ----------------------------------------------------------------------------------
def machine_cpu() -> tuple[float, float]:
    """(busy, all) core-seconds the whole machine has spent since boot (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return (total - idle) / hz, total / hz


@dataclass
class Phase:
    """Wall time, machine CPU and load average over one step of the bench."""

    name: str
    wall: float = 0.0
    busy_cores: float = 0.0  # average busy cores of the whole machine (other jobs included)
    load_start: str = ""
    load_end: str = ""


@contextlib.contextmanager
def phase(name: str, phases: list[Phase]) -> Iterator[Phase]:
    p = Phase(name, load_start=loadavg(3))
    busy0, all0 = machine_cpu()
    t0 = time.monotonic()
    try:
        yield p
    finally:
        p.wall = time.monotonic() - t0
        busy1, all1 = machine_cpu()
        ncpu = os.cpu_count() or 1
        p.busy_cores = (busy1 - busy0) / max(1e-9, all1 - all0) * ncpu
        p.load_end = loadavg(3)
        phases.append(p)
        print(
            f"[{name}] {p.wall:.1f} s, machine busy {p.busy_cores:.2f} of {ncpu} cores, "
            f"loadavg {p.load_start} -> {p.load_end}",
            flush=True,
        )


# --- the reference: the bare converter --------------------------------------------------------
def convert_child(list_file: Path, out_dir: Path, result_file: Path) -> None:
    """In a child process: convert the listed files one after the other; write the timings."""
    from cloudz.convert import convert_file

    files = json.loads(list_file.read_text())
    dst = out_dir / f"rows-{os.getpid()}.avro"
    rows = 0
    per_file: dict[str, float] = {}
    cpu0 = time.process_time()
    start = time.time()
    t0 = time.perf_counter()
    for f in files:
        t1 = time.perf_counter()
        report = convert_file(
            Path(f["local_path"]),
            dst,
            collector=f["collector"],
            source_path=f["archive_path"],
            source_sha256=f["sha256"],
        )
        rows += report.rows
        dst.unlink(missing_ok=True)
        per_file[f["archive_path"]] = time.perf_counter() - t1
    seconds = time.perf_counter() - t0
    result = {
        "files": len(files),
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu0,
        "start": start,
        "end": start + seconds,
        "per_file": per_file,
    }
    result_file.write_text(json.dumps(result))


def split_even(files: Sequence[GeneratedFile], n: int) -> list[list[GeneratedFile]]:
    """``n`` lists of about equal bytes: biggest first, each to the lightest list."""
    parts: list[list[GeneratedFile]] = [[] for _ in range(n)]
    weight = [0] * n
    for f in sorted(files, key=lambda f: -f.size):
        i = weight.index(min(weight))
        parts[i].append(f)
        weight[i] += f.size
    return parts


def reference(files: Sequence[GeneratedFile], processes: int, work: Path) -> dict[str, Any]:
    """The bare converter over ``files`` in ``processes`` child processes at once."""
    work.mkdir(parents=True, exist_ok=True)
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    for i, part in enumerate(split_even(files, processes)):
        listing = work / f"files-{processes}-{i}.json"
        listing.write_text(
            json.dumps(
                [
                    {
                        "local_path": str(f.local_path),
                        "collector": f.collector,
                        "archive_path": f.archive_path,
                        "sha256": f.sha256,
                    }
                    for f in part
                ]
            )
        )
        result = work / f"result-{processes}-{i}.json"
        result.unlink(missing_ok=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "_convert"]
        cmd += [str(listing), str(work), str(result)]
        procs.append((subprocess.Popen(cmd, cwd=ROOT), result))
    children = []
    for proc, result in procs:
        if proc.wait() != 0:
            raise SystemExit(f"reference converter exited with {proc.returncode}")
        children.append(json.loads(result.read_text()))
    wall = max(c["end"] for c in children) - min(c["start"] for c in children)
    rows = sum(c["rows"] for c in children)
    n = sum(c["files"] for c in children)
    return {
        "processes": processes,
        "files": n,
        "rows": rows,
        "seconds": wall,
        "cpu_seconds": sum(c["cpu_seconds"] for c in children),
        "files_per_hour": n / wall * 3600,
        "rows_per_s": rows / wall,
        "per_file": {p: s for c in children for p, s in c.pop("per_file").items()},
        "children": children,
    }


# --- CPU of the stack's processes during the backfill -----------------------------------------
#: a stack process by its command line (the first needle found names it)
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("local-bigquery", "bigquery emulator"),
    ("fake-gcs-server", "fake-gcs-server"),
    ("postgres", "postgres"),
    ("archive_server.py", "archive server"),
    ("task runner", "tasks"),
    ("task supervisor", "task supervisors"),
    ("LocalExecutor", "executor workers"),
    ("scheduler", "scheduler"),
    ("dag-processor", "dag-processor"),
    ("dag_processor", "dag-processor"),
    ("triggerer", "triggerer"),
    ("api-server", "api-server"),
    ("api_server", "api-server"),
    ("api_fastapi", "api-server"),
    ("ingest_service", "receivers"),
)


#: a task's processes: the supervisor and the task runner set this title (Airflow 3)
_TASK_PROCESS = re.compile(r"airflow worker -- ([0-9a-f]{8}-[0-9a-f-]{27})")


def component_of(cmdline: str) -> str:
    name = first_needle(COMPONENTS, cmdline)
    if name is not None:
        return name
    match = _TASK_PROCESS.search(cmdline)
    if match:
        return match.group(0)
    return "other: " + cmdline[:60]


def cpu_by_task(cpu: dict[str, float], task_of: dict[str, str]) -> dict[str, float]:
    """``cpu`` with task processes (``airflow worker -- <task instance id>``) summed under
    ``task <task id>`` by ``task_of`` (task instance id -> task id), most first."""
    out: dict[str, float] = defaultdict(float)
    for name, seconds in cpu.items():
        m = _TASK_PROCESS.search(name)
        if m:
            name = f"task {task_of.get(m.group(1), 'other')} (its processes)"
        out[name] += seconds
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# --- the backfill through Airflow's REST API ---------------------------------------------------
def backfill_day(
    api: Airflow, day: dt.date, conf: dict[str, str], timeout: float
) -> dict[str, Any]:
    """Create a backfill of ``day``; wait for its run; its timings and task instances."""
    body = {
        "dag_id": DAG_ID,
        "from_date": f"{day}T00:00:00Z",
        "to_date": f"{day}T00:00:00Z",
        "dag_run_conf": conf,
        "max_active_runs": 1,
        "reprocess_behavior": "none",
    }
    created_at = time.time()
    backfill = api.json("POST", "/api/v2/backfills", json=body)
    print(f"backfill {backfill['id']} of {day} created; waiting ...", flush=True)
    deadline = time.monotonic() + timeout
    run: dict[str, Any] | None = None
    last_note = time.monotonic()
    while True:
        if time.monotonic() > deadline:
            raise SystemExit(f"the backfill did not end in {timeout:.0f} s: {run}")
        runs = api.json(
            "GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"run_type": "backfill", "limit": 100}
        )["dag_runs"]
        mine = [r for r in runs if r["logical_date"][:10] == str(day)]
        run = mine[0] if mine else None
        if run is not None and run["state"] in TERMINAL:
            ended_seen = time.time()
            break
        if time.monotonic() - last_note > 30:
            last_note = time.monotonic()
            state = run["state"] if run else "not created"
            print(f"  {time.time() - created_at:5.0f} s: run {state}", flush=True)
        time.sleep(0.5)
    run_id = run["dag_run_id"]
    tis = api.task_instances(DAG_ID, run_id)
    end = parse_time(run.get("end_date")) or ended_seen
    return {
        "backfill_id": backfill["id"],
        "run_id": run_id,
        "state": run["state"],
        "created_at": created_at,
        "run_queued_at": parse_time(run.get("queued_at")),
        "run_start": parse_time(run.get("start_date")),
        "run_end": end,
        "wall": end - created_at,
        "seen_ended_after": ended_seen - created_at,
        "plan_summary": api.xcom(DAG_ID, run_id, "plan", "summary"),
        "chunks": api.xcom(DAG_ID, run_id, "plan", "return_value"),
        "load": api.xcom(DAG_ID, run_id, "load", "return_value"),
        "task_instances": tis,
    }


def task_breakdown(result: dict[str, Any]) -> dict[str, Any]:
    """Per task: instances, tries, sum / p50 / max of durations, span; gaps between them."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ti in result["task_instances"]:
        by_task[ti["task_id"]].append(ti)
    tasks: dict[str, Any] = {}
    for task_id, tis in by_task.items():
        durations = [float(ti["duration"] or 0.0) for ti in tis]
        starts = [t for t in (parse_time(ti["start_date"]) for ti in tis) if t is not None]
        ends = [t for t in (parse_time(ti["end_date"]) for ti in tis) if t is not None]
        waits = [
            s - q
            for s, q in (
                (parse_time(ti["start_date"]), parse_time(ti.get("queued_when"))) for ti in tis
            )
            if s is not None and q is not None
        ]
        tasks[task_id] = {
            "instances": len(tis),
            "states": sorted({str(ti["state"]) for ti in tis}),
            "retried": sum(1 for ti in tis if int(ti.get("try_number") or 1) > 1),
            "sum_duration": sum(durations),
            "p50_duration": statistics.median(durations) if durations else 0.0,
            "max_duration": max(durations, default=0.0),
            "first_start": min(starts, default=None),
            "last_end": max(ends, default=None),
            "span": (max(ends) - min(starts)) if starts and ends else None,
            "queued_wait_sum": sum(waits),
        }
    created = result["created_at"]
    plan, convert, load = (tasks.get(k, {}) for k in ("plan", "convert", "load"))

    def gap(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    return {
        "tasks": tasks,
        "timeline": {
            "created -> run start": gap(created, result["run_start"]),
            "run start -> plan start": gap(result["run_start"], plan.get("first_start")),
            "plan (start -> end)": gap(plan.get("first_start"), plan.get("last_end")),
            "plan end -> first convert": gap(plan.get("last_end"), convert.get("first_start")),
            "converts (first start -> last end)": convert.get("span"),
            "last convert end -> load start": gap(convert.get("last_end"), load.get("first_start")),
            "load (start -> end)": gap(load.get("first_start"), load.get("last_end")),
            "load end -> run end": gap(load.get("last_end"), result["run_end"]),
        },
    }


_VERIFIED = re.compile(r"^gs://[^/]+/(\S+): \d+ bytes, sha256 verified$")
_CONVERTED = re.compile(r"^gs://[^/]+/(\S+): \{'rows'")


def read_log(path: Path) -> list[tuple[float, str]]:
    """(time, event) of each JSON line of an Airflow task log."""
    events = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        t = parse_time(record.get("timestamp"))
        if t is not None:
            events.append((t, str(record.get("event", ""))))
    return events


def first_at(events: Sequence[tuple[float, str]], test: Any) -> float | None:
    return next((t for t, e in events if test(e)), None)


def log_breakdown(
    state_dir: Path, run_id: str, tis: Sequence[dict[str, Any]], bare: dict[str, float]
) -> dict[str, Any]:
    """Where each task's time goes, from the timestamps of its log lines (sums over tasks).

    Convert: Airflow's start-up of the task (start -> end of "Pre Execute": DAG file parse),
    per file the fetch (object metadata, download while hashing: up to "sha256 verified") and
    the conversion with the Avro object's upload (up to the report line), the end (return
    value, XCom). Load: the claims and the ledger's look-up (up to "Inserting job"), the load
    job and the catalog rows (up to "batch load:"). Plan: listing, then fetch + catalog diff.
    """
    base = state_dir / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    in_task: dict[str, float] = {}
    for ti in tis:
        where = base / f"task_id={ti['task_id']}"
        if ti.get("map_index") is not None and int(ti["map_index"]) >= 0:
            where = where / f"map_index={ti['map_index']}"
        log = where / f"attempt={ti.get('try_number') or 1}.log"
        start, end = parse_time(ti.get("start_date")), parse_time(ti.get("end_date"))
        if not log.exists() or start is None or end is None:
            continue
        events = read_log(log)
        pre_end = first_at(events, lambda e: e == "::endgroup::")
        if pre_end is None:
            continue
        task = sums[ti["task_id"]]
        task["duration (API)"] += end - start
        task["start -> end of Pre Execute (DAG parse)"] += pre_end - start
        if ti["task_id"] == "convert":
            last = pre_end
            verified_at: float | None = None
            for t, e in events:
                if m := _VERIFIED.match(e):
                    task["fetch + verify (get_blob, download, sha256)"] += t - last
                    verified_at = t
                elif m := _CONVERTED.match(e):
                    if verified_at is None:  # fetched from the source: fetch, archive, convert
                        task["fetch from the source + archive + convert + Avro"] += t - last
                        in_task[m.group(1)] = t - last
                    else:
                        task["convert + write the Avro object"] += t - verified_at
                        in_task[m.group(1)] = t - verified_at
                    last, verified_at = t, None
            task["after the last file (return, XCom)"] += end - last
        elif ti["task_id"] == "load":
            submit = first_at(events, lambda e: e.startswith("Inserting job"))
            done = first_at(events, lambda e: e.startswith("batch load:"))
            if submit is not None and done is not None:
                task["claims + ledger look-up (to 'Inserting job')"] += submit - pre_end
                task["load job + catalog rows"] += done - submit
                task["after (return, XCom)"] += end - done
        elif ti["task_id"] == "plan":
            listed = first_at(events, lambda e: "files listed" in e)
            planned = first_at(events, lambda e: e.startswith("plan for"))
            if listed is not None and planned is not None:
                task["list source and bucket"] += listed - pre_end
                task["fetch into the bucket + catalog diff"] += planned - listed
                task["after (return the chunks, XCom)"] += end - planned
    common = sorted(set(in_task) & set(bare))
    return {
        "tasks": {k: dict(v) for k, v in sums.items()},
        "files_timed": len(in_task),
        "convert_in_task_seconds": sum(in_task[p] for p in common),
        "convert_bare_seconds": sum(bare[p] for p in common),
    }


# --- the check --------------------------------------------------------------------------------
def verify(settings: Settings, tree: ArchiveTree, day: dt.date) -> dict[str, Any]:
    """Every file's rows in the routes table once: one grouped query over the day's window."""
    collectors = sorted({f.collector for f in tree.files})
    lo = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - dt.timedelta(days=1)
    hi = lo + dt.timedelta(days=4)
    t0 = time.monotonic()
    got = {
        path: (rows.count, rows.distinct_row_index)
        for path, rows in rows_per_file(settings, lo, hi, collectors=collectors).items()
    }
    seconds = time.monotonic() - t0
    want = {f.archive_path: f.rows for f in tree.files}
    wrong = {
        p: {"want": n, "got": got.get(p, (0, 0))[0], "distinct": got.get(p, (0, 0))[1]}
        for p, n in want.items()
        if got.get(p) != (n, n)
    }
    extra = sorted(set(got) - set(want))
    return {
        "files_expected": len(want),
        "files_found": len(set(got) & set(want)),
        "rows_expected": sum(want.values()),
        "rows_found": sum(n for p, (n, _) in got.items() if p in want),
        "wrong": wrong,
        "extra": extra,
        "exact": not wrong and not extra,
        "query_seconds": seconds,
    }


# --- the projection ---------------------------------------------------------------------------
def history(today: dt.date) -> dict[str, Any]:
    """Collector-days of ``include/collectors.yaml`` up to ``today``, and their files."""
    from cloudz.sources import load_collectors

    days = 0
    first = today
    listed = list(load_collectors())
    for c in listed:
        last = min(c.last_date or today, today)
        days += max(0, (last - c.first_date).days + 1)
        first = min(first, c.first_date)
    return {
        "collectors": len(listed),
        "first_date": str(first),
        "until": str(today),
        "collector_days": days,
        "files": days * FILES_PER_COLLECTOR_DAY,
    }


# --- main -------------------------------------------------------------------------------------
@dataclass
class Figures:
    args: dict[str, Any]
    date: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat("T", "seconds"))
    phases: list[Phase] = field(default_factory=list)
    archive: dict[str, Any] = field(default_factory=dict)
    references: list[dict[str, Any]] = field(default_factory=list)
    backfill: dict[str, Any] = field(default_factory=dict)
    breakdown: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    logs: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)
    projection: dict[str, Any] = field(default_factory=dict)


def fmt_h(hours: float) -> str:
    if hours >= 48:
        return f"{hours:,.0f} h ({hours / 24:,.0f} days)"
    return f"{hours:,.1f} h"


def summarize(fig: Figures) -> dict[str, Any]:
    """The ratios: the backfill's rate over the bare converter's, end to end and up to the
    load's start (what a worker spends when the load is BigQuery's, not an emulator's)."""
    one = statistics.mean(r["seconds"] for r in fig.references if r["processes"] == 1)
    twos = [r["seconds"] for r in fig.references if r["processes"] == 2]
    two = statistics.mean(twos) if twos else None
    wall = fig.backfill["wall"]
    load_start = fig.breakdown["tasks"].get("load", {}).get("first_start")
    pre = (load_start - fig.backfill["created_at"]) if load_start else wall
    return {
        "bare_one_core_seconds": one,
        "bare_two_seconds": two,
        "backfill_seconds": wall,
        "before_load_seconds": pre,
        "share_of_one_core": one / wall,
        "share_of_one_core_before_load": one / pre,
        "share_of_two": two / wall if two else None,
        "share_of_two_before_load": two / pre if two else None,
        "goal": GOAL,
    }


def report(fig: Figures, args: argparse.Namespace) -> None:
    one = [r for r in fig.references if r["processes"] == 1]
    two = [r for r in fig.references if r["processes"] == 2]
    one_s = statistics.mean(r["seconds"] for r in one)
    files = fig.archive["files"]
    rows = fig.archive["rows"]
    b = fig.backfill
    wall = b["wall"]
    print("\n== throughput (same 324 files, same run) ==")
    print("| what | seconds | files | rows | files/hour | rows/s | backfill rate / this |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in fig.references:
        label = f"bare convert_file, {r['processes']} process{'es' if r['processes'] > 1 else ''}"
        label += f" ({r['when']})"
        print(
            f"| {label} | {r['seconds']:.1f} | {r['files']} | {r['rows']:,} | "
            f"{r['files_per_hour']:,.0f} | {r['rows_per_s']:,.0f} | "
            f"{r['seconds'] / wall:.0%} |"
        )
    sm = fig.summary
    print(
        f"| backfill on the stack, created -> run end | {wall:.1f} | {files} | {rows:,} | "
        f"{files / wall * 3600:,.0f} | {rows / wall:,.0f} | 100% |"
    )
    pre = sm["before_load_seconds"]
    print(
        f"| backfill, created -> load start (plan + converts) | {pre:.1f} | {files} | {rows:,} | "
        f"{files / pre * 3600:,.0f} | {rows / pre:,.0f} | {pre / wall:.0%} |"
    )
    print("\n| backfill rate as a share of | end to end | without the load (to load start) |")
    print("|---|---:|---:|")
    print(
        f"| bare convert_file, one core (mean of {len(one)}; goal >= {GOAL:.0%}) | "
        f"**{sm['share_of_one_core']:.0%}** | {sm['share_of_one_core_before_load']:.0%} |"
    )
    if two:
        print(
            f"| bare convert_file, two processes | {sm['share_of_two']:.0%} | "
            f"{sm['share_of_two_before_load']:.0%} |"
        )
    print(
        f"goal (>= {GOAL:.0%} of one core, end to end): "
        f"{'met' if sm['share_of_one_core'] >= GOAL else 'NOT met'}"
    )
    print("\n== where the backfill's time goes ==")
    for k, v in fig.breakdown["timeline"].items():
        print(f"  {k:<38} {'n/a' if v is None else f'{v:7.1f} s'}")
    print("| task | instances | retried | sum of durations | p50 | max | span |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for task_id, t in fig.breakdown["tasks"].items():
        span = "n/a" if t["span"] is None else f"{t['span']:.1f} s"
        print(
            f"| {task_id} | {t['instances']} | {t['retried']} | {t['sum_duration']:.1f} s | "
            f"{t['p50_duration']:.1f} s | {t['max_duration']:.1f} s | {span} |"
        )
    conv = fig.breakdown["tasks"].get("convert")
    if conv:
        print(
            f"  convert tasks' durations / bare one-core seconds: "
            f"{conv['sum_duration'] / one_s:.2f}x ({conv['sum_duration'] - one_s:+.1f} s over "
            f"{conv['instances']} tasks, {(conv['sum_duration'] - one_s) / conv['instances']:+.2f}"
            " s per task)"
        )
    print("from the task logs (sums over the task instances):")
    for task_id, parts in fig.logs.get("tasks", {}).items():
        print(f"  {task_id}:")
        for k, v in parts.items():
            print(f"    {k:<48} {v:7.1f} s")
    if fig.logs.get("files_timed"):
        lg = fig.logs
        print(
            f"  {lg['files_timed']} files: convert + Avro upload in the tasks "
            f"{lg['convert_in_task_seconds']:.1f} s against the bare conversion of the same "
            f"files {lg['convert_bare_seconds']:.1f} s "
            f"({lg['convert_in_task_seconds'] / lg['convert_bare_seconds']:.2f}x)"
        )
    print("CPU seconds during the backfill, by component:")
    total = sum(fig.cpu.values())
    for name, sec in fig.cpu.items():
        if sec >= 0.05:
            print(f"  {name:<28} {sec:7.1f} s  ({sec / total:.0%})")
    print(f"  {'all':<28} {total:7.1f} s over {wall:.1f} s wall ({total / wall:.2f} cores)")
    c = fig.check
    print(
        f"\ncheck: {c['files_found']}/{c['files_expected']} files, {c['rows_found']:,}/"
        f"{c['rows_expected']:,} rows, each file's rows once: {'OK' if c['exact'] else 'NOT OK'}"
        f" (query {c['query_seconds']:.1f} s)"
    )
    if not c["exact"]:
        for p, w in list(c["wrong"].items())[:10]:
            print(f"  {p}: {w}")
        for p in c["extra"][:10]:
            print(f"  unexpected: {p}")
    p = fig.projection
    print(
        f"\n== projection: {p['collectors']} collectors, {p['first_date']} .. {p['until']}: "
        f"{p['collector_days']:,} collector-days x {FILES_PER_COLLECTOR_DAY} = "
        f"{p['files']:,} files =="
    )
    print(
        f"assumed real rows: RIB {args.assume_rib_rows:,} and update file "
        f"{args.assume_update_rows:,} -> {p['avg_rows_per_file']:,.0f} rows per file on average,"
        f" {p['total_rows']:.3g} rows in all (an assumption, not a measurement)"
    )
    print(
        "| workers (2 cores each) | by files/hour, end to end | by rows/s, end to end "
        "| by rows/s, without the load | by rows/s of bare 2 processes |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n, est in p["by_workers"].items():
        print(
            f"| {n} | {fmt_h(est['files'])} | {fmt_h(est['rows'])} | "
            f"{fmt_h(est['rows_before_load'])} | "
            f"{fmt_h(est['rows_bare_two']) if est['rows_bare_two'] else 'n/a'} |"
        )
    print(
        f"(rates: {p['backfill_files_per_hour']:,.0f} files/h and "
        f"{p['backfill_rows_per_s']:,.0f} rows/s end to end, "
        f"{p['backfill_rows_per_s_before_load']:,.0f} rows/s without the load)"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_convert"]:  # the reference's child process
        convert_child(Path(argv[1]), Path(argv[2]), Path(argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--day", type=dt.date.fromisoformat, default=dt.date(2024, 3, 15))
    ap.add_argument("--rib-peers", type=int, default=10, help="%(default)s")
    ap.add_argument("--rib-prefixes", type=int, default=10_000, help="%(default)s")
    ap.add_argument("--updates-rows", type=int, default=2_000, help="rows per update file")
    ap.add_argument(
        "--two-cores",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also the reference in two processes at once (%(default)s)",
    )
    ap.add_argument(
        "--backfill-slots",
        type=int,
        help="CLOUDZ_BACKFILL_SLOTS of the stack (default: the stack's, 2)",
    )
    ap.add_argument(
        "--receivers",
        action="store_true",
        help="also start the receivers (a backfill never "
        "uses them; off by default, their idle CPU is not the backfill's)",
    )
    ap.add_argument("--timeout", type=float, default=3600.0, help="of the backfill, s")
    ap.add_argument("--keep", action="store_true", help="keep the state dir and the archive")
    ap.add_argument(
        "--assume-rib-rows",
        type=int,
        default=10_000_000,
        help="average rows of a real RIB over 25 years and all collectors, for the projection "
        "(an assumption: %(default)s)",
    )
    ap.add_argument(
        "--assume-update-rows",
        type=int,
        default=20_000,
        help="average rows of a real update file (an assumption: %(default)s)",
    )
    ap.add_argument(
        "--big-rib-rows", type=int, default=0,
        help="rows of each collector's first RIB of the day, shaped like a real one (40 peers "
        "sharing attribute sets); 0: all RIBs are --rib-peers x --rib-prefixes (%(default)s)",
    )  # fmt: skip
    ap.add_argument("--workers", default="1,10,50", help="%(default)s")
    ap.add_argument("--json-out", type=Path, help="default: bench/out/backfill-<stamp>.json")
    args = ap.parse_args(argv)
    tests_on_path()
    from archive_server import DEFAULT_COLLECTORS, build_archive, serve_archive

    fig = Figures(args={k: str(v) for k, v in vars(args).items()})
    print(f"loadavg at start: {loadavg(3)}")
    work = Path(tempfile.mkdtemp(prefix="cloudz-bench-archive-"))
    work.chmod(0o755)
    try:
        with phase("build archive", fig.phases):
            tree = build_archive(
                work / "archive",
                collectors=DEFAULT_COLLECTORS,
                days=(args.day,),
                truncated=False,
                rib_peers=args.rib_peers,
                rib_prefixes=args.rib_prefixes,
                updates_rows=args.updates_rows,
                big_rib_rows=args.big_rib_rows,
            )
        ribs = [f for f in tree.files if f.kind == "RIBS"]
        updates = [f for f in tree.files if f.kind == "UPDATES"]
        fig.archive = {
            "files": len(tree.files),
            "rows": sum(f.rows for f in tree.files),
            "bytes": sum(f.size for f in tree.files),
            "ribs": len(ribs),
            "rib_rows_mean": statistics.mean(f.rows for f in ribs),
            "rib_bytes_mean": statistics.mean(f.size for f in ribs),
            "rib_rows_max": max(f.rows for f in ribs),
            "rib_bytes_max": max(f.size for f in ribs),
            "updates": len(updates),
            "update_rows_mean": statistics.mean(f.rows for f in updates),
            "update_bytes_mean": statistics.mean(f.size for f in updates),
        }
        a = fig.archive
        print(
            f"archive: {a['files']} files, {a['rows']:,} rows, {a['bytes'] / 1e6:.1f} MB bz2; "
            f"RIBs {a['ribs']} x {a['rib_rows_mean']:,.0f} rows ({a['rib_bytes_mean'] / 1e6:.1f} "
            f"MB; the largest {a['rib_rows_max']:,} rows, {a['rib_bytes_max'] / 1e6:.1f} MB), "
            f"updates {a['updates']} x {a['update_rows_mean']:,.0f} rows "
            f"({a['update_bytes_mean'] / 1e3:.0f} KB)",
            flush=True,
        )

        def run_reference(processes: int, when: str) -> None:
            with phase(f"reference, {processes} process(es), {when}", fig.phases):
                r = reference(tree.files, processes, work / "ref")
            r["when"] = when
            fig.references.append(r)
            print(
                f"  {r['files']} files, {r['rows']:,} rows in {r['seconds']:.1f} s: "
                f"{r['files_per_hour']:,.0f} files/h, {r['rows_per_s']:,.0f} rows/s",
                flush=True,
            )

        run_reference(1, "before the stack")
        if args.two_cores:
            run_reference(2, "before the stack")

        with serve_archive(tree) as server:
            collectors = list(DEFAULT_COLLECTORS)
            stack_vars = {
                "CLOUDZ_ARCHIVE_SOURCE": server.url,
                "CLOUDZ_ARCHIVE_COLLECTORS": ",".join(collectors),
            }
            if args.backfill_slots is not None:
                stack_vars["CLOUDZ_BACKFILL_SLOTS"] = str(args.backfill_slots)
            with own_stack(
                stack_vars,
                prefix="cloudz-bench-backfill-",
                receivers=args.receivers,
                keep=args.keep,
            ) as stack:
                fig.phases.append(Phase("stack up", wall=stack.up_seconds))
                api = Airflow.of(stack.settings)
                try:
                    api.turn_on(DAG_ID)
                    time.sleep(5)  # let the start-up settle (first parses, pools)
                    sampler = CpuSampler(stack.state_dir, component_of, [server.process.pid])
                    sampler.start()
                    try:
                        with phase("backfill", fig.phases):
                            conf = {"source": server.url, "collectors": ",".join(collectors)}
                            fig.backfill = backfill_day(api, args.day, conf, args.timeout)
                    finally:
                        task_of = {
                            str(ti["id"]): str(ti["task_id"])
                            for ti in fig.backfill.get("task_instances", [])
                        }
                        fig.cpu = cpu_by_task(sampler.stop(), task_of)
                finally:
                    api.close()
                b = fig.backfill
                print(f"run {b['run_id']}: {b['state']} after {b['wall']:.1f} s")
                print(f"plan: {b['plan_summary']}")
                load = b["load"] or {}
                print(
                    f"load: {load.get('loaded')} files, {load.get('rows_loaded')} rows in "
                    f"{len(load.get('load_jobs') or [])} job(s)"
                )
                fig.breakdown = task_breakdown(b)
                fig.logs = log_breakdown(
                    stack.state_dir, b["run_id"], b["task_instances"], fig.references[0]["per_file"]
                )
                with phase("check", fig.phases):
                    fig.check = verify(stack.settings, tree, args.day)
        run_reference(1, "after the stack")

        hist = history(dt.date.today())
        avg_rows = (
            12 * args.assume_rib_rows + 96 * args.assume_update_rows
        ) / FILES_PER_COLLECTOR_DAY
        wall = fig.backfill["wall"]
        fph = fig.archive["files"] / wall * 3600
        rps = fig.archive["rows"] / wall
        two = [r for r in fig.references if r["processes"] == 2]
        fig.summary = summarize(fig)
        rps_pre = fig.archive["rows"] / fig.summary["before_load_seconds"]
        total_rows = hist["files"] * avg_rows
        fig.projection = {
            **hist,
            "avg_rows_per_file": avg_rows,
            "total_rows": total_rows,
            "backfill_files_per_hour": fph,
            "backfill_rows_per_s": rps,
            "backfill_rows_per_s_before_load": rps_pre,
            "by_workers": {
                n: {
                    "files": hist["files"] / (fph * n),
                    "rows": total_rows / (rps * 3600 * n),
                    "rows_before_load": total_rows / (rps_pre * 3600 * n),
                    "rows_bare_two": (
                        total_rows / (statistics.mean(r["rows_per_s"] for r in two) * 3600 * n)
                        if two
                        else None
                    ),
                }
                for n in (int(x) for x in args.workers.split(","))
            },
        }
        report(fig, args)
    finally:
        if args.keep:
            print(f"archive kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    out = args.json_out or OUT / f"backfill-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    payload = {k: v for k, v in fig.__dict__.items()}
    payload["phases"] = [p.__dict__ for p in fig.phases]
    write_json(out, payload)
    print(f"\nfigures: {out}; loadavg at the end: {loadavg(3)}")
    return 0 if fig.check.get("exact") and fig.backfill.get("state") == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
