"""Spreadsheet-safe cells (OWASP "CSV injection"): text that no spreadsheet runs as a formula.

A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, tab or carriage return. Checking
the first character is not enough: Excel in a `;` locale (French, which the dashboard offers)
splits an unquoted line on `;`, other readers on tabs, so `Semi;=1+1` gives a cell `=1+1`.
Quoting does not help there: a `;` reader of a `,` file does not see the quotes as quotes. So,
following OWASP, an apostrophe goes before the cell's first character and after any of `,` `;`
tab or a line break when a formula character comes next (a reader shows it and runs nothing),
and a text cell that holds a separator or a quote is quoted too (quotes doubled), so that a
reader of our `,` splits it nowhere.

In XLSX, the same text is a string cell with Excel's quote prefix: the dashboard's workbook and
Data Fair's `_export` (docs/security.md) both write their text through `xlsx_text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# openpyxl ships no type hints (types-openpyxl is not a dependency): its names are Any here.
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, Cell

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


def xlsx_text(sheet: Any, text: str | None) -> str | Cell | None:
    """Text kept as text in `sheet` (write-only or not): openpyxl would store "=..." as a
    formula and "#N/A" as an error, and refuses control characters (a title comes from a log
    line)."""
    if text is None:
        return None
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    formula_like = is_formula_like(text)
    if not formula_like and text not in ERROR_CODES:
        return text
    cell = Cell(sheet, row=1, column=1, value=text)  # placed where the row puts it
    cell.data_type = "s"
    # Excel's own mark of a typed apostrophe: shown without it, and still text after an edit
    # of the cell.
    cell.quotePrefix = formula_like
    return cell
