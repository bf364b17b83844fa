"""Progress reporting and cancellation, free of any GUI toolkit."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..errors import Cancelled

ProgressCallback = Callable[[int, int, str], None]  # (step, total, message)
CancelCheck = Callable[[], bool]


class CancelToken:
    """Thread-safe cancel flag; pass ``token.is_set`` as the cancel check."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


def no_progress(step: int, total: int, message: str) -> None:
    """The default progress callback: ignore."""


def never_cancel() -> bool:
    return False


class Stage:
    """Maps the steps of one stage of a job onto an overall ``0..total`` progress scale."""

    def __init__(self, progress: ProgressCallback, cancel: CancelCheck, offset: int, total: int) -> None:
        self.progress, self.cancel, self.offset, self.total = progress, cancel, offset, total

    def report(self, step: int, message: str) -> None:
        if self.cancel():
            raise Cancelled("Cancelled by the user; nothing was written.")
        self.progress(self.offset + step, self.total, message)
