"""Rows per file in the routes table: the check that every file's rows are there, once.

One grouped query over a time window (the partition column's filter) for every file of a run,
either by the prefix its archive paths share or by its collectors.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cloudz.settings import Settings


@dataclass(frozen=True)
class FileRows:
    """``COUNT(*)``, ``COUNT(DISTINCT row_index)`` and the row_index range of one file."""

    count: int
    distinct_row_index: int
    min_row_index: int
    max_row_index: int


def rows_per_file(
    settings: Settings,
    lo: dt.datetime,
    hi: dt.datetime,
    *,
    prefix: str | None = None,
    collectors: Sequence[str] | None = None,
) -> dict[str, FileRows]:
    """Per ``source_path`` with rows in ``lo <= timestamp < hi``: its counts; only paths that
    start with ``prefix`` and rows of ``collectors``, when given."""
    os.environ.setdefault("BIGQUERY_EMULATOR_HOST", settings.bigquery_url)
    from google.cloud import bigquery

    from cloudz.warehouse.clients import bigquery_client
    from cloudz.warehouse.file_rows import TimeWindow

    window = TimeWindow(lo, hi)
    where = [window.where()]
    params: list[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter] = [
        *window.query_parameters()
    ]
    if prefix is not None:
        where.append("STARTS_WITH(source_path, @prefix)")
        params.append(bigquery.ScalarQueryParameter("prefix", "STRING", prefix))
    if collectors is not None:
        where.append("collector IN UNNEST(@collectors)")
        params.append(bigquery.ArrayQueryParameter("collectors", "STRING", list(collectors)))
    job = bigquery_client(settings).query(
        "SELECT source_path, COUNT(*) AS n, COUNT(DISTINCT row_index) AS d, "
        f"MIN(row_index) AS lo, MAX(row_index) AS hi FROM `{settings.table_ref}` "
        f"WHERE {' AND '.join(where)} GROUP BY source_path",
        job_config=bigquery.QueryJobConfig(query_parameters=params),
    )
    return {
        str(row["source_path"]): FileRows(
            int(row["n"]), int(row["d"]), int(row["lo"]), int(row["hi"])
        )
        for row in job.result()
    }
