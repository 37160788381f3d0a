"""A year of per-file runs in Airflow's metadata DB: each call the receiver and the UI make, timed.

``python bench/year_of_runs.py [--runs 300000,1000000,2300000] [--repeat 15]
[--retention-days 30]`` against the running stack of ``CLOUDZ_STATE_DIR`` (start one of your
own first: ``cloudz-stack up`` with a private state dir and ports). It

1. uploads one generated update file through the receiver (the template run: what one file
   writes into ``dag_run``, ``task_instance``, ``xcom`` and ``log`` is printed);
2. times, on the (nearly) empty DB: the receiver's Airflow calls (trigger, read a missing run,
   read a run with its task instances and XComs, the run watcher's listing as it was, by end
   date, and as it is, by the waited run ids), the UI's REST calls (DAG list, grid runs and
   task summaries, the runs list), the scheduler's loop (its StatsD timer
   ``scheduler.scheduler_loop_duration`` through the stack's bridge) and one upload's reply;
3. copies the template run by SQL (``harness.metadata_seed``), 6,300 a day back in time, until
   the DB holds each number of ``--runs`` (30 days, two months, a year...) and times the same
   at each: the first number at 30 days' worth is the DB that retention keeps;
4. with ``--retention-days``, cleans the copies older than that as the maintenance DAG does
   (``cloudz.reconcile.run_retention``: ``db clean`` for ``mrt_file``, archive tables kept)
   and times the same a third time.

Each figure is the median of ``--repeat`` calls; the ratio to the empty DB is what to read (the
machine is shared). Results go to ``bench/results/year_of_runs.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from harness.airflow_api import Airflow
from harness.credentials import issue_for_uploads, revoke
from harness.figures import loadavg, write_json
from harness.metadata_seed import rows_of_run, seed, table_sizes
from harness.places import BIN, ROOT
from harness.receiver import Channel, Upload, upload_one

from cloudz import pipeline_contract as contract
from cloudz.archive import paths
from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.settings import Settings
from cloudz.stack import postgres
from ingest_service.airflow_runs import AirflowRuns
from ingest_service.file_status import XCOM_KEYS

DAG_ID = contract.DAG_ID
RESULTS = ROOT / "bench" / "results" / "year_of_runs.json"
#: uploads waiting at once in a burst: the watcher lists their runs
WAITING = 60
SCHEDULER_TIMER = "airflow_scheduler_scheduler_loop_duration_seconds"


def median_ms(call: Callable[[], object], repeat: int) -> dict[str, float]:
    """Median and worst of ``repeat`` calls, in milliseconds (one call first, not counted)."""
    call()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def scheduler_loop(settings: Settings, seconds: float) -> dict[str, float]:
    """Mean ``scheduler_loop_duration`` over ``seconds`` (the bridge's summary: sum / count)."""
    url = f"http://127.0.0.1:{settings.statsd_metrics_port}/metrics"

    def read() -> tuple[float, float]:
        total = count = 0.0
        for line in httpx.get(url, timeout=10).text.splitlines():
            if line.startswith(f"{SCHEDULER_TIMER}_sum"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith(f"{SCHEDULER_TIMER}_count"):
                count += float(line.rsplit(" ", 1)[1])
        return total, count

    s0, c0 = read()
    time.sleep(seconds)
    s1, c1 = read()
    loops = c1 - c0
    return {
        "loops": loops,
        "mean_ms": round((s1 - s0) / loops * 1000, 1) if loops else float("nan"),
    }


def new_file(directory: Path, collector: str, when: dt.datetime, seed_no: int) -> Upload:
    """A small generated update file of ``collector`` at ``when``."""
    name = f"updates.{when:%Y%m%d.%H%M}.gz"
    local = directory / f"{collector}-{seed_no}" / name
    local.parent.mkdir(parents=True)
    spec = UpdatesSpec(rows=200, seed=seed_no, timestamp=int(when.timestamp()))
    written = write_file(local, generate_updates(spec))
    archive = paths.parse(f"{collector}/bgpdata/{when:%Y.%m}/UPDATES/{name}")
    sha = hashlib.sha256(local.read_bytes()).hexdigest()
    return Upload(local, archive.path, sha, local.stat().st_size, written.rows)


def _ca_cert(settings: Settings) -> bytes | None:
    """The local stack's CA, when its receiver speaks TLS."""
    ca = settings.tls_ca_cert
    return ca.read_bytes() if ca.exists() else None


class Bench:
    """The stack's clients, as the receiver and the UI hold them."""

    def __init__(self, settings: Settings, repeat: int, work: Path) -> None:
        self.settings = settings
        self.repeat = repeat
        self.work = work
        self.admin = Airflow.of(settings)
        self.runs = AirflowRuns(
            settings.airflow_url,
            dag_id=DAG_ID,
            username=settings.airflow_user,
            password=settings.airflow_password,
            timeout=120,
        )
        self.collector = f"year-{uuid.uuid4().hex[:6]}"
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        #: each upload a slot of its own before this one (a path is never uploaded twice)
        self.first_slot = now - dt.timedelta(minutes=now.minute % 15)
        self.uploads = 0
        self.template = ""

    def upload(self) -> dict[str, Any]:
        """One new file through the receiver; its reply's time and outcome."""
        self.uploads += 1
        when = self.first_slot - dt.timedelta(minutes=15 * self.uploads)
        up = new_file(self.work, self.collector, when, self.uploads)
        [up], issued = issue_for_uploads([up], self.settings)
        ca = _ca_cert(self.settings)
        scheme = "https" if ca else "http"
        channel = Channel(f"{scheme}://127.0.0.1:{self.settings.receiver_port}", ca)
        try:
            channel.connect(60)
            reply = upload_one(channel.stub, up, 600, up.token)
        finally:
            channel.close()
            revoke(self.settings, issued)
        if reply.outcome != "SUCCEEDED":
            raise SystemExit(f"the upload did not succeed: {reply}")
        return {"reply_s": round(reply.seconds, 2), "run_id": reply.run_id}

    def calls(self, phase: str) -> dict[str, Any]:
        """Every call timed once more; the run ids waited for are the template and missing
        ones (a burst's runs that have not ended)."""
        runs, admin, r = self.runs, self.admin, self.repeat
        waiting = [self.template] + [f"{self.template[:-16]}{i:016x}" for i in range(WAITING - 1)]
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
        out: dict[str, Any] = {"phase": phase, "loadavg": loadavg()}
        out["sizes"] = table_sizes(
            postgres.conninfo(self.settings), ["dag_run", "task_instance", "xcom", "log"]
        )
        triggered: list[str] = []

        def trigger() -> None:
            run_id = f"bench:year:{uuid.uuid4().hex}"
            triggered.append(run_id)
            runs.trigger(run_id, {"bench": True})

        admin.request("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": True})
        try:
            out["trigger"] = median_ms(trigger, r)
        finally:
            for run_id in triggered:
                admin.request("DELETE", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
            admin.request("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
        out["read_missing_run"] = median_ms(lambda: runs.snapshot(waiting[-1], XCOM_KEYS), r)
        out["read_run"] = median_ms(lambda: runs.snapshot(self.template, XCOM_KEYS), r)
        out["watcher_by_end_date"] = median_ms(lambda: runs.ended_since(since), r)
        among = getattr(runs, "ended_among", None)
        if among is not None:
            found = among(waiting)
            if self.template not in found:
                raise SystemExit(f"the watcher's listing by run id missed {self.template}")
            out["watcher_by_run_ids"] = median_ms(lambda: among(waiting), r)
        ui: dict[str, tuple[str, dict[str, Any]]] = {
            "ui_dag_list": ("/ui/dags", {"limit": 50, "dag_runs_limit": 10}),
            "api_dag_list": ("/api/v2/dags", {"limit": 50}),
            "ui_grid_structure": (f"/ui/grid/structure/{DAG_ID}", {"limit": 10}),
            "ui_grid_runs": (
                f"/ui/grid/runs/{DAG_ID}",
                {"limit": 10, "order_by": "-run_after"},
            ),
            "ui_grid_ti_summaries": (
                f"/ui/grid/ti_summaries/{DAG_ID}",
                {"run_ids": [self.template]},
            ),
            "api_runs_list": (
                "/api/v2/dags/~/dagRuns",
                {"limit": 50, "order_by": "-run_after"},
            ),
            "api_recent_runs_by_start": (
                f"/api/v2/dags/{DAG_ID}/dagRuns",
                {"limit": 25, "order_by": "-start_date"},
            ),
        }
        for name, (path, params) in ui.items():

            def get(path: str = path, params: dict[str, Any] = params) -> None:
                resp = admin.request("GET", path, params=params)
                if resp.status_code != 200:
                    raise SystemExit(f"GET {path}: {resp.status_code} {resp.text[:300]}")

            out[name] = median_ms(get, r)
        out["scheduler_loop"] = scheduler_loop(self.settings, 30)
        out["upload_reply"] = self.upload()
        print(f"{phase}: {out}", flush=True)
        return out


def clean(settings: Settings, days: float) -> dict[str, Any]:
    """What the maintenance DAG runs (``python -m cloudz.reconcile.run_retention``: Airflow's
    ``db clean`` of ``mrt_file`` runs older than ``days``, their task instances and XComs with
    them, archive tables kept, its default batch size), without the files-catalog check (the
    seeded copies have no catalog rows: the check would hold every one of them back)."""
    from cloudz.stack import airflow_env

    t0 = time.monotonic()
    proc = subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "cloudz.reconcile.run_retention",
            "--days",
            f"{days:g}",
            "--no-catalog-check",
        ],
        env={**os.environ, **airflow_env.airflow_env(settings)},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"run_retention failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    plan: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"seconds": round(time.monotonic() - t0, 1), **plan}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--runs",
        default="300000,1000000,2300000",
        help="runs in the DB at each measurement, comma-separated (a year: 2.3M)",
    )
    ap.add_argument("--per-day", type=float, default=6_300.0, help="runs a day (RouteViews)")
    ap.add_argument("--repeat", type=int, default=15, help="calls per figure")
    ap.add_argument("--retention-days", type=float, default=0.0, help="then clean; 0: do not")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--existing",
        type=int,
        default=0,
        help="copies an earlier run of the bench left in the DB: no empty phase, seeding "
        "continues from there",
    )
    args = ap.parse_args()
    checkpoints = sorted(int(n) for n in args.runs.split(","))
    settings = Settings.from_env()
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(settings, args.repeat, Path(tmp))
        bench.admin.turn_on(DAG_ID)
        first = bench.upload()
        bench.template = first["run_id"]
        conninfo = postgres.conninfo(settings)
        results["one_run_writes"] = {
            t.table: t.rows for t in rows_of_run(conninfo, DAG_ID, bench.template)
        }
        print(f"one run writes: {results['one_run_writes']}", flush=True)
        results["phases"] = [] if args.existing else [bench.calls("empty")]
        done = args.existing
        for n in checkpoints:
            steps: dict[str, float] = {}
            t0 = time.monotonic()
            seed_load = loadavg()
            added = (
                seed(
                    conninfo, dag_id=DAG_ID, template_run_id=bench.template, count=n - done,
                    first=done + 1, per_day=args.per_day, timings=steps,
                )
                if n > done
                else {}
            )  # fmt: skip
            seed_seconds = round(time.monotonic() - t0, 1)
            done = n
            phase = bench.calls(f"{n} runs ({n / args.per_day:.0f} days)")
            phase["seeded"], phase["seed_seconds"] = added, seed_seconds
            phase["seed_steps_s"], phase["seed_loadavg"] = steps, seed_load
            results["phases"].append(phase)
            write_json(args.out, results)
        if args.retention_days:
            results["clean"] = {"loadavg": loadavg(), **clean(settings, args.retention_days)}
            results["phases"].append(bench.calls(f"retention {args.retention_days:g} days"))
        write_json(args.out, results)
    print(f"results in {args.out}")


if __name__ == "__main__":
    main()
