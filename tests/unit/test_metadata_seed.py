"""``bench/harness/metadata_seed.py``: the bulk seed (indexes and foreign keys set aside, then
recreated) writes the same rows as the plain one and leaves the tables as they were, also
when the copy fails. On a PostgreSQL of its own (the stack's binaries) with tables shaped like
Airflow's: serial and UUID keys, a unique run id, foreign keys with cascades, partial indexes."""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

from free_ports import free_ports  # noqa: E402
from harness import metadata_seed  # noqa: E402

from cloudz.settings import Settings  # noqa: E402
from cloudz.stack import postgres  # noqa: E402
from cloudz.stack.layout import Layout  # noqa: E402

DAG = "mrt_file"
TEMPLATE = "mrt:c~bgpdata~2026.12~UPDATES~updates.20261207.1900.gz:3fbc05ed5221d8e7"
TABLES = ["dag_run", "log", "task_instance", "xcom"]
SCHEMA = """
CREATE TABLE dag_run (
  id serial PRIMARY KEY, dag_id varchar(250) NOT NULL, run_id varchar(250) NOT NULL,
  state varchar(50), start_date timestamptz, end_date timestamptz, run_after timestamptz,
  conf jsonb, CONSTRAINT dag_run_dag_id_run_id_key UNIQUE (dag_id, run_id));
CREATE INDEX idx_dag_run_run_after ON dag_run (run_after);
CREATE INDEX idx_dag_run_running_dags ON dag_run (state, dag_id) WHERE state = 'running';
CREATE TABLE task_instance (
  id uuid PRIMARY KEY, task_id varchar(250) NOT NULL, dag_id varchar(250) NOT NULL,
  run_id varchar(250) NOT NULL, map_index integer NOT NULL DEFAULT -1, state varchar(20),
  start_date timestamptz, end_date timestamptz,
  CONSTRAINT task_instance_composite_key UNIQUE (dag_id, task_id, run_id, map_index),
  CONSTRAINT task_instance_dag_run_fkey FOREIGN KEY (dag_id, run_id)
    REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE);
CREATE INDEX ti_state ON task_instance (state);
CREATE INDEX ti_dag_run ON task_instance (dag_id, run_id);
CREATE TABLE xcom (
  dag_run_id integer NOT NULL, task_id varchar(250) NOT NULL, map_index integer NOT NULL,
  key varchar(512) NOT NULL, dag_id varchar(250) NOT NULL, run_id varchar(250) NOT NULL,
  value jsonb, timestamp timestamptz NOT NULL,
  CONSTRAINT xcom_pkey PRIMARY KEY (dag_run_id, task_id, map_index, key),
  CONSTRAINT xcom_task_instance_fkey FOREIGN KEY (dag_id, task_id, run_id, map_index)
    REFERENCES task_instance (dag_id, task_id, run_id, map_index) ON DELETE CASCADE);
CREATE INDEX idx_xcom_key ON xcom (key);
CREATE TABLE log (
  id serial PRIMARY KEY, dttm timestamptz, dag_id varchar(250), task_id varchar(250),
  run_id varchar(250), event varchar(60));
CREATE INDEX idx_log_dttm ON log (dttm);
"""
TEMPLATE_ROWS = """
INSERT INTO dag_run (dag_id, run_id, state, start_date, end_date, run_after, conf) VALUES
  (%(dag)s, %(run)s, 'success', %(t)s, %(t)s + interval '9 seconds', %(t)s, '{"sha256": "ab"}');
INSERT INTO task_instance (id, task_id, dag_id, run_id, state, start_date, end_date) VALUES
  (gen_random_uuid(), 'convert', %(dag)s, %(run)s, 'success', %(t)s, %(t)s + interval '4 s'),
  (gen_random_uuid(), 'load', %(dag)s, %(run)s, 'success', %(t)s + interval '5 s',
   %(t)s + interval '9 s');
INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)
  SELECT r.id, x.task_id, -1, x.key, r.dag_id, r.run_id, '{"rows": 200}', %(t)s
  FROM dag_run r, (VALUES ('convert', 'report'), ('load', 'job_id'), ('load', 'rows_loaded'))
    AS x (task_id, key) WHERE r.run_id = %(run)s::text;
INSERT INTO log (dttm, dag_id, task_id, run_id, event) VALUES
  (%(t)s, %(dag)s, NULL, %(run)s, 'trigger_dag_run'), (%(t)s, %(dag)s, 'load', %(run)s, 'success');
"""
#: every column but the generated keys (a serial's values, a random UUID)
ROWS = {
    "dag_run": "SELECT dag_id, run_id, state, start_date, end_date, run_after, conf FROM dag_run",
    "task_instance": "SELECT task_id, dag_id, run_id, map_index, state, start_date, end_date "
    "FROM task_instance",
    "xcom": "SELECT r.run_id, x.task_id, x.map_index, x.key, x.dag_id, x.run_id, x.value, "
    "x.timestamp FROM xcom x JOIN dag_run r ON r.id = x.dag_run_id",
    "log": "SELECT dttm, dag_id, task_id, run_id, event FROM log",
}
WHEN = dt.datetime(2026, 12, 7, 19, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[Settings]:
    """A PostgreSQL of the test's own, as the stack runs it (as ``nobody`` when root)."""
    state = Path(tempfile.mkdtemp(prefix="seed-test-"))
    state.chmod(0o755)  # the server's user must traverse it
    (port,) = free_ports(1)
    settings = Settings(state_dir=state, postgres_port=port)
    layout = Layout.of(settings)
    postgres.prepare_dirs(layout)
    postgres.initdb(layout, state / "initdb.log")
    proc = subprocess.Popen(
        postgres.server_command(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=postgres.drop_privileges(),  # as the stack starts it
    )
    try:
        deadline = time.monotonic() + 60
        while not postgres.is_ready(settings):
            assert proc.poll() is None, "postgres exited"
            assert time.monotonic() < deadline, "postgres not ready in 60 s"
            time.sleep(0.2)
        yield settings
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        shutil.rmtree(state, ignore_errors=True)


def _database(settings: Settings, name: str) -> str:
    """A new database with the tables and one template run; its conninfo."""
    with psycopg.connect(postgres.conninfo(settings, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    conninfo = postgres.conninfo(settings, name)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
        for statement in TEMPLATE_ROWS.split(";")[:-1]:
            cur.execute(statement, {"dag": DAG, "run": TEMPLATE, "t": WHEN})
    return conninfo


def _seed(conninfo: str, **options: Any) -> dict[str, int]:
    """The seed of the template run, quietly."""
    added: dict[str, int] = metadata_seed.seed(
        conninfo, dag_id=DAG, template_run_id=TEMPLATE, progress=lambda _: None, **options
    )
    return added


def _rows(conninfo: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(conninfo) as conn:
        return {t: sorted(conn.execute(q).fetchall(), key=repr) for t, q in ROWS.items()}


def _structure(conninfo: str) -> metadata_seed.SetAside:
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        return metadata_seed.structure(cur, TABLES)


def test_the_bulk_seed_writes_the_plain_seed_s_rows_and_keeps_the_tables(server: Settings) -> None:
    plain, bulk = _database(server, "plain"), _database(server, "bulk")
    before = _structure(bulk)
    added = _seed(plain, count=5, bulk=False)
    timings: dict[str, float] = {}
    # a statement of another session running through the copy (planned without the indexes)
    errors: list[BaseException] = []
    started = threading.Event()

    def long_query() -> None:
        with psycopg.connect(bulk) as conn:
            started.set()
            try:
                conn.execute("SELECT pg_sleep(120)")
            except psycopg.Error as exc:
                errors.append(exc)

    other = threading.Thread(target=long_query)
    other.start()
    started.wait(10)
    time.sleep(0.5)
    assert _seed(bulk, count=3, bulk=True, timings=timings) == {
        "dag_run": 3,
        "log": 6,
        "task_instance": 6,
        "xcom": 9,
    }
    other.join(30)
    assert [type(e) for e in errors] == [psycopg.errors.QueryCanceled]
    assert timings["cancelled"] == 1
    _seed(bulk, count=2, first=4, bulk=True)
    assert added == {"dag_run": 5, "log": 10, "task_instance": 10, "xcom": 15}
    assert _rows(bulk) == _rows(plain)
    assert _structure(bulk) == before == _structure(plain)
    # set aside: neither the partial index nor one the scheduler's loop filters by
    assert [name for name, _ in before.indexes] == [
        "idx_dag_run_run_after", "idx_log_dttm", "idx_xcom_key", "ti_dag_run",
    ]  # fmt: skip
    assert len(before.foreign_keys) == 2
    assert {"set_aside", "put_back", "xcom"} <= timings.keys()
    with psycopg.connect(bulk) as conn:
        runs = conn.execute(
            "SELECT run_id, start_date FROM dag_run ORDER BY start_date DESC"
        ).fetchall()
    step = dt.timedelta(seconds=86400 / 6300)
    assert runs[0] == (TEMPLATE, WHEN)
    assert runs[1] == (TEMPLATE.rsplit(":", 1)[0] + ":y000000000000001", WHEN - step)
    assert runs[5][1] == WHEN - 5 * step


def test_a_failed_bulk_copy_puts_the_indexes_and_foreign_keys_back(server: Settings) -> None:
    conninfo = _database(server, "failed")
    _seed(conninfo, count=2)
    before, rows = _structure(conninfo), _rows(conninfo)
    with pytest.raises(psycopg.errors.UniqueViolation):  # copy 2 is there already
        _seed(conninfo, count=3, first=2)
    assert _structure(conninfo) == before
    assert _rows(conninfo) == rows


def test_table_sizes_count_the_rows_left_after_a_delete(server: Settings) -> None:
    """As after ``db clean``: the statistics the seed's ANALYZE left count deleted rows."""
    conninfo = _database(server, "sizes")
    _seed(conninfo, count=9)
    assert metadata_seed.table_sizes(conninfo, ["dag_run"])["dag_run"]["rows"] == 10
    with psycopg.connect(conninfo) as conn:
        conn.execute("DELETE FROM dag_run WHERE run_id <> %s", (TEMPLATE,))
    sizes = metadata_seed.table_sizes(conninfo, ["dag_run", "xcom"])
    assert (sizes["dag_run"]["rows"], sizes["xcom"]["rows"]) == (1, 3)
