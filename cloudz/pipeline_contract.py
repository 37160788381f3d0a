"""Names shared by the per-file DAG and the receiver that reads its runs.

The receiver builds its reply from the run's task instances and XComs, so the
task ids, XCom keys and DAG-run conf keys are a contract: they live here once.

Two tasks, because each task costs a process start and a parse of the DAG file, and
an operator re-runs a file at these two boundaries only: ``convert`` (download while
hashing, verify, convert, write the Avro object) and ``load`` (load the Avro object,
then prove the rows arrived once). The reply still names five stages.
"""

from __future__ import annotations

from typing import Final

DAG_ID: Final = "mrt_file"

TASK_CONVERT: Final = "convert"
TASK_LOAD: Final = "load"

#: the per-file DAG's tasks, in order (the bench's floor DAG has as many)
PER_FILE_TASKS: Final = (TASK_CONVERT, TASK_LOAD)

#: the stages the reply reports, and the task that carries each
STAGE_VERIFY: Final = "verify"
STAGE_CONVERT: Final = "convert"
STAGE_LOAD: Final = "load"
STAGE_CHECK: Final = "check"
TASK_OF_STAGE: Final = {
    STAGE_VERIFY: TASK_CONVERT,
    STAGE_CONVERT: TASK_CONVERT,
    STAGE_LOAD: TASK_LOAD,
    STAGE_CHECK: TASK_LOAD,
}

#: the stage a task's failure belongs to when the failure does not name one
DEFAULT_STAGE_OF_TASK: Final = {TASK_CONVERT: STAGE_CONVERT, TASK_LOAD: STAGE_LOAD}

#: XCom key a task's failure callback writes ``{"stage": ..., "reason": ...}`` under
XCOM_FAILURE: Final = "failure"

#: keys of the run's conf, written by the receiver
CONF_ARCHIVE_PATH: Final = "archive_path"
CONF_SHA256: Final = "sha256"
CONF_SIZE: Final = "size"
CONF_BUCKET: Final = "bucket"
#: True when the run was started knowing that every load of the file follows the job ledger
#: (the receiver sets it); runs without it, and runs from before it, prove rows by counting
CONF_LEDGER: Final = "ledger"
