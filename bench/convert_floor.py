"""The converter against the bz2 decompression floor, on one core and on two (issue 19 item 6).

One run times, interleaved for ``--rounds`` rounds, median reported: ``bzip2 -dc FILE > /dev/null``
on one core (``taskset -c 0``: the one-core floor, decompression alone), the fast converter on
one core (``taskset -c 0``), on both cores (``taskset -c 0,1``: bz2 decoded in a read-ahead
thread) and on both cores with ``CLOUDZ_BZ2_THREADS=2`` (bz2 blocks decoded by two threads
beside the converter), and with ``--baseline DIR`` the
same two for another source tree (an older commit, its extension built in place) as "before".
Ratios are to the floor of the same run; peak RSS of each child comes from ``os.wait4``.

Inputs (``bench/out/``, git-ignored, generated once): a RIB whose attributes compress badly
(``mrtgen rib --attributes varied``, 40 peers) and a locality-style RIB like a real one
(``--locality 0.98 --pool 64``, 24 peers), a few million rows each. The machine's two cores are
shared with other engineers' jobs: run it under the bench lock,

    flock /tmp/bench.lock .venv/bin/python bench/convert_floor.py --rounds 3 [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_speed import CONVERT, Result, bzip2_floor, median, mrtgen, run_child
from harness.places import OUT, PY, ROOT


def convert_on(src: Path, cores: str, tree: Path, bz2_threads: int = 1) -> Result:
    """The fast converter of ``tree`` pinned to ``cores`` (``taskset -c``), with
    ``CLOUDZ_BZ2_THREADS`` threads decoding bz2 blocks."""
    dst = OUT / f"{src.name}.floor.avro"
    env = {**os.environ, "PYTHONPATH": str(tree), "CLOUDZ_BZ2_THREADS": str(bz2_threads)}
    return run_child(
        ["taskset", "-c", cores, PY, "-c", CONVERT, str(src), str(dst), "fast"],
        None,
        env=env,
        cwd=tree,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", type=Path, help="another source tree, timed as 'before'")
    ap.add_argument("--varied-prefixes", type=int, default=75000, help="x 40 peers ≈ 2.8M rows")
    ap.add_argument("--locality-prefixes", type=int, default=120000, help="x 24 peers ≈ 2.7M rows")
    ap.add_argument("--only", default="", help="only the inputs whose label contains this")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    v = args.varied_prefixes
    loc = args.locality_prefixes
    inputs = [
        (
            f"varied RIB, 40 peers x {v}",
            mrtgen(
                "rib",
                OUT / f"rib-varied-40x{v}.bz2",
                *("--peers", "40", "--prefixes", str(v), "--attributes", "varied"),
            ),
        ),
        (
            f"locality RIB, 24 peers x {loc}",
            mrtgen(
                "rib",
                OUT / f"rib-locality-24x{loc}.bz2",
                *("--peers", "24", "--prefixes", str(loc), "--locality", "0.98", "--pool", "64"),
            ),
        ),
    ]
    kinds = ["bzip2 -dc, 1 core", "fast, 1 core", "fast, 2 cores", "fast, 2 cores, 2 bz2 threads"]
    if args.baseline is not None:
        kinds += ["before, 1 core", "before, 2 cores"]
    table = []
    for label, src in inputs:
        if args.only not in label:
            continue
        res: dict[str, list[Result]] = {k: [] for k in kinds}
        for _ in range(args.rounds):
            res["bzip2 -dc, 1 core"].append(bzip2_floor(src, 0))
            res["fast, 1 core"].append(convert_on(src, "0", ROOT))
            res["fast, 2 cores"].append(convert_on(src, "0,1", ROOT))
            res["fast, 2 cores, 2 bz2 threads"].append(convert_on(src, "0,1", ROOT, 2))
            if args.baseline is not None:
                res["before, 1 core"].append(convert_on(src, "0", args.baseline))
                res["before, 2 cores"].append(convert_on(src, "0,1", args.baseline))
        floor = median(res["bzip2 -dc, 1 core"])
        rows = median(res["fast, 1 core"]).rows
        for kind in kinds:
            m = median(res[kind])
            table.append((label, src, rows, kind, m, m.seconds / floor.seconds, m.cpu / floor.cpu))
            print(
                f"{label:32s} {kind:18s} {m.seconds:7.2f} s  x{m.seconds / floor.seconds:5.2f} "
                f"floor  CPU {m.cpu:7.2f} s  peak RSS {m.maxrss_mb:5.0f} MB",
                flush=True,
            )
    print()
    print("| input | rows | bz2 MB | run | wall (s) | wall / floor | CPU (s) | peak RSS (MB) |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for label, src, rows, kind, m, ratio, _ in table:
        mb = src.stat().st_size / 1e6
        print(
            f"| {label} | {rows:,} | {mb:.0f} | {kind} | {m.seconds:.2f} | **{ratio:.2f}** | "
            f"{m.cpu:.2f} | {m.maxrss_mb:.0f} |"
        )
    print(f"\nloadavg at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
