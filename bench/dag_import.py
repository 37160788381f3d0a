"""What importing each DAG file costs on top of ``import airflow.sdk``, in fresh interpreters.

Every Airflow 3 task process parses its DAG file before it runs, so this is a cost per task.
For each file in ``dags/`` (and a bare ``import airflow.sdk`` as the reference), ``--rounds``
fresh interpreters are timed, interleaved; the script prints the medians and each file's
excess over the reference. ``python bench/dag_import.py --rounds 7``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.figures import write_json

from cloudz.settings import PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"

_TIMER = """
import time, importlib.util, sys
t = time.perf_counter()
import airflow.sdk
base = time.perf_counter() - t
path = sys.argv[1]
if path:
    spec = importlib.util.spec_from_file_location("dag_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
print(time.perf_counter() - t)
"""


def timed(dag_file: Path | None, airflow_home: str) -> float:
    env = {**os.environ, "AIRFLOW_HOME": airflow_home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-c", _TIMER, str(dag_file or "")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    files = sorted(DAGS.glob("*.py"))
    times: dict[str, list[float]] = {"import airflow.sdk": []}
    times.update({f.name: [] for f in files})
    with tempfile.TemporaryDirectory(prefix="cloudz-dag-import-") as home:
        timed(None, home)  # warm the page cache and Airflow's first-run files
        for _ in range(args.rounds):
            times["import airflow.sdk"].append(timed(None, home))
            for f in files:
                times[f.name].append(timed(f, home))
    ref = statistics.median(times["import airflow.sdk"])
    result = {}
    print(f"{'':<22} median of {args.rounds} fresh interpreters (load {os.getloadavg()[0]:.2f})")
    for name, samples in times.items():
        med = statistics.median(samples)
        result[name] = {"median_s": round(med, 3), "over_sdk_s": round(med - ref, 3)}
        extra = "" if name == "import airflow.sdk" else f"   +{med - ref:.2f} s over airflow.sdk"
        print(f"{name:<22} {med:6.2f} s{extra}")
    if args.json_out:
        write_json(args.json_out, result)


if __name__ == "__main__":
    main()
