"""A progress report on stderr: a bar redrawn in place on a terminal, a line now and then if not."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 30
TERMINAL_EVERY_S = 0.1
LOG_EVERY_S = 5.0


def render_bar(label: str, done: int, total: int, unit: str = "lines") -> str:
    fraction = min(1.0, done / total) if total else 1.0
    filled = round(fraction * BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"{label} [{bar}] {fraction:4.0%} {done}/{total} {unit}"


class Progress:
    """Lines (or another `unit`) done out of `total`, shown at most every TERMINAL_EVERY_S (or
    LOG_EVERY_S)."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        total: int,
        clock: Callable[[], float] = time.monotonic,
        unit: str = "lines",
    ) -> None:
        self._unit = unit
        self._stream = stream
        self._label = label
        self._total = total
        self._clock = clock
        self._done = 0
        self._terminal = stream.isatty()
        self._every = TERMINAL_EVERY_S if self._terminal else LOG_EVERY_S
        self._shown_at = clock()

    def advance(self, lines: int) -> None:
        self._done += lines
        now = self._clock()
        if now - self._shown_at >= self._every:
            self._shown_at = now
            self._show(final=False)

    def finish(self) -> None:
        self._show(final=True)

    def _show(self, *, final: bool) -> None:
        text = render_bar(self._label, self._done, self._total, self._unit)
        if self._terminal:
            self._stream.write(f"\r{text}" + ("\n" if final else ""))
        else:
            self._stream.write(f"{text}\n")
        self._stream.flush()
