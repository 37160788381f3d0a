"""The research columns (origin_asns, as_path_asns, aggregator_asn/ip, ip_version) equal what
``bgpdump -m`` prints, read from its text, on the real samples; both engines write them alike
(test_fast_convert compares every column); the SQL the migration uses gives the same values
(tests/stack/test_research_queries.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest
from bgpdump import BGPDUMP, SKIP_REASON, bgpdump_rows

from cloudz.convert import convert_file
from cloudz.convert.attributes import AS_CONFED_SET, AS_SEQUENCE, AS_SET, origin_asns, path_asns
from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.settings import PROJECT_ROOT

SAMPLES = PROJECT_ROOT.parent / "shared" / "mrt-samples"
#: samples where bgpdump's aggregator differs from ours by design (docs/row-schema.md)
AGGREGATOR_DIFFERS = {"openbgpd_rib_table"}


def research_of_text(as_path: str, aggregator: str, prefix: str) -> dict[str, Any]:
    """The research columns from bgpdump's text: confederation segments and empty AS_SETs
    (``{}``) dropped, a trailing ``{…}`` gives its members as origins, else the last number."""
    path = re.sub(r"\([^)]*\)|\[[^\]]*\]|\{\}", "", as_path).strip()
    if path.endswith("}"):
        origins = [int(a) for a in re.findall(r"[0-9]+", path[path.rindex("{") :])]
    else:
        origins = [int(a) for a in re.findall(r"([0-9]+)$", path)]
    asn, _, ip = aggregator.partition(" ")
    return {
        "as_path_asns": [int(a) for a in re.findall(r"[0-9]+", path)],
        "origin_asns": origins,
        "aggregator_asn": int(asn) if asn else None,
        "aggregator_ip": ip or None,
        "ip_version": 6 if ":" in prefix else 4,
    }


def _samples(tmp: Path) -> list[Path]:
    """The real samples, and a generated update file (AS_SETs, confederations, AS4_PATH and
    AS4_AGGREGATOR merges, which the samples lack)."""
    generated = tmp / "generated.bz2"
    write_file(generated, generate_updates(UpdatesSpec(rows=3000, seed=24)))
    real = sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.name != "README.md")
    return [*real, generated]


@pytest.mark.skipif(BGPDUMP is None, reason=SKIP_REASON)
@pytest.mark.parametrize("engine", ["fast", "python"])
def test_research_columns_equal_bgpdump_on_the_samples(tmp_path: Path, engine: str) -> None:
    compared = sets = aggregators = 0
    for sample in _samples(tmp_path):
        out = tmp_path / f"{sample.name}.avro"
        convert_file(
            sample,
            out,
            collector="c",
            source_path=f"c/{sample.name}",
            source_sha256="0" * 64,
            engine=engine,  # type: ignore[arg-type]
            time_window=None,
        )
        with out.open("rb") as f:
            rows = [cast(dict[str, Any], r) for r in fastavro.reader(f)]
        ours = [r for r in rows if r["entry_type"] in ("A", "B")]
        theirs = [d for d in bgpdump_rows(sample) if d["entry_type"] in ("A", "B")]
        pairs = [(o, t) for o, t in zip(ours, theirs, strict=False) if o["prefix"] == t["prefix"]]
        if len(ours) == len(theirs):
            assert len(pairs) >= len(ours) - 50, sample.name  # IPv6 text aside, aligned
        for o, t in pairs:
            want = research_of_text(t["as_path"], t["aggregator"], t["prefix"])
            if sample.name in AGGREGATOR_DIFFERS:
                want.update(aggregator_asn=o["aggregator_asn"], aggregator_ip=o["aggregator_ip"])
            got = {k: o[k] for k in want}
            assert got == want, (sample.name, t)
            compared += 1
            sets += "{" in t["as_path"]
            aggregators += o["aggregator_asn"] is not None
    assert compared > 50_000 and sets and aggregators  # AS_SETs and aggregators among them


def test_origin_of_each_path_shape() -> None:
    seq = [(AS_SEQUENCE, [1, 2, 3])]
    assert (path_asns(seq), origin_asns(seq)) == ([1, 2, 3], [3])
    with_set = [(AS_SEQUENCE, [1, 2]), (AS_SET, [5, 4])]
    assert (path_asns(with_set), origin_asns(with_set)) == ([1, 2, 5, 4], [5, 4])
    confed = [(AS_CONFED_SET, [9]), (AS_SEQUENCE, [1]), (AS_CONFED_SET, [7, 8])]
    assert (path_asns(confed), origin_asns(confed)) == ([1], [1])
    assert (path_asns([]), origin_asns([(AS_SEQUENCE, [])])) == ([], [])


def test_duckdb_reads_the_research_columns_of_a_deflate_file(tmp_path: Path) -> None:
    """docs/access.md's DuckDB query: the arrays and ip_version as DuckDB reads them from the
    converter's deflate Avro (the avro extension from its wheel, no download)."""
    duckdb = pytest.importorskip("duckdb")
    ext = pytest.importorskip("duckdb_extension_avro")
    raw, avro = tmp_path / "u.bz2", tmp_path / "rows.avro"
    write_file(raw, generate_updates(UpdatesSpec(rows=500, seed=7)))
    convert_file(  # the reference engine writes deflate blocks, as cloudz-convert by default
        raw,
        avro,
        collector="c",
        source_path="c/u",
        source_sha256="0" * 64,
        engine="python",
        time_window=None,
    )
    with avro.open("rb") as f:
        want = sorted(
            (r["prefix"], r["origin_asns"])
            for r in (cast(dict[str, Any], x) for x in fastavro.reader(f))
            if r["ip_version"] == 6
        )
    path = next(Path(ext.__file__).parent.glob("extensions/*/avro.duckdb_extension"))
    con = duckdb.connect()
    con.execute(f"LOAD '{path}'")
    got = con.execute(
        f"SELECT prefix, origin_asns FROM read_avro('{avro}') WHERE ip_version = 6"
    ).fetchall()
    assert want and sorted((p, list(o)) for p, o in got) == want
