"""A year of per-file runs in Airflow's metadata DB, copied from one real run by SQL.

The receiver's live path writes, per file, one ``mrt_file`` dag_run, its task instances and
their XComs (and the api-server an audit ``log`` row for the trigger). Rather than guess those
rows, the seed copies every row a real run wrote (found by its ``run_id``, or by the run's id
for XComs) ``count`` times with ``generate_series``: each column keeps the real run's value
except

- the keys: ``dag_run.id`` (its sequence), ``task_instance.id`` (a new UUID), ``run_id`` (a
  distinct id of the receiver's form ``mrt:<path>:<hash>``), ``xcom.dag_run_id`` (the new run's
  id, by join);
- the times (``queued_at``, ``start_date``, ``end_date``, ``run_after``, ``updated_at``,
  ``last_scheduling_decision``, ``timestamp``, ``dttm``, ``queued_dttm``,
  ``scheduled_dttm``): the real run's times moved back, ``per_day`` copies a day (6,300: a
  year is 2.3M), as a year of uploads would spread, each copy with the real run's durations;
- ``conf`` is kept (same size as a real file's conf).

Task instance ``id`` is a UUID (Airflow 3); PostgreSQL 13+ has ``gen_random_uuid()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

#: the columns that hold a time; a copy moves them back by its offset
TIME_COLUMNS = frozenset(
    {
        "queued_at",
        "start_date",
        "end_date",
        "run_after",
        "updated_at",
        "last_scheduling_decision",
        "timestamp",
        "dttm",
        "queued_dttm",
        "scheduled_dttm",
    }
)
#: kept by Airflow for the last few runs only (``max_num_rendered_ti_fields_per_task``)
NOT_COPIED = frozenset({"rendered_task_instance_fields"})
#: a copy's run id: the real one with its hash part replaced by the copy's number ``g``
COPY_RUN_ID = "regexp_replace({run}, ':[0-9a-f]+$', '') || ':y' || lpad(g::text, 15, '0')"
#: rows a statement inserts at most (one transaction each: progress, and bounded WAL)
BATCH = 200_000


@dataclass(frozen=True)
class TableRows:
    """How many rows of a table one real run wrote."""

    table: str
    rows: int


def _columns(cur: psycopg.Cursor[tuple[object, ...]], table: str) -> list[str]:
    cur.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s AND is_generated = 'NEVER' "
        "AND column_default IS DISTINCT FROM 'nextval(''' || table_name || '_id_seq''::regclass)' "
        "ORDER BY ordinal_position",
        (table,),
    )
    return [str(r[0]) for r in cur.fetchall()]


def _serial_id(cur: psycopg.Cursor[tuple[object, ...]], table: str) -> bool:
    cur.execute(
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s AND column_name = 'id'",
        (table,),
    )
    row = cur.fetchone()
    return bool(row and row[0] and "nextval" in str(row[0]))


def rows_of_run(conninfo: str, dag_id: str, run_id: str) -> list[TableRows]:
    """Rows the run wrote, per table that has any (by ``run_id``, XComs by the run's id)."""
    out = []
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'run_id' AND table_name NOT LIKE '\\_airflow\\_deleted%%' "
            "ORDER BY table_name"
        )
        for (table,) in cur.fetchall():
            if table in NOT_COPIED:
                continue
            cur.execute(
                f'SELECT count(*) FROM "{table}" WHERE run_id = %s AND '
                + ("dag_id = %s" if "dag_id" in _columns(cur, str(table)) else "%s IS NOT NULL"),
                (run_id, dag_id),
            )
            n = int(cur.fetchone()[0])  # type: ignore[index]
            if n:
                out.append(TableRows(str(table), n))
    return out


def _select_list(columns: list[str], overrides: dict[str, str]) -> tuple[str, str]:
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(overrides.get(c, f't."{c}"') for c in columns)
    return names, values


def seed(
    conninfo: str,
    *,
    dag_id: str,
    template_run_id: str,
    count: int,
    first: int = 1,
    per_day: float = 6_300.0,
    progress: Callable[[str], None] = print,
) -> dict[str, int]:
    """Copy every row of ``template_run_id`` as copies ``first`` .. ``first + count - 1``,
    copy ``g`` dated ``g / per_day`` days before the real run (so copies made in several
    calls continue one another); rows added per table."""
    added: dict[str, int] = {}
    step = f"(interval '1 second' * {86400.0 / per_day!r})"
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        tables = [t.table for t in rows_of_run(conninfo, dag_id, template_run_id)]
        others = [t for t in tables if t != "dag_run"]
        last = first + count - 1
        for lo in range(first, last + 1, BATCH):
            hi = min(last, lo + BATCH - 1)
            t0 = time.monotonic()
            with conn.transaction():
                new_id = COPY_RUN_ID.format(run="t.run_id")
                shift = f"({step} * g)"
                for table in ["dag_run", *others]:
                    cols = _columns(cur, table)
                    if not _serial_id(cur, table) and "id" in cols and table != "xcom":
                        overrides = {"id": "gen_random_uuid()"}
                    else:
                        overrides = {}
                    overrides["run_id"] = new_id
                    for c in cols:
                        if c in TIME_COLUMNS:
                            overrides[c] = f't."{c}" - {shift}'
                    where = "t.run_id = %(run)s" + (
                        " AND t.dag_id = %(dag)s" if "dag_id" in cols else ""
                    )
                    source = f'"{table}" t'
                    if "dag_run_id" in cols:  # xcom: the new run's numeric id, by its run id
                        overrides["dag_run_id"] = "r.id"
                        source = (
                            f'"{table}" t, generate_series(%(lo)s::int, %(hi)s::int) g '
                            "JOIN dag_run r ON r.dag_id = %(dag)s AND r.run_id = "
                            + COPY_RUN_ID.format(run="%(run)s")
                        )
                    else:
                        source += ", generate_series(%(lo)s::int, %(hi)s::int) g"
                    names, values = _select_list(cols, overrides)
                    cur.execute(
                        f'INSERT INTO "{table}" ({names}) SELECT {values} FROM {source} '
                        f"WHERE {where}",
                        {"run": template_run_id, "dag": dag_id, "lo": lo, "hi": hi},
                    )
                    added[table] = added.get(table, 0) + max(cur.rowcount, 0)
            progress(f"seeded copies {lo}..{hi} in {time.monotonic() - t0:.0f} s")
        for table in ["dag_run", *others]:
            cur.execute(f'ANALYZE "{table}"')
    return added


def table_sizes(conninfo: str, tables: list[str]) -> dict[str, dict[str, int]]:
    """Rows (estimate after ANALYZE) and bytes with indexes, per table."""
    out = {}
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for table in tables:
            cur.execute(
                "SELECT reltuples::bigint, pg_total_relation_size(oid) FROM pg_class "
                "WHERE relname = %s AND relkind = 'r'",
                (table,),
            )
            row = cur.fetchone()
            if row:
                out[table] = {"rows": int(row[0]), "bytes": int(row[1])}
    return out
