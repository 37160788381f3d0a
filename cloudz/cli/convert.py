"""``cloudz-convert``: one MRT file (bz2, gzip or raw, told by magic bytes) into Avro rows.

The same converter, row schema and report as the pipeline, for a researcher's own file and
without any service. The report goes to stderr; the exit code says how it went, so scripts can
tell a clean file from a damaged one (docs/convert-cli.md).
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import click

from cloudz.convert.report import ConversionReport


class Exit(enum.IntEnum):
    """The documented exit codes (docs/convert-cli.md)."""

    OK = 0  # converted, nothing repaired or lost
    DAMAGED = 1  # converted, but records were repaired, dropped, or the file ends in damage
    USAGE = 2  # bad command line (click's own code for usage errors)
    NOT_MRT = 3  # not an MRT file, unreadable, or a decompression bomb: no output written


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _collector_of(path: Path) -> str | None:
    """The collector named by an archive-style path (``<collector>/bgpdata/...``), or None."""
    from cloudz.archive.paths import ArchivePathError, from_local_file

    try:
        return from_local_file(path.resolve()).collector
    except ArchivePathError:
        return None


def _convert(src: Path, dst: Path, codec: str, per_file: dict[str, str]) -> ConversionReport:
    """The compiled engine with the chosen codec, or the reference (deflate) without it."""
    from cloudz.archive.time_window import of_source_path
    from cloudz.convert import convert_file, fast_path

    collector, path, sha = per_file["collector"], per_file["source_path"], per_file["sha256"]
    if fast_path.available():
        return fast_path.convert_file_fast(
            src, dst, collector=collector, source_path=path, source_sha256=sha, codec=codec,
            time_window=of_source_path(path),
        )  # fmt: skip
    return convert_file(
        src, dst, collector=collector, source_path=path, source_sha256=sha, engine="python"
    )


def _jsonl(avro: Path, out: IO[str]) -> None:
    import fastavro

    with avro.open("rb") as f:
        for row in fastavro.reader(f):
            out.write(json.dumps(row, default=_json_value, sort_keys=False) + "\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def human_report(src: Path, report: ConversionReport) -> str:
    """The report as a few lines for a person."""
    lines = [
        f"{src}: {report.rows} rows from {report.records} records ({report.status})",
        f"  prefixes with host bits masked: {report.masked_prefixes}",
    ]
    for what, counts in (("repaired", report.repairs), ("dropped", report.drops)):
        for reason, n in sorted(counts.items()):
            lines.append(f"  records {what}: {n} {reason}")
    if report.time_note is not None:
        lines.append(f"  {report.time_note}")
    if report.damage is not None:
        d = report.damage
        lines.append(f"  damage at byte {d.offset}: {d.reason}")
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("mrt_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    default=None,
    help="Avro (or with --jsonl, JSON lines) file to write; '-' for stdout. "
    "Default: MRT_FILE.avro (.jsonl) in the current directory.",
)
@click.option("--jsonl", is_flag=True, help="write JSON lines instead of Avro (a quick look)")
@click.option(
    "--collector",
    default=None,
    help="collector column; default: from an archive-style path (<collector>/bgpdata/...), "
    "else 'unknown'",
)
@click.option("--source-path", default=None, help="source_path column; default: the file's name")
@click.option(
    "--codec",
    type=click.Choice(["deflate", "zstandard"]),
    default="deflate",
    show_default=True,
    help="Avro block codec: deflate is read everywhere (DuckDB too), zstandard is smaller",
)
@click.option("--report-json", is_flag=True, help="the report on stderr as one JSON object")
def main(
    mrt_file: Path,
    output: str | None,
    jsonl: bool,
    collector: str | None,
    source_path: str | None,
    codec: str,
    report_json: bool,
) -> None:
    """Convert MRT_FILE (bz2, gzip or raw MRT) into rows of the cloudz row schema."""
    from cloudz.convert.limits import LimitExceeded

    if not mrt_file.is_file() or not os.access(mrt_file, os.R_OK):
        click.echo(f"cloudz-convert: cannot read {mrt_file}", err=True)
        sys.exit(Exit.NOT_MRT)
    per_file = {
        "collector": collector or _collector_of(mrt_file) or "unknown",
        "source_path": source_path or mrt_file.name,
        "sha256": _sha256(mrt_file),
    }
    suffix = ".jsonl" if jsonl else ".avro"
    target = output or f"{mrt_file.name}{suffix}"
    with tempfile.TemporaryDirectory(prefix="cloudz-convert-") as tmp:
        avro = Path(tmp) / "rows.avro"
        try:
            report = _convert(mrt_file, avro, codec, per_file)
        except LimitExceeded as e:
            click.echo(f"cloudz-convert: {mrt_file}: {e}", err=True)
            sys.exit(Exit.NOT_MRT)
        if report.not_mrt is not None:
            click.echo(f"cloudz-convert: {mrt_file}: {report.not_mrt}", err=True)
            sys.exit(Exit.NOT_MRT)
        if jsonl:
            if target == "-":
                _jsonl(avro, sys.stdout)
            else:
                with open(target, "w", encoding="utf-8") as out:
                    _jsonl(avro, out)
        elif target == "-":
            with avro.open("rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)
        else:
            shutil.move(avro, target)
    if report_json:
        click.echo(json.dumps({**report.to_dict(), "status": report.status}), err=True)
    else:
        click.echo(human_report(mrt_file, report), err=True)
    sys.exit(Exit.OK if report.status == "ok" else Exit.DAMAGED)


if __name__ == "__main__":
    main()
