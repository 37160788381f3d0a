"""What researchers query beside the routes table, made by deploy/terraform as the code makes it
(issue 24's gap): the derived table ``prefix_origins`` with the layout of
``cloudz.warehouse.prefix_origins`` and the other tables' protection, and the views
``files_latest`` and ``files_broker`` with the code's SQL (``append_only``, ``file_broker``).
Who may read them: tests/unit/test_terraform_iam.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from terraform_hcl import TERRAFORM, resources, text

from cloudz.warehouse import file_broker, file_catalog, prefix_origins


class _Recorder:
    """Takes the tables and views the code would create; knows of none yet."""

    def __init__(self) -> None:
        self.created: list[Any] = []

    def get_table(self, ref: str) -> None:
        from google.api_core.exceptions import NotFound

        raise NotFound(ref)  # type: ignore[no-untyped-call]

    def create_table(self, table: Any, exists_ok: bool = False) -> None:
        self.created.append(table)


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, Any]]:
    return {
        name: body for (kind, name), body in resources().items() if kind == "google_bigquery_table"
    }


def test_prefix_origins_is_the_code_layout(tables: dict[str, dict[str, Any]]) -> None:
    """Terraform makes it as ``prefix_origins.ensure_table`` would, so the DAG's account only
    reads and writes it (``tables.get`` finds it)."""
    recorder = _Recorder()
    prefix_origins.ensure_table(recorder, "p.d.prefix_origins")  # type: ignore[arg-type]
    table = recorder.created[0].to_api_repr()
    body = tables["prefix_origins"]
    fields = [
        {k: f[k] for k in ("name", "type", "mode", "description")}
        for f in table["schema"]["fields"]
    ]
    assert json.loads((TERRAFORM / "schemas" / "prefix_origins.json").read_text()) == fields
    assert "schemas/prefix_origins.json" in text(body["schema"])
    assert text(body["table_id"]) == prefix_origins.TABLE
    block = body["time_partitioning"][0]
    assert {"type": text(block["type"]), "field": text(block["field"])} == table["timePartitioning"]
    assert [text(c) for c in body["clustering"]] == table["clustering"]["fields"]


def test_apply_never_drops_prefix_origins(tables: dict[str, dict[str, Any]]) -> None:
    body = tables["prefix_origins"]
    assert body["deletion_protection"] is True
    lifecycle = body["lifecycle"][0]
    assert lifecycle["prevent_destroy"] is True
    assert {"schema", "time_partitioning", "clustering"} <= set(lifecycle["ignore_changes"])


def _view_sql(name: str, **variables: str) -> str:
    """A view's SQL as Terraform's ``templatefile`` renders it with ``variables``."""
    sql = (TERRAFORM / "schemas" / f"{name}.sql").read_text()
    for key, value in variables.items():
        sql = sql.replace("${" + key + "}", value)
    assert "${" not in sql and "%{" not in sql, f"{name}.sql: a variable Terraform is not given"
    return sql.strip()


def test_the_views_are_the_codes(tables: dict[str, dict[str, Any]]) -> None:
    """files_latest (provision makes it too) and files_broker (``cloudz-files``): the SQL
    Terraform gives them is what the code creates, for the same catalog and bucket."""
    recorder = _Recorder()
    file_catalog.ensure_tables(recorder, "p.d.files")  # type: ignore[arg-type]
    (latest,) = [t for t in recorder.created if t.table_id == "files_latest"]
    file_broker.ensure_view(recorder, "p.d.files", "routeviews-archive")  # type: ignore[arg-type]
    broker = recorder.created[-1]
    assert broker.table_id == file_broker.VIEW
    assert _view_sql("files_latest", files="p.d.files") == latest.view_query.strip()
    assert (
        _view_sql("files_broker", files="p.d.files", bucket="routeviews-archive")
        == broker.view_query.strip()
    )
    for name, variables in (("files_latest", {"files"}), ("files_broker", {"files", "bucket"})):
        view = tables[name]["view"][0]
        query = text(view["query"])
        assert f"schemas/{name}.sql" in query
        for variable in variables:
            assert f"{variable} =" in query, (name, variable)
        assert view["use_legacy_sql"] is False
    assert text(tables["files_broker"]["table_id"]) == file_broker.VIEW
    assert text(tables["files_latest"]["table_id"]) == (
        "${google_bigquery_table.files.table_id}_latest"
    )


def test_a_changed_view_is_caught() -> None:
    """The comparison can fail: another bucket gives other SQL."""
    recorder = _Recorder()
    file_broker.ensure_view(recorder, "p.d.files", "another-bucket")  # type: ignore[arg-type]
    sql = _view_sql("files_broker", files="p.d.files", bucket="routeviews-archive")
    assert sql != recorder.created[-1].view_query.strip()
