"""The archive's rules for a new file (issue 20, item 9), one test per rule, and the same rules
applied by the mirror's listing of a real (test) archive server and by its fetch."""

from __future__ import annotations

import bz2
import gzip
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from archive_server import build_archive, serve_archive

from cloudz.archive import paths
from cloudz.sources import HttpArchive, LocalTree, RetryPolicy
from cloudz.sources.files import RefusedFile, SkippedFile, check_not_future

FAST_RETRY = RetryPolicy(tries=3, first_delay=0.01, max_delay=0.05)


def _rule(path: str) -> str:
    with pytest.raises(paths.ArchivePathError) as err:
        paths.parse(path)
    return err.value.rule


@pytest.mark.parametrize(
    "path",
    [
        # names RouteViews has listed: route-views2 in 2001 (Pacific-time names), 2003, today
        "route-views2/bgpdata/2001.10/RIBS/rib.20011026.1648.bz2",
        "route-views2/bgpdata/2001.11/UPDATES/updates.20011101.0923.bz2",
        "route-views2/bgpdata/2003.10/RIBS/rib.20031027.1313.bz2",
        "route-views.sg/bgpdata/2024.01/RIBS/rib.20240118.2200.bz2",
        "route-views.bdix/bgpdata/2022.10/UPDATES/updates.20221026.1545.bz2",
        "route-views2.saopaulo/bgpdata/2024.01/UPDATES/updates.20240118.2145.bz2",
        # a file rotated just after midnight of the 1st, in the month it started in
        "route-views.x/bgpdata/2024.01/UPDATES/updates.20240201.0003.bz2",
        # a Pacific-time name at a year's end (2002-12-31 23:45 PST is 2003-01-01 UTC)
        "route-views2/bgpdata/2002.12/UPDATES/updates.20021231.2345.bz2",
        # other MRT archives' gzip, and raw MRT
        "rrc00/bgpdata/2016.08/UPDATES/updates.20160811.1600.gz",
        "route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000",
    ],
)
def test_real_names_are_accepted(path: str) -> None:
    p = paths.parse(path)
    assert p.named_time is not None and p.suffix in ("", ".bz2", ".gz")


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("rv/bgpdata/2026.11/UPDATES/notes.txt", "file-name"),
        ("rv/bgpdata/2026.11/RIBS/bview.20261101.0000.gz", "file-name"),  # RIPE's RIB name
        ("rv/bgpdata/2026.11/RIBS/rib.20261101.000.bz2", "file-name"),
        ("rv/bgpdata/2026.11/RIBS/rib.20261101.0000.bz2.1", "file-name"),
        ("rv/bgpdata/2026.11/RIBS/rib.20261101.0000.xz", "file-name"),
        ("rv/bgpdata/2026.11/RIBS/RIB.20261101.0000.bz2", "file-name"),
        ("rv/bgpdata/2026.11/RIBS/updates.20261101.0000.bz2", "kind-prefix"),
        ("rv/bgpdata/2026.11/UPDATES/rib.20261101.0000.bz2", "kind-prefix"),
        ("rv/bgpdata/2026.02/RIBS/rib.20260230.0000.bz2", "name-date"),
        ("rv/bgpdata/2026.11/RIBS/rib.20261101.2400.bz2", "name-date"),
        ("rv/bgpdata/2026.11/RIBS/rib.20261101.1260.bz2", "name-date"),
        # a December file in the November folder; a day and a minute past the edge
        ("rv/bgpdata/2026.11/UPDATES/updates.20261207.0000.bz2", "month-folder"),
        ("rv/bgpdata/2026.11/UPDATES/updates.20261030.2359.bz2", "month-folder"),
        ("rv/bgpdata/2025.11/RIBS/rib.20261101.0000.bz2", "month-folder"),
        ("bgpdata/bgpdata/2026.11/RIBS/rib.20261101.0000.bz2", "reserved-collector"),
        ("RIBS/bgpdata/2026.11/RIBS/rib.20261101.0000.bz2", "reserved-collector"),
        ("Updates/bgpdata/2026.11/RIBS/rib.20261101.0000.bz2", "reserved-collector"),
        ("rv/bgpdata/2026.11/OTHER/rib.20261101.0000.bz2", "layout"),
        # years the catalog cannot hold (a 0000.01 folder was archived and loaded) or no
        # RouteViews file has: before the rule, 0000.01 with a valid name raised a bare
        # ValueError ("year 0 is out of range") and 0001.01 an OverflowError
        ("rv/bgpdata/0000.01/UPDATES/updates.00000101.0000.bz2", "archive-years"),
        ("rv/bgpdata/0000.01/UPDATES/updates.00010101.0000.bz2", "archive-years"),
        ("rv/bgpdata/0001.01/UPDATES/updates.00010101.0000.bz2", "archive-years"),
        ("rv/bgpdata/2000.12/UPDATES/updates.20001231.2345.bz2", "archive-years"),
        ("rv/bgpdata/9999.12/UPDATES/updates.99991231.2359.bz2", "archive-years"),
        ("rv/bgpdata/2160.01/UPDATES/updates.21600101.0000.bz2", "archive-years"),
    ],
)
def test_each_rule_refuses_by_name(path: str, rule: str) -> None:
    assert _rule(path) == rule


def test_the_month_edge_is_a_day_either_side() -> None:
    paths.parse("rv/bgpdata/2026.11/UPDATES/updates.20261201.2359.bz2")
    paths.parse("rv/bgpdata/2026.11/UPDATES/updates.20261031.0000.bz2")
    assert _rule("rv/bgpdata/2026.11/UPDATES/updates.20261202.0000.bz2") == "month-folder"
    assert _rule("rv/bgpdata/2026.11/UPDATES/updates.20261030.2359.bz2") == "month-folder"


def test_a_name_after_now_plus_the_skew_is_refused() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    p = paths.parse("rv/bgpdata/2026.12/RIBS/rib.20261207.1300.bz2")
    paths.check_not_future(p, now=now)  # exactly the default skew: accepted
    with pytest.raises(paths.ArchivePathError) as err:
        paths.check_not_future(p, now=now, skew=timedelta(minutes=59))
    assert err.value.rule == "future-date"
    far = paths.parse("rv/bgpdata/2099.12/UPDATES/updates.20991231.2359.bz2")
    with pytest.raises(paths.ArchivePathError, match="has not come"):
        paths.check_not_future(far)
    paths.check_not_future(paths.parse("rv/bgpdata/2001.10/RIBS/rib.20011026.1648.bz2"))


RAW = b"\x58\x9e\xcd\xe0\x00\x0d\x00\x01" + b"\x00" * 32  # an MRT header (TABLE_DUMP_V2)


@pytest.mark.parametrize(
    ("name", "data", "ok"),
    [
        ("rib.20261101.0000.bz2", bz2.compress(RAW), True),
        ("rib.20261101.0000.gz", gzip.compress(RAW), True),
        ("rib.20261101.0000", RAW, True),
        ("rib.20261101.0000.bz2", RAW, False),  # raw MRT named .bz2
        ("rib.20261101.0000.bz2", gzip.compress(RAW), False),
        ("rib.20261101.0000.gz", bz2.compress(RAW), False),
        ("rib.20261101.0000.gz", RAW, False),
        ("rib.20261101.0000", bz2.compress(RAW), False),  # compressed with no suffix
        ("rib.20261101.0000", gzip.compress(RAW), False),
        ("rib.20261101.0000.bz2", b"BZ", False),  # too short to be bzip2
    ],
)
def test_the_suffix_must_match_the_contents_magic_bytes(name: str, data: bytes, ok: bool) -> None:
    p = paths.parse(f"rv/bgpdata/2026.11/RIBS/{name}")
    if ok:
        paths.check_content(p, data[: paths.MAGIC_BYTES])
        return
    with pytest.raises(paths.ArchivePathError) as err:
        paths.check_content(p, data[: paths.MAGIC_BYTES])
    assert err.value.rule == "suffix-content"


def test_the_mirror_listing_skips_what_the_rules_refuse_and_reports_it(tmp_path: Path) -> None:
    """The test archive server (Apache-style listings) serving a month with names the rules
    refuse: every name the mirror listed before stays listed, the others are reported."""
    tree = build_archive(
        tmp_path / "archive",
        collectors=("route-views.sg",),
        days=(date(2024, 1, 31),),
        rib_every=timedelta(hours=12),
        updates_every=timedelta(hours=6),
        truncated=False,
    )
    month = tmp_path / "archive/route-views.sg/bgpdata/2024.01"
    bad = {
        "UPDATES/notes.txt": "file-name",
        "RIBS/updates.20240131.0600.bz2": "kind-prefix",
        "UPDATES/updates.20240131.0000.bz2.1": "file-name",
        "UPDATES/updates.20240131.2460.bz2": "name-date",
    }
    for name in bad:
        (month / name).write_bytes(b"BZh9")
    # a file of 2024-02-01 00:03 in January (rotated late): listed, as before
    late = month / "UPDATES/updates.20240201.0003.bz2"
    late.write_bytes(b"BZh9")
    c = tree.collector("route-views.sg")
    good = sorted(f.archive_path for f in tree.files)
    start, end = date(2024, 1, 31), date(2024, 2, 2)
    good.append("route-views.sg/bgpdata/2024.01/UPDATES/updates.20240201.0003.bz2")
    with serve_archive(tree) as srv, HttpArchive(srv.url, retry=FAST_RETRY) as http:
        for source in (http, LocalTree(tree.root)):
            skipped: list[SkippedFile] = []
            listed = source.list_files(c, start, end, skipped=skipped)
            assert sorted(f.archive_path for f in listed) == sorted(good)
            assert {s.name: s.rule for s in skipped} == {
                name.split("/")[1]: rule for name, rule in bad.items()
            }
            assert all(s.reason and s.source for s in skipped)


def test_the_mirror_skips_a_future_name_and_content_that_is_not_its_suffix(
    tmp_path: Path,
) -> None:
    tree = build_archive(
        tmp_path / "archive",
        collectors=("route-views.sg",),
        days=(date(2024, 1, 31),),
        rib_every=timedelta(hours=12),
        updates_every=timedelta(hours=12),
        truncated=False,
    )
    local = LocalTree(tree.root, temp_dir=tmp_path)
    c = tree.collector("route-views.sg")
    f = local.list_files(c, date(2024, 1, 31), date(2024, 2, 1))[0]
    assert check_not_future(f) is None
    skip = check_not_future(f, now=datetime(2024, 1, 30, tzinfo=UTC))
    assert skip is not None and skip.rule == "future-date"
    with local.fetch_to_temp(f) as copy:
        copy.check_content()  # bzip2 named .bz2
    Path(f.source).write_bytes(b"\x58\x9e\xcd\xe0 raw MRT named bz2")
    with local.fetch_to_temp(f) as copy, pytest.raises(RefusedFile) as err:
        copy.check_content()
    assert err.value.rule == "suffix-content"
