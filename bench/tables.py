"""Markdown tables that also read well as plain text, and the number formats they use."""

from __future__ import annotations

from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: frozenset[int]) -> str:
    """A padded Markdown table; columns whose index is in `right` are right-aligned."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        "-" * (width + 1) + ":" if i in right else "-" * (width + 2)
        for i, width in enumerate(widths)
    )
    return "\n".join([line(header), rule + "|", *(line(row) for row in rows)])


def count(value: float) -> str:
    """312 456: digits grouped by a space, as docs/benchmarks.md writes its targets."""
    return f"{value:,.0f}".replace(",", " ")


def verdict(value: float, target: float) -> str:
    return "yes" if value >= target else "**no**"
