"""Names shared by the per-file DAG and the receiver that reads its runs.

The receiver builds its reply from the run's task instances and XComs, so the
task ids, XCom keys and DAG-run conf keys are a contract: they live here once.
"""

from __future__ import annotations

from typing import Final

DAG_ID: Final = "mrt_file"

TASK_VERIFY: Final = "verify_checksum"
TASK_CONVERT: Final = "convert"
TASK_LOAD: Final = "load"
TASK_CHECK: Final = "check_rows"

#: the stage name the reply gives for a failed task
STAGE_OF_TASK: Final = {
    TASK_VERIFY: "verify",
    TASK_CONVERT: "convert",
    TASK_LOAD: "load",
    TASK_CHECK: "check",
}

#: XCom key a task's failure callback writes its reason under
XCOM_FAILURE: Final = "failure"

#: keys of the run's conf, written by the receiver
CONF_ARCHIVE_PATH: Final = "archive_path"
CONF_SHA256: Final = "sha256"
CONF_SIZE: Final = "size"
CONF_BUCKET: Final = "bucket"
