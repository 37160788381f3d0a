"""A file's Avro rows as parts on fake-gcs-server, loaded by the BigQuery emulator through one
wildcard: every row once, also after a re-conversion with fewer parts (the stale ones gone)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest
from google.cloud import bigquery

from cloudz.archive import paths
from cloudz.file_pipeline import convert_step
from cloudz.mrtgen import RibSpec, generate_rib, write_file
from cloudz.settings import Settings
from cloudz.warehouse import schema
from cloudz.warehouse.clients import bigquery_client, storage_client

pytestmark = pytest.mark.stack

PATH = "route-views.parts/bgpdata/2024.02/RIBS/rib.20240201.0000.bz2"
#: the RIB dated as PATH's name says (rows a day away from it are not converted)
FEB_1 = 1_706_745_600  # 2024-02-01 00:00 UTC


def _convert(settings: Settings, raw: Path) -> dict[str, Any]:
    file = convert_step.check_conf(
        {
            "archive_path": PATH,
            "sha256": hashlib.sha256(raw.read_bytes()).hexdigest(),
            "bucket": settings.bucket,
        },
        settings.bucket,
    )
    bucket = storage_client(settings).bucket(settings.bucket)
    return convert_step.convert_archived_copy("unused", file, raw, bucket)


def _load(settings: Settings, report: dict[str, Any], job_id: str) -> bigquery.LoadJob:
    config = bigquery.LoadJobConfig(
        source_format="AVRO", use_avro_logical_types=True, write_disposition="WRITE_APPEND"
    )
    job = bigquery_client(settings).load_table_from_uri(
        report["avro_uri"], settings.table_ref, job_id=job_id, job_config=config
    )
    job.result()
    return job


def _counts(settings: Settings) -> tuple[int, int]:
    sql = (
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT row_index) AS d FROM `{settings.table_ref}` "
        f"WHERE {schema.PARTITION_FIELD} >= TIMESTAMP '2000-01-01' AND source_path = '{PATH}'"
    )
    row = next(iter(bigquery_client(settings).query(sql).result()))
    return int(row["n"]), int(row["d"])


def _parts_in_bucket(settings: Settings) -> dict[str, bytes]:
    bucket = storage_client(settings).bucket(settings.bucket)
    return {
        blob.name: blob.download_as_bytes()
        for blob in bucket.list_blobs(prefix=paths.avro_part_name(PATH, 0))
    }


def test_parts_load_once_by_wildcard_and_a_shorter_conversion_removes_the_rest(
    cloud: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "rib.bz2"
    written = write_file(
        raw, generate_rib(RibSpec(peers=20, prefixes=12_000, seed=3, timestamp=FEB_1))
    )

    monkeypatch.setenv("CLOUDZ_AVRO_PART_MB", "1")
    first = _convert(cloud, raw)
    assert first["rows"] == written.rows
    assert first["avro_parts"] >= 3, first  # the file's Avro is several MiB
    assert first["avro_object"] == PATH + ".avro"
    assert first["avro_source"] == PATH + ".avro*"
    assert first["avro_uri"] == f"gs://{cloud.bucket}/{PATH}.avro*"
    objects = _parts_in_bucket(cloud)
    assert sorted(objects) == [paths.avro_part_name(PATH, n) for n in range(first["avro_parts"])]
    rows: list[Any] = []
    for name in sorted(objects):  # each part alone is a whole Avro file
        assert len(objects[name]) <= 1 << 20
        rows += [
            cast(dict[str, Any], r)["row_index"] for r in fastavro.reader(io.BytesIO(objects[name]))
        ]
    assert rows == list(range(written.rows))  # in order, each row once

    job = _load(cloud, first, "parts_load_1")
    assert job.output_rows == written.rows
    assert _counts(cloud) == (written.rows, written.rows)

    monkeypatch.setenv("CLOUDZ_AVRO_PART_MB", "2")
    second = _convert(cloud, raw)
    assert 2 <= second["avro_parts"] < first["avro_parts"], (first, second)
    assert sorted(_parts_in_bucket(cloud)) == [
        paths.avro_part_name(PATH, n) for n in range(second["avro_parts"])
    ]
    assert second["avro_written_at"] > first["avro_written_at"]
    # the same wildcard reads only this conversion's parts: the rows once more, not more
    job = _load(cloud, second, "parts_load_2")
    assert job.output_rows == written.rows
    assert _counts(cloud) == (2 * written.rows, written.rows)
