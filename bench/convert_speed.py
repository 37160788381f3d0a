"""MRT → Avro speed and memory: ``bgpdump -m -q > /dev/null`` vs the mrtparse path vs the fast path.

Every run is a child process pinned to one core (``taskset -c CORE``); its wall time comes from
the parent and its peak RSS from ``os.wait4`` (ru_maxrss of that child alone). Converters run
interleaved (bgpdump, python, fast, bgpdump, ...) for ``--rounds`` rounds and the median is
reported, so only ratios measured in the same run mean anything.

    .venv/bin/python bench/convert_speed.py                  # generate inputs, table + SVG
    .venv/bin/python bench/convert_speed.py --rib-10m        # also the 10M-row RIB's peak RSS
    .venv/bin/python bench/convert_speed.py --two-cores      # big RIBs on two cores too
    .venv/bin/python bench/convert_speed.py --baseline /tmp/old-tree   # "before" in the same run

``--baseline DIR`` also times the fast path of another source tree (e.g. ``git archive`` of an
older commit, its extension built in place) as converter ``before``; ``bzip2 -dc > /dev/null``
is timed on every bz2 input: the single-core floor of any converter reading it (and
``lbzip2 -n 1 -dc``, when installed: what a faster decoder would give). CPU time
(user + system, from ``os.wait4``) is reported beside wall time: it is steadier when other jobs
share the core.

Inputs are written by ``python -m cloudz.mrtgen`` into ``bench/out/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.places import OUT, PY, ROOT, SAMPLES
from harness.process_usage import run_measured

CONVERT = """
import sys
from pathlib import Path
from cloudz.convert import convert_file
r = convert_file(Path(sys.argv[1]), Path(sys.argv[2]), collector="route-views2",
    source_path="route-views2/bgpdata/2023.11/RIBS/rib.20231114.2213.bz2",
    source_sha256="ab" * 32, engine=sys.argv[3])
print(r.rows)
"""


@dataclass
class Result:
    seconds: float
    maxrss_mb: float
    rows: int
    cpu: float = 0.0
    """user + system CPU seconds of the child"""


def run_child(
    argv: list[str],
    core: int | None,
    stdout_null: bool = False,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> Result:
    """``argv`` measured (``harness.process_usage``); its rows: the last word it printed."""
    run = run_measured(argv, core=core, discard_stdout=stdout_null, env=env, cwd=cwd)
    rows = int(run.stdout.split()[-1]) if run.stdout.strip() else -1
    return Result(run.seconds, run.maxrss_mib, rows, run.cpu)


def bgpdump(src: Path, core: int | None, trim: bool = True) -> Result:
    """``trim=False``: glibc never gives heap back (``MALLOC_TRIM_THRESHOLD_``) and keeps
    buffers under 32 MiB on the heap (``MALLOC_MMAP_THRESHOLD_``; setting the first alone turns
    off glibc's adaptive mmap threshold and doubles bgpdump's time on update files). On RIBs
    with AS_SETs bgpdump 1.6.2 otherwise calls brk() ~10 times per record and, on this VM,
    spends more time in the kernel than in itself: the ratio to that bgpdump flatters any
    converter."""
    env = None
    if not trim:
        env = {
            **os.environ,
            "MALLOC_TRIM_THRESHOLD_": str(1 << 40),
            "MALLOC_MMAP_THRESHOLD_": str(1 << 25),
        }
    return run_child(["bgpdump", "-m", "-q", str(src)], core, stdout_null=True, env=env)


def convert(src: Path, engine: str, core: int | None, tree: Path = ROOT) -> Result:
    dst = OUT / f"{src.name}.{engine}.avro"
    # ``python -c`` puts the working directory first on sys.path: run it in the tree
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return run_child([PY, "-c", CONVERT, str(src), str(dst), engine], core, env=env, cwd=tree)


def bzip2_floor(src: Path, core: int | None) -> Result:
    """``bzip2 -dc > /dev/null``: decompression alone, what no converter of the file can beat."""
    return run_child(["bzip2", "-dc", str(src)], core, stdout_null=True)


def lbzip2_floor(src: Path, core: int | None) -> Result:
    """``lbzip2 -n 1 -dc > /dev/null``: what a faster bz2 decoder would give on one thread."""
    return run_child(["lbzip2", "-n", "1", "-dc", str(src)], core, stdout_null=True)


def mrtgen(kind: str, dst: Path, *args: str) -> Path:
    if not dst.exists():
        print(f"generating {dst} ...", flush=True)
        subprocess.run(
            [PY, "-m", "cloudz.mrtgen", kind, *args, "-o", str(dst)], check=True, cwd=ROOT
        )
    return dst


def median(xs: list[Result]) -> Result:
    s = statistics.median(r.seconds for r in xs)
    cpu = statistics.median(r.cpu for r in xs)
    return Result(s, max(r.maxrss_mb for r in xs), xs[0].rows, cpu)


def svg(table: list[tuple[str, str, Result, float]], path: Path) -> None:
    """A plain horizontal bar chart of time relative to bgpdump (no plotting dependency)."""
    bar_h, gap, left, width = 16, 6, 300, 420
    rows = [(f"{inp} — {tool}", ratio) for inp, tool, _, ratio in table]
    top = max([r for _, r in rows] + [1.0])
    height = 40 + len(rows) * (bar_h + gap)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        '<text x="4" y="14" font-size="13">time relative to bgpdump -m (1.0 = bgpdump; '
        "log scale off; lower is faster)</text>",
    ]
    x1 = left + width * 1.0 / top
    parts.append(f'<line x1="{x1:.1f}" y1="22" x2="{x1:.1f}" y2="{height}" stroke="#888"/>')
    for i, (label, ratio) in enumerate(rows):
        y = 26 + i * (bar_h + gap)
        w = max(1.0, width * ratio / top)
        colour = "#999" if "bgpdump" in label else "#c44" if "python" in label else "#2a7"
        parts.append(f'<text x="4" y="{y + 12}">{label}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 12}">{ratio:.2f}x</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--core", type=int, default=0)
    ap.add_argument("--rib-prefixes", type=int, default=50000, help="x 24 peers ≈ 1.1M rows")
    ap.add_argument("--update-rows", type=int, default=1000000)
    ap.add_argument("--python-rib-prefixes", type=int, default=2000, help="mrtparse path input")
    ap.add_argument("--rib-10m", action="store_true", help="peak RSS on a 10M-row RIB")
    ap.add_argument(
        "--two-cores",
        action="store_true",
        help="also the fast path on both cores (its decompression thread) on the big bz2 RIBs",
    )
    ap.add_argument(
        "--baseline", type=Path, help="another source tree whose fast path runs as 'before'"
    )
    ap.add_argument(
        "--only", default="", help="only the inputs whose label contains this (e.g. 'RIB (bz2)')"
    )
    ap.add_argument("--varied-prefixes", type=int, default=28600, help="x 40 peers ≈ 1.06M rows")
    args = ap.parse_args()
    if shutil.which("bgpdump") is None:
        print("bgpdump not on PATH")
        return 2
    OUT.mkdir(exist_ok=True)
    rib = mrtgen("rib", OUT / "rib.bz2", "--peers", "24", "--prefixes", str(args.rib_prefixes))
    upd = mrtgen("updates", OUT / "updates.gz", "--rows", str(args.update_rows))
    small_rib = mrtgen(
        "rib", OUT / "rib-small.bz2", "--peers", "24", "--prefixes", str(args.python_rib_prefixes)
    )
    varied = mrtgen(
        "rib",
        OUT / "rib-varied.bz2",
        "--peers",
        "40",
        "--prefixes",
        str(args.varied_prefixes),
        "--attributes",
        "varied",
    )
    inputs: list[tuple[str, Path, bool]] = [
        ("generated RIB (bz2)", rib, False),
        ("generated varied RIB, 40 peers (bz2)", varied, False),
        ("generated updates (gz)", upd, False),
        ("generated small RIB (bz2)", small_rib, True),
        ("sample updates.20160811 (gz)", SAMPLES / "ripe-ris/updates.20160811.1600.gz", True),
        ("sample updates.20071015 (gz)", SAMPLES / "ripe-ris/updates.20071015.1505.gz", True),
    ]
    table: list[tuple[str, str, Result, float, float, float]] = []
    for label, src, with_python in inputs:
        if args.only not in label:
            continue
        results: dict[str, list[Result]] = {
            "bgpdump": [],
            "bgpdump, no trim": [],
            "bzip2": [],
            "lbzip2": [],
            "python": [],
            "before": [],
            "fast": [],
            "fast, 2 cores": [],
        }
        for _ in range(args.rounds):
            results["bgpdump"].append(bgpdump(src, args.core))
            results["bgpdump, no trim"].append(bgpdump(src, args.core, trim=False))
            if src.suffix == ".bz2":
                results["bzip2"].append(bzip2_floor(src, args.core))
                if shutil.which("lbzip2") is not None:
                    results["lbzip2"].append(lbzip2_floor(src, args.core))
            if with_python:
                results["python"].append(convert(src, "python", args.core))
            if args.baseline is not None:
                results["before"].append(convert(src, "fast", args.core, args.baseline))
            results["fast"].append(convert(src, "fast", args.core))
            if args.two_cores and src.suffix == ".bz2" and not with_python:
                results["fast, 2 cores"].append(convert(src, "fast", None))
        base = median(results["bgpdump"])
        strict = median(results["bgpdump, no trim"])
        rows = median(results["fast"]).rows
        for tool, rs in results.items():
            if not rs:
                continue
            m = median(rs)
            m.rows = rows
            ratios = (m.seconds / base.seconds, m.seconds / strict.seconds, m.cpu / base.cpu)
            table.append((label, tool, m, *ratios))
            print(
                f"{label:30s} {tool:8s} {m.seconds:8.2f} s {rows / m.seconds:10.0f} rows/s "
                f"{ratios[0]:6.2f}x bgpdump ({ratios[1]:4.2f}x without trim, CPU "
                f"{ratios[2]:4.2f}x) peak RSS {m.maxrss_mb:6.0f} MB",
                flush=True,
            )
    print()
    print(
        "| input | rows | converter | time (s) | rows/s | time / bgpdump's | "
        "time / bgpdump's without trim | CPU / bgpdump's | peak RSS (MB) |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    names = {
        "bgpdump": "`bgpdump -m -q > /dev/null`",
        "bgpdump, no trim": "the same, heap never trimmed (`MALLOC_*_THRESHOLD_`)",
        "bzip2": "`bzip2 -dc > /dev/null` (floor)",
        "lbzip2": "`lbzip2 -n 1 -dc > /dev/null` (another decoder, one thread)",
        "python": "mrtparse path",
        "before": "fast, before (`--baseline`)",
        "fast": "fast",
        "fast, 2 cores": "fast, 2 cores (decompression thread)",
    }
    for label, tool, m, ratio, strict_ratio, cpu_ratio in table:
        print(
            f"| {label} | {m.rows:,} | {names[tool]} | {m.seconds:.2f} | "
            f"{m.rows / m.seconds:,.0f} | {ratio:.2f} | {strict_ratio:.2f} | {cpu_ratio:.2f} | "
            f"{m.maxrss_mb:.0f} |"
        )
    svg([(a, b, c, d) for a, b, c, d, _, _ in table], OUT / "convert_speed.svg")
    print(f"\nplot: {OUT / 'convert_speed.svg'}")
    if args.rib_10m:
        big = mrtgen(
            "rib", OUT / "rib10m.bz2", "--peers", "24", "--prefixes", "450000", "--seed", "3"
        )
        r = convert(big, "fast", args.core)
        print(
            f"10M-row RIB, fast path: {r.rows} rows in {r.seconds:.1f} s, "
            f"peak RSS {r.maxrss_mb:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
