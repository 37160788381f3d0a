"""deploy/terraform read with python-hcl2, offline: its resources by type and name, values
without HCL's quotes, references as ``type.name.attribute``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2

from cloudz.settings import PROJECT_ROOT

TERRAFORM = PROJECT_ROOT / "deploy" / "terraform"


def text(value: Any) -> str:
    """A string as HCL means it: ``"x"`` → ``x``, ``${a.b}`` → ``a.b``, ``\\"`` → ``"``."""
    s = str(value)
    if len(s) >= 2 and s[0] == s[-1] == '"':
        s = s[1:-1].replace('\\"', '"')
    if s.startswith("${") and _closing(s) == len(s) - 1:
        s = s[2:-1]
    return s


def _closing(s: str) -> int:
    """Where the ``${`` that opens ``s`` closes."""
    depth = 0
    for i, c in enumerate(s):
        depth += c == "{"
        depth -= c == "}"
        if depth == 0 and c == "}":
            return i
    return -1


def resources(directory: Path = TERRAFORM) -> dict[tuple[str, str], dict[str, Any]]:
    """Every ``resource "type" "name" {...}`` of the directory's ``.tf`` files."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            parsed = hcl2.load(f)
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    key = (text(kind), text(name))
                    assert key not in found, f"{key} defined twice"
                    found[key] = body
    return found


def reference(value: Any) -> tuple[str, str]:
    """``${google_storage_bucket.work.name}`` → ``("google_storage_bucket", "work")``."""
    found = re.fullmatch(r"([a-z0-9_]+)\.([a-z0-9_]+)(\[[^\]]*\])?\.[a-z_]+", text(value))
    assert found, f"not a reference to a resource's attribute: {value}"
    return found.group(1), found.group(2)
