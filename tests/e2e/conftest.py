"""Fixtures of the end-to-end tests: one embedded stack per session (see stack_session.py).

The ``celery`` tests start a stack of their own (the CeleryExecutor): they run only when
selected (``pytest -m celery``), so a plain ``pytest`` never has two stacks at once.
"""

from __future__ import annotations

import pytest
from stack_session import stack

__all__ = ["pytest_collection_modifyitems", "stack"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "celery" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="celery test: run with pytest -m celery")
    for item in items:
        if "celery" in item.keywords:
            item.add_marker(skip)
