"""Where the real MRT sample files are: ``../shared/mrt-samples`` beside the checkout,
or ``CLOUDZ_MRT_SAMPLES``. Tests that need them fail (not skip) when they are missing."""

from __future__ import annotations

import os
from pathlib import Path

from cloudz.settings import PROJECT_ROOT

SAMPLES_DIR = Path(
    os.environ.get("CLOUDZ_MRT_SAMPLES") or PROJECT_ROOT.parent / "shared" / "mrt-samples"
).resolve()
