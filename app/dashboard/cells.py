"""Spreadsheet-safe cells (OWASP "CSV injection"): text that no spreadsheet runs as a formula.

A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, tab or carriage return. Checking
the first character is not enough: Excel in a `;` locale (French, which the dashboard offers)
splits an unquoted line on `;`, other readers on tabs, so `Semi;=1+1` gives a cell `=1+1`.
Quoting does not help there: a `;` reader of a `,` file does not see the quotes as quotes. So,
following OWASP, an apostrophe goes before the cell's first character and after any of `,` `;`
tab or a line break when a formula character comes next (a reader shows it and runs nothing),
and a text cell that holds a separator or a quote is quoted too (quotes doubled), so that a
reader of our `,` splits it nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A formula character at the start, or after a separator (and any spaces a reader may trim).
_FORMULA = re.compile(r"^(?=[\t\r])|(^|[,;\t\r\n])( *)([=+\-@])")
_NEEDS_QUOTES = re.compile(r'[,;"\t\r\n]')


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could read `text`, or a piece of it split at a separator, as a
    formula."""
    return _FORMULA.search(text) is not None


def inert_text(text: str) -> str:
    """`text` as a spreadsheet shows it and never runs: an apostrophe before each piece that
    would start a formula."""
    return _FORMULA.sub(_apostrophe, text)


def _apostrophe(match: re.Match[str]) -> str:
    separator, spaces, start = match.groups(default="")
    return f"{separator}{spaces}'{start}"


def csv_field(value: str | int) -> str:
    """One CSV field: numbers as they are, text made inert and quoted when it holds a
    separator of any locale or a quote."""
    if isinstance(value, int):
        return str(value)
    text = inert_text(value)
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(values: Iterable[str | int]) -> str:
    """One line of RFC 4180 CSV (CRLF), as Excel writes it."""
    return ",".join(csv_field(value) for value in values) + "\r\n"
