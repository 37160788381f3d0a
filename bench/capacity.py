"""Capacity from measured CPU: how many worker cores RouteViews' live load, its RIB bursts and a
25-year backfill need.

Wall time on a shared 2-core machine says little; CPU seconds of a process say what a worker
core must spend. Each converter run is a child process; its user+sys CPU comes from
``os.wait4`` (that child alone), and the child also reports, from ``resource.getrusage``, the
CPU of its steps: interpreter imports, the sha256 of the raw file (the per-file task's
verification), and the conversion itself. ``bgpdump -q -m > /dev/null`` runs on the same files
in the same rounds (interleaved) as the reference ratio.

    .venv/bin/python bench/capacity.py                       # ~3-8 min: inputs, 3 rounds, model
    .venv/bin/python bench/capacity.py --json-out bench/out/capacity.json
    .venv/bin/python bench/capacity.py --from-json bench/out/capacity.json --rib-rows-avg 8e6
                                              # the model again on a saved measurement

Inputs (``bench/out/capacity/``, git-ignored): ``python -m cloudz.mrtgen updates`` sized like a
busy RouteViews collector's 15-minute file (route-views.sg's was 3.1 MB bz2 on 2024-01-18,
bgpkit/bgpkit-broker pull request #37), a generated TABLE_DUMP_V2 RIB of ~1.1M rows (bz2), and
the real RIPE RIS samples in ``../shared/mrt-samples/ripe-ris``. The model's assumptions are
options, printed with the result; docs/capacity.md explains them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from harness import places
from harness.figures import read_json, write_json
from harness.places import PY, ROOT, SAMPLES
from harness.process_usage import ChildRun, run_measured

OUT = places.OUT / "capacity"

#: the child: CPU of each step from getrusage, so imports and hashing are told apart from the work
CONVERT = """
import hashlib, json, resource, sys
from pathlib import Path

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

t0 = cpu()
from cloudz.convert import convert_file
t1 = cpu()
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(1 << 20):
        h.update(chunk)
t2 = cpu()
r = convert_file(Path(sys.argv[1]), Path(sys.argv[2]), collector="route-views2",
    source_path=sys.argv[3], source_sha256=h.hexdigest())
t3 = cpu()
print(json.dumps({"rows": r.rows, "import": t1 - t0, "verify": t2 - t1, "convert": t3 - t2}))
"""

#: IPv4 + IPv6 entries of the default-free table at the start of each year, rounded to 10k
#: (Geoff Huston's yearly "BGP in <year>" reports, potaroo.net / APNIC Labs; ±10 %). Rows of a
#: RIB or an update file are taken to scale with it (docs/capacity.md "Backfill model").
TABLE_SIZE = {
    2001: 100_000, 2002: 105_000, 2003: 115_000, 2004: 130_000, 2005: 150_000,
    2006: 170_000, 2007: 195_000, 2008: 240_000, 2009: 275_000, 2010: 310_000,
    2011: 345_000, 2012: 390_000, 2013: 445_000, 2014: 500_000, 2015: 550_000,
    2016: 610_000, 2017: 680_000, 2018: 750_000, 2019: 830_000, 2020: 890_000,
    2021: 960_000, 2022: 1_050_000, 2023: 1_120_000, 2024: 1_150_000, 2025: 1_200_000,
    2026: 1_250_000,
}  # fmt: skip


@dataclass(frozen=True)
class Input:
    """One MRT file and the archive path it pretends to be (the kind drives nothing here)."""

    label: str
    path: Path
    kind: str  # "UPDATES" or "RIBS"
    generated: bool


@dataclass
class Runs:
    """CPU seconds of every round of one tool on one input."""

    rows: int = 0
    child_cpu: list[float] = field(default_factory=list)
    child_user: list[float] = field(default_factory=list)
    minor_faults: list[int] = field(default_factory=list)
    convert_cpu: list[float] = field(default_factory=list)
    verify_cpu: list[float] = field(default_factory=list)
    import_cpu: list[float] = field(default_factory=list)


def _generate(out: Path, update_rows: int, rib_peers: int, rib_prefixes: int) -> list[Input]:
    out.mkdir(parents=True, exist_ok=True)
    made = [
        (
            "generated updates (bz2)",
            out / f"updates-{update_rows}.bz2",
            "UPDATES",
            ["updates", "--rows", str(update_rows), "--peers", "40", "--seed", "5"],
        ),
        (
            "generated RIB (bz2)",
            out / f"rib-{rib_peers}x{rib_prefixes}.bz2",
            "RIBS",
            ["rib", "--peers", str(rib_peers), "--prefixes", str(rib_prefixes), "--seed", "5"],
        ),
    ]
    inputs = []
    for label, path, kind, args in made:
        if not path.exists():
            tmp = path.with_suffix(".part.bz2")
            subprocess.run([PY, "-m", "cloudz.mrtgen", *args, "-o", str(tmp)], check=True, cwd=ROOT)
            tmp.rename(path)
        inputs.append(Input(label, path, kind, True))
    ris = SAMPLES / "ripe-ris"
    for name in (
        "updates.20160811.1600.gz",
        "updates.20071015.1505.gz",
        "updates.20020722.2238.gz",
    ):
        if (ris / name).exists():
            inputs.append(Input(f"sample {name}", ris / name, "UPDATES", False))
    return inputs


#: mrtgen's first record time (1,700,000,000) as a RouteViews file name's time
GENERATED_AT = "20231114.2213"


def _archive_path(item: Input) -> str:
    """The path the file is converted under, named for its records' time: the converter drops
    rows a day or more away from the time in the name (a generated file named 2024.01 gave 0)."""
    if item.generated:
        name = f"{'rib' if item.kind == 'RIBS' else 'updates'}.{GENERATED_AT}.bz2"
    else:
        name = item.path.name  # the samples are named as RouteViews names them
    stamp = name.split(".")[1]
    return f"route-views2/bgpdata/{stamp[:4]}.{stamp[4:6]}/{item.kind}/{name}"


def _record(runs: Runs, run: ChildRun) -> None:
    runs.child_cpu.append(run.cpu)
    runs.child_user.append(run.user)
    runs.minor_faults.append(run.minor_faults)


def measure(inputs: list[Input], rounds: int, bgpdump: str | None) -> dict[str, dict[str, Runs]]:
    """Interleaved rounds: each input through the converter, then through bgpdump."""
    results: dict[str, dict[str, Runs]] = {i.label: {"cloudz": Runs()} for i in inputs}
    if bgpdump:
        for i in inputs:
            results[i.label]["bgpdump"] = Runs()
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "out.avro"
        for r in range(rounds):
            for item in inputs:
                run = run_measured(
                    [PY, "-c", CONVERT, str(item.path), str(dst), _archive_path(item)], cwd=ROOT
                )
                steps = json.loads(run.stdout.strip().splitlines()[-1])
                runs = results[item.label]["cloudz"]
                runs.rows = int(steps["rows"])
                _record(runs, run)
                runs.convert_cpu.append(float(steps["convert"]))
                runs.verify_cpu.append(float(steps["verify"]))
                runs.import_cpu.append(float(steps["import"]))
                if bgpdump:
                    run = run_measured(
                        [bgpdump, "-q", "-m", str(item.path)], discard_stdout=True, cwd=ROOT
                    )
                    ref = results[item.label]["bgpdump"]
                    ref.rows = runs.rows
                    _record(ref, run)
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    return results


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def figures_table(inputs: list[Input], results: dict[str, dict[str, Runs]]) -> list[str]:
    lines = [
        "| input | bytes | rows | converter CPU-s (whole child) | of which conversion | "
        "sha256 verify | CPU-s per 1M rows (conversion) | bgpdump -q -m CPU-s (user only; "
        "minor faults) | conversion / bgpdump (/ its user CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for item in inputs:
        c = results[item.label]["cloudz"]
        b = results[item.label].get("bgpdump")
        conv = _med(c.convert_cpu)
        ref = _med(b.child_cpu) if b else float("nan")
        ref_user = _med(b.child_user) if b else float("nan")
        faults = int(statistics.median(b.minor_faults)) if b else 0
        lines.append(
            f"| {item.label} | {item.path.stat().st_size:,} | {c.rows:,} | {_med(c.child_cpu):.3f} "
            f"| {conv:.3f} | {_med(c.verify_cpu):.4f} | {conv / c.rows * 1e6:.2f} "
            f"| {ref:.3f} ({ref_user:.3f}; {faults:,}) | {conv / ref:.2f} ({conv / ref_user:.2f}) |"
        )
    return lines


@dataclass(frozen=True)
class Model:
    """The assumptions of the capacity model (docs/capacity.md says where each comes from)."""

    collectors: int
    update_rows_avg: float
    rib_rows_avg: float
    rib_rows_max: float
    task_overhead_cpu: float
    batch_overhead_cpu: float
    headroom: float
    backfill_days: int


def _active_collector_days(until: date) -> dict[int, int]:
    """Collector-days per year from include/collectors.yaml (first_date to last_date or today)."""
    from cloudz.sources.collectors import load_collectors

    per_year: dict[int, int] = {}
    for c in load_collectors().by_name.values():
        day = c.first_date
        end = min(c.last_date or until, until)
        while day <= end:
            year_end = min(date(day.year, 12, 31), end)
            per_year[day.year] = per_year.get(day.year, 0) + (year_end - day).days + 1
            day = year_end + timedelta(days=1)
    return per_year


#: Airflow's CPU per task beyond the task's own work: bench/README.md's backfill runs measured
#: scheduler 24 / 23 / 21, api-server 12 / 11 / 10.5, dag-processor 6.8 / 6.5 / 6.0 and
#: executor workers 4.5 / 3.2 / 6.4 CPU-s for 43 tasks (plan, 41 converts, load): 47.3 / 43.7
#: / 43.9 CPU-s, 1.10 / 1.02 / 1.02 per task. A live file runs two tasks (convert, load): 2.0
AIRFLOW_CPU_PER_LIVE_FILE = 2.0
#: a backfill task converts up to 64 files: ~1 CPU-s per task / 64, plus each day-run's plan and
#: load tasks, is ~0.02 per file; 0.05 leaves room for smaller tasks
AIRFLOW_CPU_PER_BACKFILLED_FILE = 0.05


def capacity(
    model: Model,
    upd_cpu_per_row: float,
    rib_cpu_per_row: float,
    today: date,
    per_year: dict[int, int] | None = None,
) -> list[str]:
    """The three loads in cores, from CPU per row measured above and the model's assumptions."""
    m = model
    files_day = m.collectors * (96 + 12)
    upd_rows_day = m.collectors * 96 * m.update_rows_avg
    rib_rows_day = m.collectors * 12 * m.rib_rows_avg
    convert_cpu_day = upd_rows_day * upd_cpu_per_row + rib_rows_day * rib_cpu_per_row
    overhead_day = files_day * m.task_overhead_cpu
    live_cores = (convert_cpu_day + overhead_day) / 86400
    update_burst_cpu = m.collectors * (m.update_rows_avg * upd_cpu_per_row + m.task_overhead_cpu)
    rib_burst_cpu = m.collectors * (m.rib_rows_avg * rib_cpu_per_row + m.task_overhead_cpu)
    longest_rib = m.rib_rows_max * rib_cpu_per_row

    if per_year is None:
        per_year = _active_collector_days(today)
    now_size = TABLE_SIZE[max(TABLE_SIZE)]
    history_rows = 0.0
    history_files = 0
    for year, days in per_year.items():
        scale = TABLE_SIZE.get(year, now_size) / now_size
        history_rows += days * (96 * m.update_rows_avg + 12 * m.rib_rows_avg) * scale
        history_files += days * 108
    # the backfill converts RIBs and update files alike: charge the slower (RIB) rate per row
    history_cpu = history_rows * max(rib_cpu_per_row, upd_cpu_per_row)
    history_cpu += history_files * m.batch_overhead_cpu
    backfill_window = m.backfill_days * 86400

    def cores(cpu: float, seconds: float) -> str:
        return f"{cpu / seconds:.1f} → **{math.ceil(cpu / seconds * m.headroom)}**"

    h = m.headroom
    return [
        f"Assumptions: {m.collectors} collectors; {m.update_rows_avg:,.0f} rows per update "
        f"file, {m.rib_rows_avg:,.0f} per RIB on average, {m.rib_rows_max:,.0f} in the largest "
        f"RIB; {m.task_overhead_cpu} CPU-s of Airflow per live file, {m.batch_overhead_cpu} per "
        f"backfilled file; headroom x{h} (cores = need x headroom, rounded up).",
        "",
        "| load | volume | CPU-s | cores (need → with headroom) |",
        "|---|---|---:|---:|",
        f"| today, per day | {files_day:,} files, {upd_rows_day + rib_rows_day:,.0f} rows "
        f"({upd_rows_day:,.0f} update, {rib_rows_day:,.0f} RIB) | "
        f"{convert_cpu_day + overhead_day:,.0f} | {cores(convert_cpu_day + overhead_day, 86400)}"
        " (a) |",
        f"| update files at a 15-min boundary, within 2 min | {m.collectors} files | "
        f"{update_burst_cpu:,.0f} | {cores(update_burst_cpu, 120)} |",
        f"| RIB burst within its 2 h | {m.collectors} RIBs, "
        f"{m.collectors * m.rib_rows_avg:,.0f} rows | {rib_burst_cpu:,.0f} | "
        f"{cores(rib_burst_cpu, 7200)} (b) |",
        f"| RIB burst within 30 min | same | {rib_burst_cpu:,.0f} | "
        f"{cores(rib_burst_cpu, 1800)} (b) |",
        f"| the largest RIB alone (one core: a file is not split) | "
        f"{m.rib_rows_max:,.0f} rows | {longest_rib:,.0f} | "
        f"{longest_rib / 60:.1f} min on one core |",
        f"| backfill {min(per_year)} to {today.year} in {m.backfill_days} days | "
        f"{sum(per_year.values()):,} collector-days, {history_files:,} files, "
        f"{history_rows:,.3g} rows | {history_cpu:,.3g} | "
        f"{cores(history_cpu, backfill_window)} (c) |",
        "",
        f"Live load (a): {live_cores:.2f} cores on average; the RIB burst (b) dominates.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--update-rows", type=int, default=220_000, help="generated update file")
    parser.add_argument("--rib-peers", type=int, default=24)
    parser.add_argument("--rib-prefixes", type=int, default=50_000)
    parser.add_argument("--collectors", type=int, default=58, help="include/collectors.yaml")
    parser.add_argument("--update-rows-avg", type=float, default=60_000)
    parser.add_argument("--rib-rows-avg", type=float, default=6e6)
    parser.add_argument("--rib-rows-max", type=float, default=50e6)
    parser.add_argument("--task-overhead-cpu", type=float, default=AIRFLOW_CPU_PER_LIVE_FILE)
    parser.add_argument("--batch-overhead-cpu", type=float, default=AIRFLOW_CPU_PER_BACKFILLED_FILE)
    parser.add_argument("--headroom", type=float, default=2.0)
    parser.add_argument("--backfill-days", type=int, default=30)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--from-json",
        type=Path,
        help="no measurement: the model on a saved --json-out's CPU per row and collector-days",
    )
    args = parser.parse_args()
    model = Model(
        collectors=args.collectors,
        update_rows_avg=args.update_rows_avg,
        rib_rows_avg=args.rib_rows_avg,
        rib_rows_max=args.rib_rows_max,
        task_overhead_cpu=args.task_overhead_cpu,
        batch_overhead_cpu=args.batch_overhead_cpu,
        headroom=args.headroom,
        backfill_days=args.backfill_days,
    )
    if args.from_json:
        saved = read_json(args.from_json)
        per_row = saved["cpu_per_row"]
        per_year = {int(y): int(d) for y, d in saved["collector_days_per_year"].items()}
        print(
            f"## Capacity from {args.from_json} (conversion: {per_row['updates'] * 1e6:.2f} "
            f"CPU-s per 1M update rows, {per_row['ribs'] * 1e6:.2f} per 1M RIB rows)\n"
        )
        lines = capacity(
            model, per_row["updates"], per_row["ribs"], date(max(per_year), 1, 1), per_year
        )
        print("\n".join(lines))
        return

    inputs = _generate(OUT, args.update_rows, args.rib_peers, args.rib_prefixes)
    bgpdump = shutil.which("bgpdump")
    if not bgpdump:
        print("bgpdump not found (scripts/ensure-bgpdump): no reference ratio", file=sys.stderr)
    results = measure(inputs, args.rounds, bgpdump)
    print(f"## CPU per file, median of {args.rounds} interleaved rounds\n")
    print("\n".join(figures_table(inputs, results)))

    gen_upd = results[inputs[0].label]["cloudz"]
    gen_rib = results[inputs[1].label]["cloudz"]
    upd_per_row = _med(gen_upd.convert_cpu) / gen_upd.rows
    rib_per_row = _med(gen_rib.convert_cpu) / gen_rib.rows
    print(
        f"\n## Capacity (conversion: {upd_per_row * 1e6:.2f} CPU-s per 1M update rows, "
        f"{rib_per_row * 1e6:.2f} per 1M RIB rows)\n"
    )
    today = date.today()
    print("\n".join(capacity(model, upd_per_row, rib_per_row, today)))
    if args.json_out:
        payload = {
            "inputs": [
                {**asdict(i), "path": str(i.path), "bytes": i.path.stat().st_size} for i in inputs
            ],
            "results": {k: {t: asdict(r) for t, r in v.items()} for k, v in results.items()},
            "model": asdict(model),
            "cpu_per_row": {"updates": upd_per_row, "ribs": rib_per_row},
            "collector_days_per_year": _active_collector_days(today),
            "loadavg": os.getloadavg(),
        }
        write_json(args.json_out, payload)


if __name__ == "__main__":
    main()
