"""``cloudz-migrate-routes``: give an existing routes table the layout of
``cloudz.warehouse.schema``.

The plan of docs/warehouse-layout.md, for a table created before the layout changed (DAY
partitions, clustered on ``collector, peer_asn``):

1. create ``<table>_new`` from the generated definition (MONTH on ``timestamp``,
   ``require_partition_filter``, clustered on ``collector, entry_type, timestamp, prefix``);
2. copy month by month with ``INSERT … SELECT`` and an explicit column list (CTAS would make
   every column NULLABLE, a copy job drops the partitioning), comparing each month first:
   a month whose rows per ``source_path`` agree already is skipped, one that differs (loads
   since the last run) is deleted from the new table and copied again;
3. verify each month per file (``source_path, COUNT(*)`` old vs new, FULL JOIN), and that
   the new table holds no rows of other months;
4. rename ``<table>`` to ``<table>_day_legacy`` and ``<table>_new`` to ``<table>``. The
   load-job ledger hashes the table's name into each job id, so the new table must end up
   with the old name. The legacy table is kept, untouched: drop it by hand once satisfied.

A table of the layout that lacks columns of the current schema (the research columns of
docs/row-schema.md, computed from ``as_path``, ``aggregator`` and ``prefix``) is migrated the
same way: step 2 selects :data:`cloudz.warehouse.research_columns.EXPRESSIONS` for them.

Each run looks at which of the three tables exist and does what is left, so it can be run
again after any failure. ``--dry-run`` prints the plan and changes nothing; ``--no-rename``
stops after step 3: run it while live loads go on, then close the Airflow pool
``routes_table_writes`` and run again without it (only months loaded since are copied).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from cloudz.warehouse import schema
from cloudz.warehouse.file_rows import TimeWindow
from cloudz.warehouse.research_columns import EXPRESSIONS

if TYPE_CHECKING:
    from google.cloud import bigquery

NEW_SUFFIX = "_new"
LEGACY_SUFFIX = "_day_legacy"

#: what the run ended with
MIGRATED = "migrated"  # the table has the layout (now, or before this run)
COPIED = "copied"  # --no-rename: the new table holds every row, nothing renamed
PLANNED = "planned"  # --dry-run


#: passes over the months before the migration gives up on an old table that keeps changing
CATCH_UP_PASSES = 3
#: every time a TIMESTAMP can hold: the filter of the one query that must read every partition
ALL_TIME = TimeWindow(
    datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
)


class MigrationError(RuntimeError):
    """The tables are not in a state the migration can go on from; the message says why."""


@dataclass(frozen=True)
class Tables:
    """The three table references the migration deals with."""

    routes: str

    @property
    def new(self) -> str:
        return f"{self.routes}{NEW_SUFFIX}"

    @property
    def legacy(self) -> str:
        return f"{self.routes}{LEGACY_SUFFIX}"


@dataclass(frozen=True)
class MonthRows:
    """Rows of one month (one partition of the new table) in the old and the new table."""

    window: TimeWindow
    old: int
    new: int

    @property
    def label(self) -> str:
        return self.window.lo.strftime("%Y-%m")


@dataclass(frozen=True)
class FileMismatch:
    """A file whose rows in one month differ between the old and the new table."""

    source_path: str
    old: int
    new: int


def _table_id(ref: str) -> str:
    return ref.rsplit(".", 1)[1]


def describe(table: bigquery.Table) -> str:
    """``MONTH on timestamp, partition filter required, clustered on …``."""
    layout = schema.table_layout(table.to_api_repr())
    parts = [
        f"{layout['partition_type'] or 'not partitioned'}"
        + (f" on {layout['partition_field']}" if layout["partition_field"] else "")
    ]
    if layout["require_partition_filter"]:
        parts.append("partition filter required")
    if layout["cluster_fields"]:
        parts.append("clustered on " + ", ".join(layout["cluster_fields"]))
    return ", ".join(parts)


class Migration:
    """One run of the migration of ``table_ref`` (``project.dataset.table``)."""

    def __init__(
        self,
        client: bigquery.Client,
        table_ref: str,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.client = client
        self.tables = Tables(table_ref)
        self.echo = echo

    # --- the run ------------------------------------------------------------------------
    def run(self, *, dry_run: bool = False, rename: bool = True) -> str:
        """Do what is left of the migration (or print it with ``dry_run``); the outcome."""
        t = self.tables
        routes, new, legacy = (self._get(ref) for ref in (t.routes, t.new, t.legacy))
        if routes is not None and self._current(routes):
            if new is not None:
                raise MigrationError(
                    f"{t.routes} has the layout already and {t.new} exists too: was {t.routes} "
                    "created again between the two renames (cloudz-stack up, a load)? If it is "
                    f"empty, drop it and run again to rename {t.new}; else look at both by hand"
                )
            self.echo(f"{t.routes}: {describe(routes)}: nothing to migrate")
            if legacy is not None:
                self.echo(f"{t.legacy} keeps the rows of before: drop it once satisfied")
            return MIGRATED
        if routes is None:
            if new is not None and legacy is not None:
                return self._finish_rename(new, legacy, dry_run=dry_run)
            raise MigrationError(f"there is no table {t.routes} to migrate")
        if legacy is not None:
            raise MigrationError(
                f"{t.legacy} exists already while {t.routes} still has the old layout: "
                "rename or drop it first (the migration never overwrites a table)"
            )
        if new is not None and not self._current(new):
            raise MigrationError(
                f"{t.new} exists with another layout ({describe(new)}): drop it and run again"
            )
        return self._copy_and_rename(routes, new, dry_run=dry_run, rename=rename)

    def _copy_and_rename(
        self, routes: bigquery.Table, new: bigquery.Table | None, *, dry_run: bool, rename: bool
    ) -> str:
        t = self.tables
        columns = self._columns(routes)
        months = self.month_rows(t.routes, t.new if new is not None else None)
        self.echo(f"{t.routes}: {describe(routes)}; {sum(m.old for m in months)} rows")
        self.echo(f"{'plan' if dry_run else 'migration'}:")
        target = "exists: " + describe(new) if new is not None else "create: " + self._wanted()
        self.echo(f"  1. {t.new} ({target})")
        self.echo("  2. copy month by month (INSERT … SELECT), each month compared per file first:")
        for m in months:
            action = "copy" if m.new == 0 else ("compare" if m.new == m.old else "compare, recopy")
            self.echo(
                f"       {m.label}: {m.old} rows in the old table, {m.new} in the new: {action}"
            )
        if not months:
            self.echo("       (the table holds no rows)")
        self.echo(
            "  3. verify rows per source_path of each month, old vs new; no other months in new"
        )
        if rename:
            self.echo(
                f"  4. rename {_table_id(t.routes)} -> {_table_id(t.legacy)}, "
                f"{_table_id(t.new)} -> {_table_id(t.routes)} (no load may write meanwhile: "
                "Airflow pool routes_table_writes at 0)"
            )
        else:
            self.echo("  4. (--no-rename: nothing renamed)")
        if dry_run:
            return PLANNED

        if new is None:
            from google.cloud import bigquery

            self.client.create_table(
                bigquery.Table.from_api_repr(schema.routes_table_resource(t.new))
            )
            self.echo(f"created {t.new}")
        # copy and compare every month; then again only the months whose counts changed
        # meanwhile (loads into the old table): rename only once a pass finds none
        pending = months
        for _ in range(CATCH_UP_PASSES):
            for m in pending:
                self._copy_month(m, columns)
            months = self.month_rows(t.routes, t.new)
            pending = [m for m in months if m.old != m.new]
            if not pending:
                break
        else:
            raise MigrationError(
                f"{t.routes} got rows during each of {CATCH_UP_PASSES} passes "
                f"({', '.join(m.label for m in pending)} differ now): loads are still writing. "
                "Close the Airflow pool routes_table_writes and run again; nothing renamed"
            )
        self._check_other_months(months, t.new)
        if not rename:
            self.echo(f"{t.new} holds every row of {t.routes}; run again without --no-rename")
            return COPIED
        self._ddl(f"ALTER TABLE `{t.routes}` RENAME TO `{_table_id(t.legacy)}`")
        self.echo(f"renamed {t.routes} -> {_table_id(t.legacy)}")
        self._ddl(f"ALTER TABLE `{t.new}` RENAME TO `{_table_id(t.routes)}`")
        self.echo(f"renamed {t.new} -> {_table_id(t.routes)}: migrated")
        return MIGRATED

    def _finish_rename(self, new: bigquery.Table, legacy: bigquery.Table, *, dry_run: bool) -> str:
        """A run stopped between the two renames: check the copy, then do the second one."""
        t = self.tables
        if not self._current(new):
            raise MigrationError(f"{t.new} has another layout ({describe(new)}): look at it")
        self.echo(f"{t.routes} is missing, {t.legacy} and {t.new} exist: the second rename is left")
        self.echo(f"  verify {t.legacy} vs {t.new} per file and month, then rename {t.new}")
        if dry_run:
            return PLANNED
        months = self.month_rows(t.legacy, t.new)
        for m in months:
            mismatches = self.diff(t.legacy, t.new, m.window)
            if mismatches:
                raise MigrationError(self._mismatch_text(m, mismatches, t.legacy))
        self._check_other_months(months, t.new)
        self._ddl(f"ALTER TABLE `{t.new}` RENAME TO `{_table_id(t.routes)}`")
        self.echo(f"renamed {t.new} -> {_table_id(t.routes)}: migrated")
        return MIGRATED

    # --- the steps ----------------------------------------------------------------------
    def month_rows(self, old_ref: str, new_ref: str | None) -> list[MonthRows]:
        """Rows per month of the old table, and of the new one in those months.

        Reads only ``timestamp`` of each table; the new table's query is bounded to the old
        table's months (its partition filter).
        """
        old = {  # every time: the old table may require a partition filter too
            row["month"]: int(row["n"])
            for row in self._query(
                "SELECT TIMESTAMP_TRUNC(timestamp, MONTH) AS month, COUNT(*) AS n "
                f"FROM `{old_ref}` WHERE {ALL_TIME.where()} GROUP BY month ORDER BY month",
                ALL_TIME,
            )
        }
        if not old:
            return []
        windows = [TimeWindow.month(m.year, m.month) for m in sorted(old)]
        new: dict[Any, int] = {}
        if new_ref is not None:
            span = TimeWindow(windows[0].lo, windows[-1].hi)
            new = {
                row["month"]: int(row["n"])
                for row in self._query(
                    "SELECT TIMESTAMP_TRUNC(timestamp, MONTH) AS month, COUNT(*) AS n "
                    f"FROM `{new_ref}` WHERE {span.where()} GROUP BY month",
                    span,
                )
            }
        return [
            MonthRows(w, old[m], new.get(m, 0)) for w, m in zip(windows, sorted(old), strict=True)
        ]

    def diff(self, old_ref: str, new_ref: str, window: TimeWindow) -> list[FileMismatch]:
        """The files whose rows in ``window`` differ between the two tables."""
        sql = f"""
SELECT COALESCE(o.source_path, n.source_path) AS source_path,
       IFNULL(o.n, 0) AS old_rows, IFNULL(n.n, 0) AS new_rows
FROM (SELECT source_path, COUNT(*) AS n FROM `{old_ref}` WHERE {window.where()}
      GROUP BY source_path) AS o
FULL JOIN (SELECT source_path, COUNT(*) AS n FROM `{new_ref}` WHERE {window.where()}
           GROUP BY source_path) AS n
ON o.source_path = n.source_path
WHERE IFNULL(o.n, 0) != IFNULL(n.n, 0)
ORDER BY source_path
"""
        return [
            FileMismatch(str(r["source_path"]), int(r["old_rows"]), int(r["new_rows"]))
            for r in self._query(sql, window)
        ]

    def _copy_month(self, m: MonthRows, columns: list[tuple[str, str]]) -> None:
        t = self.tables
        if m.new:
            mismatches = self.diff(t.routes, t.new, m.window)
            if not mismatches:
                self.echo(f"{m.label}: {m.old} rows, the same per file in both: nothing to copy")
                return
            deleted = self._dml(f"DELETE FROM `{t.new}` WHERE {m.window.where()}", m.window)
            self.echo(
                f"{m.label}: {len(mismatches)} file(s) differ (rows loaded since the last run?): "
                f"deleted the month's {deleted} rows from {_table_id(t.new)}"
            )
        cols = ", ".join(f"`{c}`" for c, _ in columns)
        values = ", ".join(value for _, value in columns)
        copied = self._dml(
            f"INSERT INTO `{t.new}` ({cols}) SELECT {values} FROM `{t.routes}` "
            f"WHERE {m.window.where()}",
            m.window,
        )
        mismatches = self.diff(t.routes, t.new, m.window)
        if mismatches:
            raise MigrationError(self._mismatch_text(m, mismatches, t.routes))
        self.echo(f"{m.label}: copied {copied} rows, the same per file in both")

    def _check_other_months(self, months: list[MonthRows], new_ref: str) -> None:
        """No rows of the new table fall outside the old table's months (the comparison month
        by month does not look there). Reads ``timestamp`` of every partition of the new
        table, on purpose: hence the filter spanning every time."""
        known = {m.window.lo for m in months}
        other = {
            row["month"]: int(row["n"])
            for row in self._query(
                "SELECT TIMESTAMP_TRUNC(timestamp, MONTH) AS month, COUNT(*) AS n "
                f"FROM `{new_ref}` WHERE {ALL_TIME.where()} GROUP BY month",
                ALL_TIME,
            )
            if row["month"] not in known
        }
        if other:
            shown = ", ".join(f"{m:%Y-%m} ({n} rows)" for m, n in sorted(other.items()))
            raise MigrationError(
                f"{new_ref} holds rows of months the old table has none of: {shown}. Was the "
                "old table changed since the last run, or the new one written to? Nothing renamed"
            )
        self.echo(f"verified: {sum(m.old for m in months)} rows, the same per file and month")

    @staticmethod
    def _current(table: bigquery.Table) -> bool:
        """The layout, and every column of the current schema."""
        have = {f.name for f in table.schema}
        return schema.has_routes_layout(table.to_api_repr()) and all(
            f["name"] in have for f in schema.bigquery_schema_fields()
        )

    def _columns(self, routes: bigquery.Table) -> list[tuple[str, str]]:
        """The new table's columns the old one has or :data:`EXPRESSIONS` computes (all of
        them, unless the schema grew otherwise), each with what the copy selects; a REQUIRED
        column it lacks cannot be copied."""
        have = {f.name for f in routes.schema}
        columns = []
        for field in schema.bigquery_schema_fields():
            name = field["name"]
            if name in have:
                columns.append((name, f"`{name}`"))
            elif name in EXPRESSIONS:
                columns.append((name, f"{EXPRESSIONS[name]} AS `{name}`"))
            elif field["mode"] == "REQUIRED":
                raise MigrationError(
                    f"{self.tables.routes} has no column {field['name']}, REQUIRED in the new "
                    "table: add it to the old table first"
                )
        return columns

    # --- BigQuery -----------------------------------------------------------------------
    def _get(self, ref: str) -> bigquery.Table | None:
        from google.api_core.exceptions import NotFound

        try:
            return self.client.get_table(ref)
        except NotFound:
            return None

    def _wanted(self) -> str:
        from google.cloud import bigquery

        return describe(bigquery.Table.from_api_repr(schema.routes_table_resource(self.tables.new)))

    def _query(self, sql: str, window: TimeWindow) -> Any:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=window.query_parameters())
        return self.client.query(sql, job_config=config).result()

    def _dml(self, sql: str, window: TimeWindow) -> int:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=window.query_parameters())
        job = self.client.query(sql, job_config=config)
        job.result()
        return int(job.num_dml_affected_rows or 0)

    def _ddl(self, sql: str) -> None:
        self.client.query(sql).result()

    @staticmethod
    def _mismatch_text(m: MonthRows, mismatches: list[FileMismatch], old_ref: str) -> str:
        shown = "; ".join(f"{x.source_path}: {x.old} vs {x.new}" for x in mismatches[:10])
        more = f" (and {len(mismatches) - 10} more)" if len(mismatches) > 10 else ""
        return (
            f"{m.label}: {len(mismatches)} files have other row counts in the new table than "
            f"in {old_ref}: {shown}{more}; nothing renamed"
        )


@click.command(
    help="Give the routes table (CLOUDZ_GCP_PROJECT, CLOUDZ_DATASET, CLOUDZ_TABLE) the layout "
    "of cloudz.warehouse.schema: create <table>_new, copy and verify it month by month, "
    "rename <table> "
    "to <table>_day_legacy and <table>_new to <table>. Re-runnable: each run does what is "
    "left. docs/warehouse-layout.md."
)
@click.option("--dry-run", is_flag=True, help="print the plan, change nothing")
@click.option("--no-rename", is_flag=True, help="create, copy and verify; rename nothing")
def main(dry_run: bool, no_rename: bool) -> None:
    from google.auth.exceptions import DefaultCredentialsError

    from cloudz.settings import Settings
    from cloudz.warehouse.clients import bigquery_client

    settings = Settings.from_env()
    try:
        client = bigquery_client(settings)
    except DefaultCredentialsError as exc:
        raise click.ClickException(
            f"{exc}\nFor the local stack set BIGQUERY_EMULATOR_HOST={settings.bigquery_url}"
        ) from exc
    try:
        Migration(client, settings.table_ref, echo=click.echo).run(
            dry_run=dry_run, rename=not no_rename
        )
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(0)


if __name__ == "__main__":
    main()
