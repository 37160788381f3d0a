"""``big`` tests run only when selected (``pytest -m big``): they take minutes.

``make test`` selects them with the rest (``-m "not celery or big"``), so the 5M-row RIB of
``tests/e2e/test_real_size.py`` runs on the end-to-end tests' stack instead of a second one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))  # bgpdump helpers


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "big" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="big test: run with pytest -m big")
    for item in items:
        if "big" in item.keywords:
            item.add_marker(skip)
