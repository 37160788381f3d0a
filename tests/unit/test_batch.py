"""The batch path's pure parts: chunks for mapping, and group job ids for the load ledger."""

from __future__ import annotations

from typing import Any

from cloudz.batch.batch_load import group_base
from cloudz.batch.plan import CHUNK_BYTES, MAX_CHUNKS, MAX_FILES_PER_CHUNK, MIN_CHUNKS, chunked


def _files(n: int, big_every: int = 9) -> list[dict[str, Any]]:
    return [
        {"archive_path": f"c/bgpdata/2024.01/UPDATES/f{i:05d}", "sha256": f"{i:064x}",
         "size": 100_000_000 if i % big_every == 0 else 1_000_000}
        for i in range(n)
    ]  # fmt: skip


def test_chunks_cover_every_file_once_within_the_mapping_limit() -> None:
    for n in (0, 1, MIN_CHUNKS, MAX_FILES_PER_CHUNK + 1, 6_400, 20_000, 40_000):
        files = _files(n)
        chunks = chunked(files)
        assert len(chunks) <= MAX_CHUNKS
        assert sorted(f["archive_path"] for c in chunks for f in c) == sorted(
            f["archive_path"] for f in files
        )
        assert all(chunks), "no empty chunk"


def test_chunks_weigh_about_the_same_and_small_files_share_a_task() -> None:
    files = _files(6_400)  # a day: ~710 RIB-sized files of 100 MB, the rest 1 MB
    chunks = chunked(files)
    weights = [sum(f["size"] for f in c) for c in chunks]
    assert max(weights) - min(weights) <= 100_000_000, weights  # within one big file
    assert len(chunks) == min(MAX_CHUNKS, -(-sum(weights) // CHUNK_BYTES))
    small = chunked(_files(40, big_every=10**9))  # 40 files of 1 MB: fewer tasks than files
    assert len(small) == MIN_CHUNKS
    assert all(len(c) <= MAX_FILES_PER_CHUNK for c in chunked(_files(20_000, big_every=10**9)))


def test_a_group_has_one_ledger_whatever_the_order_and_another_group_another() -> None:
    files = _files(5)
    base = group_base("p.d.routes", files)
    assert base == group_base("p.d.routes", list(reversed(files)))
    assert base != group_base("p.d.routes", files[:4])
    assert base != group_base("p.d.other", files)
    changed = [dict(files[0], sha256="f" * 64), *files[1:]]
    assert base != group_base("p.d.routes", changed)
