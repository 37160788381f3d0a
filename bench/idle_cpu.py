"""CPU the running embedded stack uses while nothing happens, per component.

``python bench/idle_cpu.py [--seconds 60]`` against the stack of ``CLOUDZ_STATE_DIR`` (default
``.state``): sums user+system CPU time of every process the stack owns over the window and
prints it as a share of one core, per component (by command line) and in all. Run it on an
idle stack (no uploads), after the first minute following ``up``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from harness.figures import loadavg, write_json
from harness.process_usage import cpu_by_role, first_needle

from cloudz.settings import Settings

COMPONENTS = (
    ("scheduler", "airflow-scheduler"),
    ("dag-processor", "airflow-dag-processor"),
    ("triggerer", "airflow-triggerer"),
    ("api-server", "airflow-api-server"),
    ("api_fastapi", "airflow-api-server"),
    ("api_server", "airflow-api-server"),
    ("ingest_service", "receiver"),
    ("fake-gcs-server", "gcs"),
    ("local-bigquery", "bigquery"),
    ("postgres", "postgres"),
    ("watchdog", "supervisor"),
    ("cloudz-stack", "supervisor"),
)


def component(cmdline: str) -> str:
    return first_needle(COMPONENTS, cmdline) or "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    state_dir = Settings.from_env().state_dir
    before = cpu_by_role(state_dir, component)
    if not before:
        raise SystemExit(f"no stack is running under {state_dir}")
    load_before = loadavg(1)
    t0 = time.monotonic()
    time.sleep(args.seconds)
    after = cpu_by_role(state_dir, component)
    elapsed = time.monotonic() - t0
    shares = {
        name: round(100 * (after.get(name, 0.0) - before.get(name, 0.0)) / elapsed, 1)
        for name in sorted(set(before) | set(after))
    }
    total = round(sum(shares.values()), 1)
    for name, share in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"{name:<22} {share:5.1f} % of a core")
    print(f"{'all':<22} {total:5.1f} % of a core over {elapsed:.0f} s (loadavg {load_before})")
    if args.json_out:
        write_json(args.json_out, {"seconds": elapsed, "total": total, **shares})


if __name__ == "__main__":
    main()
