"""Datagrams into batches: one datagram is one line; a batch is cut by count, size or age."""

from __future__ import annotations

import secrets

from app.shipping.batches import MAX_BATCH_BYTES

# Trailing bytes a syslog sender may add; they are not part of the log line.
TRAILING = b"\r\n\x00"


def line_of(datagram: bytes) -> bytes | None:
    """The datagram as one log line, None when nothing is left.

    The server splits a body on newlines: one inside a datagram (nginx escapes them, another
    sender may not) becomes a space, so a datagram never turns into two lines.
    """
    line = datagram.rstrip(TRAILING)
    if b"\n" in line:
        line = line.replace(b"\n", b" ")
    return line or None


class Batcher:
    """The lines gathered since the last batch, due at `max_lines`, MAX_BATCH_BYTES or when its
    first line is `max_seconds` old."""

    def __init__(self, max_lines: int, max_seconds: float) -> None:
        self._max_lines = max_lines
        self._max_seconds = max_seconds
        self._lines: list[bytes] = []
        self._size = 0
        self._started = 0.0

    def __len__(self) -> int:
        return len(self._lines)

    def fits(self, line: bytes) -> bool:
        """False when adding `line` would pass MAX_BATCH_BYTES: take the batch first."""
        return not self._lines or self._size + len(line) + 1 <= MAX_BATCH_BYTES

    def add(self, line: bytes, now: float) -> None:
        if not self._lines:
            self._started = now
        self._lines.append(line)
        self._size += len(line) + 1

    def is_full(self) -> bool:
        return len(self._lines) >= self._max_lines or self._size >= MAX_BATCH_BYTES

    def seconds_left(self, now: float) -> float | None:
        """Until the batch is due by age; None while it is empty."""
        return self._started + self._max_seconds - now if self._lines else None

    def take(self) -> tuple[bytes, int]:
        """The body (one line each, newline-terminated) and its number of lines; empties it."""
        body = b"\n".join(self._lines) + b"\n"
        count = len(self._lines)
        self._lines, self._size = [], 0
        return body, count


class BatchKeys:
    """Idempotency-Keys: a random id per receiver start and a sequence number, so no two batches
    share one, across restarts too; a batch keeps its key (stored with it) for every retry."""

    def __init__(self, instance: str | None = None) -> None:
        self._instance = instance or secrets.token_hex(8)
        self._number = 0

    def next_key(self) -> str:
        self._number += 1
        return f"um-syslog-{self._instance}.{self._number}"
