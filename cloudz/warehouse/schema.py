"""The routes table's schema, derived from the Avro row schema so the two can never drift.

``include/schemas/mrt_row.avsc`` is the single source of truth: the converter writes rows with
it and the BigQuery table definition (``include/schemas/routes_table.json``) is generated from it
by ``python -m cloudz.warehouse.schema --write``. A unit test fails when the generated file is
stale.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

PACKAGE_ROOT: Final = Path(__file__).resolve().parents[1]
REPO_ROOT: Final = PACKAGE_ROOT.parent
#: in a checkout (editable install) the repository's file; in an installed wheel, the copy
#: ``setup.py`` puts in the package
AVSC_PATH: Final = next(
    (
        p
        for p in (
            REPO_ROOT / "include/schemas/mrt_row.avsc",
            PACKAGE_ROOT / "schemas/mrt_row.avsc",
        )
        if p.exists()
    ),
    REPO_ROOT / "include/schemas/mrt_row.avsc",
)
TABLE_JSON_PATH: Final = REPO_ROOT / "include/schemas/routes_table.json"

#: the routes table's layout (docs/warehouse-layout.md): MONTH partitions on ``timestamp``
#: (300 for 2001-2025, far below BigQuery's 10,000 per table; DAY would reach it in 2028),
#: every query must filter ``timestamp`` (BigQuery refuses one that does not), and clustering
#: on ``timestamp`` after ``collector, entry_type`` gives a one-day query its day back by block
#: pruning within the month; ``prefix`` last prunes a prefix's history in RIB rows
PARTITION_FIELD: Final = "timestamp"
PARTITION_TYPE: Final = "MONTH"
REQUIRE_PARTITION_FILTER: Final = True
CLUSTER_FIELDS: Final = ("collector", "entry_type", "timestamp", "prefix")

_PRIMITIVES: Final = {
    "long": "INTEGER",
    "int": "INTEGER",
    "string": "STRING",
    "boolean": "BOOLEAN",
    "double": "FLOAT",
    "float": "FLOAT",
    "bytes": "BYTES",
}
_LOGICAL: Final = {"timestamp-micros": "TIMESTAMP", "timestamp-millis": "TIMESTAMP"}


@lru_cache(maxsize=1)
def _raw_schema() -> dict[str, Any]:
    with AVSC_PATH.open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


def raw_avro_schema() -> dict[str, Any]:
    """The .avsc as written (a copy: callers may not mutate the cached original)."""
    return copy.deepcopy(_raw_schema())


@lru_cache(maxsize=1)
def avro_schema() -> dict[str, Any]:
    """The row schema parsed by fastavro, ready for ``fastavro.writer`` (cached)."""
    import fastavro

    parsed = fastavro.parse_schema(raw_avro_schema())
    assert isinstance(parsed, dict)
    return parsed


def _bigquery_type(avro_type: Any) -> str:
    if isinstance(avro_type, str):
        if avro_type not in _PRIMITIVES:
            raise ValueError(f"no BigQuery type for Avro type {avro_type!r}")
        return _PRIMITIVES[avro_type]
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical in _LOGICAL:
            return _LOGICAL[logical]
        return _bigquery_type(avro_type["type"])
    raise ValueError(f"no BigQuery type for Avro type {avro_type!r}")


def _bigquery_field(field: dict[str, Any]) -> dict[str, Any]:
    """One Avro field as a BigQuery column: ``["null", T]`` is NULLABLE, an array REPEATED
    (BigQuery has no nullable arrays), a record a RECORD with its fields nested."""
    avro_type = field["type"]
    mode = "REQUIRED"
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        if len(branches) != 1 or len(avro_type) != 2:
            raise ValueError(f"field {field['name']}: only ['null', T] unions are supported")
        mode, avro_type = "NULLABLE", branches[0]
    if isinstance(avro_type, dict) and avro_type.get("type") == "array":
        mode, avro_type = "REPEATED", avro_type["items"]
    column: dict[str, Any] = {"name": field["name"]}
    if isinstance(avro_type, dict) and avro_type.get("type") == "record":
        column["type"] = "RECORD"
        column["mode"] = mode
        column["fields"] = [_bigquery_field(f) for f in avro_type["fields"]]
    else:
        column["type"] = _bigquery_type(avro_type)
        column["mode"] = mode
    column["description"] = field.get("doc", "")
    return column


def bigquery_schema_fields() -> list[dict[str, Any]]:
    """The table's columns in BigQuery API JSON form (name, type, mode, description)."""
    return [_bigquery_field(f) for f in _raw_schema()["fields"]]


def load_time_partitioning() -> dict[str, str]:
    """``time_partitioning`` of a load into the routes table, as ``GCSToBigQueryOperator``
    takes it (the load's ``timePartitioning``). BigQuery refuses a load whose partitioning
    differs from the table's; the emulator accepts it silently, so a unit test holds the two
    together."""
    return {"type": PARTITION_TYPE, "field": PARTITION_FIELD}


def load_cluster_fields() -> list[str]:
    """``cluster_fields`` of a load into the routes table (the operator's argument)."""
    return list(CLUSTER_FIELDS)


def routes_table_definition() -> dict[str, Any]:
    """The BigQuery table resource body (schema, MONTH partitioning, the required partition
    filter, clustering)."""
    return {
        "schema": {"fields": bigquery_schema_fields()},
        "timePartitioning": load_time_partitioning(),
        "requirePartitionFilter": REQUIRE_PARTITION_FILTER,
        "clustering": {"fields": load_cluster_fields()},
    }


def routes_table_resource(table_ref: str) -> dict[str, Any]:
    """The definition with its ``tableReference`` (``project.dataset.table``): what
    ``bigquery.Table.from_api_repr`` takes to create the table."""
    project, dataset, table = table_ref.split(".")
    return {
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
        **routes_table_definition(),
    }


def table_layout(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The layout of a table resource (``Table.to_api_repr()`` or the definition): partition
    type and column, whether a partition filter is required, clustering columns."""
    partitioning = resource.get("timePartitioning") or {}
    required = resource.get("requirePartitionFilter")
    if required is None:  # the older, deprecated place of the flag
        required = partitioning.get("requirePartitionFilter")
    return {
        "partition_type": partitioning.get("type"),
        "partition_field": partitioning.get("field"),
        "require_partition_filter": bool(required),
        "cluster_fields": list((resource.get("clustering") or {}).get("fields") or []),
    }


def has_routes_layout(resource: Mapping[str, Any]) -> bool:
    """Does the table (its API resource) have the layout of :func:`routes_table_definition`?"""
    return table_layout(resource) == table_layout(routes_table_definition())


def render_routes_table_json() -> str:
    """The exact text of ``routes_table.json``: stable so regenerating gives no diff."""
    return json.dumps(routes_table_definition(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m cloudz.warehouse.schema [--write | --check]``: print, write or check the JSON."""
    import argparse  # here: the converter imports this module on every file

    parser = argparse.ArgumentParser(prog="python -m cloudz.warehouse.schema", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write {TABLE_JSON_PATH.name}")
    group.add_argument("--check", action="store_true", help="exit 1 if it is out of date")
    args = parser.parse_args(argv)
    text = render_routes_table_json()
    if args.write:
        TABLE_JSON_PATH.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        current = TABLE_JSON_PATH.read_text(encoding="utf-8") if TABLE_JSON_PATH.exists() else ""
        if current != text:
            print(f"{TABLE_JSON_PATH} is stale: run python -m cloudz.warehouse.schema --write")
            return 1
        return 0
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
