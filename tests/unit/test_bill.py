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


def test_the_load_policy_cuts_what_scales_with_rows_loaded_and_nothing_else() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import bill
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert bill.policy_shares("*/RIBS: every 8h") == (0.25, 1.0)
    assert bill.policy_shares("") == (1.0, 1.0)
    effects = bill.policy_effect("*/RIBS: every 8h")
    assert all(e.formula and e.source and 0 <= e.after <= e.before for e in effects)
    assert any(e.after < e.before for e in effects)
    # "before" is the bill's own line: the default policy loads every file
    month = {line.item: line.dollars for line in bill.monthly()}
    storage = next(e for e in effects if e.item.startswith("BigQuery storage, one month"))
    assert storage.before == month["BigQuery storage, one month added, physical billing"]
    # RIB rows are ~93 % of the rows: a RIB in four keeps 0.07 + 0.93 / 4 of the storage
    share = (
        bill.UPDATE_ROWS_PER_DAY
        * bill.PHYSICAL_B_PER_UPDATE_ROW
        / (
            bill.UPDATE_ROWS_PER_DAY * bill.PHYSICAL_B_PER_UPDATE_ROW
            + bill.RIB_ROWS_PER_DAY * bill.PHYSICAL_B_PER_RIB_ROW
        )
    )
    assert abs(storage.after / storage.before - (share + (1 - share) / 4)) < 1e-9
    # loading every file changes nothing
    assert all(e.after == e.before for e in bill.policy_effect(""))
