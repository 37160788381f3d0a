"""What a conversion did, small enough to travel through Airflow XCom as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

REST_UNREADABLE: Final = "rest of file unreadable"
"""How a damage reason ends when bytes after the damage were left unread."""
NOT_MRT: Final = "not an MRT file: "
"""How the reason of a file with no MRT record in it starts."""


@dataclass(frozen=True)
class Damage:
    """Where and why the converter had to stop reading a file.

    ``offset`` is a byte offset in the *decompressed* MRT stream: the start of the first record
    that could not be read whole. ``records_skipped`` is 1 when bytes were left unread there
    (the damaged record; anything after it is unreadable and not counted, the reason says
    "rest of file unreadable") and 0 when nothing was lost (an empty file).
    """

    offset: int
    reason: str
    records_skipped: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "reason": self.reason,
            "records_skipped": self.records_skipped,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Damage:
        return cls(
            offset=int(d["offset"]),
            reason=str(d["reason"]),
            records_skipped=int(d["records_skipped"]),
        )


@dataclass(frozen=True)
class ConversionReport:
    """Counts of one conversion.

    ``records``: whole MRT records read (decoded or not); ``rows``: rows written;
    ``parse_errors``: whole records mrtparse could not decode (skipped, conversion went on);
    ``damage``: set when the file could not be read to its end (or was empty);
    ``time_range``: the first and last row ``timestamp`` in microseconds since the epoch (None
    without rows). The warehouse's per-file queries filter the partition column on it.

    What was repaired or lost inside records that framed whole (keys are the ``DROP_*`` and
    ``REPAIR_*`` reasons of :mod:`cloudz.convert.drops`): ``masked_prefixes``: prefixes
    with host bits set, kept with the bits cleared (RFC 4271 §4.3: they are irrelevant, so
    nothing is lost); ``repairs``: records kept whose part was dropped (a truncated last
    prefix, an attribute whose value did not decode and is kept raw), by reason; ``drops``:
    the ``parse_errors`` records, dropped whole, by reason.

    ``time_dropped``: rows not written because their time is outside ``time_window`` (``lo <=
    t < hi`` in microseconds, around the time in the file's name: :mod:`cloudz.convert.
    time_window`; None when the source path names no time); :attr:`time_note` says why.
    """

    rows: int
    records: int
    parse_errors: int
    damage: Damage | None = None
    time_range: tuple[int, int] | None = None
    masked_prefixes: int = 0
    repairs: dict[str, int] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    time_dropped: int = 0
    time_window: tuple[int, int] | None = None

    @property
    def time_note(self) -> str | None:
        """Why rows dated outside the file's window are missing; None when none are."""
        from cloudz.archive.time_window import describe

        return describe(self.time_window, self.time_dropped)

    @property
    def not_mrt(self) -> str | None:
        """Why the file is not MRT at all, or None: no record decoded and the records (if any)
        ran into damage, so nothing says it was ever an MRT file (random bytes, text, an
        empty or zero-filled stream). Such a file fails conversion instead of loading 0 rows as
        *partial*. A file whose records all frame but none decodes stays *partial*: it is MRT
        that this converter cannot read.
        """
        if self.damage is None or self.records > self.parse_errors:
            return None
        what = self.damage.reason.removesuffix(f"; {REST_UNREADABLE}")
        if self.records:
            what = f"none of its {self.records} records decodes, then {what}"
        return f"{NOT_MRT}{what}"

    @property
    def status(self) -> Literal["ok", "partial"]:
        """``"partial"`` when anything was lost: damage, a record that did not decode, or part of
        one (``repairs``), rows dated outside the file's window. Masked host bits lose nothing."""
        lost = self.damage is not None or self.parse_errors or self.repairs or self.time_dropped
        return "partial" if lost else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "records": self.records,
            "parse_errors": self.parse_errors,
            "damage": None if self.damage is None else self.damage.to_dict(),
            "time_range": None if self.time_range is None else list(self.time_range),
            "masked_prefixes": self.masked_prefixes,
            "repairs": dict(sorted(self.repairs.items())),
            "drops": dict(sorted(self.drops.items())),
            "time_dropped": self.time_dropped,
            "time_window": None if self.time_window is None else list(self.time_window),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConversionReport:
        """Inverse of :meth:`to_dict`; extra keys (e.g. ``status`` added by the DAG) are ignored,
        missing newer ones (reports of older runs) are empty."""
        damage = d.get("damage")
        span = d.get("time_range")
        window = d.get("time_window")
        return cls(
            rows=int(d["rows"]),
            records=int(d["records"]),
            parse_errors=int(d["parse_errors"]),
            damage=None if damage is None else Damage.from_dict(damage),
            time_range=None if span is None else (int(span[0]), int(span[1])),
            masked_prefixes=int(d.get("masked_prefixes", 0)),
            repairs={str(k): int(v) for k, v in (d.get("repairs") or {}).items()},
            drops={str(k): int(v) for k, v in (d.get("drops") or {}).items()},
            time_dropped=int(d.get("time_dropped") or 0),
            time_window=None if window is None else (int(window[0]), int(window[1])),
        )


def widen(span: tuple[int, int] | None, ts: int) -> tuple[int, int]:
    """``span`` grown to include the timestamp ``ts``."""
    if span is None:
        return (ts, ts)
    return (min(span[0], ts), max(span[1], ts))


def merge(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    """The smallest span holding both (either may be None)."""
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), max(a[1], b[1]))
