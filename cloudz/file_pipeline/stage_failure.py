"""A failure that names the stage of the reply it belongs to, and is not worth a retry."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


class StageFailed(AirflowFailException):
    """The file itself is wrong at ``stage`` (verify, convert, load, check): retrying the task
    cannot help, so Airflow fails it at once; the reply names ``stage`` and the message."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
