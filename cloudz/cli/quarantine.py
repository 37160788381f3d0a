"""``cloudz-quarantine``: move a bad archived file out of the way so the right bytes can come.

Archived paths are create-only (:mod:`cloudz.archive.store`): a collector that once uploaded a
truncated or garbage file under the right name would get CONFLICT for the correct bytes
forever. This operator command quarantines that version: its raw object and Avro parts go to
the private working bucket's ``_quarantine/<path>/<sha256>/`` (still readable there), its rows
leave the routes table, the files catalog reads it as *quarantined*, and the audit table
records who, when, why and both hashes. Then the collector uploads the correct file as usual:
STORED, converted, loaded.

It runs with the operator's own Google credentials (Application Default Credentials, e.g. by
impersonating the ``cloudz-operator`` account: docs/deploy.md), never a collector's: a
collector's credential reaches only the receiver, which offers no such call. ``--sha256`` is
required so a command repeated after the replacement arrived never quarantines the good file:
it is then a no-op that records the replacement's sha256. docs/runbook.md, "Replace a bad file".
"""

from __future__ import annotations

import getpass
import json
import logging
import socket
import sys
from dataclasses import asdict

import click

from cloudz.quarantine import objects
from cloudz.quarantine.replace import NotQuarantinable, Places, quarantine
from cloudz.settings import Settings


def operator_name() -> str:
    """``user@host`` and, when the credentials name one, the Google account acting."""
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    try:
        import google.auth

        credentials, _ = google.auth.default()
    except Exception:  # no Google credentials: the emulators, or a refusal to come later
        return who
    account = getattr(credentials, "service_account_email", None) or getattr(
        credentials, "account", None
    )
    return f"{who} as {account}" if account else who


@click.command()
@click.argument("archive_path")
@click.option(
    "--sha256", required=True, help="The bad version's sha256 (upload-to-cloudz status shows it)."
)
@click.option("--reason", required=True, help="Why: kept in the audit and the files catalog.")
@click.option(
    "--by", "by", default="", help="Who, for the audit (default: user@host and the Google account)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def main(archive_path: str, sha256: str, reason: str, by: str, as_json: bool) -> None:
    """Quarantine the version SHA256 of ARCHIVE_PATH (safe to run again)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from cloudz.warehouse.clients import bigquery_client, storage_client

    settings = Settings.from_env()
    places = Places(
        bucket=settings.bucket,
        work_bucket=settings.working_bucket,
        routes_ref=settings.table_ref,
        files_ref=settings.files_ref,
        audit_ref=settings.quarantine_ref,
    )
    if places.work_bucket == places.bucket:
        raise click.ClickException(
            "CLOUDZ_WORK_BUCKET is not set: quarantined bytes go to the private working bucket, "
            "never the public archive bucket"
        )
    try:
        out = quarantine(
            storage_client(settings),
            bigquery_client(settings),
            places,
            archive_path,
            sha256,
            reason=reason,
            operator=by or operator_name(),
        )
    except (NotQuarantinable, objects.ObjectChanged, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(asdict(out), indent=2))
        return
    click.echo(f"{out.archive_path} {out.sha256[:16]}: {out.action}")
    for step in out.steps:
        click.echo(f"  {step}")
    click.echo(f"  quarantined bytes: {out.quarantine_uri} ({out.avro_objects} Avro parts)")
    if out.replacement_sha256:
        click.echo(f"  replaced by sha256 {out.replacement_sha256}")
    elif out.action != "already":
        click.echo("  the path is open: the collector may upload the correct file now")
    sys.exit(0)
