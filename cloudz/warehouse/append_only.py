"""The warehouse's append-only bookkeeping tables (files catalog, coverage), made one way.

Each is MONTH-partitioned on a DATE column (a table holds at most 10,000 partitions, so
days of 25 years would not fit), clustered for its queries, written by streaming insert with
an ``insertId`` per row (BigQuery drops a resent copy), never updated, and has a ``_latest``
view that keeps the newest row of each key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import bigquery

#: rows per streaming request (BigQuery's recommended batch)
BATCH = 500

LATEST_VIEW_SQL = """
SELECT * EXCEPT (newest)
FROM (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY {key} ORDER BY {order} DESC) = 1 AS newest
  FROM `{table}`
)
WHERE newest
"""


def ensure(
    client: bigquery.Client,
    table_ref: str,
    columns: Sequence[tuple[str, str, str, str]],
    *,
    partition_field: str,
    clustering: list[str],
    key: str,
    order: str,
) -> None:
    """Create the table (columns: name, type, mode, description) and its ``_latest`` view,
    which keeps the row with the greatest ``order`` per ``key`` (SQL column lists)."""
    from google.cloud import bigquery

    table = bigquery.Table(
        table_ref,
        schema=[
            bigquery.SchemaField(name, kind, mode=mode, description=description)
            for name, kind, mode, description in columns
        ],
    )
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.MONTH, field=partition_field
    )
    table.clustering_fields = clustering
    client.create_table(table, exists_ok=True)
    view = bigquery.Table(f"{table_ref}_latest")
    view.view_query = LATEST_VIEW_SQL.format(key=key, order=order, table=table_ref)
    client.create_table(view, exists_ok=True)


def append(
    client: bigquery.Client,
    table_ref: str,
    rows: Sequence[dict[str, Any]],
    row_ids: Sequence[str],
) -> None:
    """Stream ``rows`` in batches; ``row_ids`` let BigQuery drop a resent row."""
    for i in range(0, len(rows), BATCH):
        errors = client.insert_rows_json(
            table_ref, list(rows[i : i + BATCH]), row_ids=list(row_ids[i : i + BATCH])
        )
        if errors:
            raise RuntimeError(f"{table_ref} refused rows: {errors[:3]}")
