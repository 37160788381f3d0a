"""``prefix_origins``: one row per day, prefix and origin AS, derived from the routes table.

"Prefix P and its more-specifics over a year, every collector" and "which prefixes did AS X
originate in a month" read a year or a month of the routes table (~$28, ~$20 at 25 years:
docs/research.md); this table answers them for cents. Each day is built once its files are
loaded, by :func:`rebuild_day`: a DELETE of the day's rows and one ``INSERT … SELECT`` of the
day's ``A`` and ``B`` rows grouped by (prefix, origin). So a day can be rebuilt after a late
file or a repair, and the table needs no other DML (two statements a day, far from BigQuery's
20 queued mutating statements per table). MONTH partitions on ``day`` (10,000 partitions hold
800 years), clustered on ``prefix, origin_asn``.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Final

import click

if TYPE_CHECKING:
    from google.cloud import bigquery

TABLE: Final = "prefix_origins"

#: (name, type, mode, description)
COLUMNS: Final = (
    ("day", "DATE", "REQUIRED", "UTC day of the routes table's rows: the partition (MONTH)"),
    ("prefix", "STRING", "REQUIRED", "the prefix, as in the routes table"),
    ("origin_asn", "INT64", "REQUIRED", "one of the rows' origin_asns (an AS_SET's members each)"),
    ("ip_version", "INT64", "REQUIRED", "4 or 6"),
    ("collectors", "INT64", "REQUIRED", "collectors that saw the pair that day"),
    ("peers", "INT64", "REQUIRED", "distinct (collector, peer address) that saw it"),
    ("first_seen", "TIMESTAMP", "REQUIRED", "first A or B row of the pair that day"),
    ("last_seen", "TIMESTAMP", "REQUIRED", "last A or B row of the pair that day"),
    ("rows", "INT64", "REQUIRED", "A and B rows of the pair that day"),
)

#: the day's pairs from the routes table: what the table holds for that day, exactly
DAY_SELECT: Final = """
SELECT DATE(timestamp) AS day, prefix, origin_asn, ANY_VALUE(ip_version) AS ip_version,
       COUNT(DISTINCT collector) AS collectors,
       COUNT(DISTINCT CONCAT(collector, ' ', peer_ip)) AS peers,
       MIN(timestamp) AS first_seen, MAX(timestamp) AS last_seen, COUNT(*) AS rows
FROM `{routes}`, UNNEST(origin_asns) AS origin_asn
WHERE timestamp >= @lo AND timestamp < @hi AND entry_type IN ('A', 'B')
GROUP BY day, prefix, origin_asn
"""


def table_ref(routes_ref: str) -> str:
    """The derived table beside the routes table ``project.dataset.routes``."""
    return f"{routes_ref.rsplit('.', 1)[0]}.{TABLE}"


def ensure_table(client: bigquery.Client, ref: str) -> None:
    """Create the table if it is missing: a deployment creates it beforehand, and reading it
    first needs only ``bigquery.tables.get``, not ``tables.create``."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    try:
        client.get_table(ref)
        return
    except NotFound:
        pass

    table = bigquery.Table(
        ref,
        schema=[
            bigquery.SchemaField(name, kind, mode=mode, description=description)
            for name, kind, mode, description in COLUMNS
        ],
    )
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.MONTH, field="day"
    )
    table.clustering_fields = ["prefix", "origin_asn"]
    client.create_table(table, exists_ok=True)


def _day_parameters(day: dt.date) -> list[bigquery.ScalarQueryParameter]:
    from google.cloud import bigquery

    lo = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return [
        bigquery.ScalarQueryParameter("lo", "TIMESTAMP", lo),
        bigquery.ScalarQueryParameter("hi", "TIMESTAMP", lo + dt.timedelta(days=1)),
        bigquery.ScalarQueryParameter("day", "DATE", day),
    ]


def rebuild_day(client: bigquery.Client, routes_ref: str, day: dt.date) -> int:
    """Replace ``day``'s rows with those the routes table gives now; the rows written."""
    from google.cloud import bigquery

    ref = table_ref(routes_ref)
    ensure_table(client, ref)
    config = bigquery.QueryJobConfig(query_parameters=_day_parameters(day))
    client.query(f"DELETE FROM `{ref}` WHERE day = @day", job_config=config).result()
    columns = ", ".join(name for name, *_ in COLUMNS)
    job = client.query(
        f"INSERT INTO `{ref}` ({columns}) {DAY_SELECT.format(routes=routes_ref)}",
        job_config=config,
    )
    job.result()
    return int(job.num_dml_affected_rows or 0)


@click.command(
    help="Rebuild the prefix_origins rows of each day from --day to --to (inclusive) from the "
    "routes table (CLOUDZ_GCP_PROJECT, CLOUDZ_DATASET, CLOUDZ_TABLE): run once the days' files "
    "are loaded. docs/research.md."
)
@click.option("--day", "first", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), default=None)
def main(first: dt.datetime, last: dt.datetime | None) -> None:
    from cloudz.settings import Settings
    from cloudz.warehouse.clients import bigquery_client

    settings = Settings.from_env()
    client = bigquery_client(settings)
    day, end = first.date(), (last or first).date()
    while day <= end:
        n = rebuild_day(client, settings.table_ref, day)
        click.echo(f"{day}: {n} (prefix, origin) rows")
        day += dt.timedelta(days=1)
    sys.exit(0)


if __name__ == "__main__":
    main()
