"""The load policy in force for a task: the Airflow Variable, else the setting.

An operator changes what is loaded without a deploy by setting the Variable
``cloudz_load_policy`` (UI: Admin -> Variables, or ``airflow variables set``); an empty or
absent Variable leaves ``CLOUDZ_LOAD_POLICY``. The per-file DAG, the mirror, backfill and
reconcile tasks read it when they run, so a change applies to the next file.
"""

from __future__ import annotations

import logging

from cloudz import load_policy
from cloudz.settings import Settings

log = logging.getLogger(__name__)


def variable_text() -> str | None:
    """The Variable's text inside an Airflow task; ``None`` when unset or outside a task."""
    try:
        from airflow.sdk import Variable

        value = Variable.get(load_policy.VARIABLE, default=None)
    except Exception as exc:  # outside a task process there is no Variable to read
        log.debug("no Airflow Variable %s here: %s", load_policy.VARIABLE, exc)
        return None
    return str(value) if value else None


def current(settings: Settings) -> load_policy.LoadPolicy:
    """The policy a task applies now (``LoadPolicyError`` on a text that does not parse:
    a typo must not load or skip files silently)."""
    text = variable_text()
    return load_policy.of(text if text is not None else settings.load_policy)
