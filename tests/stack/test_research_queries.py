"""docs/research.md's queries, read from the doc, on the emulator against a day whose answers
are planted (tests/stack/research_data.py); the derived table ``prefix_origins`` equals the
routes table's aggregation; ``cloudz-migrate-research`` fills a table loaded before the
research columns exactly as the converter writes them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from google.cloud import bigquery

from cloudz.archive.archived_file import ArchivedFile
from cloudz.convert import convert_file
from cloudz.mrtgen import write_file
from cloudz.settings import PROJECT_ROOT, Settings
from cloudz.warehouse import file_broker, file_catalog, prefix_origins, schema
from cloudz.warehouse.clients import bigquery_client, storage_client
from cloudz.warehouse.migration import MIGRATED, Migration
from cloudz.warehouse.research_columns import RESEARCH_COLUMNS
from stack import research_data as planted

pytestmark = pytest.mark.stack

DAY = dt.date(2024, 3, 10)
WINDOW = "timestamp >= TIMESTAMP '2024-03-10' AND timestamp < TIMESTAMP '2024-03-11'"


def doc_queries(doc: str = "research.md") -> dict[str, str]:
    """``<!-- query: name -->`` followed by a ```sql block, by name."""
    text = (PROJECT_ROOT / "docs" / doc).read_text()
    return dict(re.findall(r"<!-- query: (\w+) -->\n```sql\n(.*?)```", text, re.S))


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    return [dict(r.items()) for r in bigquery_client(settings).query(sql).result()]


@pytest.fixture(scope="module")
def day(cloud: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The planted day converted, loaded, catalogued and summarised into prefix_origins."""
    tmp = tmp_path_factory.mktemp("research")
    client = bigquery_client(cloud)
    config = bigquery.LoadJobConfig(
        source_format="AVRO", use_avro_logical_types=True, write_disposition="WRITE_APPEND"
    )
    for f in planted.files():
        raw, avro = tmp / "file.bz2", tmp / "file.avro"
        write_file(raw, f.records)
        report = convert_file(
            raw, avro, collector=f.collector, source_path=f.archive_path, source_sha256="0" * 64
        )
        assert report.rows == sum(r.rows for r in f.records) and not report.parse_errors
        storage_client(cloud).bucket(cloud.bucket).blob(
            f"{f.archive_path}.avro"
        ).upload_from_filename(str(avro))
        client.load_table_from_uri(
            f"gs://{cloud.bucket}/{f.archive_path}.avro", cloud.table_ref, job_config=config
        ).result()
        row = file_catalog.row_of(
            ArchivedFile.of(f.archive_path, "0" * 64, raw.stat().st_size),
            state="loaded",
            report=report.to_dict(),
        )
        file_catalog.record(client, cloud.files_ref, row, f.archive_path)
    prefix_origins.rebuild_day(client, cloud.table_ref, DAY)
    return cloud


def _run(settings: Settings, name: str) -> list[dict[str, Any]]:
    sql = doc_queries()[name]
    refs = {
        "{routes}": settings.table_ref,
        "{files_latest}": f"{settings.files_ref}_latest",
        "{prefix_origins}": prefix_origins.table_ref(settings.table_ref),
    }
    for placeholder, ref in refs.items():
        sql = sql.replace(placeholder, ref)
    return _rows(settings, sql)


def _t(hhmmss: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(planted.at(hhmmss), dt.UTC)


def test_every_query_of_the_guide_is_tested() -> None:
    assert set(doc_queries()) == {
        "prefix_history", "origin_changes", "moas", "more_specifics", "flaps", "rib_as_of",
        "upstreams", "blackholed", "prefix_year", "as_prefixes",
    }  # fmt: skip


def test_prefix_history(day: Settings) -> None:
    rib = [
        (planted.LINX, 6939, "B", [64500]),
        (planted.RV2, 1299, "B", [64500]),
        (planted.RV2, 3356, "B", [64500]),
    ]
    got = [
        (r["timestamp"], r["collector"], r["peer_asn"], r["entry_type"], r["origin_asns"])
        for r in _run(day, "prefix_history")
    ]
    assert got == [
        *((_t("12:00:00"), *x) for x in rib),
        (_t("14:07:12"), planted.RV2, 3356, "A", [64666]),
        (_t("14:07:30"), planted.LINX, 6939, "A", [64666]),
        (_t("14:52:00"), planted.RV2, 3356, "A", [64500]),
        (_t("14:52:30"), planted.LINX, 6939, "A", [64500]),
        *((_t("16:00:00"), *x) for x in rib),
    ]


def test_origin_changes_find_the_hijack_minute(day: Settings) -> None:
    got = [
        (r["timestamp"], r["collector"], r["peer_asn"], r["before"], r["after"])
        for r in _run(day, "origin_changes")
    ]
    assert got == [
        (_t("14:07:12"), planted.RV2, 3356, "[64500]", "[64666]"),
        (_t("14:07:30"), planted.LINX, 6939, "[64500]", "[64666]"),
        (_t("14:52:00"), planted.RV2, 3356, "[64666]", "[64500]"),
        (_t("14:52:30"), planted.LINX, 6939, "[64666]", "[64500]"),
    ]


def test_moas(day: Settings) -> None:
    assert [(r["prefix"], r["origins"]) for r in _run(day, "moas")] == [
        (planted.AGGREGATE, [64531, 64532]),
        (planted.MOAS, [64510, 64511]),
    ]


def test_more_specifics(day: Settings) -> None:
    assert [(r["prefix"], r["origins"], r["first_seen"]) for r in _run(day, "more_specifics")] == [
        (planted.SUBPREFIX, [64666], _t("14:07:40")),
        (planted.BLACKHOLED, [64500], _t("15:00:00")),
    ]


def test_flaps(day: Settings) -> None:
    assert _run(day, "flaps") == [
        {
            "collector": planted.RV2,
            "peer_asn": 3356,
            "prefix": planted.FLAPPING,
            "withdrawals": 11,
            "announcements": 10,
        }
    ]


def test_rib_as_of_a_time_takes_one_dump_per_collector(day: Settings) -> None:
    got = _run(day, "rib_as_of")
    assert {(r["collector"], r["dump_time"]) for r in got} == {
        (planted.RV2, _t("12:00:00")),
        (planted.LINX, _t("12:00:00")),
    }
    rv2 = [(r["prefix"], r["peer_asn"]) for r in got if r["collector"] == planted.RV2]
    assert len(rv2) == 7 and (planted.FLAPPING, 3356) in rv2
    assert len([r for r in got if r["collector"] == planted.LINX]) == 3


def test_upstreams(day: Settings) -> None:
    assert [(r["upstream"], r["routes"]) for r in _run(day, "upstreams")] == [
        (174, 3),
        (2914, 1),
        (6939, 1),
    ]


def test_blackholed(day: Settings) -> None:
    assert [
        (r["timestamp"], r["collector"], r["peer_asn"], r["prefix"], r["communities"])
        for r in _run(day, "blackholed")
    ] == [(_t("15:00:00"), planted.RV2, 3356, planted.BLACKHOLED, ["64500:666", "65535:666"])]


def test_prefix_year_from_the_derived_table(day: Settings) -> None:
    got = [(r["prefix"], r["origin_asn"], r["days"]) for r in _run(day, "prefix_year")]
    assert got == [
        (planted.VICTIM, 64500, 1),
        (planted.VICTIM, 64666, 1),
        (planted.SUBPREFIX, 64666, 1),
        (planted.BLACKHOLED, 64500, 1),
    ]


def test_as_prefixes_from_the_derived_table(day: Settings) -> None:
    got = [(r["prefix"], r["days"], r["collectors"]) for r in _run(day, "as_prefixes")]
    assert got == [(planted.V6, 1, 2), (planted.VICTIM, 1, 2), (planted.BLACKHOLED, 1, 1)]


def test_prefix_origins_equal_the_routes_table(day: Settings) -> None:
    """Every row of the derived table against the routes table's rows, recounted in Python."""
    routes = _rows(
        day,
        f"SELECT timestamp, collector, peer_ip, prefix, origin_asns, ip_version "
        f"FROM `{day.table_ref}` WHERE {WINDOW} AND entry_type IN ('A', 'B')",
    )
    want: dict[tuple[str, int], dict[str, Any]] = {}
    for r in routes:
        for origin in r["origin_asns"]:
            w = want.setdefault(
                (r["prefix"], origin), {"c": set(), "p": set(), "t": [], "v": r["ip_version"]}
            )
            w["c"].add(r["collector"])
            w["p"].add((r["collector"], r["peer_ip"]))
            w["t"].append(r["timestamp"])
    ref = prefix_origins.table_ref(day.table_ref)
    got = _rows(day, f"SELECT * FROM `{ref}` WHERE day = DATE '2024-03-10'")
    assert len(got) == len(want) == 10
    for g in got:
        w = want[g["prefix"], g["origin_asn"]]
        assert (g["day"], g["ip_version"], g["collectors"], g["peers"], g["rows"]) == (
            DAY,
            w["v"],
            len(w["c"]),
            len(w["p"]),
            len(w["t"]),
        )
        assert (g["first_seen"], g["last_seen"]) == (min(w["t"]), max(w["t"]))
    # rebuilt: the day's rows replaced, not appended
    bq = bigquery_client(day)
    prefix_origins.rebuild_day(bq, day.table_ref, DAY)
    assert _rows(day, f"SELECT COUNT(*) AS n FROM `{ref}` WHERE day = DATE '2024-03-10'") == [
        {"n": 10}
    ]


def test_the_migration_fills_an_old_table_as_the_converter_does(day: Settings) -> None:
    """A table of the layout without the research columns, holding the day's rows:
    cloudz-migrate-routes copies it into one with them, and every row then equals the
    converter's."""
    client = bigquery_client(day)
    old_ref = f"{day.table_ref.rsplit('.', 1)[0]}.routes_before_research"
    resource = schema.routes_table_resource(old_ref)
    resource["schema"]["fields"] = [
        f for f in resource["schema"]["fields"] if f["name"] not in RESEARCH_COLUMNS
    ]
    client.create_table(bigquery.Table.from_api_repr(resource))
    kept = ", ".join(f["name"] for f in resource["schema"]["fields"])
    client.query(
        f"INSERT INTO `{old_ref}` ({kept}) SELECT {kept} FROM `{day.table_ref}` WHERE {WINDOW}"
    ).result()

    lines: list[str] = []
    assert Migration(client, old_ref, echo=lines.append).run() == MIGRATED
    assert f"{old_ref}_new" in lines[2]  # "1. <table>_new (create: …)"
    assert RESEARCH_COLUMNS[0] in {f.name for f in client.get_table(old_ref).schema}
    columns = ", ".join(("source_path", "row_index", *RESEARCH_COLUMNS))
    order = "ORDER BY source_path, row_index"
    want = _rows(day, f"SELECT {columns} FROM `{day.table_ref}` WHERE {WINDOW} {order}")
    assert any(r["origin_asns"] for r in want) and len(want) == 48
    assert _rows(day, f"SELECT {columns} FROM `{old_ref}` WHERE {WINDOW} {order}") == want
    assert Migration(client, old_ref, echo=lines.append).run() == MIGRATED
    assert lines[-1].endswith("nothing to migrate") or "nothing to migrate" in lines[-2]


def test_files_like_a_broker(day: Settings) -> None:
    """The files_broker view and its search: BGPKIT broker items with public URLs."""
    client = bigquery_client(day)
    file_broker.ensure_view(client, day.files_ref, day.bucket)
    page = file_broker.search(
        client,
        day.files_ref,
        start=_t("11:00:00"),
        end=_t("13:00:00"),
        collector=planted.RV2,
        data_type="rib",
    )
    (item,) = page["data"]
    assert page["count"] == 1 and page["error"] is None
    path = f"{planted.RV2}/bgpdata/2024.03/RIBS/rib.20240310.1200.bz2"
    assert item["url"] == f"https://storage.googleapis.com/{day.bucket}/{path}"
    assert (item["ts_start"], item["ts_end"], item["data_type"]) == (
        "2024-03-10T12:00:00",
        "2024-03-10T12:00:00",
        "rib",
    )
    assert item["exact_size"] > 0
    updates = file_broker.search(client, day.files_ref, start=_t("14:10:00"), end=_t("14:12:00"))
    assert [(d["collector_id"], d["data_type"], d["ts_end"]) for d in updates["data"]] == [
        (planted.LINX, "updates", "2024-03-10T14:15:00"),
        (planted.RV2, "updates", "2024-03-10T14:15:00"),
    ]
