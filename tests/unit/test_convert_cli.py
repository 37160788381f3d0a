"""``cloudz-convert`` run as a subprocess on real samples: what a researcher gets.

The console script is used when it is installed beside this interpreter (``make setup``
installs the project); otherwise ``python -m cloudz.cli.convert``, the same ``main``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import fastavro
import pytest
from samples import SAMPLES_DIR

from cloudz.cli.convert import Exit
from cloudz.convert import convert_file
from cloudz.settings import PROJECT_ROOT

SAMPLE = SAMPLES_DIR / "ripe-ris" / "updates.20071015.1505.gz"
SCRIPT = Path(sys.executable).with_name("cloudz-convert")
pytestmark = pytest.mark.skipif(not SAMPLE.is_file(), reason=f"{SAMPLE} missing")


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    cmd = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "cloudz.cli.convert"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *sys.path])}
    return subprocess.run(
        [*cmd, *map(str, args)], cwd=cwd, capture_output=True, env=env, timeout=300
    )


def library_rows(src: Path, tmp_path: Path) -> int:
    return convert_file(
        src, tmp_path / "lib.avro", collector="c", source_path="p", source_sha256="s"
    ).rows


def test_the_console_script_is_declared() -> None:
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["cloudz-convert"] == "cloudz.cli.convert:main"


def test_avro_out_readable_with_the_library_row_count(tmp_path: Path) -> None:
    archive = tmp_path / "route-views.test" / "bgpdata" / "2007.10" / "UPDATES"
    archive.mkdir(parents=True)
    src = archive / "updates.20071015.1505.gz"
    shutil.copy(SAMPLE, src)
    done = run(src, "-o", tmp_path / "out.avro", cwd=tmp_path)
    assert done.returncode == Exit.OK, done.stderr
    with (tmp_path / "out.avro").open("rb") as f:
        reader = fastavro.reader(f)
        assert reader.metadata["avro.codec"] == "deflate"
        rows = [r for r in reader if isinstance(r, dict)]
    assert len(rows) == library_rows(src, tmp_path) > 0
    assert {r["collector"] for r in rows} == {"route-views.test"}  # inferred from the path
    assert b"rows from" in done.stderr


def test_jsonl_to_stdout_and_report_json(tmp_path: Path) -> None:
    done = run(SAMPLE, "--jsonl", "-o", "-", "--report-json", "--collector", "x", cwd=tmp_path)
    assert done.returncode == Exit.OK, done.stderr
    lines = done.stdout.decode().splitlines()
    rows: list[dict[str, Any]] = [json.loads(line) for line in lines]
    assert len(rows) == library_rows(SAMPLE, tmp_path)
    assert rows[0]["collector"] == "x" and rows[0]["source_path"] == SAMPLE.name
    report = json.loads(done.stderr)
    assert (report["rows"], report["status"], report["masked_prefixes"]) == (len(rows), "ok", 0)


def test_a_damaged_file_converts_with_its_own_exit_code(tmp_path: Path) -> None:
    from test_convert_repairs import ATTRS, GOOD, update

    src = tmp_path / "damaged.mrt"
    src.write_bytes(update(b"", ATTRS, GOOD + bytes([24, 10, 1])) + b"\x00\x01\x02")
    done = run(src, "--report-json", cwd=tmp_path)
    assert done.returncode == Exit.DAMAGED, done.stderr
    report = json.loads(done.stderr)
    assert report["repairs"] == {"nlri_truncated": 1} and report["damage"] is not None
    with (tmp_path / "damaged.mrt.avro").open("rb") as f:
        assert len(list(fastavro.reader(f))) == 1


def test_not_an_mrt_file(tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("this is not MRT\n" * 10)
    done = run(src, cwd=tmp_path)
    assert done.returncode == Exit.NOT_MRT
    assert b"not an MRT file" in done.stderr
    assert not (tmp_path / "notes.txt.avro").exists()
    missing = run(tmp_path / "missing.bz2", cwd=tmp_path)
    assert missing.returncode == Exit.NOT_MRT


def test_usage_error(tmp_path: Path) -> None:
    assert run("--no-such-flag", cwd=tmp_path).returncode == Exit.USAGE


def test_the_duckdb_example_of_the_docs(tmp_path: Path) -> None:
    """docs/convert-cli.md: DuckDB reads the (deflate) Avro with its avro extension, loaded
    from the ``duckdb-extension-avro`` wheel (no download)."""
    duckdb = pytest.importorskip("duckdb")
    ext = pytest.importorskip("duckdb_extension_avro")
    assert run(SAMPLE, "-o", tmp_path / "rows.avro", cwd=tmp_path).returncode == Exit.OK
    path = next(Path(ext.__file__).parent.glob("extensions/*/avro.duckdb_extension"))
    con = duckdb.connect()
    con.execute(f"LOAD '{path}'")
    (count,) = con.execute(f"SELECT count(*) FROM read_avro('{tmp_path / 'rows.avro'}')").fetchone()
    assert count == library_rows(SAMPLE, tmp_path)


def test_a_built_wheel_carries_the_schema_and_converts_outside_the_checkout(
    tmp_path: Path,
) -> None:
    """A researcher's plain ``pip install`` (no checkout, no ``include/``) converts too: the
    wheel carries the row schema (``setup.py`` copies it into ``cloudz/schemas``)."""
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(PROJECT_ROOT)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("routeviews_cloudz-*.whl")
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert (target / "cloudz" / "schemas" / "mrt_row.avsc").is_file()
    assert not (target / "include").exists()
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys, cloudz.warehouse.schema, cloudz.cli.convert as c; "
         "print(cloudz.warehouse.schema.AVSC_PATH, file=sys.stderr); sys.exit(c.main())",
         str(SAMPLE), "-o", str(tmp_path / "out.avro")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(target)},
    )  # fmt: skip
    assert done.returncode == Exit.OK, done.stderr
    assert done.stderr.startswith(str(target / "cloudz" / "schemas" / "mrt_row.avsc")), done.stderr
    with (tmp_path / "out.avro").open("rb") as f:
        assert sum(1 for _ in fastavro.reader(f)) == library_rows(SAMPLE, tmp_path)
