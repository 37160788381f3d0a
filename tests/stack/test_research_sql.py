"""The migration's SQL for the research columns (``cloudz.warehouse.research_columns``) gives
what the converter writes, path shape by path shape, on the BigQuery emulator: AS_SETs,
confederation segments, and an empty AS_SET ``{}``, which holds no AS (the origin is that of
the last segment with one: ``cloudz.convert.attributes.origin_asns``; both engines write that,
tests/unit/fastmrt/test_attr_02_17_as_path.py)."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import bigquery

from cloudz.convert.attributes import (
    AS_CONFED_SEQUENCE,
    AS_CONFED_SET,
    AS_SEQUENCE,
    AS_SET,
    Segment,
    as_path_text,
    origin_asns,
    path_asns,
)
from cloudz.settings import Settings
from cloudz.warehouse.clients import bigquery_client
from cloudz.warehouse.research_columns import EXPRESSIONS

pytestmark = pytest.mark.stack

SHAPES: list[list[Segment]] = [
    [(AS_SEQUENCE, [64500, 64501])],
    [(AS_SEQUENCE, [64500]), (AS_SET, [64502, 64503])],
    [(AS_SEQUENCE, [64500, 64501]), (AS_SET, [])],
    [(AS_SEQUENCE, [64500]), (AS_SET, [64502, 64503]), (AS_SET, [])],
    [(AS_SET, [])],
    [(AS_SEQUENCE, [64500]), (AS_SET, []), (AS_SEQUENCE, [64504])],
    [(AS_CONFED_SEQUENCE, [65000]), (AS_SEQUENCE, [64500]), (AS_CONFED_SET, [65001])],
    [(AS_SEQUENCE, [64500]), (AS_SET, []), (AS_CONFED_SET, [65001])],
    [],
]


def test_the_migration_sql_equals_the_converter_on_every_path_shape(cloud: Settings) -> None:
    client = bigquery_client(cloud)
    ref = f"{cloud.gcp_project}.{cloud.dataset}.research_sql_paths"
    client.create_table(
        bigquery.Table(
            ref,
            schema=[
                bigquery.SchemaField("i", "INT64"),
                bigquery.SchemaField("as_path", "STRING"),
            ],
        ),
        exists_ok=True,
    )
    texts = [as_path_text(shape) for shape in SHAPES]
    assert "64500 64501 {}" in texts  # the shape the migration got wrong before
    values = ", ".join(f"({i}, '{text}')" for i, text in enumerate(texts))
    client.query(f"INSERT INTO `{ref}` (i, as_path) VALUES {values}").result()
    sql = (
        f"SELECT i, {EXPRESSIONS['as_path_asns']} AS as_path_asns, "
        f"{EXPRESSIONS['origin_asns']} AS origin_asns FROM `{ref}` ORDER BY i"
    )
    got: list[dict[str, Any]] = [dict(r.items()) for r in client.query(sql).result()]
    want = [
        {"i": i, "as_path_asns": path_asns(shape), "origin_asns": origin_asns(shape)}
        for i, shape in enumerate(SHAPES)
    ]
    assert [
        {**r, "as_path_asns": list(r["as_path_asns"]), "origin_asns": list(r["origin_asns"])}
        for r in got
    ] == want
