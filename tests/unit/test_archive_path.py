"""Archive paths: RouteViews' layout is accepted, anything hostile is refused."""

from __future__ import annotations

import pytest

from cloudz.archive import paths

GOOD = "route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2"


def test_parse_reads_the_layout() -> None:
    p = paths.parse(GOOD)
    assert (p.collector, p.year, p.month, p.kind, p.name) == (
        "route-views2",
        2024,
        1,
        "RIBS",
        "rib.20240101.0000.bz2",
    )
    assert p.avro_path == GOOD + ".avro"


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "/route-views2/bgpdata/2024.01/RIBS/rib.bz2",
        "route-views2/bgpdata/2024.01/RIBS/../../../../etc/passwd",
        "route-views2/bgpdata/2024.01/RIBS/./rib.bz2",
        "route-views2//bgpdata/2024.01/RIBS/rib.bz2",
        "route-views2/bgpdata/2024.01/RIBS/rib\x00.bz2",
        "route-views2/bgpdata/2024.01/RIBS/rib\n.bz2",
        "route-views2\\bgpdata\\2024.01\\RIBS\\rib.bz2",
        "route-views2/bgpdata/2024.13/RIBS/rib.bz2",
        "route-views2/bgpdata/2024.01/OTHER/rib.bz2",
        "route-views2/bgpdata/2024.01/RIBS/.hidden",
        "route-views2/bgpdata/2024.01/RIBS/sub/rib.bz2",
        "route-views2/bgpdata/2024.01/RIBS/rib~1.bz2",
        "_incoming/bgpdata/2024.01/RIBS/rib.bz2",
        "route-views2/bgpdata/2024.01/RIBS/" + "a" * 300,
        # where the converted rows of rib.bz2 live: must never be an archived file itself
        "route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2.avro",
        # Unicode digits: Python's \d takes them, Airflow's run ids do not
        "route-views2/bgpdata/\uff12\uff10\uff12\uff16.\uff11\uff11/RIBS/rib.bz2",
        "route-views2/bgpdata/2026.\u0661\u0661/RIBS/rib.bz2",
        "route-views2/bgpdata/2026.11/RIBS/r\u00efb.bz2",
        # a trailing newline: "$" would have matched before it
        "route-views2/bgpdata/2024.01/RIBS/rib.bz2\n",
        # '..' inside a segment: Airflow refuses it in a run id, the run would never start
        "route-views2/bgpdata/2026.12/UPDATES/updates.20261207..0000.bz2",
        "route-views..2/bgpdata/2026.12/UPDATES/updates.20261207.0000.bz2",
    ],
)
def test_parse_refuses_hostile_paths(hostile: str) -> None:
    with pytest.raises(paths.ArchivePathError):
        paths.parse(hostile)


def test_from_local_file_uses_the_segment_before_bgpdata() -> None:
    local = "/srv/mirror/route-views.sg/bgpdata/2024.05/UPDATES/updates.20240501.0015.bz2"
    assert paths.from_local_file(local).path == (
        "route-views.sg/bgpdata/2024.05/UPDATES/updates.20240501.0015.bz2"
    )


def test_from_local_file_without_layout_asks_for_a_path() -> None:
    with pytest.raises(paths.ArchivePathError, match="give the archive path"):
        paths.from_local_file("/tmp/rib.20240101.0000.bz2")


def test_run_id_is_stable_valid_for_airflow_and_tells_versions_apart() -> None:
    p = paths.parse(GOOD)
    a = paths.run_id(p, "a" * 64)
    assert a == paths.run_id(p, "A" * 64)
    assert a != paths.run_id(p, "b" * 64)
    assert "/" not in a
    import re

    assert re.fullmatch(r"[A-Za-z0-9_.~:+-]+", a)
    assert len(a) <= 250


def test_check_sha256() -> None:
    assert paths.check_sha256("AB" * 32) == "ab" * 32
    for bad in ("", "ab" * 31, "zz" * 32, "ab" * 33, "\uff10" * 64):
        with pytest.raises(ValueError, match="not a sha256"):
            paths.check_sha256(bad)
    for padded in ("ab" * 32 + "\n", " " + "ab" * 32, "ab" * 32 + " "):
        with pytest.raises(ValueError, match="whitespace"):
            paths.check_sha256(padded)


def _airflow_accepts(run_id: str) -> bool:
    """Airflow's own check of a run id (``DagRun.validate_run_id``), with its default config."""
    from airflow.models.dagrun import DagRun

    try:
        DagRun.validate_run_id(DagRun(), "run_id", run_id)
    except ValueError:
        return False
    return True


#: every ASCII character and a few of each non-ASCII class (digits, letters, spaces, marks)
CHARACTERS = [chr(c) for c in range(128)] + list("\uff12\u0661\u00ef\u00a0\u2028\u0301\ufeff")


def test_every_accepted_path_is_a_valid_airflow_run_id() -> None:
    """The grammar and Airflow agree on every character, alone or doubled, in every segment
    that takes free text, so no archived file is stuck without a run."""
    templates = [
        "rv{c}2/bgpdata/2026.11/UPDATES/updates.20261101.0000.gz",
        "rv2/bgpdata/2026.11/UPDATES/updates{c}20261101.0000.gz",
        "rv2/bgpdata/2026.11/RIBS/rib.20261101{c}.bz2",
        "rv2/bgpdata/2026.11/RIBS/{c}rib.bz2",
    ]
    accepted = 0
    for c in CHARACTERS:
        for text in (c, c + c):
            for template in templates:
                candidate = template.format(c=text)
                try:
                    parsed = paths.parse(candidate)
                except paths.ArchivePathError:
                    continue
                accepted += 1
                run = paths.run_id(parsed, "ab" * 32)
                assert _airflow_accepts(run), (candidate, run)
    assert accepted > 100  # letters, digits, '.', '_', '-' pass; the check is not vacuous
    assert not _airflow_accepts("mrt:a..b:0")  # and Airflow's check does refuse


def test_avro_parts_are_named_next_to_the_raw_object_and_one_wildcard_names_them_all() -> None:
    p = paths.parse(GOOD)
    assert p.avro_part_path(0) == p.avro_path == GOOD + ".avro"  # one part: as before parts
    assert p.avro_part_path(1) == GOOD + ".avro-0001.avro"
    assert p.avro_part_path(12) == GOOD + ".avro-0012.avro"
    assert p.avro_part_path(12345) == GOOD + ".avro-12345.avro"
    assert p.avro_pattern == GOOD + ".avro*"
    assert paths.avro_source_uri("b", GOOD) == f"gs://b/{GOOD}.avro*"
    assert paths.avro_source_uris("b", GOOD) == {f"gs://b/{GOOD}.avro*", f"gs://b/{GOOD}.avro"}
    import fnmatch

    for n in (0, 1, 9999, 10000):
        assert fnmatch.fnmatchcase(p.avro_part_path(n), p.avro_pattern)
    assert not fnmatch.fnmatchcase(GOOD, p.avro_pattern)
    with pytest.raises(ValueError):
        p.avro_part_path(-1)


@pytest.mark.parametrize(
    ("name", "source"),
    [
        (GOOD + ".avro", (GOOD, 0)),
        (GOOD + ".avro-0001.avro", (GOOD, 1)),
        (GOOD + ".avro-0420.avro", (GOOD, 420)),
        (GOOD + ".avro-12345.avro", (GOOD, 12345)),
        # no names the conversion writes
        (GOOD, None),
        (GOOD + ".avro-0000.avro", None),
        (GOOD + ".avro-001.avro", None),
        (GOOD + ".avro-00001.avro", None),
        (GOOD + ".avro-0001", None),
        (GOOD + ".avro.avro", None),
        (GOOD + ".avro-0001.avro-0002.avro", None),
        (GOOD + ".avrox", None),
        (GOOD + ".avro-x.avro", None),
    ],
)
def test_a_part_name_maps_back_to_its_raw_archive_path(
    name: str, source: tuple[str, int] | None
) -> None:
    assert paths.derived_source(name) == source
    if source is not None:
        assert paths.avro_part_name(*source) == name


@pytest.mark.parametrize(
    ("uri", "source"),
    [
        (f"gs://b/{GOOD}.avro*", ("b", GOOD)),
        (f"gs://b/{GOOD}.avro", ("b", GOOD)),  # a load job of an older run
        (f"gs://b/{GOOD}.avro-0001.avro", None),  # one part is not the file's rows
        (f"gs://b/{GOOD}*", None),
        (f"gs://b/{GOOD}", None),
        (f"/local/{GOOD}.avro", None),
    ],
)
def test_a_load_source_uri_names_one_files_rows(uri: str, source: tuple[str, str] | None) -> None:
    assert paths.source_of_uri(uri) == source


@pytest.mark.parametrize(
    "name",
    ["rib.20240101.0000.bz2.avrox", "rib.20240101.0000.bz2.avro-0001.avro", "rib.avro.bz2",
     "rib.20240101.0000.bz2.AVRO-1"],
)  # fmt: skip
def test_no_archive_name_holds_avro_so_no_file_is_under_anothers_wildcard(name: str) -> None:
    with pytest.raises(paths.ArchivePathError, match="avro"):
        paths.parse(f"route-views2/bgpdata/2024.01/RIBS/{name}")
