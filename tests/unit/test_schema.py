"""The Avro row schema and the BigQuery table definition derived from it."""

from __future__ import annotations

import re
from typing import Any, cast

import fastavro
import pytest

from cloudz.warehouse import schema

EXPECTED_ORDER = [
    "timestamp", "collector", "mrt_type", "entry_type", "peer_ip", "peer_asn", "prefix",
    "path_id", "as_path", "origin", "next_hop", "local_pref", "med", "atomic_aggregate",
    "aggregator", "communities", "large_communities", "extended_communities", "old_state",
    "new_state", "originated_time", "only_to_customer", "other_attributes", "source_path",
    "source_sha256", "record_index", "row_index", "as_path_asns", "origin_asns",
    "aggregator_asn", "aggregator_ip", "ip_version",
]  # fmt: skip


def test_routes_table_json_is_up_to_date() -> None:
    """Fails when mrt_row.avsc changed without ``python -m cloudz.warehouse.schema --write``."""
    assert schema.TABLE_JSON_PATH.read_text(encoding="utf-8") == schema.render_routes_table_json()
    assert schema.main(["--check"]) == 0


def test_avro_schema_shape() -> None:
    raw = schema.raw_avro_schema()
    assert (raw["namespace"], raw["name"]) == ("cloudz", "MrtRow")
    assert [f["name"] for f in raw["fields"]] == EXPECTED_ORDER
    for f in raw["fields"]:
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", f["name"])
        assert f.get("doc"), f["name"]
        if isinstance(f["type"], list):
            assert f["type"][0] == "null" and f["default"] is None, f["name"]
    parsed = schema.avro_schema()
    assert parsed["name"] == "cloudz.MrtRow"
    assert schema.avro_schema() is parsed  # cached


def test_bigquery_fields() -> None:
    fields = {f["name"]: f for f in schema.bigquery_schema_fields()}
    assert list(fields) == EXPECTED_ORDER
    assert fields["timestamp"] | {"description": ""} == {
        "name": "timestamp", "type": "TIMESTAMP", "mode": "REQUIRED", "description": ""
    }  # fmt: skip
    assert (fields["peer_asn"]["type"], fields["peer_asn"]["mode"]) == ("INTEGER", "REQUIRED")
    assert (fields["prefix"]["type"], fields["prefix"]["mode"]) == ("STRING", "NULLABLE")
    assert (fields["old_state"]["type"], fields["old_state"]["mode"]) == ("INTEGER", "NULLABLE")
    assert (fields["atomic_aggregate"]["type"], fields["atomic_aggregate"]["mode"]) == (
        "BOOLEAN",
        "REQUIRED",
    )
    assert (fields["originated_time"]["type"], fields["originated_time"]["mode"]) == (
        "TIMESTAMP",
        "NULLABLE",
    )
    for name in ("communities", "large_communities", "extended_communities"):
        assert (fields[name]["type"], fields[name]["mode"]) == ("STRING", "REPEATED")
    assert (fields["only_to_customer"]["type"], fields["only_to_customer"]["mode"]) == (
        "INTEGER",
        "NULLABLE",
    )
    for name in ("as_path_asns", "origin_asns"):
        assert (fields[name]["type"], fields[name]["mode"]) == ("INTEGER", "REPEATED")
    for name, kind in (("aggregator_asn", "INTEGER"), ("aggregator_ip", "STRING")):
        assert (fields[name]["type"], fields[name]["mode"]) == (kind, "NULLABLE")
    assert (fields["ip_version"]["type"], fields["ip_version"]["mode"]) == ("INTEGER", "NULLABLE")
    other = fields["other_attributes"]
    assert (other["type"], other["mode"]) == ("RECORD", "REPEATED")
    assert [(f["name"], f["type"], f["mode"]) for f in other["fields"]] == [
        ("type", "INTEGER", "REQUIRED"),
        ("flags", "INTEGER", "REQUIRED"),
        ("value", "BYTES", "REQUIRED"),
    ]
    assert all(f["description"] for f in fields.values())
    assert all(len(f["description"]) <= 1024 for f in fields.values())  # BigQuery's limit


def test_table_definition() -> None:
    """The layout docs/warehouse-layout.md chose: MONTH, a required partition filter, and
    clustering on (collector, entry_type, timestamp, prefix)."""
    table = schema.routes_table_definition()
    assert table["timePartitioning"] == {"type": "MONTH", "field": "timestamp"}
    assert table["requirePartitionFilter"] is True
    assert table["clustering"] == {"fields": ["collector", "entry_type", "timestamp", "prefix"]}
    names = [f["name"] for f in table["schema"]["fields"]]
    assert schema.PARTITION_FIELD in names and set(schema.CLUSTER_FIELDS) <= set(names)
    assert len(schema.CLUSTER_FIELDS) <= 4  # BigQuery's limit (the emulator accepts more)
    fields = {f["name"]: f for f in table["schema"]["fields"]}
    assert (fields["timestamp"]["type"], fields["timestamp"]["mode"]) == ("TIMESTAMP", "REQUIRED")


def test_load_config_matches_the_table_definition() -> None:
    """BigQuery refuses a load whose partitioning differs from the table's ("Incompatible
    table partitioning specification"); the emulator accepts it silently, so only this test
    can catch a load step that drifts from the table."""
    table = schema.routes_table_definition()
    assert schema.load_time_partitioning() == table["timePartitioning"]
    assert schema.load_cluster_fields() == table["clustering"]["fields"]
    # what the provider's operator sends as the load's configuration (its own code path)
    from airflow.providers.google.cloud.transfers.gcs_to_bigquery import GCSToBigQueryOperator

    cleansed = GCSToBigQueryOperator._cleanse_time_partitioning(
        cast(Any, None), "p.d.routes", schema.load_time_partitioning()
    )
    assert cleansed == table["timePartitioning"]
    # and every load into the table passes exactly these (by the source: the emulator cannot
    # tell, and running the operator needs the stack)
    loads = 0
    for path in [
        *(schema.REPO_ROOT / "cloudz").rglob("*.py"),
        *(schema.REPO_ROOT / "dags").glob("*.py"),
    ]:
        source = path.read_text(encoding="utf-8")
        for arg, helper in (
            ("time_partitioning", "schema.load_time_partitioning()"),
            ("cluster_fields", "schema.load_cluster_fields()"),
        ):
            for value in re.findall(rf"\b{arg}=([^,\n]*)", source):
                assert value == helper, f"{path}: {arg}={value}"
                loads += 1
    assert loads >= 2  # the load step's call


def test_table_layout_reads_an_api_resource() -> None:
    assert schema.has_routes_layout(schema.routes_table_resource("p.d.routes"))
    assert schema.routes_table_resource("p.d.t")["tableReference"] == {
        "projectId": "p", "datasetId": "d", "tableId": "t"
    }  # fmt: skip
    day = {
        "timePartitioning": {"type": "DAY", "field": "timestamp"},
        "clustering": {"fields": ["collector", "peer_asn"]},
    }
    assert schema.table_layout(day) == {
        "partition_type": "DAY",
        "partition_field": "timestamp",
        "require_partition_filter": False,
        "cluster_fields": ["collector", "peer_asn"],
    }
    assert not schema.has_routes_layout(day)
    # the flag's older place, inside timePartitioning, counts too
    old_style = {
        "timePartitioning": {"type": "MONTH", "field": "timestamp", "requirePartitionFilter": True},
        "clustering": {"fields": list(schema.CLUSTER_FIELDS)},
    }
    assert schema.has_routes_layout(old_style)
    assert not schema.has_routes_layout({**old_style, "requirePartitionFilter": False})


def test_the_bigquery_client_reads_the_definition() -> None:
    """The resource provision and the migration create the table from."""
    bigquery = pytest.importorskip("google.cloud.bigquery")
    table = bigquery.Table.from_api_repr(schema.routes_table_resource("p.d.routes"))
    assert (table.time_partitioning.type_, table.time_partitioning.field) == ("MONTH", "timestamp")
    assert table.require_partition_filter is True
    assert table.clustering_fields == list(schema.CLUSTER_FIELDS)
    assert schema.has_routes_layout(table.to_api_repr())


def test_bigquery_client_accepts_the_fields() -> None:
    bigquery = pytest.importorskip("google.cloud.bigquery")
    fields = [bigquery.SchemaField.from_api_repr(f) for f in schema.bigquery_schema_fields()]
    assert [f.field_type for f in fields][:2] == ["TIMESTAMP", "STRING"]
    other = next(f for f in fields if f.name == "other_attributes")
    assert (other.field_type, other.mode) == ("RECORD", "REPEATED")
    assert [(f.name, f.field_type) for f in other.fields] == [
        ("type", "INTEGER"),
        ("flags", "INTEGER"),
        ("value", "BYTES"),
    ]


def test_nested_record_and_bytes_mapping() -> None:
    """A record becomes a RECORD column with its fields nested; bytes become BYTES."""
    field = {
        "name": "r",
        "type": {
            "type": "record",
            "name": "R",
            "fields": [
                {"name": "b", "type": "bytes", "doc": "raw"},
                {"name": "n", "type": ["null", "long"], "default": None},
            ],
        },
        "doc": "d",
    }
    assert schema._bigquery_field(field) == {
        "name": "r",
        "type": "RECORD",
        "mode": "REQUIRED",
        "fields": [
            {"name": "b", "type": "BYTES", "mode": "REQUIRED", "description": "raw"},
            {"name": "n", "type": "INTEGER", "mode": "NULLABLE", "description": ""},
        ],
        "description": "d",
    }


def test_unsupported_avro_types_are_refused() -> None:
    with pytest.raises(ValueError, match="only"):
        schema._bigquery_field({"name": "x", "type": ["null", "string", "long"]})
    with pytest.raises(ValueError, match="no BigQuery type"):
        schema._bigquery_field({"name": "x", "type": {"type": "map", "values": "string"}})


def test_a_row_round_trips() -> None:
    import io

    row: dict[str, Any] = {f["name"]: None for f in schema.raw_avro_schema()["fields"]}
    row.update(
        timestamp=1_470_931_200_123_456, collector="c", mrt_type="BGP4MP", entry_type="A",
        peer_ip="192.0.2.1", peer_asn=64496, atomic_aggregate=False, communities=[],
        large_communities=[], extended_communities=[], source_path="p", source_sha256="s",
        record_index=0, row_index=0, only_to_customer=4_200_000_000,
        other_attributes=[{"type": 99, "flags": 0xF0, "value": b"\x00\xff"}],
        as_path_asns=[64496, 4_200_000_000], origin_asns=[4_200_000_000],
    )  # fmt: skip
    buf = io.BytesIO()
    fastavro.writer(buf, schema.avro_schema(), [row])
    buf.seek(0)
    (back,) = [cast(dict[str, Any], r) for r in fastavro.reader(buf)]
    assert back["timestamp"].timestamp() == pytest.approx(1_470_931_200.123456)
    assert back["other_attributes"] == [{"type": 99, "flags": 0xF0, "value": b"\x00\xff"}]
    assert back["only_to_customer"] == 4_200_000_000
    assert (back["as_path_asns"], back["origin_asns"]) == ([64496, 4_200_000_000], [4_200_000_000])
    with pytest.raises((ValueError, TypeError)):  # other_attributes is never null either
        fastavro.writer(io.BytesIO(), schema.avro_schema(), [dict(row, other_attributes=None)])
    row_without_null_arrays = dict(row, communities=None)
    with pytest.raises((ValueError, TypeError)):  # arrays are never null (BigQuery REPEATED)
        fastavro.writer(io.BytesIO(), schema.avro_schema(), [row_without_null_arrays])
