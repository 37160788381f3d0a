"""A failure that names the stage of the reply it belongs to, and is not worth a retry."""

from __future__ import annotations

import contextlib

from airflow.sdk.exceptions import AirflowFailException


class StageFailed(AirflowFailException):
    """The file itself is wrong at ``stage`` (verify, convert, load, check): retrying the task
    cannot help, so Airflow fails it at once; the reply names ``stage`` and the message."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class StageError(Exception):
    """A failure at ``stage`` that another try may not meet (a job still running, a count
    that a concurrent try disturbed): Airflow retries the task; the reply names ``stage``."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


def at_stage(stage: str, exc: BaseException) -> None:
    """Mark ``exc`` with the reply's ``stage`` (unless it names one) before it is re-raised."""
    if not getattr(exc, "stage", None):
        with contextlib.suppress(AttributeError):  # an exception type without a __dict__
            exc.stage = stage  # type: ignore[attr-defined]
