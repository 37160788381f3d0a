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
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final, Protocol

from cloudz.convert.limits import DEFAULT_LIMITS, Limits

GZIP_MAGIC: Final = b"\x1f\x8b"
BZ2_MAGIC: Final = b"BZh"
_CHUNK: Final = 1 << 16  # bytes read from the file per step
_MAX_OUT: Final = 1 << 20
"""Most decompressed bytes one step may produce: a small "bomb" (megabytes of zeros in a few
bytes of bz2) then costs one step of memory, not its whole expansion."""


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

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
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
        self._f.close()

    def _fill(self, want: int) -> None:
        """Decompress until ``want`` bytes are buffered, the input ends, or it turns bad."""
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
            self._fill(self.max_bytes - self.position + 1)
            if self.position + len(self._buf) > self.max_bytes:
                raise self._limits.expansion_error(self.kind, self._size)
        self._fill(n)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self.position += len(out)
        return out
