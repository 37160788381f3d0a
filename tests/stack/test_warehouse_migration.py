"""``cloudz-migrate-routes`` against the real BigQuery emulator (local-bigquery, started here
on its own): a DAY-partitioned routes table with loaded rows is moved to the layout of
``cloudz.warehouse.schema``; every file keeps its rows, and a second run does nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import BadRequest
from google.cloud import bigquery

from cloudz.convert import convert_file
from cloudz.mrtgen import RibSpec, UpdatesSpec, generate_rib, generate_updates, write_file
from cloudz.settings import PROJECT_ROOT, Settings
from cloudz.warehouse import schema
from cloudz.warehouse.clients import bigquery_client
from cloudz.warehouse.file_rows import TimeWindow, count_rows
from cloudz.warehouse.migration import COPIED, MIGRATED, PLANNED, Migration, MigrationError

pytestmark = pytest.mark.stack

#: 2023-12-01T00:00:00Z: a file starting 10 s before it spills into the next month
DECEMBER = 1_701_388_800


@pytest.fixture(scope="module")
def emulator(cloud: Settings) -> Settings:
    """The shared emulators (tests/stack/conftest.py); each test makes its own dataset."""
    return cloud


class Warehouse:
    """A dataset of its own on the emulator, with a routes table of the layout of before."""

    def __init__(self, settings: Settings, dataset: str, tmp: Path) -> None:
        self.settings = Settings.from_env(
            {
                "CLOUDZ_STATE_DIR": str(settings.state_dir),
                "CLOUDZ_BIGQUERY_PORT": str(settings.bigquery_port),
                "CLOUDZ_DATASET": dataset,
            }
        )
        self.bq = bigquery_client(self.settings)
        self.tmp = tmp
        self.ref = self.settings.table_ref
        self.files: dict[str, tuple[int, tuple[int, int]]] = {}  # path: rows, time range
        self.lines: list[str] = []
        self.bq.create_dataset(f"{self.settings.gcp_project}.{dataset}")

    def create_day_table(self, ref: str | None = None) -> None:
        """The table as provision created it before: DAY, clustered on collector, peer_asn."""
        resource = schema.routes_table_resource(ref or self.ref)
        resource["timePartitioning"] = {"type": "DAY", "field": "timestamp"}
        resource["clustering"] = {"fields": ["collector", "peer_asn"]}
        del resource["requirePartitionFilter"]
        self.bq.create_table(bigquery.Table.from_api_repr(resource))

    def load(self, name: str, *, rib: bool = False, timestamp: int, seed: int = 1) -> str:
        """Generate, convert and load one file the way the load step does (Avro, DAY)."""
        kind = "RIBS" if rib else "UPDATES"
        stamp = name.split(".")[1]  # the month folder of the name's date (cloudz.archive.paths)
        path = f"mig/bgpdata/{stamp[:4]}.{stamp[4:6]}/{kind}/{name}"
        mrt = self.tmp / name
        if rib:
            write_file(
                mrt, generate_rib(RibSpec(peers=4, prefixes=60, seed=seed, timestamp=timestamp))
            )
        else:
            write_file(mrt, generate_updates(UpdatesSpec(rows=200, seed=seed, timestamp=timestamp)))
        avro = self.tmp / f"{name}.avro"
        report = convert_file(mrt, avro, collector="mig", source_path=path, source_sha256="0" * 64)
        assert report.rows > 0 and report.time_range is not None
        config = bigquery.LoadJobConfig(
            source_format="AVRO",
            use_avro_logical_types=True,
            write_disposition="WRITE_APPEND",
            time_partitioning=bigquery.TimePartitioning(type_="DAY", field="timestamp"),
        )
        with avro.open("rb") as f:
            job = self.bq.load_table_from_file(f, self.ref, job_config=config)
            job.result()
        assert job.output_rows == report.rows
        self.files[path] = (report.rows, report.time_range)
        return path

    def migrate(self, **kwargs: Any) -> str:
        self.lines = []
        return Migration(self.bq, self.ref, echo=self.lines.append).run(**kwargs)

    def tables(self) -> set[str]:
        return {
            t.table_id
            for t in self.bq.list_tables(f"{self.settings.gcp_project}.{self.settings.dataset}")
        }

    def rows(self, ref: str) -> dict[str, int]:
        """Each loaded file's rows in ``ref``, counted within the days of its rows."""
        return {
            path: count_rows(self.bq, ref, path, TimeWindow.of_micros(time_range))
            for path, (_rows, time_range) in self.files.items()
        }

    def expected(self) -> dict[str, int]:
        return {path: rows for path, (rows, _) in self.files.items()}

    def layout(self, ref: str) -> dict[str, Any]:
        return schema.table_layout(self.bq.get_table(ref).to_api_repr())


def test_a_day_table_is_migrated_and_a_second_run_does_nothing(
    emulator: Settings, tmp_path: Path
) -> None:
    w = Warehouse(emulator, "mig_full", tmp_path)
    w.create_day_table()
    w.load("updates.20231114.2213.gz", timestamp=1_700_000_000)
    w.load("updates.20231130.2345.gz", timestamp=DECEMBER - 10, seed=2)  # over the month's end
    w.load("rib.20240115.0000.bz2", rib=True, timestamp=1_705_276_800)
    old_layout = w.layout(w.ref)
    assert old_layout["partition_type"] == "DAY"

    # the plan, and nothing changed
    assert w.migrate(dry_run=True) == PLANNED
    assert w.tables() == {"routes"}
    plan = "\n".join(w.lines)
    assert "routes_new (create: MONTH on timestamp, partition filter required" in plan
    assert "2023-11:" in plan and "2023-12:" in plan and "2024-01:" in plan
    assert "rename routes -> routes_day_legacy, routes_new -> routes" in plan

    # while live loads go on: create and copy, rename nothing
    assert w.migrate(rename=False) == COPIED
    assert w.tables() == {"routes", "routes_new"}
    assert w.layout(w.ref) == old_layout
    assert schema.has_routes_layout(w.bq.get_table(f"{w.ref}_new").to_api_repr())
    assert w.rows(f"{w.ref}_new") == w.expected()

    # a file loaded after that copy, in a month copied already: the next run copies it again
    late = w.load("updates.20231120.0000.gz", timestamp=1_700_438_400, seed=3)
    assert w.migrate(dry_run=True) == PLANNED
    assert "2023-11: " in "\n".join(w.lines) and "compare, recopy" in "\n".join(w.lines)
    assert w.migrate() == MIGRATED
    log = "\n".join(w.lines)
    assert "2023-11: 1 file(s) differ" in log, log
    assert "2024-01: " in log and "nothing to copy" in log, log
    assert w.tables() == {"routes", "routes_day_legacy"}
    assert schema.has_routes_layout(w.bq.get_table(w.ref).to_api_repr())
    assert w.layout(f"{w.ref}_day_legacy") == old_layout
    assert w.rows(w.ref) == w.expected()
    assert w.rows(f"{w.ref}_day_legacy") == w.expected()
    assert late in w.expected()
    table = w.bq.get_table(w.ref)
    # the columns kept their modes (CTAS would have made them all NULLABLE)
    assert [(f.name, f.mode) for f in table.schema] == [
        (f["name"], f["mode"]) for f in schema.bigquery_schema_fields()
    ]
    # the routes table now takes no query without a partition filter
    with pytest.raises(BadRequest, match="partition elimination"):
        list(w.bq.query(f"SELECT COUNT(*) AS n FROM `{w.ref}` WHERE collector = 'mig'").result())

    # again: nothing to do, nothing changed
    assert w.migrate() == MIGRATED
    assert any("nothing to migrate" in line for line in w.lines), w.lines
    assert w.tables() == {"routes", "routes_day_legacy"}
    assert w.rows(w.ref) == w.expected()


def test_a_run_stopped_between_the_renames_is_finished(emulator: Settings, tmp_path: Path) -> None:
    w = Warehouse(emulator, "mig_renames", tmp_path)
    w.create_day_table()
    w.load("updates.20231114.2213.gz", timestamp=1_700_000_000)
    w.load("updates.20231130.2345.gz", timestamp=DECEMBER - 10, seed=2)
    assert w.migrate(rename=False) == COPIED
    # the first rename done, then the run died
    w.bq.query(f"ALTER TABLE `{w.ref}` RENAME TO `routes_day_legacy`").result()
    assert w.tables() == {"routes_day_legacy", "routes_new"}

    assert w.migrate(dry_run=True) == PLANNED
    assert w.tables() == {"routes_day_legacy", "routes_new"}
    assert w.migrate() == MIGRATED
    assert w.tables() == {"routes", "routes_day_legacy"}
    assert schema.has_routes_layout(w.bq.get_table(w.ref).to_api_repr())
    assert w.rows(w.ref) == w.expected()


def test_it_refuses_to_overwrite_or_guess(emulator: Settings, tmp_path: Path) -> None:
    w = Warehouse(emulator, "mig_refusals", tmp_path)
    with pytest.raises(MigrationError, match="no table"):
        w.migrate()
    w.create_day_table()
    w.load("updates.20231114.2213.gz", timestamp=1_700_000_000)
    # a routes_new of another layout is not copied into
    w.create_day_table(f"{w.ref}_new")
    with pytest.raises(MigrationError, match="another layout"):
        w.migrate()
    w.bq.delete_table(f"{w.ref}_new")
    # a legacy table of an earlier migration is never overwritten
    w.create_day_table(f"{w.ref}_day_legacy")
    with pytest.raises(MigrationError, match="exists already"):
        w.migrate()
    assert w.tables() == {"routes", "routes_day_legacy"}
    assert w.layout(w.ref)["partition_type"] == "DAY"


def test_the_command_prints_the_plan(emulator: Settings, tmp_path: Path) -> None:
    w = Warehouse(emulator, "mig_cli", tmp_path)
    w.create_day_table()
    w.load("updates.20231114.2213.gz", timestamp=1_700_000_000)
    env = {
        **os.environ,
        "BIGQUERY_EMULATOR_HOST": emulator.bigquery_url,
        "CLOUDZ_BIGQUERY_PORT": str(emulator.bigquery_port),
        "CLOUDZ_DATASET": "mig_cli",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "cloudz.warehouse.migration", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "plan:" in proc.stdout
    assert "2023-11: 200 rows in the old table, 0 in the new: copy" in proc.stdout
    assert w.tables() == {"routes"}


def test_loads_during_the_run_are_caught_up_or_stop_the_rename(
    emulator: Settings, tmp_path: Path
) -> None:
    """A load into the old table while the migration copies (the pool left open): the next
    pass copies its month again; loads that never stop keep the tables from being renamed."""
    w = Warehouse(emulator, "mig_live", tmp_path)
    w.create_day_table()
    w.load("updates.20231114.2213.gz", timestamp=1_700_000_000)
    w.load("updates.20231208.0000.gz", timestamp=1_702_000_000, seed=2)
    late: list[str] = []

    def load_once(line: str) -> None:
        w.lines.append(line)
        if line.startswith("2023-11: copied") and not late:
            late.append(w.load("updates.20231121.0000.gz", timestamp=1_700_524_800, seed=3))

    assert Migration(w.bq, w.ref, echo=load_once).run(rename=False) == COPIED
    assert late and late[0] in w.expected()
    assert sum(line.startswith("2023-11: copied") for line in w.lines) == 2, w.lines
    assert w.rows(f"{w.ref}_new") == w.expected()

    def load_always(line: str) -> None:
        w.lines.append(line)
        if line.startswith("2023-12: "):
            w.load(f"updates.20231209.{len(w.files):04d}.gz", timestamp=1_702_100_000, seed=9)

    with pytest.raises(MigrationError, match="loads are still writing"):
        Migration(w.bq, w.ref, echo=load_always).run()
    assert w.tables() == {"routes", "routes_new"}
    assert w.layout(w.ref)["partition_type"] == "DAY"
