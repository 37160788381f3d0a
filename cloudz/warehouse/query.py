"""Run one SQL query on the warehouse and print its rows as a table (a line each, columns aligned).

``python -m cloudz.warehouse.query "SELECT …"`` (or ``-`` to read the query from stdin): how
README.md's example is run on the embedded stack, where no ``bq`` tool or console exists. It
talks to the emulator when ``BIGQUERY_EMULATOR_HOST`` is set, else to BigQuery with
Application Default Credentials, as every client of the project does.
"""

from __future__ import annotations

import sys

import click
from google.auth.exceptions import DefaultCredentialsError

from cloudz.settings import Settings
from cloudz.warehouse.clients import bigquery_client


@click.command(help=__doc__)
@click.argument("sql")
def main(sql: str) -> None:
    settings = Settings.from_env()
    if sql == "-":
        sql = sys.stdin.read()
    try:
        client = bigquery_client(settings)
    except DefaultCredentialsError as exc:
        raise click.ClickException(
            f"{exc}\nFor the local stack set BIGQUERY_EMULATOR_HOST=http://127.0.0.1:"
            f"{settings.bigquery_port}"
        ) from exc
    result = client.query(sql).result()
    lines = [[field.name for field in result.schema]]
    lines += [["" if v is None else str(v) for v in row.values()] for row in result]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
