"""The dashboard's CSV and XLSX exports of a view, built from figures already read (pure)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

# openpyxl ships no type hints (types-openpyxl is not a dependency): its names are Any here.
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from app.core.periods import Period
from app.dashboard.labels import group_label
from app.dashboard.overview import DatasetFigures, Group, Overview
from app.reports import BucketFigures, DatasetRow, DetailRow, Figures, Trend
from app.reports.cells import csv_line, xlsx_text

Lang = Literal["en", "fr"]

CSV_HEADER = (
    "dataset_id",
    "dataset_title",
    "user_group",
    "referer_domain",
    "api_calls",
    "api_calls_previous",
    "downloads",
    "downloads_previous",
)
PERCENT_FORMAT = "0.0%"
# Column widths in characters, per sheet (summary, daily, datasets, groups, domains): the header
# and a typical value fit without the reader widening them; long titles and domains get room.
WIDTHS: tuple[tuple[int, ...], ...] = (
    (28, 14, 18, 12),
    (12, 12, 16, 26, 22, 26),
    (24, 48, 28, 12, 22, 16, 26),
    (36, 12, 22, 16, 26),
    (40, 12, 22, 16, 26),
)
DATE_FORMAT = "yyyy-mm-dd"  # ISO, as in the dashboard's URLs and the file names


@dataclass(frozen=True)
class Labels:
    """The sheet names and headers of the XLSX export in one language."""

    sheets: tuple[str, str, str, str, str]  # summary, daily, datasets, by group, by domain
    period: str
    previous_period: str
    summary: tuple[str, str, str, str]  # figure, current, previous, variation
    figures: tuple[str, str, str, str]  # API calls, downloads, downloaded bytes, app opens
    daily: tuple[str, str, str, str, str, str]
    datasets: tuple[str, str, str]  # id, title, owner; then the four trend columns
    trends: tuple[str, str, str, str]  # API calls, previous, downloads, previous
    user_group: str
    domain: str
    consumers: str


# Excel sheet names: at most 31 characters, none of / \ ? * [ ] : (checked by the tests).
LABELS: dict[Lang, Labels] = {
    "en": Labels(
        sheets=("Summary", "Daily", "Datasets", "By user group", "By domain"),
        period="Period",
        previous_period="Previous period",
        summary=("Figure", "Current period", "Previous period", "Variation"),
        figures=("API calls", "Downloads", "Downloaded bytes", "Application opens"),
        daily=(
            "Day",
            "API calls",
            "Downloads",
            "Previous-period day",
            "Previous API calls",
            "Previous downloads",
        ),
        datasets=("Dataset id", "Title", "Owner"),
        trends=("API calls", "Previous API calls", "Downloads", "Previous downloads"),
        user_group="User group",
        domain="Calling domain",
        consumers="Consumers",
    ),
    "fr": Labels(
        sheets=(
            "Résumé",
            "Par jour",
            "Jeux de données",
            "Par groupe d'utilisateurs",
            "Par domaine",
        ),
        period="Période",
        previous_period="Période précédente",
        summary=("Indicateur", "Période", "Période précédente", "Variation"),
        figures=(
            "Appels API",
            "Téléchargements",
            "Octets téléchargés",
            "Ouvertures d'applications",
        ),
        daily=(
            "Jour",
            "Appels API",
            "Téléchargements",
            "Jour de la période précédente",
            "Appels API précédents",
            "Téléchargements précédents",
        ),
        datasets=("Identifiant", "Titre", "Propriétaire"),
        trends=(
            "Appels API",
            "Appels API précédents",
            "Téléchargements",
            "Téléchargements précédents",
        ),
        user_group="Groupe d'utilisateurs",
        domain="Domaine appelant",
        consumers="Consommateurs",
    ),
}


def file_name(period: Period, extension: str, scope: Sequence[str] = ()) -> str:
    """`usage-roads-2024-01-08_2024-01-14.csv` for extension "csv" (given without its dot) and
    scope ["roads"]: what the file holds, then its period. Scope words keep letters, digits,
    dots and dashes (a file name and a quoted header value)."""
    words = [_file_word(word) for word in scope]
    named = "".join(f"{word}-" for word in words if word)
    return f"usage-{named}{period.start.isoformat()}_{period.end.isoformat()}.{extension}"


def _file_word(word: str) -> str:
    kept = "".join(c if c.isascii() and (c.isalnum() or c in ".-_") else "-" for c in word)
    return kept.strip("-.")[:40]


def csv_export(rows: Sequence[DetailRow], titles: Mapping[str, str | None]) -> bytes:
    """One line per row; titles by dataset id (an empty cell when unknown); text as stored,
    so a call without referer shows the stored domain "none". Every text cell is made
    spreadsheet-safe (app/reports/cells.py)."""
    lines = [csv_line(CSV_HEADER)]
    for row in rows:
        lines.append(
            csv_line(
                (
                    row.dataset_id,
                    titles.get(row.dataset_id) or "",
                    row.user_group,
                    row.domain,
                    *row.api_calls,
                    *row.downloads,
                )
            )
        )
    # With a BOM: without it Excel reads a CSV file as the local ANSI code page and garbles
    # accented titles. Python ("utf-8-sig"), pandas and R's readr skip it; this export is
    # meant for people with spreadsheets, while scripts have GraphQL.
    return "".join(lines).encode("utf-8-sig")


def xlsx_export(
    overview: Overview,
    days: Sequence[BucketFigures],
    datasets: Sequence[DatasetFigures],
    lang: Lang,
    consumers_min: int = 5,
) -> bytes:
    """A workbook of five sheets: summary, days (one bucket per day), datasets, user groups,
    domains. The summary's consumers under `consumers_min` read "< 5"."""
    labels = LABELS[lang]
    # Write-only streams rows to a temporary file instead of keeping cell objects: for 10 000
    # datasets ~0.6 s and a 1 MB peak, against ~0.75 s and 20 MB. Each sheet is written once,
    # top to bottom, its view (frozen panes) first.
    workbook = Workbook(write_only=True)
    summary, daily, by_dataset, by_group, by_domain = (
        workbook.create_sheet(name) for name in labels.sheets
    )
    sheets = (summary, daily, by_dataset, by_group, by_domain)
    for sheet, widths in zip(sheets, WIDTHS, strict=True):
        _set_widths(sheet, widths)  # write-only sheets take widths before their first row
    _write_summary(summary, overview, labels, consumers_min)
    _write_daily(daily, days, labels)
    _write_rows(
        by_dataset,
        (*labels.datasets, *labels.trends),
        (
            [
                xlsx_text(by_dataset, row.dataset.id),
                xlsx_text(by_dataset, row.dataset.title),
                xlsx_text(by_dataset, _owner(row.dataset)),
                *_trends(row.figures),
            ]
            for row in datasets
        ),
    )
    for sheet, key, kind, groups in (
        (by_group, labels.user_group, "user_group", overview.by_user_group),
        (by_domain, labels.domain, "referer_domain", overview.by_domain),
    ):
        # Named as on screen, in the workbook's language: "Robots", not BOT; "(no referer)".
        named = [Group(group_label(lang, kind, g.key), g.figures) for g in groups.top]
        _write_rows(sheet, (key, *labels.trends), _group_rows(sheet, named))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _set_widths(sheet: WriteOnlyWorksheet, widths: Sequence[int]) -> None:
    for column, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + column)].width = width


def _write_summary(
    sheet: WriteOnlyWorksheet, overview: Overview, labels: Labels, consumers_min: int
) -> None:
    sheet.freeze_panes = "A5"  # the period lines and the header stay in view
    previous = overview.compared or overview.period.previous()
    sheet.append(
        [labels.period, _day(sheet, overview.period.start), _day(sheet, overview.period.end)]
    )
    sheet.append([labels.previous_period, _day(sheet, previous.start), _day(sheet, previous.end)])
    sheet.append([])
    sheet.append(list(labels.summary))
    totals = overview.totals
    trends = (totals.api_calls, totals.downloads, totals.downloaded_bytes, totals.app_opens)
    for label, trend in zip(labels.figures, trends, strict=True):
        sheet.append([label, trend.current, trend.previous, _variation(sheet, trend)])
    found = overview.consumers
    if found is not None:  # none with a domain filter: sketches are not kept per domain
        now, before = found.current, found.compared
        shown = now >= consumers_min and before >= consumers_min
        sheet.append(
            [
                labels.consumers,
                now if now >= consumers_min else f"< {consumers_min}",
                before if before >= consumers_min else f"< {consumers_min}",
                _variation(sheet, Trend(now, before)) if shown else None,
            ]
        )


def _write_daily(sheet: WriteOnlyWorksheet, days: Sequence[BucketFigures], labels: Labels) -> None:
    # Each day of the period beside the compared day in its position.
    rows = (
        [
            _day(sheet, day.bucket.current.start),
            day.figures.api_calls.current,
            day.figures.downloads.current,
            _day(sheet, day.bucket.previous.start),
            day.figures.api_calls.previous,
            day.figures.downloads.previous,
        ]
        for day in days
    )
    _write_rows(sheet, labels.daily, rows)


def _write_rows(
    sheet: WriteOnlyWorksheet, header: Sequence[str], rows: Iterable[list[Any]]
) -> None:
    sheet.freeze_panes = "A2"  # before the first row: write-only sheets write their view first
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)


def _group_rows(sheet: WriteOnlyWorksheet, groups: Iterable[Group]) -> Iterable[list[Any]]:
    return ([xlsx_text(sheet, group.key), *_trends(group.figures)] for group in groups)


def _trends(figures: Figures) -> tuple[int, int, int, int]:
    return (*figures.api_calls, *figures.downloads)


def _variation(sheet: WriteOnlyWorksheet, trend: Trend) -> Cell | None:
    # The same change as GraphQL's Trend.change; none when there is nothing to compare with.
    if not trend.previous:
        return None
    cell = WriteOnlyCell(sheet, value=(trend.current - trend.previous) / trend.previous)
    cell.number_format = PERCENT_FORMAT
    return cell


def _day(sheet: WriteOnlyWorksheet, day: date) -> Cell:
    cell = WriteOnlyCell(sheet, value=day)
    cell.number_format = DATE_FORMAT
    return cell


def _owner(dataset: DatasetRow) -> str:
    # The owner's name (from a log line: xlsx_text makes it inert), else its kind and id.
    return dataset.owner_name or f"{dataset.owner.type}:{dataset.owner.id}"
