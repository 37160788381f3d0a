"""The docs an on-call operator reads: each DAG's ``doc_md`` as the UI renders it, and
docs/runbook.md's answer to each alert, with commands that the CLIs accept."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from cloudz.settings import PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"
RUNBOOK = PROJECT_ROOT / "docs" / "runbook.md"
ALERTS = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml"
#: a setting or identifier: words joined by underscores (``CLOUDZ_MIRROR_LOOKBACK_HOURS``,
#: ``clean_runs``, ``year_of_runs.py``); outside a code span Markdown may eat the underscores
IDENTIFIER = re.compile(r"[A-Za-z0-9]+(?:_+[A-Za-z0-9]+)+")
FAILURE_SECTION = "When runs fail"


def _markdown() -> MarkdownIt:
    """CommonMark with GFM tables and strikethrough, as the Airflow 3 UI renders doc_md."""
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _inline_tokens(text: str) -> list[Token]:
    tokens = []
    for block in _markdown().parse(text):
        tokens += block.children or []
    return tokens


def stray_markup(text: str) -> list[str]:
    """What renders wrong: an identifier outside a code span, emphasis made of underscores."""
    problems = []
    for token in _inline_tokens(text):
        if token.type in ("em_open", "strong_open") and "_" in token.markup:
            problems.append(f"underscore emphasis ({token.markup}) near {token.content!r}")
        if token.type == "text":
            problems += [
                f"{m.group(0)!r} outside backticks" for m in IDENTIFIER.finditer(token.content)
            ]
    return problems


def headings(text: str) -> dict[str, int]:
    """Each heading's text and level."""
    found, tokens = {}, _markdown().parse(text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            found[tokens[i + 1].content.strip()] = int(token.tag[1:])
    return found


def _dag_docs(airflow_home: Path) -> dict[str, str]:
    """Every DAG's doc_md as the API serves it to the UI (``inspect.cleandoc``)."""
    code = f"""
        import inspect, json
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS)!r})
        assert not bag.import_errors, bag.import_errors
        print(json.dumps({{d: inspect.cleandoc(dag.doc_md or "") for d, dag in bag.dags.items()}}))
        """
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    }
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    docs: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return docs


@pytest.fixture(scope="module")
def dag_docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _dag_docs(tmp_path_factory.mktemp("airflow_home"))


def test_the_checker_finds_what_the_ui_renders_wrong() -> None:
    assert stray_markup("the last CLOUDZ_MIRROR_LOOKBACK_HOURS (48)") == [
        "'CLOUDZ_MIRROR_LOOKBACK_HOURS' outside backticks"
    ]
    assert stray_markup("**clean_runs** removes") == ["'clean_runs' outside backticks"]
    assert stray_markup("see bench/year_of_runs.py") == ["'year_of_runs' outside backticks"]
    assert stray_markup("a _stage_ b")[0].startswith("underscore emphasis")
    assert stray_markup("**`clean_runs`**, `CLOUDZ_A_B`, *verify*, `x_y.py`") == []


def test_every_dag_doc_renders_without_stray_markup(dag_docs: dict[str, str]) -> None:
    assert {"mrt_file", "mrt_mirror", "mrt_backfill", "mrt_reconcile", "mrt_maintenance"} <= set(
        dag_docs
    )
    problems = {dag_id: stray_markup(doc) for dag_id, doc in dag_docs.items()}
    assert {dag_id: found for dag_id, found in problems.items() if found} == {}


def test_every_dag_doc_says_what_to_do_when_runs_fail(dag_docs: dict[str, str]) -> None:
    missing = [d for d, doc in dag_docs.items() if FAILURE_SECTION not in headings(doc)]
    assert missing == []


def _alerts() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["alert"] for group in rules["groups"] for rule in group["rules"]]


def _sections(text: str) -> dict[str, str]:
    """The text under each level-2 heading, up to the next one."""
    parts = re.split(r"^## +(.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_alert_has_a_runbook_section_with_a_command() -> None:
    sections = _sections(RUNBOOK.read_text())
    alerts = _alerts()
    assert len(alerts) > 10
    assert [a for a in alerts if a not in sections] == []
    without_command = [a for a in alerts if "```" not in sections[a]]
    assert without_command == []


def _commands() -> dict[str, click.Command]:
    from cloudz.cli import backfill, credentials, quarantine, upload
    from cloudz.stack import cli as stack_cli

    return {
        "cloudz-backfill": backfill.main,
        "cloudz-credentials": credentials.main,
        "cloudz-quarantine": quarantine.main,
        "upload-to-cloudz": upload.main,
        "cloudz-stack": stack_cli.main,
    }


def _command_lines(text: str) -> list[str]:
    """Each line of the fenced shell blocks (a ``\\`` continuation joined)."""
    blocks = re.findall(r"^ *```sh\n(.*?)^ *```", text, flags=re.MULTILINE | re.DOTALL)
    return [line.strip() for b in blocks for line in b.replace("\\\n", " ").splitlines()]


def _unknown_options(command: click.Command, args: list[str]) -> list[str]:
    """The options (and sub-command) in ``args`` that ``command`` does not define."""
    if isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.commands.get(args[0])
        if sub is None:
            return [f"no sub-command {args[0]!r}"]
        command, args = sub, args[1:]
    known: set[str] = set()
    for param in command.params:
        known.update(param.opts, param.secondary_opts)
    known.add("--help")
    return [a.split("=", 1)[0] for a in args if a.startswith("-") and a.split("=")[0] not in known]


def test_runbook_commands_are_options_the_clis_define() -> None:
    commands = _commands()
    checked: list[str] = []
    problems: dict[str, Any] = {}
    for line in _command_lines(RUNBOOK.read_text()):
        words = shlex.split(line, comments=True)
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # leading env settings
            words = words[1:]
        if not words:
            continue
        name = Path(words[0]).name
        if name in commands:
            checked.append(line)
            unknown = _unknown_options(commands[name], words[1:])
            if unknown:
                problems[line] = unknown
    assert problems == {}
    assert {Path(shlex.split(c)[0]).name for c in checked} >= set(commands)
