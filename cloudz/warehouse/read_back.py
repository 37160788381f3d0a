"""Print how many rows of one archived file the routes table holds, by entry type.

``python -m cloudz.warehouse.read_back <archive path>``: the demo's read-back, and a
quick check an operator can run against the real warehouse too. The routes table takes no
query without a filter on ``timestamp``: the days of the file's rows come from the files
catalog (the month of the path when the catalog has no time for the file).
"""

from __future__ import annotations

import sys

import click
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import bigquery

from cloudz.settings import Settings
from cloudz.warehouse.clients import bigquery_client, count_file_rows
from cloudz.warehouse.file_rows import file_window


@click.command(help=__doc__)
@click.argument("archive_path")
def main(archive_path: str) -> None:
    settings = Settings.from_env()
    try:
        client = bigquery_client(settings)
    except DefaultCredentialsError as exc:
        raise click.ClickException(
            f"{exc}\nFor the local stack set BIGQUERY_EMULATOR_HOST=http://127.0.0.1:"
            f"{settings.bigquery_port}"
        ) from exc
    window = file_window(client, settings.files_ref, archive_path)
    total = count_file_rows(client, settings, archive_path, window)
    click.echo(f"{settings.table_ref} holds {total} rows of {archive_path}")
    job = client.query(
        f"SELECT entry_type, COUNT(*) AS n, COUNT(DISTINCT peer_ip) AS peers "
        f"FROM `{settings.table_ref}` WHERE {window.where()} AND source_path = @path "
        "GROUP BY entry_type ORDER BY entry_type",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[
                *window.query_parameters(),
                bigquery.ScalarQueryParameter("path", "STRING", archive_path),
            ]
        ),
    )
    for row in job.result():
        click.echo(f"  {row['entry_type']:<6} {row['n']:>10} rows from {row['peers']} peers")
    click.echo(f"  (rows with timestamp in {window})")
    sys.exit(0 if total else 1)


if __name__ == "__main__":
    main()
