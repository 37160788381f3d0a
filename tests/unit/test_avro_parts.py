"""A file's Avro rows split into parts at block boundaries, uploaded in order, stale parts gone.

fastavro, an independent reader, reads every part alone; the parts' rows, in order, are the
converter's file's rows.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from pathlib import Path
from typing import Any

import fastavro
import pytest

from cloudz.archive import paths
from cloudz.avro_container import AvroContainerError, encode_long, raw_blocks, read_header
from cloudz.file_pipeline import avro_parts
from cloudz.settings import Settings

RAW_SCHEMA = {
    "type": "record",
    "name": "r",
    "fields": [{"name": "i", "type": "long"}, {"name": "s", "type": "string"}],
}
SCHEMA = fastavro.parse_schema(RAW_SCHEMA)
PATH = "route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2"


def rows_of(n: int, width: int = 40) -> list[dict[str, Any]]:
    # digits of i spread through the string: blocks compress, but not to nothing
    return [{"i": i, "s": f"{i * 7919:x}".rjust(width, "z")} for i in range(n)]


def write(path: Path, rows: list[dict[str, Any]], sync_interval: int = 4000) -> Path:
    with path.open("wb") as f:
        fastavro.writer(f, SCHEMA, rows, codec="deflate", sync_interval=sync_interval)
    return path


def blocks_of(data: bytes) -> list[tuple[int, bytes]]:
    source = io.BytesIO(data)
    return list(raw_blocks(source, read_header(source)))


def read_parts(avro: Path, part_bytes: int) -> list[bytes]:
    """Every part's bytes, read while ``split`` goes on (it deletes each after)."""
    return [part.read_bytes() for part in avro_parts.split(avro, part_bytes)]


def test_parts_are_whole_avro_files_whose_rows_in_order_are_the_file(tmp_path: Path) -> None:
    rows = rows_of(20_000)
    avro = write(tmp_path / "rows.avro", rows)
    size = avro.stat().st_size
    parts = read_parts(avro, size // 5)
    assert len(parts) >= 5
    got: list[Any] = []
    for part in parts:
        reader = fastavro.reader(io.BytesIO(part))
        assert reader.writer_schema == RAW_SCHEMA  # a researcher can read any part alone
        got += list(reader)
        assert len(part) <= size // 5
    assert got == rows


def test_parts_end_at_the_files_block_boundaries_with_the_same_header(tmp_path: Path) -> None:
    avro = write(tmp_path / "rows.avro", rows_of(20_000))
    data = avro.read_bytes()
    source = io.BytesIO(data)
    read_header(source)
    head = data[: source.tell()]
    parts = read_parts(avro, len(data) // 4)
    assert all(part.startswith(head) for part in parts)
    # the blocks, untouched and in order: every part is the header plus whole blocks
    assert [b for part in parts for b in blocks_of(part)] == blocks_of(data)
    assert sum(len(part) - len(head) for part in parts) == len(data) - len(head)


def test_a_part_is_as_full_as_the_cap_allows(tmp_path: Path) -> None:
    avro = write(tmp_path / "rows.avro", rows_of(20_000))
    cap = avro.stat().st_size // 6
    parts = read_parts(avro, cap)
    for part, after in itertools.pairwise(parts):
        count, data = blocks_of(after)[0]
        next_block = len(encode_long(count)) + len(encode_long(len(data))) + len(data) + 16
        assert len(part) + next_block > cap  # the next part's first block did not fit


def test_a_block_longer_than_the_cap_is_a_part_of_its_own(tmp_path: Path) -> None:
    rows = rows_of(3000, width=400)
    avro = write(tmp_path / "rows.avro", rows, sync_interval=200_000)  # few big blocks
    blocks = blocks_of(avro.read_bytes())
    biggest = max(len(data) for _, data in blocks)
    assert len(blocks) >= 2
    parts = read_parts(avro, biggest // 2)  # no block fits
    assert len(parts) == len(blocks)
    assert [len(blocks_of(part)) for part in parts] == [1] * len(blocks)
    got = [row for part in parts for row in fastavro.reader(io.BytesIO(part))]
    assert got == rows


def test_a_file_within_the_cap_is_its_own_single_part(tmp_path: Path) -> None:
    avro = write(tmp_path / "rows.avro", rows_of(100))
    assert list(avro_parts.split(avro, avro.stat().st_size)) == [avro]
    assert avro.exists()


def test_no_part_stays_on_disk_and_one_is_there_at_a_time(tmp_path: Path) -> None:
    avro = write(tmp_path / "rows.avro", rows_of(20_000))
    seen = []
    for part in avro_parts.split(avro, avro.stat().st_size // 3):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        assert part.exists()
    assert all(len(names) == 2 for names in seen)  # the converter's file and one part
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.avro"]
    # a consumer that stops early (an upload fails) leaves nothing either
    parts = avro_parts.split(avro, avro.stat().st_size // 3)
    next(parts)
    parts.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.avro"]


def test_an_empty_container_is_one_part(tmp_path: Path) -> None:
    avro = write(tmp_path / "rows.avro", [])
    parts = read_parts(avro, 1 << 20)
    assert len(parts) == 1 and list(fastavro.reader(io.BytesIO(parts[0]))) == []


def test_a_damaged_file_is_refused_not_split(tmp_path: Path) -> None:
    avro = write(tmp_path / "rows.avro", rows_of(20_000))
    data = bytearray(avro.read_bytes())
    data[-3] ^= 0xFF  # the last sync marker
    avro.write_bytes(bytes(data))
    with pytest.raises(AvroContainerError, match="sync marker"):
        read_parts(avro, len(data) // 3)


class FakeBlob:
    def __init__(self, bucket: FakeBucket, name: str) -> None:
        self.bucket, self.name = bucket, name
        self.generation: int | None = None
        self.time_created: dt.datetime | None = None

    def upload_from_filename(self, filename: str, content_type: str) -> None:
        assert content_type == "application/avro"
        self.bucket.clock += 1
        self.generation = self.bucket.clock
        self.time_created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            seconds=self.bucket.clock
        )
        self.bucket.objects[self.name] = Path(filename).read_bytes()
        self.bucket.log.append(("upload", self.name))

    def delete(self) -> None:
        del self.bucket.objects[self.name]
        self.bucket.log.append(("delete", self.name))


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.log: list[tuple[str, str]] = []
        self.clock = 0

    def blob(self, name: str) -> FakeBlob:
        return FakeBlob(self, name)

    def list_blobs(self, prefix: str, fields: str) -> list[FakeBlob]:
        return [FakeBlob(self, n) for n in sorted(self.objects) if n.startswith(prefix)]


def test_publish_uploads_in_order_and_removes_what_a_longer_conversion_left(
    tmp_path: Path,
) -> None:
    rows = rows_of(20_000)
    avro = write(tmp_path / "rows.avro", rows)
    bucket = FakeBucket()
    small = avro_parts.publish(bucket, PATH, avro, avro.stat().st_size // 6)
    assert small.parts >= 6
    names = [paths.avro_part_name(PATH, n) for n in range(small.parts)]
    assert bucket.log == [("upload", n) for n in names]
    bucket.objects["route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2.avrox"] = b"?"
    bucket.objects["route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2"] = b"raw"
    bucket.log.clear()

    big = avro_parts.publish(bucket, PATH, avro, avro.stat().st_size // 2)

    assert 2 <= big.parts < small.parts
    kept = [paths.avro_part_name(PATH, n) for n in range(big.parts)]
    assert bucket.log[: big.parts] == [("upload", n) for n in kept]  # uploads first
    stale = sorted({*names[big.parts :], f"{PATH}.avrox"})
    assert sorted(name for op, name in bucket.log[big.parts :]) == stale
    assert big.removed == stale
    # what the load's wildcard reads now: these parts, every row once
    read = [n for n in sorted(bucket.objects) if n.startswith(PATH + ".avro")]
    assert read == sorted(kept)
    got = [r for n in kept for r in fastavro.reader(io.BytesIO(bucket.objects[n]))]
    assert got == rows
    assert PATH in bucket.objects  # the raw object is not under the wildcard


def test_publish_reports_part_zero_and_when_the_last_part_was_written(tmp_path: Path) -> None:
    avro = write(tmp_path / "rows.avro", rows_of(20_000))
    bucket = FakeBucket()
    published = avro_parts.publish(bucket, PATH, avro, avro.stat().st_size // 3)
    report = published.report("b", PATH)
    assert report == {
        "avro_object": PATH + ".avro",
        "avro_parts": published.parts,
        "avro_source": PATH + ".avro*",
        "avro_uri": f"gs://b/{PATH}.avro*",
        "avro_generation": 1,  # part 0 was the first upload
        "avro_written_at": (
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=published.parts)
        ).isoformat(),
    }


def test_a_small_file_is_published_exactly_as_before(tmp_path: Path) -> None:
    avro = write(tmp_path / "rows.avro", rows_of(100))
    bucket = FakeBucket()
    published = avro_parts.publish(bucket, PATH, avro, 64 << 20)
    assert published.parts == 1 and published.removed == []
    assert bucket.objects == {PATH + ".avro": avro.read_bytes()}


def test_the_part_size_setting_is_in_mib_with_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env({}).avro_part_mb == 64
    monkeypatch.setenv("CLOUDZ_AVRO_PART_MB", "3")
    assert avro_parts.part_bytes_setting() == 3 << 20
    monkeypatch.setenv("CLOUDZ_AVRO_PART_MB", "0")
    with pytest.raises(ValueError, match="at least 1 MiB"):
        avro_parts.part_bytes_setting()
