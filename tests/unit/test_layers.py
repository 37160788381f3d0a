"""The package layering of ``cloudz`` (``[tool.importlinter]`` in pyproject.toml) holds.

The contracts say the tree reads as the pipeline: no package imports from a later stage than
its own, and no two modules of one package import each other. ``lint-imports`` builds the
import graph from the source (lazy imports inside functions included) and checks both.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_import_contracts_are_kept() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout, done.stdout


def test_a_new_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """The contract is not vacuous: the archive's path rules importing the warehouse fails it."""
    copy = tmp_path / "src"
    for name in ("cloudz", "ingest_service"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("*.so"))
    paths = copy / "cloudz" / "archive" / "paths.py"
    paths.write_text(paths.read_text() + "\nfrom cloudz.warehouse import schema  # noqa\n")
    done = lint_imports(copy, env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0, done.stdout
    assert "cloudz.archive is not allowed to import cloudz.warehouse" in done.stdout, done.stdout


def test_every_room_of_cloudz_has_its_layer() -> None:
    """A module or package added under ``cloudz/`` without a layer would escape the contract:
    import-linter checks only the modules the layers name."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    named = {m.strip() for layer in layers for m in layer.split("|")}
    rooms = {
        f"cloudz.{p.stem}"
        for p in (ROOT / "cloudz").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert rooms - named == set(), sorted(rooms - named)
