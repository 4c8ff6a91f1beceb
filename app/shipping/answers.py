"""The server's answer to a batch, and the running totals a command prints (never a raw line)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IngestAnswer:
    """The counts of a 200 answer from POST /ingest."""

    accepted: int
    ignored: int
    rejected: int
    first_rejection: str  # "line 3: <reason>" (reasons never quote the line), or ""
    duplicate: bool

    @classmethod
    def from_json(cls, data: Any) -> IngestAnswer:
        """Raises KeyError, TypeError or ValueError when `data` is not an ingest answer."""
        rejected = list(data["rejected"])
        first = f"line {rejected[0]['line']}: {rejected[0]['reason']}" if rejected else ""
        # The list holds the first 1 000, `rejected_count` counts them all (older servers: none).
        count = data.get("rejected_count", len(rejected))
        return cls(
            int(data["accepted"]),
            int(data["ignored"]),
            int(count),
            first,
            data["duplicate"] is True,
        )

    def describe(self) -> str:
        text = f"{self.accepted} accepted, {self.ignored} ignored, {self.rejected} rejected"
        if self.first_rejection:
            text += f" (first: {self.first_rejection})"
        return text + (" - a duplicate: counted before, not again" if self.duplicate else "")


@dataclass
class Tally:
    """What a command sent so far; a duplicate's counts were added up by its first sending."""

    batches: int = 0
    lines: int = 0
    accepted: int = 0
    ignored: int = 0
    rejected: int = 0
    duplicates: int = 0  # batches
    duplicate_lines: int = 0

    def add(self, lines: int, answer: IngestAnswer) -> None:
        self.batches += 1
        self.lines += lines
        if answer.duplicate:
            self.duplicates += 1
            self.duplicate_lines += lines
            return
        self.accepted += answer.accepted
        self.ignored += answer.ignored
        self.rejected += answer.rejected

    def merge(self, other: Tally) -> None:
        self.batches += other.batches
        self.lines += other.lines
        self.accepted += other.accepted
        self.ignored += other.ignored
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.duplicate_lines += other.duplicate_lines

    def describe(self) -> str:
        text = (
            f"{self.lines} lines in {self.batches} batches: {self.accepted} accepted, "
            f"{self.ignored} ignored, {self.rejected} rejected"
        )
        if self.duplicates:
            text += (
                f"; {self.duplicate_lines} lines in {self.duplicates} duplicate batches "
                "were counted before, not again"
            )
        return text
