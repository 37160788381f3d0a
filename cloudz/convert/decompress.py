"""Open an MRT file as a stream of decompressed bytes, choosing bz2 / gzip / raw by magic bytes.

RouteViews names files ``*.bz2`` but mirrors and tests hand us gzip or raw MRT under any name,
so the first bytes decide. The decompressors are driven by hand (not ``bz2.open`` /
``gzip.open``) so that a damaged or truncated stream still yields every byte decoded before
the damage, and the damage is reported as data (:attr:`DecompressedStream.error`) instead of
an exception that would lose the bytes buffered inside the library.
"""

from __future__ import annotations

import bz2
import os
import zlib
from collections import deque
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType, TracebackType
from typing import BinaryIO, Final, Protocol

from cloudz.convert.limits import DEFAULT_LIMITS, Limits

_fastmrt: ModuleType | None
try:  # finds bz2 block boundaries for the parallel decoder
    from cloudz.convert import _fastmrt
except ImportError:  # not built: bz2 is decoded by one thread
    _fastmrt = None

GZIP_MAGIC: Final = b"\x1f\x8b"
BZ2_MAGIC: Final = b"BZh"
_CHUNK: Final = 1 << 16  # bytes read from the file per step
_MAX_OUT: Final = 1 << 20
"""Most decompressed bytes one step may produce: a small "bomb" (megabytes of zeros in a few
bytes of bz2) then costs one step of memory, not its whole expansion."""


_HOLD: Final = 2 * _MAX_OUT
"""Decoded bytes the parallel bz2 decoder keeps back until it has checked what follows them.
The sequential decoder's bytes before damage are the reference; it loses at most one step's
output (:data:`_MAX_OUT`), and libbz2 writes all of a block before it reads the next one, so it
gives at least the checked blocks less :data:`_MAX_OUT`: never fewer than were handed out."""
_BLOCK_CAP: Final = 8 << 20
"""Most bytes one bz2 block may decode to in parallel (900 kB of MRT, a few MB with long runs;
a "bomb" block gives ~45 MB): a larger one is left to the sequential decoder (memory)."""
_SCAN_MAX: Final = 8 << 20
"""Most compressed bytes the block splitter holds without finding a block boundary (a bz2
block is at most ~1 MB compressed)."""
_BZ2_BLOCK: Final = 0
_BZ2_END: Final = 1


class _Irregular(Exception):
    """What the parallel bz2 decoder leaves to the sequential one: damage, truncation, trailing
    bytes, a block it cannot split or decode alone, a limit near. The sequential decoder then
    starts over and skips what was handed out, so every outcome is the sequential one."""


def _bz2_blocks(f: BinaryIO) -> Generator[tuple[bytes, int]]:
    """``f``'s bz2 blocks, each as a standalone one-block stream with its CRC; the stored CRC
    of every stream is checked against its blocks' (the format's combined CRC). Raises
    :class:`_Irregular` on anything but whole, well-formed streams up to the end of the file."""
    assert _fastmrt is not None
    fm = _fastmrt
    buf = b""
    bit = 0  # offset in buf of what comes next, in bits
    eof = False

    def refill() -> None:
        nonlocal buf, bit, eof
        if eof:
            raise _Irregular("bz2 stream ends early")
        drop = bit >> 3
        chunk = f.read(_MAX_OUT)
        eof = not chunk
        buf = buf[drop:] + chunk
        bit -= drop * 8
        if len(buf) > _SCAN_MAX:
            raise _Irregular("no bz2 block boundary")

    while True:  # one stream: "BZh" + level at a byte boundary
        while len(buf) * 8 < bit + 32 and not eof:
            refill()
        if eof and len(buf) * 8 == bit:
            return
        head = buf[bit >> 3 : (bit >> 3) + 4]
        if len(head) < 4 or not head.startswith(BZ2_MAGIC) or head[3] not in b"123456789":
            raise _Irregular("not a bz2 stream header")
        level = head[3] - 0x30
        bit += 32
        combined = 0
        while True:
            while len(buf) * 8 < bit + 80:
                refill()
            magic = fm.bz2_bits(buf, bit, 48)
            if magic == 0x177245385090:  # end of stream, then its CRC
                if fm.bz2_bits(buf, bit + 48, 32) != combined:
                    raise _Irregular("bz2 stream CRC")
                bit = (bit + 80 + 7) & ~7
                break
            if magic != 0x314159265359:
                raise _Irregular("no bz2 block magic")
            crc = fm.bz2_bits(buf, bit + 48, 32)
            while (found := fm.find_bz2_magic(buf, bit + 80)) is None:
                refill()
            yield fm.bz2_block(buf, bit, found[0], level), crc
            combined = (((combined << 1) | (combined >> 31)) & 0xFFFFFFFF) ^ crc
            bit = found[0]


def _decode_block(block: bytes) -> bytes:
    """One block alone (libbz2 checks its CRC); in a worker thread (bz2 releases the GIL)."""
    dec = bz2.BZ2Decompressor()
    try:
        out = dec.decompress(block, _BLOCK_CAP + 1)
    except (OSError, EOFError, ValueError) as e:
        raise _Irregular(str(e)) from e
    if not dec.eof or dec.unused_data or len(out) > _BLOCK_CAP:
        raise _Irregular("bz2 block not decoded alone")
    return out


class _ParallelBz2:
    """bz2 blocks decoded by ``threads`` threads at once, handed out in order."""

    def __init__(self, f: BinaryIO, threads: int) -> None:
        self._blocks = _bz2_blocks(f)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="bz2-block")
        self._pending: deque[Future[bytes]] = deque()
        self._in_flight = 2 * threads
        self._split = False  # every block of the file is submitted

    def next(self) -> bytes | None:
        """The next block's bytes, None after the last; raises :class:`_Irregular`."""
        while not self._split and len(self._pending) < self._in_flight:
            block = next(self._blocks, None)
            if block is None:
                self._split = True
                break
            self._pending.append(self._pool.submit(_decode_block, block[0]))
        if not self._pending:
            return None
        return self._pending.popleft().result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._blocks.close()


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def _has_pending(dec: _Decompressor) -> bool:
    """Whether ``dec`` holds input it has not turned into output yet (``max_length`` hit)."""
    if isinstance(dec, bz2.BZ2Decompressor):
        return not dec.needs_input and not dec.eof
    return bool(getattr(dec, "unconsumed_tail", b""))


def _new_decompressor(kind: str) -> _Decompressor:
    if kind == "gzip":
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    return bz2.BZ2Decompressor()


def detect_compression(head: bytes) -> str:
    """``"bz2"``, ``"gzip"`` or ``"raw"`` from a file's first bytes."""
    if head.startswith(BZ2_MAGIC):
        return "bz2"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return "raw"


class DecompressedStream:
    """Read-only byte stream over a raw, gzip or bz2 file (multi-member streams included).

    ``read`` never raises for bad input: it returns what could be decoded and sets ``error``
    to a human reason ("bz2 stream ends early", "gzip data corrupt: ..."). The one exception is
    a compressed file that expands past ``limits`` (:meth:`Limits.max_decompressed` of its
    size): :class:`~cloudz.convert.limits.LimitExceeded`, raised by the first ``read`` that
    needs a byte beyond :attr:`max_bytes` while the stream holds one.
    """

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS, *, threads: int = 1) -> None:
        self._f: BinaryIO = path.open("rb")
        self.kind = detect_compression(self._f.read(3))
        self._f.seek(0)
        self._limits = limits
        self._size = os.fstat(self._f.fileno()).st_size
        #: decompressed bytes the stream may give; None: raw, the file is its own limit
        self.max_bytes = None if self.kind == "raw" else limits.max_decompressed(self._size)
        self._dec: _Decompressor | None = None
        self._buf = bytearray()
        self._done = False
        self.error: str | None = None
        self.position = 0  # bytes handed out so far (offset in the decompressed stream)
        self._par: _ParallelBz2 | None = None
        if self.kind == "bz2" and threads > 1 and _fastmrt is not None:
            self._par = _ParallelBz2(self._f, threads)

    @property
    def parallel(self) -> bool:
        """Whether bz2 blocks are decoded by several threads (until something irregular)."""
        return self._par is not None

    def __enter__(self) -> DecompressedStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._par is not None:
            self._par.close()
            self._par = None
        self._f.close()

    def _fill_parallel(self, want: int) -> None:
        """Like :meth:`_fill`, from the parallel decoder, keeping :data:`_HOLD` bytes back;
        on anything irregular the sequential decoder takes over."""
        assert self._par is not None
        try:
            while len(self._buf) < want + _HOLD and not self._done:
                block = self._par.next()
                if block is None:
                    self._done = True
                    return
                self._buf += block
                if self.max_bytes is not None and self.position + len(self._buf) > self.max_bytes:
                    raise _Irregular("near the expansion limit")
        except _Irregular:
            self._sequential()
            self._fill(want)

    def _sequential(self) -> None:
        """Start over with the sequential decoder and skip the bytes already handed out."""
        assert self._par is not None
        self._par.close()
        self._par = None
        self._f.seek(0)
        self._buf = bytearray()
        self._dec = None
        self._done = False
        self.error = None
        skip = self.position
        while skip:
            self._fill(min(skip, _MAX_OUT))
            take = min(skip, len(self._buf))
            if not take:  # cannot happen (see _HOLD): say so rather than hand out other bytes
                raise RuntimeError("the sequential bz2 decoder gave fewer bytes than handed out")
            del self._buf[:take]
            skip -= take

    def _fill(self, want: int) -> None:
        """Decompress until ``want`` bytes are buffered, the input ends, or it turns bad."""
        if self._par is not None:
            self._fill_parallel(want)
            return
        while len(self._buf) < want and not self._done:
            if self.kind == "raw":
                # at most one chunk at a time: a header claiming 64 MiB on a small file must
                # not make us allocate 64 MiB
                chunk = self._f.read(_CHUNK)
                if not chunk:
                    self._done = True
                self._buf += chunk
                continue
            self._fill_compressed()

    def _fill_compressed(self) -> None:
        if self._dec is not None and self._dec.eof:
            rest = self._dec.unused_data or self._f.read(_CHUNK)
            if not rest:
                self._done = True
                return
            if not rest.startswith(GZIP_MAGIC if self.kind == "gzip" else BZ2_MAGIC):
                if rest.strip(b"\x00"):  # zero padding after the last member is harmless
                    self.error = f"unexpected bytes after the end of the {self.kind} stream"
                self._done = True
                return
            self._dec = _new_decompressor(self.kind)
            self._decompress(rest)
            return
        if self._dec is None:
            self._dec = _new_decompressor(self.kind)
        if _has_pending(self._dec):
            tail = getattr(self._dec, "unconsumed_tail", b"")
            self._decompress(tail)
            return
        chunk = self._f.read(_CHUNK)
        if not chunk:
            self.error = f"{self.kind} stream ends early"
            self._done = True
            return
        self._decompress(chunk)

    def _decompress(self, data: bytes) -> None:
        assert self._dec is not None
        try:
            self._buf += self._dec.decompress(data, _MAX_OUT)
        except (OSError, EOFError, ValueError, zlib.error) as e:
            self.error = f"{self.kind} data corrupt: {e}"
            self._done = True

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the stream or at damage.

        Raises :class:`~cloudz.convert.limits.LimitExceeded` when the ``n`` bytes would go past
        :attr:`max_bytes` and the stream does hold more than that: whether it raises depends on
        what the caller needs, not on how far it read ahead, so both engines agree.
        """
        if self.max_bytes is not None and self.position + n > self.max_bytes:
            if self._par is not None:
                self._sequential()
            self._fill(self.max_bytes - self.position + 1)
            if self.position + len(self._buf) > self.max_bytes:
                raise self._limits.expansion_error(self.kind, self._size)
        self._fill(n)
        with memoryview(self._buf) as view:  # one copy (a slice of the bytearray is another)
            out = bytes(view[:n])
        del self._buf[:n]
        self.position += len(out)
        return out
