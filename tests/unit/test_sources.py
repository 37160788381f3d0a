"""The collectors file and the archive readers, against a generated archive on a real server.

The HTTP reader is tested against ``tests/archive_server.py`` running as its own process
(Apache-style pages, real sockets, real 503s), and against an excerpt of a real
archive.routeviews.org page; the local reader against the same tree on disk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from archive_server import ArchiveServer, ArchiveTree, apache_size, build_archive, serve_archive
from free_ports import free_ports

from cloudz.archive import paths
from cloudz.sources import (
    ArchiveSource,
    Collector,
    CollectorConfigError,
    FileKind,
    HttpArchive,
    LocalTree,
    Month,
    RetryPolicy,
    SourceError,
    SourceFile,
    load_collectors,
    parse_collectors,
    parse_index_page,
)
from cloudz.sources.files import SkippedFile, make_source_file
from cloudz.sources.index_page import parse_size

FAST_RETRY = RetryPolicy(tries=3, first_delay=0.01, max_delay=0.05)
DAY1, DAY2 = date(2024, 1, 31), date(2024, 2, 1)

# A real page: archive.routeviews.org's listing of /route-views.bdix/bgpdata/2022.10/UPDATES/
# (first and last rows), as kept in bgpkit/bgpkit-broker's crawler test
# (src/crawler/common.rs, test_extract_link_size). The Name column's text is cut to 23
# characters ("updates.20221001.000..&gt;"): only the link has the full name.
ROUTEVIEWS_BDIX_2022_10_UPDATES = """\
<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html>
 <head>
  <title>Index of /route-views.bdix/bgpdata/2022.10/UPDATES</title>
 </head>
 <body>
<h1>Index of /route-views.bdix/bgpdata/2022.10/UPDATES</h1>
  <table>
   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>
   <tr><th colspan="5"><hr></th></tr>
<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/route-views.bdix/bgpdata/2022.10/">Parent Directory</a>       </td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="updates.20221001.0000.bz2">updates.20221001.000..&gt;</a></td><td align="right">2022-10-01 00:00  </td><td align="right"> 14 </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="updates.20221001.0015.bz2">updates.20221001.001..&gt;</a></td><td align="right">2022-10-01 00:15  </td><td align="right"> 14 </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="updates.20221026.1545.bz2">updates.20221026.154..&gt;</a></td><td align="right">2022-10-26 15:45  </td><td align="right"> 14 </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="updates.20221026.1600.bz2">updates.20221026.160..&gt;</a></td><td align="right">2022-10-26 16:00  </td><td align="right"> 14 </td><td>&nbsp;</td></tr>
   <tr><th colspan="5"><hr></th></tr>
</table>
</body></html>
"""  # noqa: E501 (the page as served)


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> ArchiveTree:
    """Three collectors (route-views2 at the root) over two days across a month edge."""
    return build_archive(
        tmp_path_factory.mktemp("archive") / "root",
        rib_every=timedelta(hours=6),
        updates_every=timedelta(hours=2),
    )


@pytest.fixture(scope="module")
def server(tree: ArchiveTree) -> Iterator[ArchiveServer]:
    with serve_archive(tree) as srv:
        yield srv


@pytest.fixture
def http(server: ArchiveServer, tmp_path: Path) -> Iterator[HttpArchive]:
    with HttpArchive(server.url, retry=FAST_RETRY, temp_dir=tmp_path) as h:
        yield h


def _key(f: SourceFile) -> tuple[str, str, datetime, str]:
    return f.archive_path, f.kind.value, f.dump_time, str(f.month)


# -- the collectors file -------------------------------------------------------------------


def test_the_repository_collectors_file_loads_and_follows_the_layout() -> None:
    collectors = load_collectors()
    assert len(collectors) >= 50
    rv2 = collectors["route-views2"]
    assert rv2.archive_dir == "bgpdata"  # the archive root
    assert rv2.also_at == ("route-views2/bgpdata",)
    assert rv2.archive_prefix == "route-views2/bgpdata"
    for c in collectors:
        if c.name != "route-views2":
            assert c.archive_dir == f"{c.name}/bgpdata", c.name
        paths.parse(f"{c.archive_prefix}/2024.01/RIBS/rib.20240101.0000.bz2")
        assert c.pacific_names_before == date(2003, 2, 3)
    assert collectors["route-views.jinx"].last_date == date(2019, 8, 15)
    assert collectors.archive_url == "https://archive.routeviews.org/"


def test_an_estimated_first_date_never_rules_a_collector_out() -> None:
    exact = Collector(name="c", archive_dir="c/bgpdata", first_date=date(2020, 1, 1))
    guessed = dataclasses.replace(exact, first_date_exact=False)
    ended = dataclasses.replace(exact, last_date=date(2021, 1, 1))
    assert not exact.active_between(date(2019, 1, 1), date(2019, 1, 2))
    assert guessed.active_between(date(2019, 1, 1), date(2019, 1, 2))
    assert ended.active_between(date(2021, 1, 1), date(2021, 1, 2))
    assert not ended.active_between(date(2021, 1, 2), date(2021, 1, 3))


GOOD = """\
archive:
  url: https://archive.example.org/
  pacific_names_before: 2003-02-03
collectors:
  - name: route-views2
    archive_dir: bgpdata
    first_date: 2001-10-01
  - name: route-views.sg
    archive_dir: route-views.sg/bgpdata
    first_date: 2013-01-01
"""


@pytest.mark.parametrize(
    ("line", "replace", "by", "message"),
    [
        (8, "name: route-views.sg", "name: route views", "is not an archive path segment"),
        (8, "name: route-views.sg", "name: ../etc", "is not an archive path segment"),
        (9, "archive_dir: route-views.sg/bgpdata", "archive_dir: /sg/bgpdata", "archive_dir"),
        (9, "archive_dir: route-views.sg/bgpdata", "archive_dir: sg/data", "ending in 'bgpdata'"),
        (10, "first_date: 2013-01-01", "first_date: 2013-13-01", "first_date"),
        (10, "first_date: 2013-01-01", "first_date: 2013-01-01 10:00", "is not a date"),
        (10, "first_date: 2013-01-01", "first_date: soon", "is not a date"),
        (10, "first_date: 2013-01-01", "first_dat: 2013-01-01", "unknown field(s) ['first_dat']"),
        (11, "first_date: 2013-01-01", "first_date: 2013-01-01\n    last_date: 2012-01-01",
         "last_date 2012-01-01 is before first_date"),
        (11, "first_date: 2013-01-01", "first_date: 2013-01-01\n    first_date_exact: maybe",
         "first_date_exact must be true or false"),
        (8, "name: route-views.sg", "name: route-views2", "is listed twice (first at line 5)"),
        (9, "archive_dir: route-views.sg/bgpdata", "archive_dir: bgpdata", "is also"),
    ],
)  # fmt: skip
def test_a_bad_entry_is_named_by_line_and_field(
    line: int, replace: str, by: str, message: str
) -> None:
    assert replace in GOOD
    with pytest.raises(CollectorConfigError) as err:
        parse_collectors(GOOD.replace(replace, by), "collectors.yaml")
    assert f"collectors.yaml:{line}:" in str(err.value)
    assert message in str(err.value)
    assert "route-views" in str(err.value) or "collector #2" in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("collectors: []\n", "'archive' must be a mapping"),
        (GOOD.replace("https://archive.example.org/", "ftp://x/"), "archive.url"),
        (GOOD + "extra: 1\n", "unknown top-level key(s) ['extra']"),
        (GOOD.replace("    first_date: 2013-01-01\n", ""), "'first_date' is required"),
        ("archive: {url: 'https://a/'}\ncollectors: [[1]]\n", "collector #1 must be a mapping"),
        ("archive: [", "not valid YAML"),
    ],
)
def test_a_bad_file_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(CollectorConfigError, match=r"collectors\.yaml") as err:
        parse_collectors(text, "collectors.yaml")
    assert message in str(err.value)


def test_a_good_file_gives_typed_collectors() -> None:
    collectors = parse_collectors(GOOD, "collectors.yaml")
    sg = collectors["route-views.sg"]
    assert sg == Collector(
        name="route-views.sg",
        archive_dir="route-views.sg/bgpdata",
        first_date=date(2013, 1, 1),
        pacific_names_before=date(2003, 2, 3),
        line=8,
    )
    with pytest.raises(KeyError, match="no collector 'rrc00'"):
        collectors["rrc00"]


# -- names and pages -----------------------------------------------------------------------


def _listed(
    name: str, kind: FileKind, month: Month, cutoff: date | None
) -> SourceFile | SkippedFile:
    return make_source_file(
        collector="route-views2",
        kind=kind,
        name=name,
        month=month,
        size=1,
        size_exact=True,
        source=name,
        modified=None,
        pacific_names_before=cutoff,
    )


def test_dump_names_before_2003_02_03_are_pacific_time() -> None:
    cutoff = date(2003, 2, 3)
    summer = _listed("updates.20020722.2238.bz2", FileKind.UPDATES, Month(2002, 7), cutoff)
    winter = _listed("rib.20030101.0000.bz2", FileKind.RIBS, Month(2003, 1), cutoff)
    after = _listed("rib.20030203.0000.bz2", FileKind.RIBS, Month(2003, 2), cutoff)
    utc = _listed("rib.20030101.0000.bz2", FileKind.RIBS, Month(2003, 1), None)
    assert summer.dump_time == datetime(2002, 7, 23, 5, 38, tzinfo=UTC)  # PDT
    assert winter.dump_time == datetime(2003, 1, 1, 8, 0, tzinfo=UTC)  # PST
    assert after.dump_time == datetime(2003, 2, 3, 0, 0, tzinfo=UTC)
    assert utc.dump_time == datetime(2003, 1, 1, 0, 0, tzinfo=UTC)  # an archive named in UTC
    for bad in ("rib.20240231.0000.bz2", "bview.20240101.0000.gz", "rib.2024010.0000.bz2"):
        assert isinstance(_listed(bad, FileKind.RIBS, Month(2024, 2), cutoff), SkippedFile)
    # a refused name still says when it claims to be (a range reports its skips)
    misplaced = _listed("rib.20020722.2238.bz2", FileKind.RIBS, Month(2002, 9), cutoff)
    assert isinstance(misplaced, SkippedFile) and misplaced.rule == "month-folder"
    assert misplaced.dump_time == datetime(2002, 7, 23, 5, 38, tzinfo=UTC)


def test_the_real_routeviews_page_parses_by_its_links() -> None:
    url = "https://archive.routeviews.org/route-views.bdix/bgpdata/2022.10/UPDATES/"
    entries = parse_index_page(ROUTEVIEWS_BDIX_2022_10_UPDATES, url)
    assert [e.name for e in entries] == [
        "updates.20221001.0000.bz2",
        "updates.20221001.0015.bz2",
        "updates.20221026.1545.bz2",
        "updates.20221026.1600.bz2",
    ]
    assert all(e.size == 14 and e.size_exact and not e.is_dir for e in entries)
    assert entries[2].modified == datetime(2022, 10, 26, 15, 45)


@pytest.mark.parametrize("size", [0, 14, 972, 973, 1000, 1023, 1024, 9 * 1024 + 972, 99_999,
                                  6_700_000, 81_788_928, 168_820_736, 1_500_000_000])  # fmt: skip
def test_apache_sizes_parse_back_within_their_rounding(size: int) -> None:
    shown = apache_size(size)
    parsed = parse_size(shown)
    assert parsed is not None
    value, exact = parsed
    assert exact == (size < 973)
    assert abs(value - size) <= 0.06 * size  # two or three significant digits


@pytest.mark.parametrize(
    ("page", "why"),
    [
        (  # python -m http.server's listing
            "<html><head><title>Directory listing for /x/</title></head><body><ul>"
            '<li><a href="rib.20240101.0000.bz2">rib.20240101.0000.bz2</a></li></ul></body></html>',
            "not a directory listing",
        ),
        (  # nginx autoindex: "Index of", but a <pre>, no table
            "<html><head><title>Index of /x/</title></head><body><pre>"
            '<a href="rib.20240101.0000.bz2">rib.20240101.0000.bz2</a>  01-Jan-2024 00:00  12M'
            "</pre></body></html>",
            "no table with the columns Name, Last modified, Size",
        ),
        ("<html><head><title>503 Service Unavailable</title></head></html>", "not a directory"),
        ("", "not a directory listing"),
        (
            ROUTEVIEWS_BDIX_2022_10_UPDATES.replace(" 14 ", "lots", 1),
            "entry 'updates.20221001.0000.bz2': not a size: 'lots'",
        ),
        (
            ROUTEVIEWS_BDIX_2022_10_UPDATES.replace(
                'href="updates.20221001.0015.bz2"', 'href="../../etc/passwd"', 1
            ),
            "is not a plain name",
        ),
    ],
)
def test_a_page_that_is_not_an_apache_index_names_the_url(page: str, why: str) -> None:
    url = "https://archive.example.org/x/bgpdata/2024.01/RIBS/"
    with pytest.raises(SourceError) as err:
        parse_index_page(page, url)
    assert url in str(err.value) and err.value.url == url
    assert why in str(err.value)


def test_an_empty_month_is_an_empty_listing_not_an_error() -> None:
    start = ROUTEVIEWS_BDIX_2022_10_UPDATES.index("<tr><td")
    end = ROUTEVIEWS_BDIX_2022_10_UPDATES.index('   <tr><th colspan="5"><hr></th></tr>\n</table>')
    empty = ROUTEVIEWS_BDIX_2022_10_UPDATES[:start] + ROUTEVIEWS_BDIX_2022_10_UPDATES[end:]
    assert parse_index_page(empty, "https://a/b/") == []


# -- listing over HTTP and on disk ---------------------------------------------------------


def test_the_server_pages_parse_like_the_real_one(server: ArchiveServer) -> None:
    import httpx

    url = f"{server.url}route-views.sg/bgpdata/2024.01/UPDATES/"
    page = httpx.get(url).text
    assert "updates.20240131.000..&gt;</a>" in page  # the cut name column, as the real one
    entries = parse_index_page(page, url)
    assert entries and all(e.name.startswith("updates.20240131.") for e in entries)
    months = parse_index_page(httpx.get(f"{server.url}bgpdata/").text, server.url)
    assert [(e.name, e.is_dir, e.size) for e in months] == [
        ("2024.01", True, None),
        ("2024.02", True, None),
    ]


def test_listing_a_range_across_months_finds_every_file(
    tree: ArchiveTree, http: HttpArchive
) -> None:
    for c in tree.collectors:
        collector = tree.collector(c.name)
        assert http.list_months(collector) == [Month(2024, 1), Month(2024, 2)]
        listed = http.list_files(collector, DAY1, DAY2 + timedelta(days=1))
        made = {f.archive_path: f for f in tree.files if f.collector == c.name}
        assert [f.archive_path for f in listed] == sorted(
            made, key=lambda p: (listed_time(p), p.split("/")[3], p)
        )
        for f in listed:
            assert f.archive_path.startswith(f"{c.name}/bgpdata/")
            assert f.source == f"{http.base_url}{c.archive_dir}/{f.month}/{f.kind.value}/{f.name}"
            assert f.size_exact == (made[f.archive_path].size < 973)
        assert {f.month for f in listed} == {Month(2024, 1), Month(2024, 2)}


def listed_time(archive_path_: str) -> datetime:
    return paths.dump_time(paths.parse(archive_path_).named_time, None)


def test_route_views2_is_read_at_the_root_and_archived_under_its_name(
    tree: ArchiveTree, http: HttpArchive
) -> None:
    root = tree.collector("route-views2")
    alias = dataclasses.replace(root, archive_dir="route-views2/bgpdata")  # the 2026 path
    at_root = http.list_files(root, DAY1, DAY2)
    at_alias = http.list_files(alias, DAY1, DAY2)
    assert at_root and [_key(f) for f in at_root] == [_key(f) for f in at_alias]
    assert all(f.source.startswith(f"{http.base_url}bgpdata/2024.01/") for f in at_root)
    assert all(f.archive_path.startswith("route-views2/bgpdata/2024.01/") for f in at_root)


def test_daily_ranges_partition_the_files(tree: ArchiveTree, http: HttpArchive) -> None:
    c = tree.collector("route-views.sg")
    day1 = http.list_files(c, DAY1, DAY2)
    day2 = http.list_files(c, DAY2, DAY2 + timedelta(days=1))
    both = http.list_files(c, DAY1, DAY2 + timedelta(days=1))
    assert day1 and day2
    assert [_key(f) for f in day1 + day2] == [_key(f) for f in both]
    ribs = http.list_files(c, DAY1, DAY2, kinds=[FileKind.RIBS])
    assert ribs == [f for f in day1 if f.kind is FileKind.RIBS]
    hours = http.list_files(
        c, datetime(2024, 1, 31, 6, tzinfo=UTC), datetime(2024, 1, 31, 12, tzinfo=UTC)
    )
    assert hours and all(6 <= f.dump_time.hour < 12 for f in hours)
    with pytest.raises(ValueError, match="no time zone"):
        http.list_files(c, datetime(2024, 1, 31), DAY2)


def test_the_local_tree_reads_what_the_server_serves(
    tree: ArchiveTree, http: HttpArchive, server: ArchiveServer
) -> None:
    local = LocalTree(tree.root)
    sources: list[ArchiveSource] = [http, local]  # both satisfy the protocol
    assert len(sources) == 2
    for c in tree.collectors:
        collector = tree.collector(c.name)
        assert local.list_months(collector) == http.list_months(collector)
        over_http = http.list_files(collector, DAY1, DAY2 + timedelta(days=1))
        on_disk = local.list_files(collector, DAY1, DAY2 + timedelta(days=1))
        assert [_key(f) for f in on_disk] == [_key(f) for f in over_http]
        for h, d in zip(over_http, on_disk, strict=True):
            assert d.size_exact and d.size == tree.by_archive_path()[d.archive_path].size
            if h.size_exact:
                assert h.size == d.size
            else:
                assert abs(h.size - d.size) <= 0.06 * d.size


def test_a_file_added_between_two_listings_is_seen_by_the_next(tmp_path: Path) -> None:
    small = build_archive(
        tmp_path / "root",
        collectors=("route-views2", "route-views.sg"),
        days=(DAY1,),
        rib_every=timedelta(hours=12),
        updates_every=timedelta(hours=6),
    )
    with serve_archive(small) as srv, HttpArchive(srv.url, retry=FAST_RETRY) as http:
        c = small.collector("route-views.sg")
        before = http.list_files(c, DAY1, DAY2)
        added = small.add_file(
            "route-views.sg", "UPDATES", datetime(2024, 1, 31, 23, 52, tzinfo=UTC)
        )
        after = http.list_files(c, DAY1, DAY2)
    assert added.archive_path not in {f.archive_path for f in before}
    assert [f.archive_path for f in after] == [f.archive_path for f in before] + [
        added.archive_path
    ]


def test_a_file_in_the_neighbouring_month_directory_is_listed_for_its_day(tmp_path: Path) -> None:
    c = Collector(name="route-views.x", archive_dir="route-views.x/bgpdata", first_date=DAY1)
    month_dir = tmp_path / "route-views.x/bgpdata/2024.01/UPDATES"
    month_dir.mkdir(parents=True)
    (month_dir / "updates.20240201.0003.bz2").write_bytes(b"late rotation")
    (month_dir / "rib.20240131.0000.bz2").write_bytes(b"a RIB among the UPDATES: skipped")
    (month_dir / "index.html").write_text("not a dump")
    (tmp_path / "route-views.x/bgpdata/2024.02").mkdir()
    files = LocalTree(tmp_path).list_files(c, DAY2, DAY2 + timedelta(days=1))
    assert [f.archive_path for f in files] == [
        "route-views.x/bgpdata/2024.01/UPDATES/updates.20240201.0003.bz2"
    ]
    assert files[0].size == len(b"late rotation")


# -- fetching ------------------------------------------------------------------------------


def test_fetching_hashes_exactly_the_bytes_of_the_file(
    tree: ArchiveTree, http: HttpArchive, tmp_path: Path
) -> None:
    local = LocalTree(tree.root, temp_dir=tmp_path)
    made = tree.by_archive_path()
    truncated = next(f for f in tree.files if f.damage_offset is not None)
    for source in (http, local):
        listed = source.list_files(tree.collector(truncated.collector), DAY1, DAY2)
        picks = [f for f in listed if f.archive_path == truncated.archive_path]
        picks += [next(f for f in listed if f.kind is FileKind.RIBS)]
        for f in picks:
            raw = made[f.archive_path].local_path.read_bytes()
            with source.fetch_to_temp(f) as copy:
                assert copy.sha256 == hashlib.sha256(raw).hexdigest()
                assert copy.size == len(raw)
                assert b"".join(copy.chunks(chunk_size=1000)) == raw
                assert copy.path.parent == tmp_path
            assert not copy.path.exists()  # the context removed the copy
    assert list(tmp_path.iterdir()) == []


def test_a_vanished_file_is_a_source_error(tree: ArchiveTree, http: HttpArchive) -> None:
    f = http.list_files(tree.collector("route-views.sg"), DAY1, DAY2)[0]
    gone = dataclasses.replace(f, source=f.source.replace(f.name, "updates.19990101.0000.bz2"))
    with pytest.raises(SourceError, match="HTTP 404") as err:
        http.fetch_to_temp(gone)
    assert err.value.url == gone.source
    with pytest.raises(SourceError, match="cannot read"):
        LocalTree(tree.root).fetch_to_temp(dataclasses.replace(f, source="/nonexistent/x.bz2"))


# -- failures ------------------------------------------------------------------------------


def test_503_twice_then_200_is_retried_to_success(tree: ArchiveTree, tmp_path: Path) -> None:
    with serve_archive(tree, fail_first=2) as srv, HttpArchive(srv.url, retry=FAST_RETRY) as h:
        c = tree.collector("route-views.sg")
        assert h.list_months(c) == [Month(2024, 1), Month(2024, 2)]
        files = h.list_files(c, DAY1, DAY2)
        with h.fetch_to_temp(files[0]) as copy:
            assert copy.sha256 == tree.by_archive_path()[files[0].archive_path].sha256
        counts = srv.requests()
    # the first two requests of each path are refused: 503, 503, 200, then 200 for the second
    assert counts["/route-views.sg/bgpdata/"] == 3 + 1
    assert counts["/route-views.sg/bgpdata/2024.01/RIBS/"] == 3
    assert counts[f"/route-views.sg/bgpdata/2024.01/RIBS/{files[0].name}"] == 3


def test_a_server_that_always_fails_gives_a_clear_final_error(tree: ArchiveTree) -> None:
    with serve_archive(tree, fail_always=True) as srv, HttpArchive(srv.url, retry=FAST_RETRY) as h:
        with pytest.raises(SourceError) as err:
            h.list_months(tree.collector("route-views.sg"))
        counts = srv.requests()
    url = f"{srv.url}route-views.sg/bgpdata/"
    assert str(err.value) == f"GET {url} failed after 3 tries (last: HTTP 503 Service Unavailable)"
    assert err.value.url == url
    assert counts == {"/route-views.sg/bgpdata/": 3}


def test_nothing_listening_is_retried_then_a_clear_error(tree: ArchiveTree) -> None:
    url = f"http://127.0.0.1:{free_ports(1)[0]}/"
    with HttpArchive(url, retry=FAST_RETRY) as h, pytest.raises(SourceError) as err:
        h.list_months(tree.collector("route-views.sg"))
    assert "failed after 3 tries (last: ConnectError" in str(err.value)
    assert url in str(err.value)


def test_a_page_that_is_not_an_index_is_an_error_naming_its_url(
    tree: ArchiveTree, tmp_path: Path
) -> None:
    small = build_archive(
        tmp_path / "root",
        collectors=("route-views.sg",),
        days=(DAY1,),
        rib_every=timedelta(hours=12),
        updates_every=timedelta(hours=12),
    )
    ribs = small.root / "route-views.sg/bgpdata/2024.01/RIBS"
    # a web server that serves a page instead of the listing (Apache's DirectoryIndex)
    (ribs / "index.html").write_text(
        textwrap.dedent("""\
        <html><head><title>RouteViews archive</title></head>
        <body><p>The archive moved.</p></body></html>
        """)
    )
    c = small.collector("route-views.sg")
    with serve_archive(small) as srv, HttpArchive(srv.url, retry=FAST_RETRY) as h:
        with pytest.raises(SourceError) as err:
            h.list_files(c, DAY1, DAY2)
        url = f"{srv.url}route-views.sg/bgpdata/2024.01/RIBS/"
        assert err.value.url == url and url in str(err.value)
        assert "not a directory listing" in str(err.value)
        with pytest.raises(SourceError, match="HTTP 404"):
            h.list_months(dataclasses.replace(c, archive_dir="route-views.nowhere/bgpdata"))
    assert len(LocalTree(small.root).list_files(c, DAY1, DAY2)) == 4  # index.html is no dump
    with pytest.raises(SourceError, match="cannot list the collector's directory"):
        LocalTree(tmp_path).list_months(c)


def test_listing_with_one_worker_or_many_gives_the_same_files(
    tree: ArchiveTree, server: ArchiveServer
) -> None:
    c = tree.collector("route-views.linx")
    with (
        HttpArchive(server.url, max_concurrency=1) as one,
        HttpArchive(server.url, max_concurrency=8) as many,
    ):
        a = one.list_files(c, DAY1 - timedelta(days=40), DAY2 + timedelta(days=40))
        b = many.list_files(c, DAY1 - timedelta(days=40), DAY2 + timedelta(days=40))
    assert a == b and len(a) == len([f for f in tree.files if f.collector == c.name])
