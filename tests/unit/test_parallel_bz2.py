"""bz2 blocks decoded in parallel (``DecompressedStream(threads=2)``) give what one thread gives.

Byte for byte, with the same ``error`` and the same :class:`LimitExceeded` at the same read, on
well-formed files (one and several streams, one and many blocks) and on every kind of damage
the sequential decoder reports: truncation anywhere, flipped bytes in blocks, headers and
stream ends, trailing bytes, expansion limits, a bomb. The parallel decoder hands out only
blocks it has checked and falls back to the sequential one on anything irregular; these cases
check that the fallback is exact. Then the converter: same report and rows either way.
"""

from __future__ import annotations

import bz2
import random
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest

from cloudz.convert import ConversionReport, decompress, fast_path
from cloudz.convert.decompress import DecompressedStream
from cloudz.convert.limits import DEFAULT_LIMITS, LimitExceeded, Limits
from cloudz.mrtgen import RibSpec, generate_rib

pytestmark = pytest.mark.skipif(decompress._fastmrt is None, reason="_fastmrt not built")


def _mrt() -> bytes:
    """~3 MB of TABLE_DUMP_V2: ~30 bz2 blocks at level 1 (100 kB blocks)."""
    return b"".join(r.data for r in generate_rib(RibSpec(peers=20, prefixes=900, seed=7)))


def _read_all(
    path: Path, threads: int, limits: Limits, sizes: tuple[int, ...]
) -> tuple[list[bytes], str | None, str | None, bool]:
    """Reads of the given sizes in turn until a short one; (chunks, error, limit, parallel)."""
    out: list[bytes] = []
    with DecompressedStream(path, limits, threads=threads) as s:
        parallel = s.parallel
        i = 0
        try:
            while True:
                n = sizes[i % len(sizes)]
                i += 1
                chunk = s.read(n)
                out.append(chunk)
                if len(chunk) < n:
                    break
        except LimitExceeded as e:
            return out, s.error, str(e), parallel
        return out, s.error, None, parallel


def _same(
    data: bytes,
    tmp_path: Path,
    limits: Limits = DEFAULT_LIMITS,
    sizes: tuple[int, ...] = (1 << 20,),
) -> Any:
    path = tmp_path / "in.bz2"
    path.write_bytes(data)
    one = _read_all(path, 1, limits, sizes)
    two = _read_all(path, 2, limits, sizes)
    assert two[3] == data.startswith(b"BZh") and not one[3]
    assert b"".join(two[0]) == b"".join(one[0])
    assert two[:3] == one[:3]
    return one


_SMALL = (65_536, 4096, 100_000, 7)
"""Reads that hand out bytes close behind the decoded ones (the fallback's hard case)."""


@pytest.fixture(scope="module")
def mrt() -> bytes:
    return _mrt()


@pytest.fixture(scope="module")
def packed(mrt: bytes) -> bytes:
    return bz2.compress(mrt, 1)


def test_well_formed_streams(mrt: bytes, packed: bytes, tmp_path: Path) -> None:
    one = _same(packed, tmp_path)
    assert b"".join(one[0]) == mrt and one[1] is None
    _same(bz2.compress(mrt, 9), tmp_path)
    _same(bz2.compress(mrt[:10], 9), tmp_path)  # one block
    _same(bz2.compress(b""), tmp_path)  # no block
    streams = bz2.compress(mrt[:700_000], 1) + bz2.compress(b"") + bz2.compress(mrt[700_000:], 3)
    assert b"".join(_same(streams, tmp_path)[0]) == mrt
    _same(packed, tmp_path, sizes=(1, 4096, 12, 300_000, 65_536))


@pytest.mark.parametrize("seed", range(6))
def test_truncated_anywhere(packed: bytes, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    for cut in [3, 4, 10, len(packed) - 1, len(packed) - 10, *rng.sample(range(len(packed)), 4)]:
        one = _same(packed[:cut], tmp_path, sizes=_SMALL)
        assert one[1] == "bz2 stream ends early"


@pytest.mark.parametrize("seed", range(8))
def test_flipped_bytes(packed: bytes, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    for at in [0, 3, 4, 5, 9, len(packed) - 1, len(packed) - 6, *rng.sample(range(len(packed)), 5)]:
        bad = bytearray(packed)
        bad[at] ^= 1 << rng.randrange(8)
        _same(bytes(bad), tmp_path, sizes=_SMALL)


def test_trailing_bytes(packed: bytes, tmp_path: Path) -> None:
    assert _same(packed + b"not bz2", tmp_path)[1] is not None
    assert _same(packed + bytes(100), tmp_path)[1] is None
    _same(packed + b"BZh", tmp_path)
    _same(packed + b"BZh9", tmp_path)
    _same(packed + packed[:20], tmp_path)


@pytest.mark.parametrize("floor", [1, 500_000, 1_048_576, 2_000_000, 2_999_999, 10_000_000])
def test_expansion_limits(packed: bytes, tmp_path: Path, floor: int) -> None:
    limits = Limits(max_expansion=1, expansion_floor=floor)
    _same(packed, tmp_path, limits)
    _same(packed[:-3000], tmp_path, limits)


def test_bomb(tmp_path: Path) -> None:
    bomb = bz2.compress(bytes(200 << 20))
    one = _same(bomb, tmp_path)
    assert one[2] is not None and "decompression bomb" in one[2]


def _convert(src: Path, tmp_path: Path, threads: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(fast_path, "bz2_threads", lambda: threads)
    monkeypatch.setattr(fast_path, "read_ahead_wanted", lambda stream: False)
    dst = tmp_path / f"out-{threads}.avro"
    try:
        report: ConversionReport = fast_path.convert_file_fast(
            src, dst, collector="c", source_path="p", source_sha256="s"
        )
    except LimitExceeded as e:
        return str(e)
    with dst.open("rb") as f:
        rows = [cast(dict[str, Any], r) for r in fastavro.reader(f)]
    return report, rows


@pytest.mark.skipif(not fast_path.available(), reason="_fastmrt not built")
@pytest.mark.parametrize("case", ["whole", "cut", "flipped"])
def test_converter_same_rows(
    mrt: bytes, packed: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    data = {
        "whole": packed,
        "cut": packed[:-40_000],
        "flipped": packed[:900_000] + b"\x00" + packed[900_001:],
    }[case]
    src = tmp_path / "in.bz2"
    src.write_bytes(data)
    one = _convert(src, tmp_path, 1, monkeypatch)
    two = _convert(src, tmp_path, 2, monkeypatch)
    assert not isinstance(one, str) and one[0].rows > 10_000
    assert two == one
