"""Regenerate the Python modules of the ingest proto.

The generated files are committed (so the CLI installs without grpcio-tools);
``tests/unit/test_proto_generated.py`` regenerates them into a temp dir and
fails on any difference, so they cannot drift from the ``.proto``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grpc_tools import protoc

from cloudz.settings import PROJECT_ROOT

PROTO_ROOT = PROJECT_ROOT / "proto"
PROTO_FILES = ("cloudz/ingest/v1/ingest.proto",)


def generate(out_dir: Path) -> list[Path]:
    """Write ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # the mypy plugins are console scripts beside this interpreter
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    include = Path(protoc.__file__).parent / "_proto"
    for proto in PROTO_FILES:
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{PROTO_ROOT}",
                f"-I{include}",
                f"--python_out={out_dir}",
                f"--mypy_out={out_dir}",
                f"--grpc_python_out={out_dir}",
                f"--mypy_grpc_out={out_dir}",
                str(PROTO_ROOT / proto),
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc failed on {proto} (exit {code})")
    generated = out_dir / "cloudz" / "ingest" / "v1"
    return sorted(p for p in generated.glob("*_pb2*") if p.is_file())


if __name__ == "__main__":
    for path in generate(PROJECT_ROOT):
        print(path.relative_to(PROJECT_ROOT), file=sys.stderr)
