"""SIGTERM and SIGINT ask a command to stop between batches, so its state stays consistent."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STEP_S = 0.05


class StopSignal:
    """Set by the first SIGTERM or SIGINT; a second one ends the process at once.

    `notice` is written to stderr at the first, so that whoever pressed Ctrl-C knows it was
    heard and that a second one does not wait.
    """

    def __init__(self, notice: str = "") -> None:
        self._notice = notice
        self.requested = False
        self.number = 0  # of the signal that asked: a command stopped by it exits 128 + number

    @contextmanager
    def installed(self) -> Iterator[StopSignal]:
        previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
        for number in previous:
            signal.signal(number, self._handle)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as a stop was asked for."""
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(STEP_S, left))
        return self.requested

    def _handle(self, number: int, frame: FrameType | None) -> None:
        # The handler only sets a flag: a system call it interrupts is resumed (PEP 475), so
        # the batch in flight is finished and acknowledged before the command stops.
        if self.requested:
            raise SystemExit(128 + number)
        self.requested = True
        self.number = number
        if self._notice:
            # os.write, not print: the handler may run in the middle of a print to stderr.
            start = "\n" if sys.stderr.isatty() else ""
            os.write(2, f"{start}{self._notice}\n".encode())
