"""The same burst on the LocalExecutor and on the CeleryExecutor, alternated in one run.

Each round starts a fresh stack (its own state dir, free ports) with one executor, runs
``bench/burst.py burst`` against it, counts which worker ran each task (Celery), and stops
it; the executors alternate (local, celery, local, celery, ...) so both meet the same
machine. Only the ratio of their medians means anything on a shared machine.

    .venv/bin/python bench/executors.py --rounds 2 --collectors 60 --rows 20000

Figures go to ``bench/out/executors-<time>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from harness.airflow_api import Airflow
from harness.figures import read_json, write_json
from harness.own_stack import own_stack
from harness.places import BENCH, OUT, PY

from cloudz import pipeline_contract as contract
from cloudz.settings import Settings

EXECUTORS = ("local", "celery")


def tasks_per_worker(settings: Settings) -> dict[str, int]:
    """``worker-N task_id`` -> tasks of the per-file DAG it ran (its hostname's name part)."""
    airflow = Airflow.of(settings)
    try:
        instances = airflow.task_instances(contract.DAG_ID, order_by="id")
    finally:
        airflow.close()
    counts: collections.Counter[str] = collections.Counter()
    for ti in instances:
        worker = str(ti.get("hostname") or "?").split("@", 1)[0]
        counts[f"{worker} {ti['task_id']}"] += 1
    return dict(sorted(counts.items()))


def one_round(executor: str, collectors: int, rows: int, out_dir: Path) -> dict[str, Any]:
    figures = out_dir / f"executors-{executor}-{time.time_ns()}.json"
    with own_stack({"CLOUDZ_EXECUTOR": executor}, prefix=f"cloudz-bench-{executor}-") as stack:
        print(f"{executor}: stack up in {stack.up_seconds:.0f} s", flush=True)
        burst = subprocess.run(
            [PY, str(BENCH / "burst.py"), "burst", "--collectors", str(collectors),
             "--rows", str(rows), "--json-out", str(figures)],
            env=stack.env, text=True, check=False,
        )  # fmt: skip
        if burst.returncode != 0:
            raise SystemExit(f"the burst on {executor} failed (exit {burst.returncode})")
        spread = tasks_per_worker(stack.settings)
    result = read_json(figures)["burst"]
    return {
        "executor": executor,
        "wall_seconds": result["wall_seconds"],
        "outcomes": result["outcomes"],
        "tasks_per_worker": spread,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2, help="rounds per executor (%(default)s)")
    ap.add_argument("--collectors", type=int, default=60, help="%(default)s")
    ap.add_argument("--rows", type=int, default=20000, help="rows per file (%(default)s)")
    args = ap.parse_args()
    out_dir = OUT
    out_dir.mkdir(parents=True, exist_ok=True)
    rounds = []
    for n in range(args.rounds):
        for executor in EXECUTORS:
            print(f"--- round {n + 1}/{args.rounds}: {executor}", flush=True)
            rounds.append(one_round(executor, args.collectors, args.rows, out_dir))
            print(json.dumps(rounds[-1]), flush=True)
    medians = {
        e: statistics.median(r["wall_seconds"] for r in rounds if r["executor"] == e)
        for e in EXECUTORS
    }
    summary = {
        "collectors": args.collectors,
        "rows": args.rows,
        "rounds": rounds,
        "median_wall_seconds": medians,
        "celery_over_local": medians["celery"] / medians["local"],
    }
    path = out_dir / f"executors-{time.strftime('%Y%m%dT%H%M%S')}.json"
    write_json(path, summary)
    print(
        f"burst of {args.collectors} x {args.rows} rows, median wall: local "
        f"{medians['local']:.1f} s, celery {medians['celery']:.1f} s, "
        f"ratio celery/local {summary['celery_over_local']:.2f} ({path})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
