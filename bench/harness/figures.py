"""The figures of a bench: load average, percentiles, and the JSON file they are written to."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def loadavg(fields: int | None = None) -> str:
    """``/proc/loadavg`` (its first ``fields`` fields): how busy the shared machine was."""
    try:
        text = Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"
    return text if fields is None else " ".join(text.split()[:fields])


def percentile(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def spread(xs: Sequence[float]) -> dict[str, float]:
    """n, min, p50, p95, max and median of ``xs``; empty for none."""
    if not xs:
        return {}
    return {
        "n": len(xs),
        "min": min(xs),
        "p50": percentile(xs, 50),
        "p95": percentile(xs, 95),
        "max": max(xs),
        "median": statistics.median(xs),
    }


def fmt_spread(s: dict[str, float]) -> str:
    if not s:
        return "n/a"
    return (
        f"p50 {s['p50']:.1f} s  p95 {s['p95']:.1f} s  max {s['max']:.1f} s  "
        f"(min {s['min']:.1f} s, n={int(s['n'])})"
    )


def write_json(path: Path, payload: Any) -> Path:
    """``payload`` as indented JSON (what JSON has no type for, as text); folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def read_json(path: Path) -> Any:
    """A results file written by ``write_json`` (or any JSON file)."""
    return json.loads(path.read_text(encoding="utf-8"))
