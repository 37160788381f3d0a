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
* **Records without rows in a row.** The longest run in the real samples is 18 records
  (``updates.20020722.2238``: KEEPALIVEs, OPENs, NOTIFICATIONs), in generated files 2. The
  costliest such record is one that fails to decode (~37 µs each on either engine: mrtparse
  runs); :data:`MAX_ROWLESS_RUN` (100,000) is 5,000x the longest real run and stops a file of
  such records in ~4 s (KEEPALIVEs: 0.01 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MAX_EXPANSION: Final = 100
EXPANSION_FLOOR: Final = 64 << 20
MAX_ROWLESS_RUN: Final = 100_000

PREFIX: Final = "conversion limit: "
"""How every limit's reason starts (the reply's failure reason carries it)."""


class LimitExceeded(Exception):
    """The file crossed a conversion limit: it is refused whole, and retrying cannot help."""


@dataclass(frozen=True)
class Limits:
    """The limits of one conversion (tests pass small ones; the defaults are for real files)."""

    max_expansion: int = MAX_EXPANSION
    expansion_floor: int = EXPANSION_FLOOR
    max_rowless_run: int = MAX_ROWLESS_RUN

    def max_decompressed(self, compressed_size: int) -> int:
        """Most decompressed bytes a compressed file of ``compressed_size`` bytes may give."""
        return max(self.max_expansion * compressed_size, self.expansion_floor)

    def expansion_error(self, kind: str, compressed_size: int) -> LimitExceeded:
        return LimitExceeded(
            f"{PREFIX}the {compressed_size}-byte {kind} file decompresses to more than "
            f"{self.max_decompressed(compressed_size)} bytes ({self.max_expansion} times its "
            f"size, at least {self.expansion_floor}): a decompression bomb, not converted"
        )

    def rowless_error(self, run: int, offset: int) -> LimitExceeded:
        return LimitExceeded(
            f"{PREFIX}{run} records in a row from offset {offset} give no rows (at most "
            f"{self.max_rowless_run}): not converted"
        )


DEFAULT_LIMITS: Final = Limits()
