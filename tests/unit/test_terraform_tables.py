"""deploy/terraform's tables have the layouts the code creates (one source: the routes table's
from include/schemas/routes_table.json, generated from cloudz/warehouse/schema.py; the files
and coverage tables' from their modules' COLUMNS), and `terraform apply` never drops one: each
is created once, its later changes are the migration code's (ignored here), and a plan that
would replace it fails (prevent_destroy, deletion_protection)."""

from __future__ import annotations

import json
from typing import Any

import hcl2
import pytest
from terraform_hcl import TERRAFORM, resources, text

from cloudz.quarantine import audit as quarantine_audit
from cloudz.warehouse import coverage_table, file_catalog
from cloudz.warehouse import schema as routes


class _Recorder:
    """Takes what ``ensure_tables`` creates (the layout the code gives a new table)."""

    def __init__(self) -> None:
        self.created: list[Any] = []

    def create_table(self, table: Any, exists_ok: bool = False) -> None:
        self.created.append(table)


def _code_layout(ensure: Any) -> dict[str, Any]:
    recorder = _Recorder()
    ensure(recorder, "p.d.t")
    table = recorder.created[0].to_api_repr()
    return {
        "fields": [
            {k: f[k] for k in ("name", "type", "mode", "description")}
            for f in table["schema"]["fields"]
        ],
        "partition": table["timePartitioning"],
        "clustering": table["clustering"]["fields"],
    }


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, Any]]:
    return {
        name: body for (kind, name), body in resources().items() if kind == "google_bigquery_table"
    }


def _partition(body: dict[str, Any]) -> dict[str, str]:
    block = body["time_partitioning"][0]
    return {"type": text(block["type"]), "field": text(block["field"])}


def test_the_routes_table_is_the_code_layout(tables: dict[str, dict[str, Any]]) -> None:
    body = tables["routes"]
    assert text(body["schema"]) == "jsonencode(local.routes_table.schema.fields)"
    with (TERRAFORM / "bigquery.tf").open() as f:
        local = text(hcl2.load(f)["locals"][0]["routes_table"])
    assert local == 'jsondecode(file("${path.module}/../../include/schemas/routes_table.json"))'
    # what Terraform reads is the code's table, as generated now
    assert routes.TABLE_JSON_PATH.read_text() == routes.render_routes_table_json()
    definition = routes.routes_table_definition()
    assert _partition(body) == definition["timePartitioning"]
    assert [text(c) for c in body["clustering"]] == definition["clustering"]["fields"]
    assert body["require_partition_filter"] is definition["requirePartitionFilter"]


@pytest.mark.parametrize(
    ("name", "ensure"),
    [
        ("files", file_catalog.ensure_tables),
        ("coverage", coverage_table.ensure_tables),
        ("quarantine", quarantine_audit.ensure_tables),
    ],
)
def test_the_bookkeeping_tables_are_the_code_layout(
    tables: dict[str, dict[str, Any]], name: str, ensure: Any
) -> None:
    body = tables[name]
    code = _code_layout(ensure)
    assert json.loads((TERRAFORM / "schemas" / f"{name}.json").read_text()) == code["fields"], (
        f"deploy/terraform/schemas/{name}.json differs from the code's columns"
    )
    assert f"schemas/{name}.json" in text(body["schema"])
    assert _partition(body) == code["partition"]
    assert [text(c) for c in body["clustering"]] == code["clustering"]


@pytest.mark.parametrize("name", ["routes", "files", "coverage", "quarantine"])
def test_apply_never_drops_a_table(tables: dict[str, dict[str, Any]], name: str) -> None:
    body = tables[name]
    assert body["deletion_protection"] is True
    lifecycle = body["lifecycle"][0]
    assert lifecycle["prevent_destroy"] is True
    assert {"schema", "time_partitioning", "clustering"} <= set(lifecycle["ignore_changes"])


def test_the_dataset_and_the_archive_are_never_destroyed() -> None:
    found = resources()
    for key in [
        ("google_bigquery_dataset", "routeviews"),
        ("google_storage_bucket", "archive"),
        ("google_storage_bucket", "work"),
    ]:
        assert found[key]["lifecycle"][0]["prevent_destroy"] is True, key
