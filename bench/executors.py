"""The same burst on the LocalExecutor and on the CeleryExecutor, alternated in one run.

Each round starts a fresh stack (its own state dir) with one executor, runs
``bench/burst.py burst`` against it, counts which worker ran each task (Celery), and stops
it; the executors alternate (local, celery, local, celery, ...) so both meet the same
machine. Only the ratio of their medians means anything on a shared machine.

    .venv/bin/python bench/executors.py --rounds 2 --collectors 60 --rows 20000

Figures go to ``bench/out/executors-<time>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from cloudz import pipeline_contract as contract
from cloudz.settings import Settings

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
EXECUTORS = ("local", "celery")


@contextlib.contextmanager
def stack(executor: str) -> Iterator[dict[str, str]]:
    """A fresh stack with ``executor``; its environment (for the burst) while it runs."""
    state_dir = Path(tempfile.mkdtemp(prefix=f"cloudz-bench-{executor}-"))
    state_dir.chmod(0o755)  # PostgreSQL runs as nobody when this runs as root
    env = {**os.environ, "CLOUDZ_STATE_DIR": str(state_dir), "CLOUDZ_EXECUTOR": executor}
    started = time.monotonic()
    up = subprocess.run([str(BIN / "cloudz-stack"), "up"], env=env, text=True, check=False)
    if up.returncode != 0:
        subprocess.run([str(BIN / "cloudz-stack"), "down"], env=env, check=False)
        raise SystemExit(f"cloudz-stack up --executor {executor} failed")
    print(f"{executor}: stack up in {time.monotonic() - started:.0f} s", flush=True)
    try:
        yield env
    finally:
        subprocess.run([str(BIN / "cloudz-stack"), "down"], env=env, check=False)
        shutil.rmtree(state_dir, ignore_errors=True)


def tasks_per_worker(settings: Settings) -> dict[str, int]:
    """``worker-N task_id`` -> tasks of the per-file DAG it ran (its hostname's name part)."""
    with httpx.Client(base_url=settings.airflow_url, timeout=60) as client:
        token = client.post(
            "/auth/token",
            json={"username": "admin", "password": settings.airflow_admin_password},
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        counts: collections.Counter[str] = collections.Counter()
        offset = 0
        while True:  # the API answers at most 100 a page
            reply = client.get(
                f"/api/v2/dags/{contract.DAG_ID}/dagRuns/~/taskInstances",
                params={"limit": 100, "offset": offset, "order_by": "id"},
            )
            reply.raise_for_status()
            page = reply.json()["task_instances"]
            for ti in page:
                worker = str(ti.get("hostname") or "?").split("@", 1)[0]
                counts[f"{worker} {ti['task_id']}"] += 1
            if len(page) < 100:
                return dict(sorted(counts.items()))
            offset += len(page)


def one_round(executor: str, collectors: int, rows: int, out_dir: Path) -> dict[str, Any]:
    figures = out_dir / f"executors-{executor}-{time.time_ns()}.json"
    with stack(executor) as env:
        burst = subprocess.run(
            [sys.executable, str(HERE / "burst.py"), "burst", "--collectors", str(collectors),
             "--rows", str(rows), "--json-out", str(figures)],
            env=env, text=True, check=False,
        )  # fmt: skip
        if burst.returncode != 0:
            raise SystemExit(f"the burst on {executor} failed (exit {burst.returncode})")
        spread = tasks_per_worker(Settings.from_env(env))
    result = json.loads(figures.read_text())["burst"]
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
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
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
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"burst of {args.collectors} x {args.rows} rows, median wall: local "
        f"{medians['local']:.1f} s, celery {medians['celery']:.1f} s, "
        f"ratio celery/local {summary['celery_over_local']:.2f} ({path})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
