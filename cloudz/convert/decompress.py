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
import re
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
_NONZERO: Final = re.compile(rb"[^\x00]")
_BZ2_BLOCK: Final = 0
_BZ2_END: Final = 1


class _Irregular(Exception):
    """What the parallel bz2 decoder leaves to the sequential one: damage, truncation, trailing
    bytes, a block it cannot split or decode alone, a limit near. The sequential decoder then
    starts over and skips what was handed out, so every outcome is the sequential one."""


def _bz2_blocks(f: BinaryIO) -> Generator[tuple[bytes, int, int], None, int]:
    """``f``'s bz2 blocks, each as a standalone one-block stream with its CRC and the stream
    bytes before it (zero padding between streams left out: the sequential decoder skips it
    too); the stored CRC of every stream is checked against its blocks' (the format's combined
    CRC). Raises :class:`_Irregular` on anything but whole, well-formed streams, with nothing
    but zero bytes between and after them, up to the end of the file."""
    assert _fastmrt is not None
    fm = _fastmrt
    buf = b""
    bit = 0  # offset in buf of what comes next, in bits
    base = 0  # offset in the file of buf[0]
    skipped = 0  # zero bytes of padding skipped between and after streams
    eof = False

    def refill() -> None:
        nonlocal buf, bit, base, eof
        if eof:
            raise _Irregular("bz2 stream ends early")
        drop = bit >> 3
        chunk = f.read(_MAX_OUT)
        eof = not chunk
        buf = buf[drop:] + chunk
        bit -= drop * 8
        base += drop
        if len(buf) > _SCAN_MAX:
            raise _Irregular("no bz2 block boundary")

    while True:  # one stream: "BZh" + level at a byte boundary, after any zero padding
        while True:
            while len(buf) * 8 < bit + 32 and not eof:
                refill()
            nonzero = _NONZERO.search(buf, bit >> 3)
            if nonzero is not None:
                skipped += nonzero.start() - (bit >> 3)
                bit = nonzero.start() * 8
                break
            skipped += len(buf) - (bit >> 3)
            bit = len(buf) * 8
            if eof:
                return base + (bit >> 3) - skipped  # the bytes of the streams
        while len(buf) * 8 < bit + 32 and not eof:
            refill()
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
            yield fm.bz2_block(buf, bit, found[0], level), crc, base + (bit >> 3) - skipped
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
        self._starts: deque[int] = deque()  # stream bytes before each pending block
        #: the bytes of the file's streams (no padding), once every block is split
        self.total: int | None = None

    def next(self) -> tuple[bytes, int] | None:
        """The next block's bytes and the stream bytes before it, None after the last; raises
        :class:`_Irregular`."""
        while not self._split and len(self._pending) < self._in_flight:
            try:
                block, _, start = next(self._blocks)
            except StopIteration as end:
                self.total = end.value
                self._split = True
                break
            self._pending.append(self._pool.submit(_decode_block, block))
            self._starts.append(start)
        if not self._pending:
            return None
        return self._pending.popleft().result(), self._starts.popleft()

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
    a compressed file that expands past ``limits``: :class:`~cloudz.convert.limits.LimitExceeded`,
    raised by the first ``read`` that needs a byte beyond the limit while the stream holds one.

    The limit is :meth:`Limits.max_decompressed` of :attr:`data_bytes`, the compressed bytes
    that decoded (the members' bytes fed to the decompressor so far), not of the file's size:
    zero padding and bytes after the last member buy no expansion. It grows as the stream
    reads on, one read of :data:`_CHUNK` at a time, so where it falls (the first byte a step
    gives past the limit of the bytes fed by then) depends on the file alone, not on how much
    a caller asked for: both engines meet it at the same byte.

    Between members, zero bytes (padding, however long) are skipped and the next member is
    read; a member's magic split across two reads is still a member. Anything else after a
    member is ``error`` "unexpected bytes after the end of the … stream".
    """

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS, *, threads: int = 1) -> None:
        self._f: BinaryIO = path.open("rb")
        self.kind = detect_compression(self._f.read(3))
        self._f.seek(0)
        self._limits = limits
        self._size = os.fstat(self._f.fileno()).st_size
        #: compressed bytes fed to the decompressor that belong to members (a raw file: all)
        self.data_bytes = self._size if self.kind == "raw" else 0
        self._over: int | None = None  # the first byte past the limit, once decoded
        self._dec: _Decompressor | None = None
        self._buf = bytearray()
        self._done = False
        self.error: str | None = None
        self.position = 0  # bytes handed out so far (offset in the decompressed stream)
        self._par: _ParallelBz2 | None = None
        if self.kind == "bz2" and threads > 1 and _fastmrt is not None:
            self._par = _ParallelBz2(self._f, threads)

    @property
    def size(self) -> int:
        """The file's size on disk."""
        return self._size

    @property
    def max_bytes(self) -> int | None:
        """Decompressed bytes the stream may give for what it has fed so far (None: raw, the
        file is its own limit); a read up to here never raises."""
        if self.kind == "raw":
            return None
        if self._over is not None:
            return self._over
        return self._limits.max_decompressed(self.data_bytes)

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
        on anything irregular the sequential decoder takes over. Its :attr:`data_bytes` is the
        stream bytes before the last block, never more than the sequential decoder has fed by
        then (libbz2 reads a whole block before it writes any of it): when that leaves the
        limit near, the sequential decoder decides."""
        assert self._par is not None
        try:
            while len(self._buf) < want + _HOLD and not self._done:
                block = self._par.next()
                if block is None:
                    self._done = True
                    assert self._par.total is not None
                    self.data_bytes = self._par.total
                    return
                data, self.data_bytes = block
                self._buf += data
                limit = self._limits.max_decompressed(self.data_bytes)
                if self.position + len(self._buf) > limit:
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
        self.data_bytes = 0
        self._over = None
        skip = self.position
        self.position = 0
        while skip:
            self._fill(min(skip, _MAX_OUT))
            take = min(skip, len(self._buf))
            if not take:  # cannot happen (see _HOLD): say so rather than hand out other bytes
                raise RuntimeError("the sequential bz2 decoder gave fewer bytes than handed out")
            del self._buf[:take]
            self.position += take
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

    def _next_member(self) -> bytes | None:
        """After a member: what starts the next one (zero padding skipped, however long, and
        reads joined until its magic is whole), or None at the end or at unexpected bytes."""
        assert self._dec is not None
        magic = GZIP_MAGIC if self.kind == "gzip" else BZ2_MAGIC
        rest = self._dec.unused_data  # left out of data_bytes by _decompress
        while True:
            rest = rest.lstrip(b"\x00")
            if len(rest) >= len(magic):
                break
            chunk = self._f.read(_CHUNK)
            if not chunk:
                break
            rest += chunk
        if not rest:  # zero padding after the last member is harmless
            return None
        if not rest.startswith(magic):
            self.error = f"unexpected bytes after the end of the {self.kind} stream"
            return None
        return rest

    def _fill_compressed(self) -> None:
        if self._dec is not None and self._dec.eof:
            rest = self._next_member()
            if rest is None:
                self._done = True
                return
            self._dec = _new_decompressor(self.kind)
            self._decompress(rest)
            return
        if self._dec is None:
            self._dec = _new_decompressor(self.kind)
        if _has_pending(self._dec):
            tail = getattr(self._dec, "unconsumed_tail", b"")
            self._decompress(tail, fed=False)
            return
        chunk = self._f.read(_CHUNK)
        if not chunk:
            self.error = f"{self.kind} stream ends early"
            self._done = True
            return
        self._decompress(chunk)

    def _decompress(self, data: bytes, *, fed: bool = True) -> None:
        """One step; ``fed``: ``data`` is new input (not a tail the decompressor gave back)."""
        assert self._dec is not None
        if fed:
            self.data_bytes += len(data)
        try:
            self._buf += self._dec.decompress(data, _MAX_OUT)
        except (OSError, EOFError, ValueError, zlib.error) as e:
            self.error = f"{self.kind} data corrupt: {e}"
            self._done = True
        if self._dec.eof:  # fed, but not this member's (the next one's are fed again)
            self.data_bytes -= len(self._dec.unused_data)
        limit = self._limits.max_decompressed(self.data_bytes)
        if self.position + len(self._buf) > limit:
            # the first byte past the limit (the limits of earlier steps were lower and held)
            self._over = limit
            self._done = True

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the stream or at damage.

        Raises :class:`~cloudz.convert.limits.LimitExceeded` when the ``n`` bytes would go past
        the limit and the stream does hold more than that: whether it raises depends on what
        the caller needs, not on how far it read ahead, so both engines agree.
        """
        max_bytes = self.max_bytes
        if max_bytes is not None and self.position + n > max_bytes:
            if self._par is not None:
                self._sequential()
            self._fill(n)
            if self._over is not None and self.position + n > self._over:
                raise self._limits.expansion_error(self.kind, self._size, self.data_bytes)
        self._fill(n)
        with memoryview(self._buf) as view:  # one copy (a slice of the bytearray is another)
            out = bytes(view[:n])
        del self._buf[:n]
        self.position += len(out)
        return out

    def finish(self) -> int:
        """Decode what is left (its bytes are dropped), up to the end, damage or the
        expansion limit, and return :attr:`data_bytes` then: the compressed bytes of the file
        that decode, whatever the caller read (the row limit's measure, :mod:`limits`)."""
        if self.kind == "raw":
            return self.data_bytes
        while not self._done:
            self._fill(len(self._buf) + 1)
            self.position += len(self._buf)
            self._buf.clear()
        return self.data_bytes
