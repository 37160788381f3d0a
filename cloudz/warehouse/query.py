"""Run one SQL query on the warehouse and print its rows as a table (a line each, columns aligned).

``python -m cloudz.warehouse.query "SELECT …"`` (or ``-`` to read the query from stdin): how
README.md's example is run on the embedded stack, where no ``bq`` tool or console exists. It
talks to the emulator when ``BIGQUERY_EMULATOR_HOST`` is set, else to BigQuery with
Application Default Credentials, as every client of the project does.

Before it runs, it prints (on stderr) what the query will bill: BigQuery's dry run, or on the
emulator the layout's arithmetic (:mod:`cloudz.warehouse.query_bytes`); and every query carries
``maximum_bytes_billed`` (``--max-bytes``, default 16 GiB = $0.10), so BigQuery fails a query
that would bill more instead of running it. ``--dry-run`` stops after the estimate.
"""

from __future__ import annotations

import sys

import click
from google.auth.exceptions import DefaultCredentialsError

from cloudz.settings import Settings
from cloudz.warehouse.clients import bigquery_client
from cloudz.warehouse.query_bytes import DEFAULT_MAX_BYTES, capped, estimate


@click.command(help=__doc__)
@click.argument("sql")
@click.option("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, show_default=True,
              help="maximum_bytes_billed: BigQuery refuses to bill more")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="print the bytes the query would bill; run nothing")
def main(sql: str, max_bytes: int, dry_run: bool) -> None:
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
    click.echo(f"bills {estimate(client, sql)}; maximum_bytes_billed {max_bytes:,}", err=True)
    if dry_run:
        return
    result = client.query(sql, job_config=capped(max_bytes)).result()
    lines = [[field.name for field in result.schema]]
    lines += [["" if v is None else str(v) for v in row.values()] for row in result]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
