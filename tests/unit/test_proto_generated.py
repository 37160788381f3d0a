"""The committed generated modules are exactly what protoc makes of the .proto."""

from __future__ import annotations

from pathlib import Path

from cloudz.ingest.generate import generate
from cloudz.settings import PROJECT_ROOT


def test_regenerating_the_proto_modules_gives_no_diff(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert {p.name for p in fresh} == {
        "ingest_pb2.py",
        "ingest_pb2.pyi",
        "ingest_pb2_grpc.py",
        "ingest_pb2_grpc.pyi",
    }
    for path in fresh:
        committed = PROJECT_ROOT / path.relative_to(tmp_path)
        assert committed.read_text() == path.read_text(), (
            f"{committed.relative_to(PROJECT_ROOT)} is stale: run python -m cloudz.ingest.generate"
        )
