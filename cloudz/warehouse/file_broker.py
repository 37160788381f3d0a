"""Files by collector, type and time range with their URLs, as BGPKIT's broker answers.

BGPKIT and BGPStream users find MRT files through a broker: collector, data type (``rib`` or
``updates``) and a time range in, a list of files with URLs out. ``files_broker`` is a view of
the files catalog's newest row per file (``files_latest``) with the broker's item fields
(``ts_start``, ``ts_end``, ``collector_id``, ``data_type``, ``url``, ``rough_size``,
``exact_size``) plus the catalog's ``state`` and ``rows``; ``cloudz-files`` prints one search
as the broker's JSON page (``count``, ``page``, ``page_size``, ``error``, ``data``), so a
broker client can be pointed at the archive. Only archived files that loaded (``loaded`` or
``partial``) are listed.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:
    from google.cloud import bigquery

VIEW: Final = "files_broker"
PUBLIC_BASE: Final = "https://storage.googleapis.com/{bucket}/"
#: RouteViews writes an update file every 15 minutes; a RIB is one instant
UPDATES_MINUTES: Final = 15

VIEW_SQL: Final = """
SELECT
  dump_time AS ts_start,
  TIMESTAMP_ADD(dump_time, INTERVAL IF(kind = 'UPDATES', {minutes}, 0) MINUTE) AS ts_end,
  collector AS collector_id,
  IF(kind = 'RIBS', 'rib', 'updates') AS data_type,
  CONCAT('{base}', archive_path) AS url,
  size AS rough_size,
  size AS exact_size,
  month, state, rows
FROM `{files}_latest`
WHERE state IN ('loaded', 'partial')
"""


def view_ref(files_ref: str) -> str:
    return f"{files_ref.rsplit('.', 1)[0]}.{VIEW}"


def ensure_view(client: bigquery.Client, files_ref: str, bucket: str) -> None:
    from google.cloud import bigquery

    view = bigquery.Table(view_ref(files_ref))
    view.view_query = VIEW_SQL.format(
        minutes=UPDATES_MINUTES, base=PUBLIC_BASE.format(bucket=bucket), files=files_ref
    )
    client.create_table(view, exists_ok=True)


def _months(lo: dt.datetime, hi: dt.datetime) -> tuple[dt.date, dt.date]:
    """The catalog partitions (first days of months) the range can touch: a file's month is
    its name's, and an update file may end after its month ends."""
    first = dt.date(lo.year, lo.month, 1)
    return (first - dt.timedelta(days=1)).replace(day=1), dt.date(hi.year, hi.month, 1)


def search(
    client: bigquery.Client,
    files_ref: str,
    *,
    start: dt.datetime,
    end: dt.datetime,
    collector: str | None = None,
    data_type: str | None = None,
) -> dict[str, Any]:
    """Files whose time span meets [start, end], as a broker page (every match on one page)."""
    from google.cloud import bigquery

    lo_month, hi_month = _months(start, end)
    sql = (
        "SELECT ts_start, ts_end, collector_id, data_type, url, rough_size, exact_size "
        f"FROM `{view_ref(files_ref)}` WHERE month BETWEEN @lo_month AND @hi_month "
        "AND ts_end >= @start AND ts_start <= @end "
        "AND (@collector IS NULL OR collector_id = @collector) "
        "AND (@data_type IS NULL OR data_type = @data_type) "
        "ORDER BY ts_start, collector_id, data_type"
    )
    params = [
        bigquery.ScalarQueryParameter("lo_month", "DATE", lo_month),
        bigquery.ScalarQueryParameter("hi_month", "DATE", hi_month),
        bigquery.ScalarQueryParameter("start", "TIMESTAMP", start),
        bigquery.ScalarQueryParameter("end", "TIMESTAMP", end),
        bigquery.ScalarQueryParameter("collector", "STRING", collector),
        bigquery.ScalarQueryParameter("data_type", "STRING", data_type),
    ]
    rows = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))
    data = [
        {
            **r,
            "ts_start": r["ts_start"].strftime("%Y-%m-%dT%H:%M:%S"),
            "ts_end": r["ts_end"].strftime("%Y-%m-%dT%H:%M:%S"),
        }
        for r in (dict(x.items()) for x in rows.result())
    ]
    return {"count": len(data), "page": 1, "page_size": len(data), "error": None, "data": data}


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@click.command(
    help="Archived files by collector, type and time range with their public URLs, as JSON in "
    "the shape of BGPKIT's broker (count, page, page_size, error, data[ts_start, ts_end, "
    "collector_id, data_type, url, rough_size, exact_size]). Times in UTC."
)
@click.option("--start", "start", type=click.DateTime(), required=True)
@click.option("--end", "end", type=click.DateTime(), required=True)
@click.option("--collector", default=None, help="e.g. route-views2")
@click.option("--type", "data_type", type=click.Choice(["rib", "updates"]), default=None)
def main(
    start: dt.datetime, end: dt.datetime, collector: str | None, data_type: str | None
) -> None:
    from cloudz.settings import Settings
    from cloudz.warehouse.clients import bigquery_client

    settings = Settings.from_env()
    client = bigquery_client(settings)
    ensure_view(client, settings.files_ref, settings.bucket)
    page = search(
        client,
        settings.files_ref,
        start=_utc(start),
        end=_utc(end),
        collector=collector,
        data_type=data_type,
    )
    click.echo(json.dumps(page, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
