"""The live path under RouteViews' arrival pattern, against a running stack (issue 8, item 5).

``burst``: N collectors upload one generated update file each, all at once. Each collector is a
thread with its own gRPC channel (its own connection, so the kernel spreads them over the
receiver replicas), generated files of ``--rows`` rows with distinct seeds, bytes and archive
paths (``bench-<nonce>-<i>/bgpdata/YYYY.MM/UPDATES/updates.YYYYMMDD.HHMM.gz``, the current
15-minute boundary), written before the clock starts; the uploads start behind a barrier.
Prints wall time (first upload to last reply), p50/p95/max upload -> reply, outcomes, gRPC
errors, failed stages, the Airflow runs (when the last one ended), row accounting per file
(rows generated / converted / loaded / ``COUNT(*)`` / ``COUNT(DISTINCT row_index)`` in
BigQuery) and what the stack's logs say about the run. ``--repeat`` uploads the same files
again: every reply must say "already archived" and no run may be added.

``storm``: RouteViews' even hour (issue 19): N update files alone, then N RIBs (generated
like real ones, scaled down by ``--rib-rows``) and N other update files at once, every
collector with its own credential (or ``--one-credential``); the update files' upload -> reply
p95 in the storm against alone, and every row of every file counted.

``latency``: in the same stack, rounds of (a) one upload of a real 390 KB update file under a
fresh archive path (same bytes, new path: a new run) timed upload -> reply, and (b) a run of
the bare DAG ``per_file_floor`` (``dags/per_file_floor.py``, as many no-op tasks as the
per-file DAG) timed trigger -> success through the REST API; medians and their ratio.

    .venv/bin/python bench/burst.py burst --collectors 60 --rows 20000
    .venv/bin/python bench/burst.py burst --collectors 16 --rows 2000 --repeat
    .venv/bin/python bench/burst.py latency --rounds 5
    .venv/bin/python bench/burst.py storm --collectors 58 --rib-rows 400000
    .venv/bin/python bench/burst.py burst --collectors 60 --rows 2000 --one-credential

Ports, users and the state dir come from ``cloudz.settings`` (``CLOUDZ_*``), as for the stack.
Figures and a plot of the sorted upload -> reply times go to ``bench/out/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import json
import math
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.airflow_api import TERMINAL_RUN_STATES, Airflow, run_times
from harness.credentials import issue_for_uploads, local_token, revoke
from harness.figures import fmt_spread, loadavg, spread, write_json
from harness.places import OUT, PY, ROOT, SAMPLES
from harness.process_usage import run_measured
from harness.receiver import Channel, Reply, Upload, burst_uploads, refresh, upload_one
from harness.row_counts import FileRows, rows_per_file

from cloudz import pipeline_contract as contract
from cloudz.archive import paths
from cloudz.cli.upload import file_sha256
from cloudz.mrtgen import RibSpec, UpdatesSpec, generate_rib, generate_updates, write_file
from cloudz.settings import Settings

SAMPLE = SAMPLES / "ripe-ris" / "updates.20160811.1600.gz"
FLOOR_DAG_ID = "per_file_floor"
#: what the issue asks to count in the Airflow task logs written during a run
TASK_LOG_PATTERNS = ("DagBag import timeout", "Dag not found during start up", "reschedule limit")
_PARSE_MS = re.compile(r'"dag_file_parse_ms":\s*(\d+)')
_STATUS_5XX = re.compile(r"status_code=5\d\d\b")
_REST_REQUEST = re.compile(r"request finished.* path=/api/")
_EXECUTION_REQUEST = re.compile(r"request finished.* path=/execution/")
_WARNING_OR_ERROR = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|\[(warning|error|critical)\s*\]")
#: SQLAlchemy's "QueuePool limit ... timed out"; the api-server hides the message, not the stack
_POOL_TIMEOUT = re.compile(
    r"QueuePool limit|pool/impl\.py\", line \d+, in _do_get\s+raise exc\.TimeoutError"
)
#: full-table peers of a generated RIB (route-views2 has ~40)
RIB_PEERS = 40


# --- rows ----------------------------------------------------------------------------------------
def row_accounting(
    uploads: Sequence[Upload], replies: Sequence[Reply], counts: dict[str, FileRows]
) -> list[dict[str, Any]]:
    """Per file: rows generated / converted / loaded / in BigQuery, and what does not add up."""
    table = []
    for up, r in zip(uploads, replies, strict=True):
        c = counts.get(up.archive_path, FileRows(0, 0, 0, -1))
        n, d = c.count, c.distinct_row_index
        problems = []
        if n != d:
            problems.append(f"{n - d} duplicate rows")
        if n and (c.min_row_index != 0 or c.max_row_index != n - 1):
            problems.append(f"row_index {c.min_row_index}..{c.max_row_index} for {n} rows")
        checked = r.outcome in ("SUCCEEDED", "PARTIAL")
        if checked:
            expect = {
                "reply conversion rows": r.conversion_rows,
                "reply rows loaded": r.load_rows,
                "COUNT(*)": n,
            }
            if r.outcome == "SUCCEEDED" and up.rows is not None:
                expect["rows generated"] = up.rows
            if len(set(expect.values())) > 1:
                problems.append("mismatch: " + ", ".join(f"{k} {v}" for k, v in expect.items()))
        else:
            at = f" at {r.failure_stage}" if r.failure_stage else ""
            problems.append(f"not checked: the reply says {r.label}{at}; {n} rows in BigQuery")
        table.append(
            {
                "archive_path": up.archive_path,
                "outcome": r.label,
                "rows_generated": up.rows,
                "conversion_rows": r.conversion_rows,
                "rows_loaded": r.load_rows,
                "bq_count": n,
                "bq_distinct_row_index": d,
                "checked": checked,
                "exact": checked and not problems,
                "problems": problems,
            }
        )
    return table


# --- the stack's logs -------------------------------------------------------------------------
def _events_matching(text: str) -> collections.Counter[str]:
    """How many log events (JSON lines: their ``event``) contain each of the patterns.

    Counted per event, not per occurrence: one parse timeout writes "DagBag import timeout"
    into two events' details but once into an event's message.
    """
    found: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        try:
            event = str(json.loads(line).get("event", ""))
        except (ValueError, AttributeError):
            event = line
        for p in TASK_LOG_PATTERNS:
            if p in event:
                found[p] += 1
    return found


class LogWatch:
    """What the stack's logs gained between ``start()`` and ``read()``.

    Component logs are ``<state>/logs/*.log``; Airflow's task logs are
    ``<state>/airflow/logs/dag_id=*/run_id=*/task_id=*/attempt=N.log`` and the dag-processor's
    ``<state>/airflow/logs/dag_processor/...`` (``cloudz.stack.layout``).
    """

    def __init__(self, state_dir: Path) -> None:
        from cloudz.stack.layout import Layout

        layout = Layout(state_dir)
        self.components = layout.logs
        self.airflow_logs = layout.airflow_home / "logs"
        self.sizes: dict[Path, int] = {}

    @property
    def available(self) -> bool:
        return self.components.is_dir()

    def _files(self) -> Iterator[Path]:
        for root in (self.components, self.airflow_logs):
            if root.is_dir():
                yield from (p for p in root.rglob("*.log") if p.is_file())

    def start(self) -> None:
        self.sizes = {p: p.stat().st_size for p in self._files()}

    def _new_text(self, path: Path) -> str:
        offset = self.sizes.get(path, 0)
        with path.open("rb") as f:
            if f.seek(0, os.SEEK_END) < offset:
                offset = 0  # rotated or truncated: all of it is new
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def read(self, marker: str = "") -> dict[str, Any]:
        """What was written since ``start()``; ``marker``: count receivers' lines naming it."""
        task: collections.Counter[str] = collections.Counter()
        processor: collections.Counter[str] = collections.Counter()
        parse_ms: dict[str, list[float]] = collections.defaultdict(list)
        task_logs = retries = parses = rest_requests = execution_requests = api_5xx = 0
        component_lines: dict[str, dict[str, int]] = {}
        receivers: dict[str, int] = {}
        for path in self._files():
            text = self._new_text(path)
            if not text:
                continue
            if path.is_relative_to(self.components):
                lines = text.splitlines()
                counts = {
                    "lines": len(lines),
                    "warning_or_error": sum(1 for x in lines if _WARNING_OR_ERROR.search(x)),
                }
                if path.stem == "airflow-api-server":
                    rest_requests = len(_REST_REQUEST.findall(text))
                    execution_requests = len(_EXECUTION_REQUEST.findall(text))
                    api_5xx = len(_STATUS_5XX.findall(text))
                    counts["db_pool_timeouts"] = len(_POOL_TIMEOUT.findall(text))
                component_lines[path.stem] = counts
                if marker and path.stem.startswith("receiver-"):
                    receivers[path.stem] = sum(1 for x in lines if marker in x and "OUTCOME_" in x)
            elif "dag_processor" in path.relative_to(self.airflow_logs).parts:
                processor.update(_events_matching(text))
            else:
                task_logs += 1
                if path.stem.startswith("attempt=") and path.stem != "attempt=1":
                    retries += 1
                task.update(_events_matching(text))
                parses += text.count("Filling up the DagBag")
                dag = next(
                    (s.removeprefix("dag_id=") for s in path.parts if s.startswith("dag_id=")), "?"
                )
                parse_ms[dag].extend(float(m) for m in _PARSE_MS.findall(text))
        return {
            "task_logs_written": task_logs,
            "task_logs_of_later_attempts": retries,
            "task_dag_parses_started": parses,
            "task_log_patterns": {p: task[p] for p in TASK_LOG_PATTERNS},
            "dag_processor_log_patterns": {p: processor[p] for p in TASK_LOG_PATTERNS},
            "task_dag_parse_seconds": {
                dag: spread([x / 1000 for x in xs]) for dag, xs in parse_ms.items()
            },
            "api_server_rest_requests": rest_requests,
            "api_server_execution_requests": execution_requests,
            "api_server_5xx": api_5xx,
            "component_logs": component_lines,
            "replies_logged_by_receiver": receivers,
        }


def print_logs(logs: dict[str, Any]) -> None:
    if not logs:
        print("logs: state dir not found here; not scanned")
        return
    print(
        f"task logs written: {logs['task_logs_written']} "
        f"({logs['task_logs_of_later_attempts']} of a second or later attempt); "
        f"DAG parses started in them: {logs['task_dag_parses_started']}"
    )
    pats = logs["task_log_patterns"]
    print("  in task logs:          " + ", ".join(f'"{p}" {n}' for p, n in pats.items()))
    pats = logs["dag_processor_log_patterns"]
    print("  in dag-processor logs: " + ", ".join(f'"{p}" {n}' for p, n in pats.items()))
    for dag, s in sorted(logs["task_dag_parse_seconds"].items()):
        print(f"  DAG file parse at task start, {dag}: {fmt_spread(s)}")
    print(
        f"  Airflow api-server requests: REST API {logs['api_server_rest_requests']}, "
        f"tasks' execution API {logs['api_server_execution_requests']} "
        f"({logs['api_server_5xx']} of all answered 5xx)"
    )
    if logs.get("replies_logged_by_receiver"):
        spread_ = ", ".join(
            f"{k} {v}" for k, v in sorted(logs["replies_logged_by_receiver"].items())
        )
        print(f"  replies per receiver replica (from their logs): {spread_}")
    noisy = {
        name: c
        for name, c in sorted(logs["component_logs"].items())
        if c["warning_or_error"] or c.get("db_pool_timeouts")
    }
    for name, c in noisy.items():
        extra = (
            f", database pool timeouts {c['db_pool_timeouts']}" if "db_pool_timeouts" in c else ""
        )
        print(f"  {name}.log: {c['warning_or_error']} warning/error lines{extra}")


# --- the plot ---------------------------------------------------------------------------------
_COLOURS = {"SUCCEEDED": "#2a7", "PARTIAL": "#d90", "RUNNING": "#d90"}


def svg_sorted_latencies(
    replies: Sequence[Reply], path: Path, title: str, lines: Iterable[tuple[str, float]]
) -> None:
    """One bar per file, sorted by upload -> reply; reference lines (p50, p95, goal, wait)."""
    left, top, width, height = 56, 34, 640, 260
    ordered = sorted(replies, key=lambda r: r.seconds)
    marks = [(label, y) for label, y in lines if y > 0]
    ymax = max([r.seconds for r in ordered] + [y for _, y in marks] + [1.0]) * 1.05
    step = width / max(1, len(ordered))

    def y_of(v: float) -> float:
        return top + height - height * v / ymax

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 150}" '
        f'height="{top + height + 40}" font-family="sans-serif" font-size="11">',
        f'<text x="4" y="16" font-size="13">{title}</text>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + height}" stroke="#444"/>',
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" '
        'stroke="#444"/>',
    ]
    tick = 10 ** math.floor(math.log10(ymax)) if ymax >= 1 else 0.1
    if ymax / tick < 4:
        tick /= 2
    v = 0.0
    while v <= ymax:
        y = y_of(v)
        parts.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" stroke="#444"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
        v += tick
    parts.append(
        f'<text x="12" y="{top + height / 2}" transform="rotate(-90 12 {top + height / 2})" '
        'text-anchor="middle">upload → reply (s)</text>'
    )
    parts.append(
        f'<text x="{left + width / 2}" y="{top + height + 30}" text-anchor="middle">'
        f"files, sorted ({len(ordered)})</text>"
    )
    for i, r in enumerate(ordered):
        y = y_of(r.seconds)
        colour = _COLOURS.get(r.outcome, "#c44")
        parts.append(
            f'<rect x="{left + i * step + 0.5:.1f}" y="{y:.1f}" width="{max(1.0, step - 1):.1f}" '
            f'height="{top + height - y:.1f}" fill="{colour}"><title>{r.archive_path}: '
            f"{r.label} {r.seconds:.1f} s</title></rect>"
        )
    for label, value in marks:
        y = y_of(value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#555" '
            'stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text x="{left + width + 4}" y="{y + 4:.1f}">{label} {value:.0f} s</text>')
    legend = [("SUCCEEDED", "#2a7"), ("PARTIAL / RUNNING", "#d90"), ("FAILED / error", "#c44")]
    for i, (label, colour) in enumerate(legend):
        x = left + 10 + i * 150
        parts.append(f'<rect x="{x}" y="22" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="31">{label}</text>')
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


# --- burst ------------------------------------------------------------------------------------
def generate(
    n: int,
    rows: int,
    nonce: str,
    when: dt.datetime,
    directory: Path,
    kind: str = "updates",
    tag: str = "",
) -> list[Upload]:
    """N files of ~``rows`` rows, one per collector ``bench-<nonce>-<tag><i>``, distinct seeds,
    bytes and paths. ``kind`` ``rib``: a TABLE_DUMP_V2 RIB shaped like a real RouteViews one
    (40 full-table peers sharing attribute sets: ``mrtgen rib --locality 0.98 --pool 64``)."""
    base_seed = int(nonce, 16) * 1000 + sum(tag.encode()) * 100
    uploads = []
    for i in range(n):
        collector = f"bench-{nonce}-{tag}{i:02d}"
        if kind == "rib":
            name = f"rib.{when:%Y%m%d.%H%M}.bz2"
            folder = "RIBS"
            spec: RibSpec | UpdatesSpec = RibSpec(
                peers=RIB_PEERS, prefixes=max(1, rows // RIB_PEERS), seed=base_seed + i,
                timestamp=int(when.timestamp()), peer_presence=1.0, addpath_share=0.0,
                multicast_share=0.0, generic_share=0.0, locality=0.98, pool=64,
            )  # fmt: skip
        else:
            name = f"updates.{when:%Y%m%d.%H%M}.gz"  # gzip: mrtgen compresses by suffix
            folder = "UPDATES"
            spec = UpdatesSpec(rows=rows, seed=base_seed + i, timestamp=int(when.timestamp()))
        local = directory / collector / name
        local.parent.mkdir(parents=True)
        records = generate_rib(spec) if isinstance(spec, RibSpec) else generate_updates(spec)
        written = write_file(local, records)
        archive = paths.parse(f"{collector}/bgpdata/{when:%Y.%m}/{folder}/{name}").path
        uploads.append(
            Upload(
                local,
                archive,
                file_sha256(local, show_progress=False)[0],
                local.stat().st_size,
                written.rows,
            )
        )
    if len({u.sha256 for u in uploads}) != n:
        raise SystemExit("generated files are not all distinct; change --rows")
    return uploads


def summarize_replies(replies: Sequence[Reply]) -> dict[str, Any]:
    outcomes = collections.Counter(r.outcome or "gRPC error" for r in replies)
    codes = collections.Counter(r.grpc_code for r in replies if r.grpc_code)
    failures = collections.Counter(
        f"{r.failure_stage}: {r.failure_reason[:160]}" for r in replies if r.failure_stage
    )
    errors = collections.Counter(
        f"{r.grpc_code}: {r.grpc_message[:160]}" for r in replies if r.grpc_code
    )
    first = min(r.started for r in replies)
    last = max(r.ended for r in replies)
    return {
        "uploads": len(replies),
        "wall_seconds": last - first,
        "upload_to_reply_seconds": spread([r.seconds for r in replies]),
        "outcomes": dict(outcomes),
        "grpc_errors": dict(codes),
        "archive_results": dict(collections.Counter(r.archive_result or "-" for r in replies)),
        "failed_stages": dict(failures),
        "grpc_error_messages": dict(errors),
        "uploads_retried_unavailable": sum(1 for r in replies if r.attempts > 1),
        "first_upload": first,
        "last_reply": last,
    }


def print_replies(s: dict[str, Any], wait: float) -> None:
    print(f"wall time, first upload -> last reply: {s['wall_seconds']:.1f} s")
    print(f"upload -> reply: {fmt_spread(s['upload_to_reply_seconds'])}  (wait {wait:g} s)")
    order = ["SUCCEEDED", "PARTIAL", "FAILED", "RUNNING", "REJECTED", "gRPC error"]
    print("outcomes: " + ", ".join(f"{k} {s['outcomes'].get(k, 0)}" for k in order))
    if s["grpc_errors"]:
        print("gRPC errors: " + ", ".join(f"{k} {v}" for k, v in sorted(s["grpc_errors"].items())))
        for msg, n in s["grpc_error_messages"].items():
            print(f"  {n} x {msg}")
    if s["uploads_retried_unavailable"]:
        print(f"uploads retried after UNAVAILABLE: {s['uploads_retried_unavailable']}")
    print("archive: " + ", ".join(f"{k} {v}" for k, v in sorted(s["archive_results"].items())))
    for reason, n in s["failed_stages"].items():
        print(f"  failed {n} x {reason}")


def airflow_runs_summary(
    airflow: Airflow,
    pattern: str,
    uploads: Sequence[Upload],
    replies: Sequence[Reply],
    first: Sequence[Reply],
    t0: float,
) -> dict[str, Any]:
    """The runs of this bench's files; ``first``: the replies before any follow-up."""
    runs = [run_times(r) for r in airflow.runs(contract.DAG_ID, pattern)]
    by_id = {r["run_id"]: r for r in runs}
    ended = [r["end_date"] for r in runs if r["end_date"] and r["state"] in TERMINAL_RUN_STATES]
    expected_ids = {
        r.run_id or paths.run_id(paths.parse(u.archive_path), u.sha256)
        for u, r in zip(uploads, replies, strict=True)
    }
    told_untriggered = [
        r.archive_path
        for u, r in zip(uploads, first, strict=True)
        if r.failure_stage == "trigger"
        and paths.run_id(paths.parse(u.archive_path), u.sha256) in by_id
    ]
    return {
        "runs": len(runs),
        "runs_of_these_files": len(expected_ids & set(by_id)),
        "states": dict(collections.Counter(str(r["state"]) for r in runs)),
        "last_run_end_after_first_upload": (max(ended) - t0) if ended else None,
        "all_runs_ended": len(ended) == len(runs) and len(runs) > 0,
        "run_seconds_queued_to_end": spread(
            [r["end_date"] - r["queued_at"] for r in runs if r["end_date"] and r["queued_at"]]
        ),
        "replied_trigger_failed_but_run_exists": told_untriggered,
        "run_list": runs,
    }


def print_runs(s: dict[str, Any], n_files: int) -> None:
    states = ", ".join(f"{k} {v}" for k, v in sorted(s["states"].items()))
    print(f"Airflow runs: {s['runs']} for {n_files} files ({states})")
    last = s["last_run_end_after_first_upload"]
    when = f"{last:.1f} s after the first upload" if last is not None else "none ended"
    print(f"  last run ended: {when}{'' if s['all_runs_ended'] else ' (not all runs ended)'}")
    print(f"  run queued -> end: {fmt_spread(s['run_seconds_queued_to_end'])}")
    if s["replied_trigger_failed_but_run_exists"]:
        print(
            f"  replies that said the trigger failed, while the run exists: "
            f"{len(s['replied_trigger_failed_but_run_exists'])}"
        )


def settle(
    airflow: Airflow,
    channel: Channel,
    pattern: str,
    replies: Sequence[Reply],
    seconds: float,
    token: str | None,
) -> int:
    """Wait for the runs of files whose reply did not tell their fate, then ask again."""
    pending = [r for r in replies if r.needs_followup]
    if not pending or seconds <= 0:
        return 0
    print(
        f"\nsettling: {len(pending)} replies did not tell the file's fate; "
        f"waiting up to {seconds:.0f} s for the runs to end, then asking GetStatus",
        flush=True,
    )
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        states = [str(r.get("state")) for r in airflow.runs(contract.DAG_ID, pattern)]
        if all(s in TERMINAL_RUN_STATES for s in states):
            break
        time.sleep(5)
    for r in pending:
        refresh(channel, r, token)
    return len(pending)


def cmd_burst(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    nonce = secrets.token_hex(3)
    now = dt.datetime.now(dt.UTC)
    when = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    ca_cert = args.ca_cert.read_bytes() if args.ca_cert else None
    airflow = Airflow(args.airflow_url, args.airflow_user, settings.airflow_admin_password)
    watch = LogWatch(args.state_dir)
    pattern = f"bench-{nonce}-"
    out: dict[str, Any] = {
        "mode": "burst",
        "nonce": nonce,
        "collectors": args.collectors,
        "rows_per_file": args.rows,
        "endpoint": args.endpoint,
        "wait": args.wait,
        "date": now.isoformat(timespec="seconds"),
        "loadavg_start": loadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="cloudz-burst-") as tmp:
        print(f"generating {args.collectors} files of {args.rows} rows (bench-{nonce}-*) ...")
        uploads = generate(args.collectors, args.rows, nonce, when, Path(tmp))
        uploads, issued = issue_for_uploads(uploads, settings, shared=args.one_credential)
        out["bytes_per_file"] = spread([float(u.size) for u in uploads])
        if watch.available:
            watch.start()
        print(f"loadavg at start: {out['loadavg_start']}")
        print(f"{args.collectors} uploads at once to {args.endpoint} ...", flush=True)
        replies = burst_uploads(uploads, args.endpoint, ca_cert, args.wait, args.token)
        s = summarize_replies(replies)
        t0 = s["first_upload"]
        out["loadavg_end_of_burst"] = loadavg()
        print()
        print_replies(s, args.wait)
        print(f"loadavg at the last reply: {out['loadavg_end_of_burst']}")
        out["burst"] = s
        plot = args.svg or OUT / f"burst-{args.collectors}x{args.rows}-{nonce}.svg"
        svg_sorted_latencies(
            replies,
            plot,
            f"{args.collectors} uploads of {args.rows} rows at once: upload → reply, sorted "
            f"({now:%Y-%m-%d}, loadavg {out['loadavg_start'].split()[0]})",
            [
                ("p50", s["upload_to_reply_seconds"]["p50"]),
                ("p95", s["upload_to_reply_seconds"]["p95"]),
                ("goal", 180.0),
                ("wait", args.wait),
            ],
        )
        print(f"plot: {plot}")
        channel = Channel(args.endpoint, ca_cert)
        first = [dataclasses.replace(r) for r in replies]
        out["replies"] = [asdict(r) | {"seconds": r.seconds} for r in first]
        try:
            out["settled"] = settle(airflow, channel, pattern, replies, args.settle, args.token)
            if out["settled"]:
                out["settle_ended_after_first_upload"] = time.time() - t0
                out["final_replies"] = [asdict(r) for r in replies]
                counts = collections.Counter(r.label for r in replies)
                print(
                    f"after settling ({out['settle_ended_after_first_upload']:.0f} s after the "
                    "first upload): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                )
            elif any(r.needs_followup for r in replies):
                print(
                    "\nsome replies did not tell the file's fate; --settle SECONDS waits for "
                    "their runs and asks again"
                )
            print()
            out["airflow"] = airflow_runs_summary(airflow, pattern, uploads, replies, first, t0)
            print_runs(out["airflow"], len(uploads))
            out["logs"] = watch.read(marker=pattern) if watch.available else {}
            print_logs(out["logs"])
            lo = when - dt.timedelta(days=1)
            hi = when + dt.timedelta(days=2, seconds=2 * args.rows)
            counts_bq = rows_per_file(settings, lo, hi, prefix=f"bench-{nonce}-")
            table = row_accounting(uploads, replies, counts_bq)
            out["rows"] = table
            exact = sum(1 for x in table if x["exact"])
            checked = sum(1 for x in table if x["checked"])
            total = sum(x["bq_count"] for x in table)
            print(
                f"rows: {exact} of {len(table)} files exact (generated = converted = loaded = "
                f"COUNT(*) = COUNT(DISTINCT row_index), row_index 0..rows-1); "
                f"{len(table) - checked} not checked (no SUCCEEDED/PARTIAL reply); "
                f"{total} rows of this burst in {settings.table_ref}"
            )
            for x in table:
                if not x["exact"] or args.verbose:
                    what = "; ".join(x["problems"]) or "exact"
                    print(f"  {x['archive_path']}: {x['outcome']}: {what}")
            if args.repeat:
                out["repeat"] = repeat(args, airflow, uploads, replies, pattern, ca_cert)
        finally:
            channel.close()
            airflow.close()
            revoke(settings, issued)
    out["loadavg_end"] = loadavg()
    print(f"loadavg at the end: {out['loadavg_end']}")
    return out


def _round(
    label: str,
    uploads: list[Upload],
    args: argparse.Namespace,
    airflow: Airflow,
    pattern: str,
    ca_cert: bytes | None,
) -> tuple[list[Reply], dict[str, Any]]:
    """One set of uploads at once, followed to their outcomes (``--settle``)."""
    print(f"{label}: {len(uploads)} uploads at once (loadavg {loadavg()}) ...", flush=True)
    replies = burst_uploads(uploads, args.endpoint, ca_cert, args.wait, args.token)
    s = summarize_replies(replies)
    s["loadavg_end"] = loadavg()
    print_replies(s, args.wait)
    channel = Channel(args.endpoint, ca_cert)
    try:
        s["first_replies"] = [asdict(r) | {"seconds": r.seconds} for r in replies]
        settle(airflow, channel, pattern, replies, args.settle, args.token)
    finally:
        channel.close()
    return replies, s


def _seconds_of(replies: Sequence[Reply], uploads: Sequence[Upload], folder: str) -> list[float]:
    return [
        r.seconds for r, u in zip(replies, uploads, strict=True) if f"/{folder}/" in u.archive_path
    ]


def converter_cpu_per_row(up: Upload) -> float:
    """Conversion CPU-s per row of ``up``, in a child (``bench/capacity.py``'s: ``getrusage``
    around ``convert_file`` alone), as docs/capacity.md measures it."""
    import capacity  # bench/capacity.py, beside this script

    with tempfile.TemporaryDirectory(prefix="cloudz-model-") as tmp:
        argv = [PY, "-c", capacity.CONVERT, str(up.local), str(Path(tmp) / "rows.avro"),
                up.archive_path]  # fmt: skip
        run = run_measured(argv, cwd=ROOT)
    child = json.loads(run.stdout)
    return float(child["convert"]) / max(1, int(child["rows"]))


def capacity_model(
    files: Sequence[Upload], cpu_per_row: dict[str, float], cores: int
) -> dict[str, float]:
    """docs/capacity.md's model of a round of ``files`` on ``cores``: rows x conversion CPU per
    row (``cpu_per_row`` by folder, RIBS or UPDATES) plus the model's Airflow CPU per live file,
    spread over the cores."""
    import capacity

    convert = sum(
        (u.rows or 0) * cpu_per_row["RIBS" if "/RIBS/" in u.archive_path else "UPDATES"]
        for u in files
    )
    airflow = len(files) * capacity.AIRFLOW_CPU_PER_LIVE_FILE
    return {
        "cores": float(cores),
        "convert_cpu": convert,
        "airflow_cpu": airflow,
        "wall_seconds": (convert + airflow) / cores,
    }


def cmd_storm(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """RouteViews' even hour: N update files alone, then N RIBs and N other update files at
    once; the update files' upload -> reply p95 in the storm against alone, in one run."""
    nonce = secrets.token_hex(3)
    now = dt.datetime.now(dt.UTC)
    when = now.replace(hour=now.hour - now.hour % 2, minute=0, second=0, microsecond=0)
    ca_cert = args.ca_cert.read_bytes() if args.ca_cert else None
    airflow = Airflow(args.airflow_url, args.airflow_user, settings.airflow_admin_password)
    out: dict[str, Any] = {
        "mode": "storm",
        "nonce": nonce,
        "collectors": args.collectors,
        "update_rows": args.rows,
        "rib_rows": args.rib_rows,
        "date": now.isoformat(timespec="seconds"),
    }
    issued: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="cloudz-storm-") as tmp:
            n = args.collectors
            print(f"generating {n} update files of {args.rows} rows twice and {n} RIBs of "
                  f"~{args.rib_rows} rows (bench-{nonce}-*) ...", flush=True)  # fmt: skip
            alone = generate(n, args.rows, nonce, when, Path(tmp) / "a", tag="a")
            storm_updates = generate(n, args.rows, nonce, when, Path(tmp) / "s", tag="s")
            ribs = generate(n, args.rib_rows, nonce, when, Path(tmp) / "r", kind="rib", tag="s")
            out["rib_bytes"] = spread([float(u.size) for u in ribs])
            out["rib_rows_each"] = spread([float(u.rows or 0) for u in ribs])
            every = [*alone, *storm_updates, *ribs]
            every, issued = issue_for_uploads(every, settings, shared=args.one_credential)
            alone, storm = every[:n], every[n:]
            alone_replies, out["alone"] = _round(
                "update files alone", alone, args, airflow, f"bench-{nonce}-a", ca_cert
            )
            storm_replies, out["storm"] = _round(
                "the even hour: RIBs and update files", storm, args, airflow,
                f"bench-{nonce}-s", ca_cert,
            )  # fmt: skip
            p_alone = spread(_seconds_of(alone_replies, alone, "UPDATES"))
            p_storm = spread(_seconds_of(storm_replies, storm, "UPDATES"))
            p_ribs = spread(_seconds_of(storm_replies, storm, "RIBS"))
            out["updates_alone"], out["updates_in_storm"], out["ribs_in_storm"] = (
                p_alone, p_storm, p_ribs,
            )  # fmt: skip
            out["p95_ratio"] = p_storm["p95"] / p_alone["p95"]
            cores = len(os.sched_getaffinity(0))
            per_row = {
                "RIBS": converter_cpu_per_row(next(u for u in storm if "/RIBS/" in u.archive_path)),
                "UPDATES": converter_cpu_per_row(alone[0]),
            }
            out["cpu_per_million_rows"] = {k: v * 1e6 for k, v in per_row.items()}
            for label, files in (("alone", alone), ("storm", storm)):
                wall = out[label]["wall_seconds"]
                model = capacity_model(files, per_row, cores)
                model["measured_wall_seconds"] = wall
                model["measured_over_model"] = wall / model["wall_seconds"]
                out[f"model_{label}"] = model
                print(f"capacity model, {label}: {model['wall_seconds']:.1f} s on {cores} cores "
                      f"(conversion {model['convert_cpu']:.0f} CPU-s + Airflow "
                      f"{model['airflow_cpu']:.0f}); measured {wall:.1f} s = "
                      f"{model['measured_over_model']:.2f} x the model (goal 0.7-1.3)")  # fmt: skip
            print(f"\nupdate files alone:    {fmt_spread(p_alone)}")
            print(f"update files in storm: {fmt_spread(p_storm)}")
            print(f"RIBs in storm:         {fmt_spread(p_ribs)}")
            print(f"p95 ratio storm / alone: {out['p95_ratio']:.2f} (goal <= 1.5)")
            lo = when - dt.timedelta(days=1)
            hi = when + dt.timedelta(days=2)
            counts_bq = rows_per_file(settings, lo, hi, prefix=f"bench-{nonce}-")
            table = row_accounting([*alone, *storm], [*alone_replies, *storm_replies], counts_bq)
            out["rows"] = table
            exact = sum(1 for x in table if x["exact"])
            ribs_exact = sum(1 for x in table if x["exact"] and "/RIBS/" in x["archive_path"])
            print(f"rows: {exact} of {len(table)} files exact; RIBs exact: {ribs_exact} of {n}")
            for x in table:
                if not x["exact"]:
                    print(f"  {x['archive_path']}: {x['outcome']}: {'; '.join(x['problems'])}")
            out["all_exact"] = exact == len(table)
    finally:
        airflow.close()
        revoke(settings, issued)
    return out


def repeat(
    args: argparse.Namespace,
    airflow: Airflow,
    uploads: Sequence[Upload],
    first: Sequence[Reply],
    pattern: str,
    ca_cert: bytes | None,
) -> dict[str, Any]:
    """The same files again, at once: every reply "already archived", no run added."""
    before = {r["dag_run_id"] for r in airflow.runs(contract.DAG_ID, pattern)}
    print(f"\nrepeat: the same {len(uploads)} files again, at once ...", flush=True)
    replies = burst_uploads(uploads, args.endpoint, ca_cert, args.wait, args.token)
    s = summarize_replies(replies)
    print_replies(s, args.wait)
    after = {r["dag_run_id"] for r in airflow.runs(contract.DAG_ID, pattern)}
    already = sum(1 for r in replies if r.archive_result == "ALREADY_ARCHIVED")
    same_run = sum(
        1 for a, b in zip(first, replies, strict=True) if a.run_id and a.run_id == b.run_id
    )
    ok = already == len(replies) and after == before
    print(
        f"repeat: {already} of {len(replies)} replies ALREADY_ARCHIVED, {same_run} name the "
        f"first upload's run, runs {len(before)} -> {len(after)} "
        f"({len(after - before)} new): {'OK' if ok else 'NOT OK'}"
    )
    return s | {
        "already_archived": already,
        "same_run_id": same_run,
        "runs_before": len(before),
        "runs_after": len(after),
        "new_runs": sorted(after - before),
        "ok": ok,
        "replies": [asdict(r) | {"seconds": r.seconds} for r in replies],
    }


# --- latency ----------------------------------------------------------------------------------
def cmd_latency(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    nonce = secrets.token_hex(3)
    ca_cert = args.ca_cert.read_bytes() if args.ca_cert else None
    sample: Path = args.sample
    sha, size = file_sha256(sample, show_progress=False)
    airflow = Airflow(args.airflow_url, args.airflow_user, settings.airflow_admin_password)
    floor = airflow.dag(FLOOR_DAG_ID, timeout=120)
    if floor.get("is_paused"):
        airflow.unpause(FLOOR_DAG_ID)
    floor_tasks = airflow.task_ids(FLOOR_DAG_ID)
    file_tasks = airflow.task_ids(contract.DAG_ID)
    print(
        f"per-file DAG {contract.DAG_ID}: {len(file_tasks)} tasks {file_tasks}; "
        f"floor {FLOOR_DAG_ID}: {len(floor_tasks)} tasks"
    )
    if len(floor_tasks) != len(file_tasks):
        print("WARNING: the floor DAG does not have the per-file DAG's task count")
    out: dict[str, Any] = {
        "mode": "latency",
        "nonce": nonce,
        "sample": str(sample),
        "sample_bytes": size,
        "per_file_tasks": file_tasks,
        "floor_tasks": floor_tasks,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg_start": loadavg(),
        "rounds": [],
    }
    print(f"loadavg at start: {out['loadavg_start']}")
    watch = LogWatch(args.state_dir)
    if watch.available:
        watch.start()
    channel = Channel(args.endpoint, ca_cert)
    try:
        channel.connect(timeout=30)
        for i in range(-args.warmup, args.rounds):
            tag = f"w{-i}" if i < 0 else f"{i:02d}"
            archive = f"bench-{nonce}-lat{tag}/bgpdata/2016.08/UPDATES/{sample.name}"
            up = Upload(sample, paths.parse(archive).path, sha, size, None)
            reply = upload_one(channel.stub, up, args.wait, args.token)
            file_run = airflow.run(contract.DAG_ID, reply.run_id) if reply.run_id else None
            run_id = f"bench-{nonce}-floor-{tag}"
            started = time.time()
            airflow.trigger(FLOOR_DAG_ID, run_id)
            fl = airflow.wait_for_run(FLOOR_DAG_ID, run_id, timeout=args.wait)
            floor_s = time.time() - started
            rnd = {
                "round": tag,
                "warmup": i < 0,
                "archive_path": up.archive_path,
                "upload_to_reply": reply.seconds,
                "outcome": reply.label,
                "rows": reply.conversion_rows,
                "rows_loaded": reply.load_rows,
                "file_run": run_times(file_run) if file_run else None,
                "floor_trigger_to_success": floor_s,
                "floor_state": fl.get("state"),
                "floor_run": run_times(fl),
            }
            out["rounds"].append(rnd)
            print(
                f"round {tag}{' (warm-up, not counted)' if i < 0 else ''}: upload -> reply "
                f"{reply.seconds:5.1f} s ({reply.label}, {reply.conversion_rows} rows)   "
                f"floor trigger -> {fl.get('state')} {floor_s:5.1f} s",
                flush=True,
            )
    finally:
        channel.close()
        airflow.close()
    counted = [r for r in out["rounds"] if not r["warmup"]]
    ups = [r["upload_to_reply"] for r in counted]
    floors = [r["floor_trigger_to_success"] for r in counted]
    out["loadavg_end"] = loadavg()
    out["upload_to_reply"] = spread(ups)
    out["floor_trigger_to_success"] = spread(floors)
    out["ratio_of_medians"] = statistics.median(ups) / statistics.median(floors)
    out["outcomes"] = dict(collections.Counter(r["outcome"] for r in counted))
    out["file_run_queued_to_end"] = spread(
        [
            r["file_run"]["end_date"] - r["file_run"]["queued_at"]
            for r in counted
            if r["file_run"] and r["file_run"]["end_date"] and r["file_run"]["queued_at"]
        ]
    )
    out["floor_run_queued_to_end"] = spread(
        [
            r["floor_run"]["end_date"] - r["floor_run"]["queued_at"]
            for r in counted
            if r["floor_run"]["end_date"] and r["floor_run"]["queued_at"]
        ]
    )
    out["logs"] = watch.read(marker=f"bench-{nonce}-") if watch.available else {}
    print()
    print(f"upload -> reply ({sample.name}, {size} bytes): {fmt_spread(out['upload_to_reply'])}")
    print(f"floor trigger -> success ({len(floor_tasks)} no-op tasks): ", end="")
    print(fmt_spread(out["floor_trigger_to_success"]))
    print(
        f"median upload -> reply / median floor: {out['ratio_of_medians']:.1f}x  "
        f"(outcomes: {', '.join(f'{k} {v}' for k, v in out['outcomes'].items())})"
    )
    print(
        f"Airflow's own run times, queued -> end: {contract.DAG_ID} "
        f"{fmt_spread(out['file_run_queued_to_end'])}; floor "
        f"{fmt_spread(out['floor_run_queued_to_end'])}"
    )
    print_logs(out["logs"])
    print(f"loadavg at start: {out['loadavg_start']}; at the end: {out['loadavg_end']}")
    return out


# --- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--endpoint",
        default=settings.receiver_url,
        help="receiver: host:port, http://… or https://… (default: %(default)s, from settings)",
    )
    common.add_argument(
        "--ca-cert",
        type=Path,
        default=settings.tls_ca_cert if settings.tls_ca_cert.exists() else None,
        help="PEM of the CA of the receiver (default: the local stack's, %(default)s)",
    )
    common.add_argument(
        "--token",
        default=local_token(settings),
        help="bearer token of the uploads that have none of their own (default: the local "
        "stack's); a burst issues one credential per collector in the local credentials file",
    )
    common.add_argument(
        "--wait", type=float, default=600.0, help="deadline of each upload, s (%(default)s)"
    )
    common.add_argument("--airflow-url", default=settings.airflow_url, help="%(default)s")
    common.add_argument("--airflow-user", default="admin", help="%(default)s")
    common.add_argument(
        "--state-dir",
        type=Path,
        default=settings.state_dir,
        help="the stack's state dir, for its logs (%(default)s)",
    )
    common.add_argument("--json-out", type=Path, help="write every figure to this JSON file")
    sub = ap.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("burst", parents=[common], help="N collectors upload at once")
    b.add_argument("--collectors", type=int, default=60, help="%(default)s")
    b.add_argument("--rows", type=int, default=20000, help="rows per file (%(default)s)")
    b.add_argument(
        "--settle",
        type=float,
        default=300.0,
        help="after the burst, wait up to this many s for the runs of files whose reply did "
        "not tell their fate (RUNNING, error, failed at trigger), then ask GetStatus again "
        "(%(default)s; 0: do not)",
    )
    b.add_argument("--repeat", action="store_true", help="then upload the same files again")
    b.add_argument(
        "--one-credential",
        action="store_true",
        help="one credential for every collector (an archive server uploading for all)",
    )
    b.add_argument("--svg", type=Path, help="plot path (default: bench/out/burst-….svg)")
    b.add_argument("-v", "--verbose", action="store_true", help="row accounting of every file")
    st = sub.add_parser("storm", parents=[common], help="the even hour: RIBs and update files")
    st.add_argument("--collectors", type=int, default=58, help="%(default)s")
    st.add_argument("--rows", type=int, default=20000, help="rows per update file (%(default)s)")
    st.add_argument(
        "--rib-rows", type=int, default=400_000, help="rows per RIB (%(default)s; real: 10-50M)"
    )
    st.add_argument("--settle", type=float, default=1800.0, help="%(default)s")
    st.add_argument("--one-credential", action="store_true", help="one credential for all")
    lat = sub.add_parser("latency", parents=[common], help="one file vs the bare-DAG floor")
    lat.add_argument("--rounds", type=int, default=5, help="%(default)s")
    lat.add_argument("--warmup", type=int, default=1, help="rounds not counted (%(default)s)")
    lat.add_argument("--sample", type=Path, default=SAMPLE, help="%(default)s")
    args = ap.parse_args(argv)
    if args.mode == "burst" and (args.collectors < 1 or args.rows < 1):
        ap.error("--collectors and --rows must be at least 1")
    if args.mode == "latency" and args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.mode == "storm" and (args.collectors < 1 or args.rows < 1 or args.rib_rows < 1):
        ap.error("--collectors, --rows and --rib-rows must be at least 1")
    commands = {"burst": cmd_burst, "storm": cmd_storm, "latency": cmd_latency}
    out = commands[args.mode](args, settings)
    if args.json_out:
        print(f"figures: {write_json(args.json_out, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
