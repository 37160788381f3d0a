"""
### `prefix_origins`: the day's (prefix, origin AS) pairs, once its files are loaded

Daily at 05:10 UTC. **`rebuild`** replaces, in the derived table `prefix_origins` beside the
routes table, the rows of the run's day and of the `CLOUDZ_PREFIX_ORIGINS_DAYS` - 1 (default
2: one day more) days before it, from the routes table's `A` and `B` rows
(`cloudz-prefix-origins`, `cloudz/warehouse/prefix_origins.py`): a DELETE of the day and one
`INSERT … SELECT`. The day before is rebuilt again so that files the hourly reconcile healed
late are in. Each day reads the routes table's day once (~245 GB at 2025 volumes, ~$1.40:
docs/research.md says what the table answers and what it costs).

Safe to clear and re-run: a day is replaced, never appended twice.

#### When runs fail

Nothing in the routes table changes; `prefix_origins` misses the day until a run succeeds.
BigQuery that did not answer, or a DML statement queued behind others, is fixed by the retries
or by clearing `rebuild`; to fill days a long outage missed, run
`cloudz-prefix-origins --day FIRST --to LAST` by hand.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

DAYS = int(os.environ.get("CLOUDZ_PREFIX_ORIGINS_DAYS") or 2)


@dag(
    dag_id="prefix_origins",
    schedule=CronDataIntervalTimetable("10 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cloudz", "warehouse"],
    doc_md=__doc__,
    default_args={
        "owner": "cloudz",
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=2),
        "priority_weight": 1,
        "weight_rule": "absolute",
    },
)
def prefix_origins() -> None:
    @task
    def rebuild() -> dict[str, int]:
        """The run's day (its data interval's start) and the days before it."""
        from cloudz.settings import Settings
        from cloudz.warehouse.clients import bigquery_client
        from cloudz.warehouse.prefix_origins import rebuild_day

        start = get_current_context()["data_interval_start"]
        assert start is not None
        settings = Settings.from_env()
        client = bigquery_client(settings)
        written = {}
        for back in range(DAYS - 1, -1, -1):
            day = (start - timedelta(days=back)).date()
            written[day.isoformat()] = rebuild_day(client, settings.table_ref, day)
            print(f"{day}: {written[day.isoformat()]} (prefix, origin) rows")
        return written

    rebuild()


prefix_origins()
