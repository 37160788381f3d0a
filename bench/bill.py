"""The bill: what the archive costs per month at RouteViews' volume, and per year of history.

``python bench/bill.py`` prints docs/costs.md (``--write`` writes it; ``--check`` fails when
the file differs, as tests/unit/test_bill.py runs it). Every line gives its formula and its
source; change an input here, never a figure in the doc. Prices are Google's list prices for
a US region as of December 2026 (re-check the pricing pages before relying on them).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "costs.md"
GIB, TIB = 2**30, 2**40
DAYS_PER_MONTH = 30.4

# --- volume: docs/capacity.md ("RouteViews' volume") ---------------------------------------
FILES_PER_DAY = 58 * 108  # 58 collectors x (96 update files + 12 RIBs)
UPDATE_FILES_PER_DAY = 58 * 96
RIB_ROWS_PER_DAY = 58 * 12 * 6e6  # 6 M rows per RIB on average (assumption there)
UPDATE_ROWS_PER_DAY = 58 * 96 * 60e3  # 60 k rows per update file (assumption there)
HISTORY_ROWS = 1.04e13  # 2001-10 to 2026, scaled with the table's growth (bench/capacity.py)
HISTORY_FILES = 20.8e6
HISTORY_RIB_SHARE = 4.2 / 4.5  # today's share of RIB rows, held for the history

# --- sizes per row, measured with the project's converter (bench/README.md, "The bill") ----
#: raw bz2 bytes per row: a RouteViews-shaped RIB (mrtgen rib --peers 40 --prefixes 10000
#: --locality 0.98 --pool 64) 4.06; RIPE RIS updates.20160811.1600.gz 9.46
RAW_B_PER_RIB_ROW, RAW_B_PER_UPDATE_ROW = 4.06, 9.46
#: the converter's Avro (zstandard) bytes per row of the same files: 13.75 and 15.0
AVRO_B_PER_RIB_ROW, AVRO_B_PER_UPDATE_ROW = 13.75, 15.0
#: BigQuery's logical bytes per row (its data-size rules: INT64/TIMESTAMP 8, STRING 2 + UTF-8
#: bytes, REPEATED the sum) of the same rows read back from the Avro: 433 and 278
LOGICAL_B_PER_RIB_ROW, LOGICAL_B_PER_UPDATE_ROW = 433.0, 278.0
#: physical (compressed) bytes: BigQuery publishes no ratio; the Avro file's zstandard
#: blocks are the stand-in (a row format; BigQuery's columnar Capacitor usually compresses
#: better), so logical / physical = 433 / 13.75 = 31 for RIB rows, 278 / 15 = 18.5 for updates.
#: Check it on the first month: INFORMATION_SCHEMA.TABLE_STORAGE (total_logical_bytes /
#: total_physical_bytes)
PHYSICAL_B_PER_RIB_ROW, PHYSICAL_B_PER_UPDATE_ROW = AVRO_B_PER_RIB_ROW, AVRO_B_PER_UPDATE_ROW

#: RIB files a day (58 collectors x 12 dumps), beside UPDATE_FILES_PER_DAY
RIB_FILES_PER_DAY = 58 * 12
#: the load policy whose effect the bill shows (cloudz.load_policy; the deployment's default,
#: and every other table here, loads every file): every update file, a RIB every 8 hours
EXAMPLE_POLICY = "*/RIBS: every 8h"
#: the conversion CPU of the backfill is taken as proportional to the rows converted
BACKFILL_CORES = 47

# --- prices (cloud.google.com/storage/pricing, /bigquery/pricing, /compute/all-pricing) -----
GCS_STANDARD, GCS_NEARLINE, GCS_COLDLINE = 0.020, 0.010, 0.004  # $ per GiB-month, regional
EGRESS_PER_GIB = 0.12  # internet egress, premium tier, first TiB band (0.11, 0.08 beyond)
BQ_ACTIVE_LOGICAL, BQ_LONG_LOGICAL = 0.02, 0.01  # $ per GiB-month (long-term: 90 days unmodified)
BQ_ACTIVE_PHYSICAL, BQ_LONG_PHYSICAL = 0.04, 0.02
BQ_PER_TIB_SCANNED = 6.25  # on-demand queries; at least 10 MB per table referenced
BQ_MIN_BILLED = 10e6
STREAMING_PER_GIB = 0.05  # legacy streaming inserts ($0.01 per 200 MB), at least 1 KB a row
VM_4_CORE_HOUR = 0.134  # e2-standard-4, on demand
VM_8_CORE_HOUR = 0.268  # e2-standard-8
CLOUD_SQL_MONTH = 100.0  # db-custom-2-7680 PostgreSQL with 50 GB SSD, about
GKE_RECEIVERS_MONTH = 2 * 0.5 * 730 * 0.0335  # 2 receivers x 0.5 vCPU (Autopilot, per vCPU-h)

# --- what the pipeline does by itself (docs/warehouse.md, docs/reconcile.md) ---------------
RECOUNT_B_PER_ROW = 85  # timestamp, collector, source_path (docs/reconcile.md)
#: researchers' downloads of the public bucket: an assumption (no figure exists); the archive
#: has been served for free by RouteViews itself, so egress is the bill's open line
PUBLIC_EGRESS_GIB_MONTH = 2_000.0
#: partition modifications a day allowed on a column-partitioned table (BigQuery quotas)
PARTITION_MODS_PER_DAY = 30_000


@dataclass(frozen=True)
class Line:
    """One line of the bill: what, $ per month, the formula, the source."""

    item: str
    dollars: float
    formula: str
    source: str


def gib(n_bytes: float) -> float:
    return n_bytes / GIB


def monthly() -> list[Line]:
    """The bill of one month of live files at today's volume (history not included)."""
    day_raw = RIB_ROWS_PER_DAY * RAW_B_PER_RIB_ROW + UPDATE_ROWS_PER_DAY * RAW_B_PER_UPDATE_ROW
    day_avro = RIB_ROWS_PER_DAY * AVRO_B_PER_RIB_ROW + UPDATE_ROWS_PER_DAY * AVRO_B_PER_UPDATE_ROW
    day_logical = (
        RIB_ROWS_PER_DAY * LOGICAL_B_PER_RIB_ROW + UPDATE_ROWS_PER_DAY * LOGICAL_B_PER_UPDATE_ROW
    )
    day_physical = (
        RIB_ROWS_PER_DAY * PHYSICAL_B_PER_RIB_ROW + UPDATE_ROWS_PER_DAY * PHYSICAL_B_PER_UPDATE_ROW
    )
    m = DAYS_PER_MONTH
    rows_day = RIB_ROWS_PER_DAY + UPDATE_ROWS_PER_DAY
    recount_days = rows_day * RECOUNT_B_PER_ROW * 12.5  # sum over 24 runs of h/24 of a day
    recount_bounded = rows_day * RECOUNT_B_PER_ROW * 2  # RECENT = 2 h, hourly: each row twice
    return [
        Line(
            "GCS raw files, one month added (Standard)",
            gib(day_raw) * m * GCS_STANDARD,
            f"{gib(day_raw):.1f} GiB/day x {m} x ${GCS_STANDARD}/GiB-month",
            "rows/day (capacity.md) x raw bytes/row (measured)",
        ),
        Line(
            "GCS Avro objects, one month added (Standard)",
            gib(day_avro) * m * GCS_STANDARD,
            f"{gib(day_avro):.1f} GiB/day x {m} x ${GCS_STANDARD}/GiB-month",
            "rows/day x Avro bytes/row (measured)",
        ),
        Line(
            "GCS working prefixes (_incoming, _claims, _loads)",
            0.0,
            "objects deleted within hours (provision's leftover rule): < 1 GiB held",
            "cloudz/stack/provision.py, cloudz/archive/store.py",
        ),
        Line(
            "GCS operations (writes: raw, Avro parts, claims)",
            FILES_PER_DAY * m * 6 / 1000 * 0.005,
            f"{FILES_PER_DAY} files/day x ~6 class A ops x {m} x $0.005/1000",
            "storage pricing, class A",
        ),
        Line(
            "public egress (researchers' downloads)",
            PUBLIC_EGRESS_GIB_MONTH * EGRESS_PER_GIB,
            f"{PUBLIC_EGRESS_GIB_MONTH:.0f} GiB/month (assumption) x ${EGRESS_PER_GIB}/GiB",
            "network pricing, premium tier; the volume is a guess: measure it",
        ),
        Line(
            "BigQuery storage, one month added, physical billing",
            gib(day_physical) * m * BQ_ACTIVE_PHYSICAL,
            f"{gib(day_physical):.1f} GiB/day x {m} x ${BQ_ACTIVE_PHYSICAL}/GiB-month",
            "physical bytes/row = Avro zstd (stand-in, see the ratio's source)",
        ),
        Line(
            "(BigQuery storage, one month added, logical billing: not chosen)",
            gib(day_logical) * m * BQ_ACTIVE_LOGICAL,
            f"{gib(day_logical):.0f} GiB/day x {m} x ${BQ_ACTIVE_LOGICAL}/GiB-month",
            "logical bytes/row by BigQuery's data-size rules (measured)",
        ),
        Line(
            "load jobs (one per file)",
            0.0,
            f"{FILES_PER_DAY}/day, free; {FILES_PER_DAY} of {PARTITION_MODS_PER_DAY} "
            "partition modifications/day (MONTH partitions: 1 per file)",
            "BigQuery quotas page; docs/warehouse.md",
        ),
        Line(
            "files catalog (streaming inserts)",
            gib(FILES_PER_DAY * 1024) * m * STREAMING_PER_GIB,
            f"{FILES_PER_DAY} rows/day x 1 KB minimum x {m} x ${STREAMING_PER_GIB}/GiB",
            "cloudz/warehouse/file_catalog.py (insert_rows_json)",
        ),
        Line(
            "reconcile recount, hourly, bounded to the files' records (now)",
            recount_bounded / TIB * m * BQ_PER_TIB_SCANNED,
            f"{rows_day:.2e} rows/day x {RECOUNT_B_PER_ROW} B x 2 (RECENT = 2 h, hourly) x {m}"
            f" x ${BQ_PER_TIB_SCANNED}/TiB",
            "cloudz/reconcile/recount.py records_window",
        ),
        Line(
            "(reconcile recount by whole UTC days: before)",
            recount_days / TIB * m * BQ_PER_TIB_SCANNED,
            f"{rows_day:.2e} rows/day x {RECOUNT_B_PER_ROW} B x 12.5 (sum of h/24 over 24 runs)"
            f" x {m} x ${BQ_PER_TIB_SCANNED}/TiB",
            "issue 23; the code before records_window",
        ),
        Line(
            "reconcile scan, coverage, operations pages (catalog and coverage tables)",
            (24 * 3 + 24 * 2) * BQ_MIN_BILLED / TIB * m * BQ_PER_TIB_SCANNED,
            "~5 queries/hour of the small tables, each billed the 10 MB minimum",
            "docs/reconcile.md, docs/operations.md",
        ),
        Line(
            "per-file checks (COUNT when the ledger is ambiguous)",
            0.0,
            "none on the hot path; a repair reads the file's days (rare)",
            "docs/warehouse.md",
        ),
        Line(
            "Airflow (scheduler, api-server, workers: one 8-core host)",
            730 * VM_8_CORE_HOUR,
            f"730 h x ${VM_8_CORE_HOUR}/h (e2-standard-8)",
            "docs/capacity.md: 1 host of 8 cores or 3 small VMs",
        ),
        Line(
            "Airflow's metadata DB (Cloud SQL PostgreSQL)",
            CLOUD_SQL_MONTH,
            "2 vCPU, 7.5 GB, 50 GB SSD (30 days of runs: < 2 GB, bench/year_of_runs.py)",
            "Cloud SQL pricing, about",
        ),
        Line(
            "receivers (2 replicas on GKE Autopilot)",
            GKE_RECEIVERS_MONTH,
            "2 x 0.5 vCPU x 730 h x $0.0335/vCPU-h (memory extra, small)",
            "GKE Autopilot pricing; docs/deploy.md",
        ),
    ]


def history() -> list[Line]:
    """Per month, for the 25 years of history once loaded (storage), and the backfill once."""
    rib, upd = HISTORY_ROWS * HISTORY_RIB_SHARE, HISTORY_ROWS * (1 - HISTORY_RIB_SHARE)
    raw = rib * RAW_B_PER_RIB_ROW + upd * RAW_B_PER_UPDATE_ROW
    avro = rib * AVRO_B_PER_RIB_ROW + upd * AVRO_B_PER_UPDATE_ROW
    logical = rib * LOGICAL_B_PER_RIB_ROW + upd * LOGICAL_B_PER_UPDATE_ROW
    physical = rib * PHYSICAL_B_PER_RIB_ROW + upd * PHYSICAL_B_PER_UPDATE_ROW
    cores, days = BACKFILL_CORES, 30
    return [
        Line(
            "raw files of 25 years (Standard)",
            gib(raw) * GCS_STANDARD,
            f"{HISTORY_ROWS:.2e} rows -> {raw / 1e12:.0f} TB x ${GCS_STANDARD}/GiB-month",
            "capacity.md history x raw bytes/row",
        ),
        Line(
            "(Avro objects of 25 years, Standard, no lifecycle rule: before)",
            gib(avro) * GCS_STANDARD,
            f"{avro / 1e12:.0f} TB x ${GCS_STANDARD}/GiB-month",
            "history x Avro bytes/row",
        ),
        Line(
            "Avro objects of 25 years, Coldline after 365 days (the rule: now)",
            gib(avro) * GCS_COLDLINE,
            f"{avro / 1e12:.0f} TB x ${GCS_COLDLINE}/GiB-month (a read costs $0.02/GiB)",
            "docs/costs.md's lifecycle rule",
        ),
        Line(
            "BigQuery storage of 25 years, physical, long-term",
            gib(physical) * BQ_LONG_PHYSICAL,
            f"{physical / 1e12:.0f} TB x ${BQ_LONG_PHYSICAL}/GiB-month",
            "physical bytes/row (Avro zstd stand-in); long-term after 90 days unmodified",
        ),
        Line(
            "(BigQuery storage of 25 years, logical, long-term: not chosen)",
            gib(logical) * BQ_LONG_LOGICAL,
            f"{logical / 1e15:.1f} PB x ${BQ_LONG_LOGICAL}/GiB-month",
            "logical bytes/row by BigQuery's rules",
        ),
        Line(
            "backfill of 25 years, once: conversion workers",
            cores / 4 * days * 24 * VM_4_CORE_HOUR,
            f"{cores} cores = {cores / 4:.2f} x e2-standard-4 x {days} days x 24 h x "
            f"${VM_4_CORE_HOUR}/h",
            "docs/capacity.md (c): 6.0e7 CPU-s in 30 days",
        ),
        Line(
            "backfill, once: load jobs and partition modifications",
            0.0,
            f"~9,150 loads (one per day-run, <= 10,000 files each) over {days} days: ~300 "
            f"a day of the {PARTITION_MODS_PER_DAY:,} partition modifications beside the "
            "live ~6,300; free",
            "docs/capacity.md, BigQuery quotas page",
        ),
        Line(
            "backfill, once: fetching 25 years from the archive",
            0.0,
            f"{raw / 1e12:.0f} TB in (ingress is free); {raw / 1e6 / (days * 86400):.0f} MB/s "
            f"for {days} days from RouteViews' servers",
            "network pricing (ingress)",
        ),
    ]


@dataclass(frozen=True)
class Effect:
    """One line the load policy changes: $ loading every file (before) and with the policy."""

    item: str
    before: float
    after: float
    formula: str
    source: str


def policy_shares(text: str = EXAMPLE_POLICY) -> tuple[float, float]:
    """The fractions of RIB and update files the policy loads (the module's own arithmetic)."""
    from cloudz.load_policy import LoadPolicy

    policy = LoadPolicy.parse(text)
    # a collector no rule names alone: the "*" rules, as they apply to every collector
    return policy.share("(any collector)", "RIBS"), policy.share("(any collector)", "UPDATES")


def policy_effect(text: str = EXAMPLE_POLICY) -> list[Effect]:
    """What ``text`` saves against loading every file: the lines that scale with rows loaded.

    A skipped file is still archived (raw bytes, catalog row, receiver and Airflow alike) and
    verified, but neither converted (no Avro object, no conversion CPU) nor loaded (no
    BigQuery storage, no load job, nothing to recount)."""
    rs, us = policy_shares(text)
    m = DAYS_PER_MONTH
    rib, upd = RIB_ROWS_PER_DAY, UPDATE_ROWS_PER_DAY

    def day(rib_b: float, upd_b: float, rib_share: float, upd_share: float) -> float:
        return rib * rib_b * rib_share + upd * upd_b * upd_share

    shares = f"RIB rows x {rs:g}, update rows x {us:g}"
    h_rib, h_upd = HISTORY_ROWS * HISTORY_RIB_SHARE, HISTORY_ROWS * (1 - HISTORY_RIB_SHARE)

    def hist(rib_b: float, upd_b: float, rib_share: float, upd_share: float) -> float:
        return h_rib * rib_b * rib_share + h_upd * upd_b * upd_share

    files = (RIB_FILES_PER_DAY * rs + UPDATE_FILES_PER_DAY * us, FILES_PER_DAY)
    return [
        Effect(
            "BigQuery storage, one month added, physical",
            gib(day(PHYSICAL_B_PER_RIB_ROW, PHYSICAL_B_PER_UPDATE_ROW, 1, 1)) * m
            * BQ_ACTIVE_PHYSICAL,
            gib(day(PHYSICAL_B_PER_RIB_ROW, PHYSICAL_B_PER_UPDATE_ROW, rs, us)) * m
            * BQ_ACTIVE_PHYSICAL,
            f"the month's line with {shares}",
            "cloudz.load_policy share(); rows/day (capacity.md)",
        ),
        Effect(
            "GCS Avro objects, one month added (Standard)",
            gib(day(AVRO_B_PER_RIB_ROW, AVRO_B_PER_UPDATE_ROW, 1, 1)) * m * GCS_STANDARD,
            gib(day(AVRO_B_PER_RIB_ROW, AVRO_B_PER_UPDATE_ROW, rs, us)) * m * GCS_STANDARD,
            f"the month's line with {shares} (a skipped file is not converted)",
            "cloudz/file_pipeline/convert_step.py not_loaded_report",
        ),
        Effect(
            "reconcile recount, hourly",
            (rib + upd) * RECOUNT_B_PER_ROW * 2 / TIB * m * BQ_PER_TIB_SCANNED,
            day(RECOUNT_B_PER_ROW, RECOUNT_B_PER_ROW, rs, us) * 2 / TIB * m * BQ_PER_TIB_SCANNED,
            f"the month's line with {shares} (only loaded files are recounted)",
            "cloudz/reconcile/recount.py candidates",
        ),
        Effect(
            "load jobs (partition modifications a day, free)",
            0.0,
            0.0,
            f"{files[1]:,} -> {files[0]:,.0f} of {PARTITION_MODS_PER_DAY:,} a day",
            "BigQuery quotas page",
        ),
        Effect(
            "BigQuery storage of 25 years, physical, long-term (per month)",
            gib(hist(PHYSICAL_B_PER_RIB_ROW, PHYSICAL_B_PER_UPDATE_ROW, 1, 1)) * BQ_LONG_PHYSICAL,
            gib(hist(PHYSICAL_B_PER_RIB_ROW, PHYSICAL_B_PER_UPDATE_ROW, rs, us))
            * BQ_LONG_PHYSICAL,
            f"the history's line with {shares} (RIB share of rows {HISTORY_RIB_SHARE:.2f})",
            "capacity.md history; cloudz.load_policy share()",
        ),
        Effect(
            "Avro objects of 25 years, Coldline (per month)",
            gib(hist(AVRO_B_PER_RIB_ROW, AVRO_B_PER_UPDATE_ROW, 1, 1)) * GCS_COLDLINE,
            gib(hist(AVRO_B_PER_RIB_ROW, AVRO_B_PER_UPDATE_ROW, rs, us)) * GCS_COLDLINE,
            f"the history's line with {shares}",
            "history x Avro bytes/row",
        ),
        Effect(
            "backfill of 25 years, once: conversion workers",
            BACKFILL_CORES / 4 * 30 * 24 * VM_4_CORE_HOUR,
            BACKFILL_CORES * (HISTORY_RIB_SHARE * rs + (1 - HISTORY_RIB_SHARE) * us)
            / 4 * 30 * 24 * VM_4_CORE_HOUR,
            f"{BACKFILL_CORES} cores x the share of rows converted "
            f"({HISTORY_RIB_SHARE * rs + (1 - HISTORY_RIB_SHARE) * us:.2f}) for 30 days",
            "docs/capacity.md (c), CPU taken as proportional to rows",
        ),
    ]  # fmt: skip


def _effect_table(effects: list[Effect]) -> list[str]:
    out = [
        "| item | load every file (before) | with the policy (after) | formula | source |",
        "|---|---:|---:|---|---|",
    ]
    for e in effects:
        out.append(f"| {e.item} | {e.before:,.0f} | {e.after:,.0f} | {e.formula} | {e.source} |")
    return out


def _table(lines: list[Line], unit: str = "$ / month") -> list[str]:
    out = [f"| item | {unit} | formula | source |", "|---|---:|---|---|"]
    for line in lines:
        out.append(f"| {line.item} | {line.dollars:,.0f} | {line.formula} | {line.source} |")
    return out


def _total(lines: list[Line]) -> float:
    return sum(line.dollars for line in lines if not line.item.startswith("("))


def render() -> str:
    month, hist = monthly(), history()
    per_month = [x for x in hist if "once" not in x.item]
    once = [x for x in hist if "once" in x.item]
    effects = policy_effect()
    live = [e for e in effects if "25 years" not in e.item]
    saved_month = sum(e.before - e.after for e in live)
    monthly_before, monthly_after = _total(month), _total(month) - saved_month
    stored = [e for e in effects if "25 years" in e.item and "once" not in e.item]
    history_before = _total(per_month)
    history_after = history_before - sum(e.before - e.after for e in stored)
    text = [
        "# Costs: the bill per month and per year of history",
        "",
        "Generated by `python bench/bill.py --write` (tests/unit/test_bill.py checks that this",
        "page is what the script prints): change an input in the script, not a figure here.",
        "Google's list prices for a US region as of December 2026, on-demand queries; re-check",
        "the pricing pages. Lines in parentheses are the alternative not chosen, or the state",
        "before a change, and are not in the totals.",
        "",
        "## One month of live files at RouteViews' volume",
        "",
        f"{FILES_PER_DAY:,} files and "
        f"{RIB_ROWS_PER_DAY + UPDATE_ROWS_PER_DAY:.2e} rows a day ([capacity.md](capacity.md)).",
        "Storage lines are what one month adds; each month's storage stays on the bill.",
        "",
        *_table(month),
        "",
        f"**Total for a month: ${_total(month):,.0f}**, of which each further month adds its",
        "storage lines again (a year of live files: storage x 12 at the year's end).",
        "",
        "## 25 years of history, loaded",
        "",
        *_table(per_month),
        "",
        f"**Storage of the history: ${_total(per_month):,.0f} a month.**",
        "",
        "Once, for the backfill ([backfill.md](backfill.md)):",
        "",
        *_table(once, "$, once"),
        "",
        "## Sizes and the compression ratio",
        "",
        "Bytes per row measured with the project's converter on a RouteViews-shaped RIB",
        "(`mrtgen rib --peers 40 --prefixes 10000 --locality 0.98 --pool 64`) and on RIPE RIS",
        "`updates.20160811.1600.gz` (shared/mrt-samples), Avro with zstandard blocks, logical",
        "bytes by BigQuery's data-size rules over the rows read back (bench/README.md,",
        '"The bill"): raw '
        f"{RAW_B_PER_RIB_ROW} / {RAW_B_PER_UPDATE_ROW}, Avro {AVRO_B_PER_RIB_ROW} / "
        f"{AVRO_B_PER_UPDATE_ROW}, logical {LOGICAL_B_PER_RIB_ROW:.0f} / "
        f"{LOGICAL_B_PER_UPDATE_ROW:.0f} bytes per RIB / update row.",
        "BigQuery publishes no compression ratio: physical bytes are taken as the Avro",
        "file's (a compressed row format; BigQuery's columnar storage usually does better),",
        "a logical/physical ratio of "
        f"{LOGICAL_B_PER_RIB_ROW / PHYSICAL_B_PER_RIB_ROW:.0f} for RIB rows. With it,",
        "**physical billing costs ~1/15 of logical** for this table; choose it on the dataset",
        "(`storage_billing_model = PHYSICAL`) and check the ratio after the first month with",
        "`INFORMATION_SCHEMA.TABLE_STORAGE` (`total_logical_bytes / total_physical_bytes`).",
        "",
        "## What the bill showed, and what changed",
        "",
        "- **The recount** read, at each hourly run, the collectors' rows of the whole UTC day so",
        "  far (12.5x each row a day); it now reads from the files' first to last record",
        "  (`records_window`): each row about twice (the 2-hour look-back of an hourly run).",
        "- **Avro objects** stay (the public archive's second format), on a lifecycle rule:",
        "  Standard for 30 days (the reconcile and reloads read them), Nearline until 365 days,",
        "  Coldline after: `deploy/terraform/storage.tf`, the archive bucket's `lifecycle_rule`",
        '  with `matches_suffix = [".avro"]` and `age = var.avro_nearline_after_days` (30), and',
        "  the bucket's rule for every object at `var.cold_after_days` (365). Raw files stay",
        "  Standard for their first year (the public downloads them).",
        "- **Runs in Airflow's DB**: 30 days kept (`mrt_maintenance`), so the metadata DB stays",
        "  small (bench/README.md, the year of runs).",
        "- **A load policy per collector and kind** (`cloudz.load_policy`; the Airflow Variable",
        "  `cloudz_load_policy` or `CLOUDZ_LOAD_POLICY`): RIB rows are "
        f"~{RIB_ROWS_PER_DAY / (RIB_ROWS_PER_DAY + UPDATE_ROWS_PER_DAY):.0%} of all rows,",
        "  so loading a RIB every few hours cuts what scales with rows loaded. The default",
        "  still loads every file (the tables above); every file is archived and verified",
        "  whatever the policy, and `cloudz-backfill --ignore-load-policy` loads the rest",
        '  later (at the "before" cost of what it loads). Below.',
        "",
        f"## The load policy's effect: `{EXAMPLE_POLICY}`",
        "",
        "Every update file and the RIB named in the first 2 hours of each 8-hour UTC block",
        f"(RIB files x {policy_shares()[0]:g}, by `LoadPolicy.share`); $ per month unless",
        "marked once. Lines not listed (raw files, catalog, egress, Airflow, receivers) do",
        "not change: a skipped file is still archived, verified and catalogued.",
        "",
        *_effect_table(effects),
        "",
        f"**A month of live files: ${monthly_before:,.0f} -> ${monthly_after:,.0f}**; "
        f"**the history's storage: ${history_before:,.0f} -> ${history_after:,.0f} a month**.",
        "",
    ]
    return "\n".join(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    ap.add_argument("--check", action="store_true", help="exit 1 if the doc differs")
    args = ap.parse_args()
    text = render()
    if args.write:
        DOC.write_text(text)
    elif args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is not what bench/bill.py prints: run it with --write", file=sys.stderr)
            sys.exit(1)
    else:
        print(text)


if __name__ == "__main__":
    main()
