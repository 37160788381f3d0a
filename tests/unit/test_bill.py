"""The bill (bench/bill.py): docs/costs.md is what the script prints, and its sums hold."""

from __future__ import annotations

import subprocess
import sys

from cloudz.settings import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bench" / "bill.py"


def test_costs_md_is_what_the_script_prints() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_each_line_has_a_formula_and_a_source_and_the_totals_add_up() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import bill
    finally:
        sys.path.remove(str(SCRIPT.parent))
    month = bill.monthly()
    assert all(line.formula and line.source and line.dollars >= 0 for line in month)
    counted = [x.dollars for x in month if not x.item.startswith("(")]
    assert bill._total(month) == sum(counted)
    text = bill.render()
    assert f"**Total for a month: ${sum(counted):,.0f}**" in text
    # the recount bounded to the files' records costs less than by whole days
    bounded = next(x for x in month if x.item.startswith("reconcile recount, hourly"))
    days = next(x for x in month if x.item.startswith("(reconcile recount by whole"))
    assert bounded.dollars < days.dollars
