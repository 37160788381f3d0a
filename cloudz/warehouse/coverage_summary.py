"""The coverage page's summary and picture, made from the grid's cells (no query of its own).

The summary answers first what an operator on call asks: how many collectors have files
missing, failed or partial, have gone silent or are not in the list, on the last day and over
the window. The picture is one tile per collector and day, shaded by the files there out of
the files expected (loaded, partial and left out by the load policy count as there); a tile
with a failure is marked. Kept apart from the queries so it is tested without a warehouse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from cloudz.warehouse.coverage_report import CatalogFile, CoverageCell, DayRange

#: the shade of a tile by the share of expected files there (lower bounds, best first)
SHADES: tuple[tuple[float, str], ...] = ((1.0, "full"), (0.9, "most"), (0.5, "half"))


@dataclass(frozen=True)
class Tile:
    """One collector's day, both kinds together."""

    collector: str
    day: dt.date
    cells: tuple[CoverageCell, ...]

    @property
    def expected(self) -> int | None:
        known = [c.expected for c in self.cells if c.expected is not None]
        return sum(known) if known else None

    @property
    def there(self) -> int:
        """Files loaded, partial, or left out on purpose by the load policy."""
        return sum(c.loaded + c.partial + c.by_policy for c in self.cells)

    def total(self, what: str) -> int:
        return sum(int(getattr(c, what) or 0) for c in self.cells)

    @property
    def shade(self) -> str:
        """``nocheck`` (no check of the day yet), ``none`` (nothing there of what was
        expected), ``some``, ``half``, ``most``, ``full``."""
        expected = self.expected
        if expected is None:
            return "nocheck"
        if expected == 0:
            return "full"
        share = self.there / expected
        if share <= 0:
            return "none"
        return next((name for bound, name in SHADES if share >= bound), "some")

    @property
    def label(self) -> str:
        """What the tile says on hover: the counts and the two moments they are from."""
        parts = []
        for c in self.cells:
            check = (
                f"expected {c.expected}, archived {c.archived} at the check of "
                f"{c.checked_at:%Y-%m-%d %H:%M}"
                if c.checked_at is not None and c.expected is not None
                else "no check yet"
            )
            catalog = f"loaded {c.loaded}, partial {c.partial}, failed {c.failed}"
            if c.by_policy:
                catalog += f", not loaded by policy {c.by_policy}"
            if c.recorded_last is not None:
                catalog += f" (catalog to {c.recorded_last:%Y-%m-%d %H:%M})"
            parts.append(f"{c.kind}: {check}; {catalog}")
        return f"{self.collector} {self.day}: " + " | ".join(parts)


@dataclass
class CollectorRow:
    """A collector's row of the picture: one tile (or None) per day of the window."""

    name: str
    tiles: list[Tile | None]
    known: bool = True
    silent: list[str] = field(default_factory=list)

    def total(self, what: str) -> int:
        return sum(t.total(what) for t in self.tiles if t is not None)


@dataclass(frozen=True)
class Line:
    """One line of the summary: collectors and files, on the last day and in the window."""

    what: str
    day_collectors: tuple[str, ...]
    day_files: int | None
    window_collectors: tuple[str, ...]
    window_files: int | None


def picture(cells: Iterable[CoverageCell], days: DayRange) -> list[CollectorRow]:
    """The rows of the picture, by collector name; days newest first (``days.days``)."""
    by_key: dict[tuple[str, dt.date], list[CoverageCell]] = {}
    for cell in cells:
        by_key.setdefault((cell.collector, cell.day), []).append(cell)
    rows: dict[str, CollectorRow] = {}
    for (name, day), group in sorted(by_key.items()):
        rows.setdefault(name, CollectorRow(name, [None] * len(days.days)))
        rows[name].tiles[(days.last - day).days] = Tile(name, day, tuple(group))
    for row in rows.values():
        cells_of = [c for t in row.tiles if t is not None for c in t.cells]
        row.known = not any(c.known is False for c in cells_of)
        newest = next(t for t in row.tiles if t is not None)
        row.silent = sorted(c.kind for c in newest.cells if c.silent)
    return [rows[name] for name in sorted(rows)]


def _line(
    what: str, last: dt.date, counts: Sequence[tuple[str, dt.date | None, int]], files: bool
) -> Line:
    """``counts``: (collector, day or None when the file has no day, files)."""
    day = [(n, k) for n, d, k in counts if d == last and k]
    window = [(n, k) for n, _d, k in counts if k]
    return Line(
        what,
        tuple(sorted({n for n, _ in day})),
        sum(k for _, k in day) if files else None,
        tuple(sorted({n for n, _ in window})),
        sum(k for _, k in window) if files else None,
    )


def summary(
    cells: Sequence[CoverageCell],
    days: DayRange,
    odd: Sequence[CatalogFile] = (),
    odd_total: int | None = None,
) -> list[Line]:
    """Missing, failed, partial, silent, unknown; then what has no outcome yet, what the load
    policy leaves out, and the files whose names give no day (``odd``: those listed of
    ``odd_total``, which are counted whole)."""
    last = days.last
    failed_odd: list[tuple[str, dt.date | None, int]] = [
        (f.collector, None, 1) for f in odd if f.state == "failed"
    ]
    lines = [
        _line("missing", last, [(c.collector, c.day, c.missing or 0) for c in cells], True),
        _line(
            "failed", last, [*((c.collector, c.day, c.failed) for c in cells), *failed_odd], True
        ),
        _line("partial", last, [(c.collector, c.day, c.partial) for c in cells], True),
        _line("silent", last, [(c.collector, c.day, int(bool(c.silent))) for c in cells], False),
        _line("unknown", last, [(c.collector, c.day, int(c.known is False)) for c in cells], False),
        _line(
            "no outcome yet", last, [(c.collector, c.day, c.unaccounted or 0) for c in cells], True
        ),
        _line(
            "not loaded by policy", last, [(c.collector, c.day, c.by_policy) for c in cells], True
        ),
    ]
    odd_line = _line("name gives no day", last, [(f.collector, None, 1) for f in odd], True)
    if odd_total is not None:
        odd_line = replace(odd_line, window_files=odd_total)
    return [*lines, odd_line]
