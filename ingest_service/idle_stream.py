"""An upload's request stream with an inactivity limit between messages.

gRPC's synchronous server blocks the handler's thread in ``next()`` for as long as
the client sends nothing, so a client that sends a header and then stalls would
hold a thread until the connection's maximum age (hours). Here a reader thread
takes messages off the stream into a small queue, and the handler waits on the
queue with a timeout; when the client has been silent for ``idle_seconds`` the
handler ends the call (DEADLINE_EXCEEDED, reason UPLOAD_IDLE), which also ends
the reader. The queue holds at most ``BUFFERED_MESSAGES``: while the handler is
busy writing to the store, the reader stops reading and the client is held back
by flow control, so only client silence counts as idle.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

import grpc

from ingest_service import metrics
from ingest_service.errors import RpcError

T = TypeVar("T")
BUFFERED_MESSAGES = 1
_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def idle_limited(requests: Iterator[T], idle_seconds: float, method: str) -> Iterator[T]:
    """``requests``, raising ``RpcError`` when no message comes for ``idle_seconds``."""
    box: queue.Queue[object] = queue.Queue(maxsize=BUFFERED_MESSAGES)
    done = threading.Event()

    def read() -> None:
        try:
            for message in requests:
                while not done.is_set():
                    try:
                        box.put(message, timeout=1.0)
                        break
                    except queue.Full:
                        continue
                if done.is_set():
                    return
            box.put(_END)
        except BaseException as exc:  # the stream failed: hand the error to the handler
            box.put(_Failed(exc))

    threading.Thread(target=read, name="upload-reader", daemon=True).start()
    try:
        while True:
            try:
                item = box.get(timeout=idle_seconds)
            except queue.Empty:
                metrics.REFUSED.labels(method=method, reason="idle").inc()
                after = "nothing was archived; upload again" if method == "Upload" else "call again"
                raise RpcError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"no message for {idle_seconds:g} s: the call was cut off; {after}",
                    reason="UPLOAD_IDLE" if method == "Upload" else "STREAM_IDLE",
                ) from None
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        done.set()
