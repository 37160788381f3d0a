"""docker-compose.yaml, read statically (no Docker engine here): nothing open by default.

Every published port but the receiver's (TLS + per-collector credentials) is bound to
loopback, and no secret has a default: ``${VAR:?…}`` makes compose refuse to start.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from cloudz.settings import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
#: the one service collectors reach from the internet
PUBLIC = {"receiver-lb"}


def _services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def test_only_the_receiver_is_published_beyond_loopback() -> None:
    for name, service in _services().items():
        for port in service.get("ports", []):
            if name in PUBLIC:
                continue
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every address"


def test_no_secret_has_a_default() -> None:
    text = COMPOSE.read_text()
    found = re.findall(r"\$\{([A-Z_]*(?:PASSWORD|SECRET))(:[^}]*)?\}", text)
    assert {name for name, _ in found} >= {
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_ADMIN_PASSWORD",
        "CLOUDZ_AIRFLOW_PASSWORD",
        "POSTGRES_PASSWORD",
    }
    for name, rest in found:
        assert rest.startswith(":?"), f"${{{name}{rest}}} has a default or may be empty"
    assert not re.search(r"(PASSWORD|SECRET)[A-Z_]*: [a-z]", text), "a literal secret"


def test_receivers_serve_tls_with_mounted_certificate_and_credentials() -> None:
    receiver = _services()["receiver"]
    env = receiver["environment"]
    assert "CLOUDZ_RECEIVER_PLAINTEXT" not in env
    for key in (
        "CLOUDZ_RECEIVER_TLS_CERT",
        "CLOUDZ_RECEIVER_TLS_KEY",
        "CLOUDZ_RECEIVER_CREDENTIALS",
    ):
        assert Path(env[key]).parent == Path("/run/cloudz"), key
    assert any(str(v).endswith(":/run/cloudz:ro") for v in receiver["volumes"])
