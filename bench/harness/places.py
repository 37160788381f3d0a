"""Where the benches find the project, its programs, the MRT samples and their own output."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: ``bench/``
BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
#: figures, plots and generated inputs (git-ignored)
OUT = BENCH / "out"
#: the interpreter running the bench, and the project's console scripts beside it
PY = sys.executable
BIN = Path(sys.executable).parent
SAMPLES = Path(os.environ.get("CLOUDZ_MRT_SAMPLES") or ROOT.parent / "shared" / "mrt-samples")


def tests_on_path() -> None:
    """``tests/`` holds the archive generator and server and the free-port helper."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
