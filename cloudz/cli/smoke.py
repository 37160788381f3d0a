"""``cloudz-smoke``: after a deployment, check the real service end to end in one command.

A deployer runs it with a collector credential for a collector kept for this check (its paths
are archived for good, so a second run finds the sample ALREADY_ARCHIVED and checks the same
rows). Each check prints ``ok``, ``FAILED`` or ``not checkable on the emulator`` (what only
Google's IAM enforces: an emulator accepts it); the exit status is 1 when any check failed.

1. the sample is uploaded with the collector's credential and its run succeeds;
2. its rows are read back from the routes table: as many as the run converted;
3. a documented query (docs/deploy.md: a collector's day of routes) is dry-run: its bytes;
4. the collector's credential writing another collector's path is refused (the receiver);
5. the public writing the archive bucket is refused (IAM), and reading it is allowed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from cloudz.archive import paths
from cloudz.settings import Settings

OK = "ok"
FAILED = "FAILED"
NOT_ON_EMULATOR = "not checkable on the emulator"

#: docs/deploy.md's example query: one collector's routes of one day (one month partition,
#: that collector's clustered blocks)
DAY_QUERY = (
    "SELECT COUNT(*) AS n FROM `{table}` WHERE timestamp >= @day "
    "AND timestamp < TIMESTAMP_ADD(@day, INTERVAL 1 DAY) AND collector = @collector"
)


@dataclass(frozen=True)
class Check:
    name: str
    result: str
    detail: str

    def line(self) -> str:
        return f"{self.result:<29} {self.name}: {self.detail}"


def _upload(endpoint: str, file: Path, path: str, token: Path, ca: str, wait: int) -> Any:
    command = [sys.executable, "-m", "cloudz.cli.upload", "-f", str(file), "-d", endpoint,
               "--archive-path", path, "--token-file", str(token), "--json",
               "--wait", str(wait)]  # fmt: skip
    if ca:
        command += ["--ca-cert", ca]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        return proc.returncode, {"error": {"code": "NO_REPLY", "reason": proc.stderr[-400:]}}


def _on_emulator() -> bool:
    return bool(os.environ.get("STORAGE_EMULATOR_HOST") or os.environ.get("BIGQUERY_EMULATOR_HOST"))


def check_upload(settings: Settings, args: dict[str, Any]) -> tuple[Check, dict[str, Any]]:
    code, reply = _upload(
        args["endpoint"], args["sample"], args["archive_path"], args["token_file"],
        args["ca_cert"], args["wait"],
    )  # fmt: skip
    result = (reply.get("archive") or {}).get("result", "")
    good = code == 0 and reply.get("outcome") == "OUTCOME_SUCCEEDED"
    detail = f"{args['archive_path']}: exit {code}, {reply.get('outcome')}, {result}"
    return Check("upload with the collector's credential", OK if good else FAILED, detail), reply


def check_rows(settings: Settings, path: str, reply: dict[str, Any]) -> Check:
    from cloudz.warehouse.clients import bigquery_client, count_file_rows

    expected = int((reply.get("conversion") or {}).get("rows") or -1)
    rows = count_file_rows(bigquery_client(settings), settings, path)
    good = rows == expected and rows > 0
    return Check("its rows read back", OK if good else FAILED, f"{rows} rows, converted {expected}")


def check_dry_run(settings: Settings, collector: str, day: dt.date) -> Check:
    from google.cloud import bigquery

    from cloudz.warehouse.clients import bigquery_client

    config = bigquery.QueryJobConfig(
        dry_run=True,
        use_query_cache=False,
        query_parameters=[
            bigquery.ScalarQueryParameter(
                "day", "TIMESTAMP", dt.datetime.combine(day, dt.time(), dt.UTC)
            ),
            bigquery.ScalarQueryParameter("collector", "STRING", collector),
        ],
    )
    sql = DAY_QUERY.format(table=settings.table_ref)
    try:
        job = bigquery_client(settings).query(sql, job_config=config)
    except Exception as exc:  # the refusal is the finding
        return Check("dry-run of the documented query", FAILED, str(exc)[:300])
    billed = job.total_bytes_processed
    if _on_emulator() and not billed:  # the BigQuery emulator estimates 0 bytes
        return Check("dry-run of the documented query", NOT_ON_EMULATOR, f"estimated {billed}")
    if billed is None:
        return Check("dry-run of the documented query", FAILED, "no byte estimate")
    return Check("dry-run of the documented query", OK, f"{billed} bytes processed")


def check_other_path(settings: Settings, args: dict[str, Any]) -> Check:
    other = args["other_collector"]
    parsed = paths.parse(args["archive_path"])
    path = args["archive_path"].replace(f"{parsed.collector}/", f"{other}/", 1)
    code, reply = _upload(
        args["endpoint"], args["sample"], path, args["token_file"], args["ca_cert"], 30
    )
    error = reply.get("error") or {}
    good = code == 3 and error.get("code") == "PERMISSION_DENIED"
    detail = f"{path}: exit {code}, {error.get('code') or reply.get('outcome')}"
    return Check("the credential writing another collector's path", OK if good else FAILED, detail)


def check_public_write(settings: Settings, path: str) -> list[Check]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    public = storage.Client(project=settings.gcp_project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    bucket = public.bucket(settings.bucket)
    checks = []
    try:
        readable = bucket.blob(path).exists()
        checks.append(Check("the public reading the archive", OK if readable else FAILED, path))
    except Exception as exc:
        checks.append(Check("the public reading the archive", FAILED, str(exc)[:300]))
    name = f"_smoke/public-write-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    try:
        bucket.blob(name).upload_from_string(b"public write", if_generation_match=0)
    except Exception as exc:  # refused, as it must be
        checks.append(Check("the public writing the archive", OK, f"refused: {str(exc)[:120]}"))
        return checks
    if _on_emulator():
        bucket.blob(name).delete()
        result, detail = NOT_ON_EMULATOR, "the emulator takes anonymous writes (no IAM)"
    else:
        result, detail = FAILED, f"gs://{settings.bucket}/{name} was written without credentials"
    checks.append(Check("the public writing the archive", result, detail))
    return checks


def run_checks(settings: Settings, args: dict[str, Any]) -> list[Check]:
    """Every check, in order; the rows are read only when the upload succeeded."""
    upload, reply = check_upload(settings, args)
    checks = [upload]
    parsed = paths.parse(args["archive_path"])
    if upload.result == OK:
        checks.append(check_rows(settings, args["archive_path"], reply))
    named = re.search(r"\.(\d{8})\.", args["archive_path"])  # the day the file's name says
    day = dt.datetime.strptime(named.group(1), "%Y%m%d").date() if named else dt.date.today()
    checks.append(check_dry_run(settings, parsed.collector, day))
    checks.append(check_other_path(settings, args))
    checks.extend(check_public_write(settings, args["archive_path"]))
    return checks


@click.command()
@click.option("-d", "--endpoint", required=True, help="The receiver, e.g. https://host:50051.")
@click.option(
    "-f",
    "--sample",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="An MRT file named as --archive-path says (its records' time).",
)
@click.option(
    "--archive-path",
    required=True,
    help="Where the sample goes, under the smoke collector: archived for good.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The smoke collector's credential.",
)
@click.option(
    "--other-collector",
    default="route-views2",
    show_default=True,
    help="A collector the credential may not write.",
)
@click.option("--ca-cert", default="", help="The receiver's CA (a private one).")
@click.option("--wait", default=600, show_default=True, help="Seconds to wait for the run.")
def main(**args: Any) -> None:
    """Upload a sample, read its rows back, dry-run a documented query, and check the refusals
    IAM and the receiver must give; exit 1 if any check failed (settings: CLOUDZ_*)."""  # fmt: skip
    checks = run_checks(Settings.from_env(), args)
    for check in checks:
        click.echo(check.line())
    sys.exit(1 if any(c.result == FAILED for c in checks) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
