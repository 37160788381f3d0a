"""Multi-member bz2 and gzip files are read whole wherever a member ends (issue 20, items 3, 4).

``bzcat`` and ``zcat`` read a file of several members (streams) whole; so must the converter,
whatever the offset of a member's end against the decompressor's read size
(``decompress._CHUNK``, 64 KiB; the parallel bz2 splitter reads ``_MAX_OUT``, 1 MiB). Before,
a member ending one or two bytes before a 64 KiB read boundary left the next member's magic
split between two reads, and the converter said "unexpected bytes after the end of the stream"
(PARTIAL, the rest of a valid file lost); zero padding that ran past a read boundary ended the
file quietly, and a member after it was never read.

Every offset around the read size, both compressions, both bz2 decoders (one thread, and the
parallel one), through ``DecompressedStream`` and through the real converter (both engines).
"""

from __future__ import annotations

import bz2
import functools
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest
from samples import SAMPLES_DIR

from cloudz.convert import ConversionReport, convert_file, decompress, fast_path
from cloudz.convert.decompress import DecompressedStream

pytestmark = pytest.mark.skipif(not SAMPLES_DIR.is_dir(), reason=f"{SAMPLES_DIR} missing")

SAMPLE = "ripe-ris/updates.20071015.1505.gz"
"""398 kB of real updates (10,496 rows): twice over, in members, ~80 kB of bz2, ~150 kB of gzip."""
READ = decompress._CHUNK
OFFSETS = range(-20, 21)
"""Where a member ends, against a multiple of the read size."""

Compress = Callable[[bytes], bytes]
COMPRESS: dict[str, Compress] = {
    "bz2": lambda b: bz2.compress(b, 9),
    "gzip": lambda b: gzip.compress(b, 6, mtime=0),
}


@functools.cache
def mrt() -> bytes:
    return gzip.decompress((SAMPLES_DIR / SAMPLE).read_bytes())


@functools.cache
def _packed(kind: str, start: int, end: int) -> bytes:
    return COMPRESS[kind](mrt_twice()[start:end])


@functools.cache
def mrt_twice() -> bytes:
    return mrt() + mrt()


def members_ending_at(kind: str, end: int) -> bytes:
    """Members of ``mrt_twice()`` in order, one of which ends exactly at file offset ``end``."""
    data = mrt_twice()
    out = b""
    pos = 0
    piece = 40_000  # members of 40 kB of MRT: ~4 kB of bz2 each, ~8 kB of gzip
    while end - len(out) > 12_000:
        out += _packed(kind, pos, pos + piece)
        pos += piece
    for small in range(0, 60):  # a small member first when no size fits exactly
        head = _packed(kind, pos, pos + small) if small else b""
        need = end - len(out) - len(head)
        n = _piece_of(kind, pos + small, need)
        if n is not None:
            out += head + _packed(kind, pos + small, pos + small + n)
            pos += small + n
            break
    else:
        raise AssertionError(f"no {kind} members ending at {end}")
    assert len(out) == end
    while pos < len(data):
        out += _packed(kind, pos, pos + 100_000)
        pos += 100_000
    return out


def _piece_of(kind: str, pos: int, need: int) -> int | None:
    """The length of a piece of ``mrt_twice()`` from ``pos`` that packs to ``need`` bytes."""
    lo, hi = 1, len(mrt_twice()) - pos
    while lo < hi:  # sizes grow with the piece, by small steps
        mid = (lo + hi) // 2
        if len(_packed(kind, pos, pos + mid)) < need:
            lo = mid + 1
        else:
            hi = mid
    for n in range(max(1, lo - 400), lo + 400):
        if len(_packed(kind, pos, pos + n)) == need:
            return n
    return None


def read_all(path: Path, threads: int) -> tuple[bytes, str | None, bool]:
    with DecompressedStream(path, threads=threads) as s:
        out = bytearray()
        while chunk := s.read(1 << 20):
            out += chunk
        return bytes(out), s.error, s.parallel


THREADS = [1, pytest.param(2, marks=pytest.mark.skipif(decompress._fastmrt is None, reason="C"))]


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_every_member_end_around_the_read_size(kind: str, threads: int, tmp_path: Path) -> None:
    path = tmp_path / f"in.{kind}"
    for boundary in (READ, 2 * READ):
        for d in OFFSETS:
            path.write_bytes(members_ending_at(kind, boundary + d))
            data, error, _ = read_all(path, threads)
            assert (error, len(data)) == (None, len(mrt_twice())), (boundary, d)
            assert data == mrt_twice()


@pytest.mark.skipif(decompress._fastmrt is None, reason="_fastmrt not built")
def test_every_stream_end_around_the_parallel_read_size(tmp_path: Path) -> None:
    """The parallel bz2 splitter reads 1 MiB at a time: streams ending around it (and
    around 64 KiB, for the sequential decoder it falls back to) read whole, in parallel."""
    big = b"".join(_packed("bz2", 0, 40_000 * (i % 9 + 1)) for i in range(40))
    big = big[: big.rfind(b"BZh", 0, decompress._MAX_OUT - 2000)]
    path = tmp_path / "in.bz2"
    for d in OFFSETS:
        tail = members_ending_at("bz2", decompress._MAX_OUT - len(big) + d)
        path.write_bytes(big + tail)
        expected = bz2.decompress(big + tail)
        for threads in (1, 2):
            data, error, parallel = read_all(path, threads)
            assert (error, parallel, data == expected) == (None, threads == 2, True), (d, threads)


def zero_padded(kind: str, zeros: int, after: bytes) -> bytes:
    """A member, ``zeros`` zero bytes, then ``after``."""
    first = COMPRESS[kind](mrt())
    return first + bytes(zeros) + after


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_a_member_after_zero_padding_is_read(kind: str, threads: int, tmp_path: Path) -> None:
    """Padding is skipped, however long; what follows it is read (a member) or reported."""
    path = tmp_path / f"in.{kind}"
    first = len(COMPRESS[kind](mrt()))
    second = COMPRESS[kind](mrt())
    base = (first // READ + 1) * READ  # the first read boundary after the member
    for end in (base - 2, base - 1, base, base + 1, base + READ + 3, base + 4 * READ, 1 << 20):
        zeros = end - first
        path.write_bytes(zero_padded(kind, zeros, second))
        assert read_all(path, threads)[:2] == (mrt() + mrt(), None), end
        path.write_bytes(zero_padded(kind, zeros, b""))
        assert read_all(path, threads)[:2] == (mrt(), None), end
        path.write_bytes(zero_padded(kind, zeros, b"\x00\x01junk"))
        data, error, _ = read_all(path, threads)
        assert data == mrt() and error == f"unexpected bytes after the end of the {kind} stream"
        path.write_bytes(zero_padded(kind, zeros, second[:1]))  # half a magic: not a member
        data, error, _ = read_all(path, threads)
        assert data == mrt() and error == f"unexpected bytes after the end of the {kind} stream"


# --- through the real converter ---------------------------------------------------------------

ENGINES = {
    "python": ("python", 1),
    "fast, one bz2 thread": ("fast", 1),
    "fast, parallel bz2": ("fast", 2),
}


def convert(
    src: Path, tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[ConversionReport, list[dict[str, Any]]]:
    name, threads = ENGINES[engine]
    monkeypatch.setattr(fast_path, "bz2_threads", lambda: threads)
    dst = tmp_path / "out.avro"
    report = convert_file(
        src,
        dst,
        collector="c",
        source_path="p",
        source_sha256="s",
        engine=name,  # type: ignore[arg-type]
    )
    with dst.open("rb") as f:
        rows = [cast(dict[str, Any], r) for r in fastavro.reader(f)]
    return report, rows


@functools.cache
def _whole(tmp: Path) -> tuple[ConversionReport, list[dict[str, Any]]]:
    src = tmp / "whole.mrt"
    src.write_bytes(mrt_twice())
    dst = tmp / "whole.avro"
    report = convert_file(src, dst, collector="c", source_path="p", source_sha256="s")
    with dst.open("rb") as f:
        return report, [cast(dict[str, Any], r) for r in fastavro.reader(f)]


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> tuple[ConversionReport, Any]:
    return _whole(tmp_path_factory.mktemp("whole"))


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_converter_reads_every_member(
    kind: str,
    engine: str,
    whole: tuple[ConversionReport, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's case (a member ending 1 or 2 bytes before 64 KiB) and every offset around
    it: the same report and rows as the raw MRT. The reference engine (slow) is run on the
    offsets that broke and their neighbours; the fast engines on all of them."""
    if engine != "python" and not fast_path.available():
        pytest.skip("_fastmrt not built")
    offsets = range(-4, 3) if engine == "python" else OFFSETS
    src = tmp_path / f"in.{kind}"
    for d in offsets:
        src.write_bytes(members_ending_at(kind, READ + d))
        report, rows = convert(src, tmp_path, engine, monkeypatch)
        assert report == whole[0], d
        assert rows == whole[1], d


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_converter_reads_on_after_zero_padding(
    kind: str,
    engine: str,
    whole: tuple[ConversionReport, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if engine != "python" and not fast_path.available():
        pytest.skip("_fastmrt not built")
    src = tmp_path / f"in.{kind}"
    src.write_bytes(zero_padded(kind, 3 * READ, COMPRESS[kind](mrt())))
    report, rows = convert(src, tmp_path, engine, monkeypatch)
    assert report == whole[0]
    assert rows == whole[1]
