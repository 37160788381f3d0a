"""A RIB's conversion task lowers its own CPU priority; an update file's does not."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from cloudz.archive.archived_file import ArchivedFile
from cloudz.file_pipeline.convert_step import yield_cpu_if_rib

RIB = "route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2"
UPDATES = "route-views2/bgpdata/2024.01/UPDATES/updates.20240101.0000.bz2"


def _niceness_after(path: str, niceness: int) -> int:
    """The niceness a fresh process has after the call (os.nice cannot be undone, so not
    in the test's own process)."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        return int(pool.apply(_call, (path, niceness)))


def _call(path: str, niceness: int) -> int:
    before = os.nice(0)
    yield_cpu_if_rib(ArchivedFile.of(path, "0" * 64), niceness)
    return os.nice(0) - before


@pytest.mark.parametrize(
    ("path", "niceness", "raised"),
    [(RIB, 10, 10), (RIB, 0, 0), (UPDATES, 10, 0)],
)
def test_only_a_rib_yields_the_cpu(path: str, niceness: int, raised: int) -> None:
    assert _niceness_after(path, niceness) == raised
