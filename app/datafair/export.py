"""Data Fair's XLSX export (`_export`): its eight sheets, from our aggregates
(docs/coming-from-data-fair.md). Pure: figures in, the workbook's bytes out.

Status-ok requests only, as Data Fair's. What we cannot know is left empty: the topic sheets
(topics live in Data Fair, not in the logs) keep their header row alone. Titles, ids and domains
come from log lines: every text cell goes through app/reports/cells.py, never as a formula.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from app.core.periods import Period
from app.core.records import Owner
from app.datafair.export_labels import EXPORT_CLASSES, FILE_CLASSES, LABELS, Lang
from app.datafair.vocabulary import BOT_CLASS, OPERATION_TRACKS, USER_CLASSES
from app.reports.cells import xlsx_text
from app.reports.daily_metrics import MetricsRow

API, FILES, APP = "readDataAPI", "readDataFiles", "openApplication"
_BOLD = Font(bold=True)
_FILLS = {  # variation: up, down, equal
    1: PatternFill("solid", fgColor="FF4CAF50"),
    -1: PatternFill("solid", fgColor="FFF44336"),
    0: PatternFill("solid", fgColor="FFFFC107"),
}
# (track, userClass) -> requests
Tally = Counter[tuple[str, str]]
Tallies = dict[Any, Tally]  # by day, (resource type, id) or domain


@dataclass(frozen=True)
class ExportFigures:
    """What the export shows; rows grouped by operation and user group, plus `day`,
    `resource` or `referer_domain`."""

    owner: Owner
    period: Period
    current: list[MetricsRow]  # by day
    previous: list[MetricsRow]  # the previous period, no day
    by_resource: list[MetricsRow]
    by_domain: list[MetricsRow]
    datasets: list[tuple[str, str | None]]  # every dataset of the owner: id, title
    applications: list[tuple[str, str | None]]
    # The portal's origin, for links to each dataset and application; None: no links.
    link_base: str | None


def workbook_bytes(figures: ExportFigures, lang: Lang) -> bytes:
    words = LABELS[lang]
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    _global(book.create_sheet(words["global"]), figures, words)
    _history(book.create_sheet(words["history"]), figures, words)
    by_resource = _tallies(figures.by_resource, lambda key: key["resource"][:2])
    _resources(book.create_sheet(words["datasets"]), figures, words, by_resource)
    _header(book.create_sheet(words["topicsApi"]), [words["topic"], *_api_classes(words, "")])
    by_domain = _tallies(figures.by_domain, lambda key: key["referer_domain"])
    _domains(book.create_sheet(words["originsApi"]), by_domain, words, API, EXPORT_CLASSES)
    _header(book.create_sheet(words["topicsFiles"]), [words["topic"], *_file_classes(words)])
    _domains(book.create_sheet(words["originsFiles"]), by_domain, words, FILES, FILE_CLASSES)
    _applications(book.create_sheet(words["apps"]), figures, words, by_resource)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def variation(current: int, previous: int) -> float:
    """Data Fair's: the relative change; from 0, 0 when still 0, else 100 %."""
    if previous:
        return (current - previous) / previous
    return 0.0 if current == previous else 1.0


def _tally(rows: Iterable[MetricsRow]) -> Tally:
    found: Tally = Counter()
    for row in rows:
        track = OPERATION_TRACKS.get(row.key["operation"], row.key["operation"])
        found[(track, USER_CLASSES.get(row.key["user_group"], row.key["user_group"]))] += (
            row.requests
        )
    return found


def _tallies(rows: list[MetricsRow], group: Callable[[dict[str, Any]], Any]) -> Tallies:
    found: dict[Any, list[MetricsRow]] = {}
    for row in rows:
        found.setdefault(group(row.key), []).append(row)
    return {key: _tally(grouped) for key, grouped in found.items()}


def _total(tally: Tally, track: str | None = None, user_class: str | None = None) -> int:
    return sum(
        count
        for (t, c), count in tally.items()
        if (track is None or t == track) and (user_class is None or c == user_class)
    )


def _global(sheet: Worksheet, figures: ExportFigures, words: dict[str, str]) -> None:
    current, previous = _tally(figures.current), _tally(figures.previous)
    period = figures.period
    _append(sheet, [])
    _append(
        sheet,
        [
            "",
            words["periodRange"].format(_shown(period.start), _shown(period.end)),
            words["currentPeriod"],
            words["previousPeriod"],
            words["variation"],
        ],
    )
    for name, track in (("apiCalls", API), ("fileDownloads", FILES), ("appViews", APP)):
        _compared(sheet, words[name], _total(current, track), _total(previous, track))
    _append(sheet, [])
    _append(sheet, ["", words["userClassBreakdown"]])
    classes = [
        (_total(current, user_class=c), _total(previous, user_class=c), c)
        for c in (*EXPORT_CLASSES, BOT_CLASS)
    ]
    for now, before, user_class in sorted(classes, key=lambda item: -item[0]):
        if now or before:
            _compared(sheet, words[f"class.{user_class}"], now, before)
    _append(sheet, [])
    _append(sheet, ["", words["userClassDefinitionsTitle"]])
    variant = "organization" if figures.owner.type == "organization" else "user"
    for user_class in (*EXPORT_CLASSES, BOT_CLASS):
        key = f"definition.{user_class}"
        text = words.get(key) or words[f"{key}.{variant}"]
        _append(sheet, ["", words[f"class.{user_class}"], text])
    for column, width in (("A", 4), ("B", 30), ("C", 18), ("D", 18), ("E", 10)):
        sheet.column_dimensions[column].width = width


def _compared(sheet: Worksheet, label: str, current: int, previous: int) -> None:
    _append(sheet, ["", label, current, previous, variation(current, previous)])
    cell = sheet.cell(row=sheet.max_row, column=5)
    cell.number_format = "0.00%"
    cell.fill = _FILLS[(current > previous) - (current < previous)]
    cell.font = _BOLD


def _history(sheet: Worksheet, figures: ExportFigures, words: dict[str, str]) -> None:
    _header(
        sheet,
        [
            words["date"],
            words["totalApiCalls"],
            words["totalDownloads"],
            *_api_classes(words, "apiCallsBy"),
            *_file_classes(words, "downloadsBy"),
        ],
    )
    by_day = _tallies(figures.current, lambda key: key["day"])
    for day in reversed(figures.period.each_day()):  # the latest day first, as Data Fair
        tally = by_day.get(day, Counter())
        _append(sheet, [_shown(day), *_counts(tally)])


def _counts(tally: Tally) -> list[int]:
    return [
        _total(tally, API),
        _total(tally, FILES),
        *(_total(tally, API, c) for c in EXPORT_CLASSES),
        *(_total(tally, FILES, c) for c in FILE_CLASSES),
    ]


def _resources(
    sheet: Worksheet,
    figures: ExportFigures,
    words: dict[str, str],
    tallies: Tallies,
) -> None:
    _header(
        sheet,
        [
            words["id"],
            words["title"],
            words["totalApiCalls"],
            words["totalDownloads"],
            *_api_classes(words, "apiCallsBy"),
            *_file_classes(words, "downloadsBy"),
        ],
    )
    rows = [(i, t, tallies.get(("datasets", i), Counter())) for i, t in figures.datasets]
    for dataset_id, title, tally in sorted(rows, key=lambda r: -_total(r[2], API)):
        _append(sheet, [dataset_id, title or "", *_counts(tally)])
        _link(sheet, figures.link_base, "dataset", dataset_id)


def _domains(
    sheet: Worksheet,
    tallies: Tallies,
    words: dict[str, str],
    track: str,
    classes: tuple[str, ...],
) -> None:
    _header(sheet, [words["origin"], words["allUsers"], *(words[f"class.{c}"] for c in classes)])
    rows = sorted(tallies.items(), key=lambda item: (-_total(item[1], track), item[0]))
    for domain, tally in rows:
        shown = words["unknown"] if domain == "none" else domain
        _append(sheet, [shown, _total(tally, track), *(_total(tally, track, c) for c in classes)])


def _applications(
    sheet: Worksheet,
    figures: ExportFigures,
    words: dict[str, str],
    tallies: Tallies,
) -> None:
    _header(sheet, [words["id"], words["title"], words["allUsers"], *_file_classes(words)])
    rows = [(i, t, tallies.get(("applications", i), Counter())) for i, t in figures.applications]
    for app_id, title, tally in sorted(rows, key=lambda r: -_total(r[2], APP)):
        opens = [_total(tally, APP, c) for c in FILE_CLASSES]
        _append(sheet, [app_id, title or "", _total(tally, APP), *opens])
        _link(sheet, figures.link_base, "application", app_id)


def _api_classes(words: dict[str, str], pattern: str) -> list[str]:
    return [_column(words, pattern, c) for c in EXPORT_CLASSES]


def _file_classes(words: dict[str, str], pattern: str = "") -> list[str]:
    return [_column(words, pattern, c) for c in FILE_CLASSES]


def _column(words: dict[str, str], pattern: str, user_class: str) -> str:
    name = words[f"class.{user_class}"]
    return words[pattern].format(name) if pattern else name


def _header(sheet: Worksheet, names: list[str]) -> None:
    _append(sheet, names)
    for cell in sheet[1]:
        cell.font = _BOLD


def _append(sheet: Worksheet, values: Iterable[Any]) -> None:
    sheet.append([xlsx_text(sheet, v) if isinstance(v, str) else v for v in values])


def _link(sheet: Worksheet, base: str | None, kind: str, resource_id: str) -> None:
    # Data Fair's back office page of the resource, on the portal's origin.
    if base is not None:
        url = f"{base}/data-fair/{kind}/{quote(resource_id, safe='')}"
        sheet.cell(row=sheet.max_row, column=1).hyperlink = url


def _shown(day: date) -> str:
    return day.strftime("%d/%m/%Y")
