"""``cloudz-smoke`` against the embedded stack, as a deployer runs it against the real service:
a collector credential of its own, the Makefile's demo sample under that collector's path.
What only Google enforces the emulators do not: fake-gcs-server takes the public's write and the
BigQuery emulator estimates 0 bytes for a dry run, and the command says "not checkable on the
emulator" for both; this test checks that it says so rather than "ok", and that every other
check is ok here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stack_session import Stack, issue_token

from cloudz.settings import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "../shared/mrt-samples/ripe-ris/updates.20160811.1600.gz"
PATH = "smoke/bgpdata/2016.08/UPDATES/updates.20160811.1600.gz"


def _smoke(stack: Stack, token: Path) -> subprocess.CompletedProcess[str]:
    return stack.run(
        sys.executable, "-m", "cloudz.cli.smoke", "-d", stack.endpoint, "-f", str(SAMPLE),
        "--archive-path", PATH, "--token-file", str(token), "--other-collector", "rrc00",
        "--ca-cert", str(stack.settings.tls_ca_cert), "--wait", "600",
        timeout=900,
    )  # fmt: skip


def _results(out: str) -> dict[str, str]:
    """check name → its result, from the command's lines."""
    results = {}
    for line in out.splitlines():
        result, _, rest = line.partition(" ")
        if result == "not":
            result, rest = "not checkable on the emulator", line[29:]
        results[rest.strip().split(":")[0]] = result
    return results


def test_the_smoke_check_passes_and_names_what_the_emulator_cannot_refuse(
    stack: Stack, tmp_path: Path
) -> None:
    token = tmp_path / "smoke.token"
    issue_token(stack, "smoke check", "smoke", token)
    for _ in range(2):  # a second run finds the sample archived and checks the same rows
        proc = _smoke(stack, token)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert _results(proc.stdout) == {
            "upload with the collector's credential": "ok",
            "its rows read back": "ok",
            "dry-run of the documented query": "not checkable on the emulator",
            "the credential writing another collector's path": "ok",
            "the public reading the archive": "ok",
            "the public writing the archive": "not checkable on the emulator",
        }, proc.stdout
