"""``cloudz-credentials``: issue, list and revoke the credentials collectors upload with.

The receiver reads the same file (``CLOUDZ_RECEIVER_CREDENTIALS``, by default
``state_dir/credentials.json``) and notices changes within a second: no restart.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import click

from cloudz.collector_credentials import CredentialError, CredentialFile
from cloudz.settings import Settings


def _file(path: Path | None) -> CredentialFile:
    return CredentialFile(path or Settings.from_env().credentials_file)


file_option = click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Credentials file (default: CLOUDZ_RECEIVER_CREDENTIALS, or the local stack's).",
)
collector_option = click.option(
    "-c",
    "--collector",
    "collectors",
    multiple=True,
    required=True,
    help="A collector the credential may write (repeat; '*' for all).",
)


@click.group(help=__doc__)
def main() -> None:
    pass


@main.command()
@click.option("--name", required=True, help="Who holds it, e.g. the collector's host.")
@collector_option
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the token to this file (mode 0600) instead of printing it.",
)
@file_option
def issue(
    name: str, collectors: tuple[str, ...], token_file: Path | None, path: Path | None
) -> None:
    """Issue a token; it is shown once, only its hash is kept."""
    try:
        entry, token = _file(path).issue(name, list(collectors))
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from exc
    if token_file is not None:
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        click.echo(f"issued {entry.id} for {', '.join(entry.collectors)}; token in {token_file}")
    else:
        click.echo(f"issued {entry.id} for {', '.join(entry.collectors)}", err=True)
        click.echo(token)


@main.command("add-service-account")
@click.argument("email")
@collector_option
@file_option
def add_service_account(email: str, collectors: tuple[str, ...], path: Path | None) -> None:
    """Let a service account's Google-signed ID tokens write these collectors."""
    try:
        entry = _file(path).add_service_account(email, list(collectors))
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"added {entry.id}: {email} for {', '.join(entry.collectors)}")


@main.command("list")
@click.option("--json", "as_json", is_flag=True)
@file_option
def list_(as_json: bool, path: Path | None) -> None:
    """The credentials (never a secret: none is stored)."""
    entries = _file(path).read().entries
    if as_json:
        click.echo(json.dumps([asdict(e) | {"secret_sha256": None} for e in entries], indent=2))
        return
    for e in entries:
        state = f"revoked {e.revoked}" if e.revoked else "active"
        who = e.email or e.name
        click.echo(f"{e.id}  {e.kind:<15} {state:<28} {','.join(e.collectors):<24} {who}")


@main.command()
@click.argument("credential_id")
@file_option
def revoke(credential_id: str, path: Path | None) -> None:
    """Revoke a credential: the receiver refuses it within a second."""
    try:
        entry = _file(path).revoke(credential_id)
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {entry.id} ({entry.name}) at {entry.revoked}")


if __name__ == "__main__":  # pragma: no cover
    main()
