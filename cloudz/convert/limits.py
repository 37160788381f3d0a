"""Limits that stop a hostile file (a decompression bomb) in seconds, with a reason.

A 785-byte bz2 file expands to 1 GiB of zeros; without limits the converter read it for minutes.
Zero-filled and undefined records are damage (:mod:`cloudz.convert.framing`), which ends such a
file at its first record; these limits catch the rest: a stream that expands far more than MRT
does, and long runs of well-framed records that give no rows. Crossing one makes
:func:`cloudz.convert.convert_file` raise :class:`LimitExceeded` (the whole file is refused, not
converted in part: its rows would be an attacker's choice), which the ``convert`` task turns
into a non-retryable failure of the convert stage.

How the numbers were chosen (measured with ``cloudz.convert.decompress``, November 2026):

* **Expansion.** Decompressed / compressed bytes of every real sample in
  ``../shared/mrt-samples`` as stored: 5.1-6.2 (RIPE RIS gzip); recompressed with ``bzip2 -9``
  (what RouteViews uses) 2.8-13.4, the most for ``updates.20160811.1600`` (2.4 MB of MRT);
  ``python -m cloudz.mrtgen`` files: 1.7-2.4 (updates), 1.9-6.4 (RIBs, the 123 MB one 5.2 as
  bz2). Real files stay under ~15; gzip cannot exceed ~1032; bz2 of zeros reaches ~1.4 million.
  :data:`MAX_EXPANSION` (100) is 7x the highest real ratio. :data:`EXPANSION_FLOOR` (64 MiB of
  MRT, about 1 s of conversion) means no small file is ever flagged, however well it compresses.
* **What counts as the compressed size.** The compressed bytes that decoded (each member's
  bytes as they are fed to the decompressor), not the file's size: before, 1 MiB of zeros
  appended to a 21,881-byte file refused as a bomb raised its limit 48-fold and it converted.
  Zero padding and bytes after the last member now buy nothing.
* **Rows per compressed byte.** Measured (bz2 -9, December 2026): the real samples give
  0.03-0.30 rows per byte (``updates.20020722.2238`` 0.30, ``updates.20160811.1600`` 0.23,
  3.3-4.4 bytes per row); ``python -m cloudz.mrtgen rib --locality 0.98 --pool 64`` 0.25
  (4.0 bytes per row, like a real RouteViews RIB), ``--locality 0.95`` 0.21; an extreme
  generated RIB (60 peers, 16 attribute sets, locality 0.995, IPv4 only) 0.99; mrtgen updates
  0.08. :data:`MAX_ROWS_PER_BYTE` (8) is 8x the extreme one and 27x the highest real one; a
  file of :data:`ROWS_FLOOR` (100,000) rows or fewer is never flagged (~0.1 s of conversion).
  Before, a 155-byte bz2 of UPDATEs repeating one prefix gave 4,125,744 rows (26,600 per
  byte): the expansion limit alone allows ~50-100 rows per compressed byte (one or two bytes
  of MRT per prefix) and its floor 64 MiB of MRT to any file. With both limits a file of
  ``n`` compressed bytes gives at most ``max(8 n, 100,000)`` rows and ``max(100 n, 64 MiB)``
  bytes of MRT, whatever its padding.
* **Records without rows in a row.** The longest run in the real samples is 18 records
  (``updates.20020722.2238``: KEEPALIVEs, OPENs, NOTIFICATIONs), in generated files 2. The
  costliest such record is one that fails to decode (~37 µs each on either engine: mrtparse
  runs); :data:`MAX_ROWLESS_RUN` (100,000) is 5,000x the longest real run and stops a file of
  such records in ~4 s (KEEPALIVEs: 0.01 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

MAX_EXPANSION: Final = 100
EXPANSION_FLOOR: Final = 64 << 20
MAX_ROWLESS_RUN: Final = 100_000
MAX_ROWS_PER_BYTE: Final = 8
ROWS_FLOOR: Final = 100_000

PREFIX: Final = "conversion limit: "
"""How every limit's reason starts (the reply's failure reason carries it)."""


class Measured(Protocol):
    """What the row limit reads of a :class:`~cloudz.convert.decompress.DecompressedStream`."""

    @property
    def kind(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def data_bytes(self) -> int: ...

    def finish(self) -> int: ...


class LimitExceeded(Exception):
    """The file crossed a conversion limit: it is refused whole, and retrying cannot help."""


@dataclass(frozen=True)
class Limits:
    """The limits of one conversion (tests pass small ones; the defaults are for real files)."""

    max_expansion: int = MAX_EXPANSION
    expansion_floor: int = EXPANSION_FLOOR
    max_rowless_run: int = MAX_ROWLESS_RUN
    max_rows_per_byte: int = MAX_ROWS_PER_BYTE
    rows_floor: int = ROWS_FLOOR

    def max_decompressed(self, data_bytes: int) -> int:
        """Most decompressed bytes ``data_bytes`` compressed bytes (that decoded) may give."""
        return max(self.max_expansion * data_bytes, self.expansion_floor)

    def max_rows(self, data_bytes: int) -> int:
        """Most rows a file whose compressed bytes that decode are ``data_bytes`` may give (a
        raw file: its size)."""
        return max(self.max_rows_per_byte * data_bytes, self.rows_floor)

    def expansion_error(self, kind: str, size: int, data_bytes: int) -> LimitExceeded:
        return LimitExceeded(
            f"{PREFIX}the {size}-byte {kind} file decompresses to more than "
            f"{self.max_decompressed(data_bytes)} bytes from its first {data_bytes} compressed "
            f"bytes ({self.max_expansion} times those, at least {self.expansion_floor}): "
            "a decompression bomb, not converted"
        )

    def rows_error(self, kind: str, size: int) -> LimitExceeded:
        return LimitExceeded(
            f"{PREFIX}the {size}-byte {kind} file gives more than {self.max_rows_per_byte} rows "
            f"per compressed byte that decodes (at least {self.rows_floor} allowed): a row "
            "bomb, not converted"
        )

    def check_rows(self, rows: int, stream: Measured, *, final: bool = False) -> None:
        """Raise :meth:`rows_error` when ``rows`` (written or dropped for their time) is past
        :meth:`max_rows`. While converting (``final`` false) against the file's size, which
        bounds the bytes that will have decoded, so the outcome is the final one, only sooner;
        at the end against :attr:`Measured.data_bytes`, decoding the rest of the file to know
        it (:meth:`Measured.finish`) only when the bytes read so far do not allow the rows:
        the outcome depends on the file, not on how far an engine read ahead."""
        if rows <= self.max_rows(stream.data_bytes):
            return
        if final:
            if rows <= self.max_rows(stream.finish()):
                return
        elif rows <= self.max_rows(stream.size):
            return
        raise self.rows_error(stream.kind, stream.size)

    def rowless_error(self, run: int, offset: int) -> LimitExceeded:
        return LimitExceeded(
            f"{PREFIX}{run} records in a row from offset {offset} give no rows (at most "
            f"{self.max_rowless_run}): not converted"
        )


DEFAULT_LIMITS: Final = Limits()
