"""The export builders: exact CSV text, and XLSX workbooks read back with openpyxl."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from io import BytesIO
from typing import Any

import pytest
from openpyxl import load_workbook

from app.core.intervals import Interval, buckets
from app.core.periods import Period
from app.core.records import Owner
from app.dashboard.exports import LABELS, Lang, csv_export, file_name, xlsx_export
from app.dashboard.overview import DatasetFigures, Overview
from app.reports import (
    BucketFigures,
    ConsumerOverview,
    DatasetRow,
    DetailRow,
    Figures,
    Trend,
    rank,
)

WEEK = Period(date(2024, 1, 8), date(2024, 1, 14))  # previous: 2024-01-01..07
HEADER = (
    "dataset_id,dataset_title,user_group,referer_domain,"
    "api_calls,api_calls_previous,downloads,downloads_previous\r\n"
)
BOM = "\ufeff"
ORG1 = Owner("organization", "org1")


def detail(dataset_id: str, domain: str = "none", api: int = 1) -> DetailRow:
    return DetailRow(dataset_id, "ANONYMOUS", domain, Trend(api, 0), Trend(0, 2))


def csv_text(rows: list[DetailRow], titles: dict[str, str | None]) -> str:
    data = csv_export(rows, titles)
    assert data.startswith(BOM.encode())
    return data.decode("utf-8-sig")


def test_file_names_carry_the_period() -> None:
    assert file_name(WEEK, "csv") == "usage-2024-01-08_2024-01-14.csv"
    assert file_name(Period(date(2024, 2, 29), date(2024, 2, 29)), "xlsx") == (
        "usage-2024-02-29_2024-02-29.xlsx"
    )


def test_csv_has_a_header_and_one_line_per_row() -> None:
    rows = [
        DetailRow("roads", "ANONYMOUS", "none", Trend(2, 1), Trend(0, 1)),
        DetailRow("roads", "OWNER_API_KEY", "news.example", Trend(12345678901, 0), Trend(3, 4)),
        DetailRow("parks", "BOT", "none", Trend(0, 1), Trend(0, 0)),
    ]
    data = csv_export(rows, {"roads": "Routes départementales", "parks": None})
    assert (
        data
        == (
            BOM + HEADER + "roads,Routes départementales,ANONYMOUS,none,2,1,0,1\r\n"
            "roads,Routes départementales,OWNER_API_KEY,news.example,12345678901,0,3,4\r\n"
            "parks,,BOT,none,0,1,0,0\r\n"
        ).encode()
    )


def test_csv_of_no_rows_is_its_header() -> None:
    assert csv_text([], {}) == HEADER


def test_csv_shows_an_unknown_title_and_an_empty_domain_as_empty_cells() -> None:
    assert csv_text([detail("gone", domain="")], {}) == HEADER + "gone,,ANONYMOUS,,1,0,0,2\r\n"


def test_csv_quotes_commas_quotes_and_line_breaks() -> None:
    titles: dict[str, str | None] = {
        "a": "Roads, bridges",
        "b": 'The "main" roads',
        "c": "Two\nlines",
        "d": "Back\r\nslash \\ and ; semicolon",
    }
    assert csv_text([detail(key) for key in titles], titles) == HEADER + (
        'a,"Roads, bridges",ANONYMOUS,none,1,0,0,2\r\n'
        'b,"The ""main"" roads",ANONYMOUS,none,1,0,0,2\r\n'
        'c,"Two\nlines",ANONYMOUS,none,1,0,0,2\r\n'
        'd,"Back\r\nslash \\ and ; semicolon",ANONYMOUS,none,1,0,0,2\r\n'
    )


@pytest.mark.parametrize(
    ("title", "cell"),
    [
        (
            '=HYPERLINK("https://evil.example","x")',
            '"\'=HYPERLINK(""https://evil.example"",""x"")"',
        ),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("=cmd|' /C calc'!A0, x", "\"'=cmd|' /C calc'!A0, x\""),
        ("\t=1", "\"'\t'=1\""),  # quoted: a tab splits cells for some readers
        ("a=1", "a=1"),  # only the first character runs a formula
        ("'quoted", "'quoted"),
    ],
)
def test_csv_titles_never_run_as_formulas(title: str, cell: str) -> None:
    text = csv_text([detail("roads")], {"roads": title})
    assert text == HEADER + f"roads,{cell},ANONYMOUS,none,1,0,0,2\r\n"


def test_csv_domains_and_ids_never_run_as_formulas() -> None:
    rows = [detail("-roads", domain="=1+1"), detail("@parks", domain="+x.example")]
    assert csv_text(rows, {}) == HEADER + (
        "'-roads,,ANONYMOUS,'=1+1,1,0,0,2\r\n'@parks,,ANONYMOUS,'+x.example,1,0,0,2\r\n"
    )


# XLSX: one overview and three datasets, read back cell by cell.


def figures(api: tuple[int, int], downloads: tuple[int, int] = (0, 0)) -> Figures:
    return Figures(api_calls=Trend(*api), downloads=Trend(*downloads))


# Day n of the week (from 2024-01-08) beside day n of the previous one (from 2024-01-01).
DAYS = [
    BucketFigures(bucket, figures((10 * n, n), (n % 2, 0)))
    for n, bucket in enumerate(buckets(WEEK, Interval.DAY))
]
OVERVIEW = Overview(
    period=WEEK,
    compared=WEEK.previous(),
    totals=Figures(
        api_calls=Trend(150, 100),
        downloads=Trend(5, 0),
        downloaded_bytes=Trend(10_000_000_000, 20_000_000_000),
        app_opens=Trend(0, 0),
    ),
    chart=DAYS,
    by_user_group=rank(
        {"ANONYMOUS": figures((100, 90), (5, 0)), "OWNER_API_KEY": figures((50, 10))},
        "user_group",
        None,
    ),
    by_domain=rank(
        # a domain is whatever a referer said
        {"none": figures((120, 100), (5, 0)), "=1+1": figures((30, 0))},
        "referer_domain",
        None,
    ),
    by_category=rank({"external": figures((150, 100), (5, 0))}, "referer_category", None),
)
DATASETS = [
    DatasetFigures(DatasetRow("roads", "Routes départementales", ORG1), figures((100, 60), (5, 0))),
    DatasetFigures(DatasetRow("parks", None, Owner("user", "alice")), figures((50, 40))),
    DatasetFigures(DatasetRow("evil", '=HYPERLINK("x")', ORG1), figures((0, 0), (0, 0))),
]


def workbook(lang: Lang = "en", datasets: list[DatasetFigures] = DATASETS) -> Any:
    return load_workbook(BytesIO(xlsx_export(OVERVIEW, DAYS, datasets, lang)))


def values(sheet: Any) -> list[list[Any]]:
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


@pytest.mark.parametrize(
    ("lang", "names"),
    [
        ("en", ["Summary", "Daily", "Datasets", "By user group", "By domain"]),
        (
            "fr",
            ["Résumé", "Par jour", "Jeux de données", "Par groupe d'utilisateurs", "Par domaine"],
        ),
    ],
)
def test_xlsx_sheet_names_follow_the_language(lang: Lang, names: list[str]) -> None:
    assert workbook(lang).sheetnames == names


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_xlsx_sheet_names_are_valid_in_excel(lang: Lang) -> None:
    for name in LABELS[lang].sheets:
        assert 0 < len(name) <= 31 and not set(name) & set("/\\?*[]:"), name
        assert not name.startswith("'") and not name.endswith("'"), name


def test_xlsx_summary_has_both_periods_and_each_figure() -> None:
    sheet = workbook()["Summary"]
    assert values(sheet) == [
        ["Period", datetime(2024, 1, 8), datetime(2024, 1, 14), None],
        ["Previous period", datetime(2024, 1, 1), datetime(2024, 1, 7), None],
        [None, None, None, None],
        ["Figure", "Current period", "Previous period", "Variation"],
        ["API calls", 150, 100, 0.5],
        ["Downloads", 5, 0, None],
        ["Downloaded bytes", 10_000_000_000, 20_000_000_000, -0.5],
        ["Application opens", 0, 0, None],
    ]
    assert [sheet.cell(row, 4).number_format for row in (5, 7)] == ["0.0%", "0.0%"]
    assert all(sheet.cell(row, 2).data_type == "n" for row in range(5, 9))
    for row in (1, 2):
        assert [sheet.cell(row, column).is_date for column in (2, 3)] == [True, True]
        assert sheet.cell(row, 2).number_format == "yyyy-mm-dd"
    assert sheet.freeze_panes == "A5"


@pytest.mark.parametrize(
    ("found", "row"),
    [
        (ConsumerOverview(12, 8, []), ["Consumers", 12, 8, 0.5]),
        (ConsumerOverview(12, 3, []), ["Consumers", 12, "< 5", None]),
    ],
)
def test_xlsx_summary_counts_consumers_under_the_minimum_as_text(
    found: ConsumerOverview, row: list[Any]
) -> None:
    overview = replace(OVERVIEW, consumers=found)
    book = load_workbook(BytesIO(xlsx_export(overview, DAYS, DATASETS, "en")))
    assert values(book["Summary"])[-1] == row


def test_xlsx_french_summary() -> None:
    sheet = workbook("fr")["Résumé"]
    assert [row[0] for row in values(sheet)] == [
        "Période",
        "Période précédente",
        None,
        "Indicateur",
        "Appels API",
        "Téléchargements",
        "Octets téléchargés",
        "Ouvertures d'applications",
    ]
    assert values(sheet)[3] == ["Indicateur", "Période", "Période précédente", "Variation"]


def test_xlsx_daily_faces_each_day_with_the_previous_periods() -> None:
    sheet = workbook()["Daily"]
    rows = values(sheet)
    assert rows[0] == [
        "Day",
        "API calls",
        "Downloads",
        "Previous-period day",
        "Previous API calls",
        "Previous downloads",
    ]
    assert rows[1:] == [
        [datetime(2024, 1, 8 + n), 10 * n, n % 2, datetime(2024, 1, 1 + n), n, 0] for n in range(7)
    ]
    day, previous_day = sheet["A2"], sheet["D8"]
    assert (day.is_date, day.number_format) == (True, "yyyy-mm-dd")
    assert (previous_day.is_date, previous_day.number_format) == (True, "yyyy-mm-dd")
    assert sheet.freeze_panes == "A2"
    assert values(workbook("fr")["Par jour"])[0][0] == "Jour"


def test_xlsx_datasets_keep_titles_as_text() -> None:
    sheet = workbook()["Datasets"]
    assert values(sheet) == [
        [
            "Dataset id",
            "Title",
            "Owner",
            "API calls",
            "Previous API calls",
            "Downloads",
            "Previous downloads",
        ],
        ["roads", "Routes départementales", "organization:org1", 100, 60, 5, 0],
        ["parks", None, "user:alice", 50, 40, 0, 0],
        ["evil", '=HYPERLINK("x")', "organization:org1", 0, 0, 0, 0],
    ]
    # openpyxl would have written "=..." as a formula: it must stay a string cell.
    assert sheet["B4"].data_type == "s"
    assert sheet.freeze_panes == "A2"


def test_xlsx_names_owners_and_keeps_their_names_as_text() -> None:
    datasets = [
        DatasetFigures(DatasetRow("roads", "Roads", ORG1, "Métropole de Lyon"), figures((2, 0))),
        DatasetFigures(DatasetRow("evil", None, ORG1, "=1+1\x07"), figures((1, 0))),
        DatasetFigures(DatasetRow("parks", None, Owner("user", "alice")), figures((0, 0))),
    ]
    sheet = workbook(datasets=datasets)["Datasets"]
    assert [row[2] for row in values(sheet)[1:]] == ["Métropole de Lyon", "=1+1", "user:alice"]
    assert (sheet["C3"].data_type, sheet["C3"].quotePrefix) == ("s", True)


def test_xlsx_groups_and_domains() -> None:
    book = workbook()
    trends = ["API calls", "Previous API calls", "Downloads", "Previous downloads"]
    assert values(book["By user group"]) == [
        ["User group", *trends],
        ["Anonymous", 100, 90, 5, 0],
        ["Owner API keys", 50, 10, 0, 0],
    ]
    assert values(book["By domain"]) == [
        ["Calling domain", *trends],
        ["(no referer)", 120, 100, 5, 0],
        ["=1+1", 30, 0, 0, 0],
    ]
    assert book["By domain"]["A3"].data_type == "s"
    french = workbook("fr")
    assert values(french["Par groupe d'utilisateurs"])[0] == [
        "Groupe d'utilisateurs",
        "Appels API",
        "Appels API précédents",
        "Téléchargements",
        "Téléchargements précédents",
    ]
    assert values(french["Par domaine"])[0][0] == "Domaine appelant"
    # Labelled in French, not with the stored codes (ANONYMOUS, none).
    assert [row[0] for row in values(french["Par groupe d'utilisateurs"])[1:]] == [
        "Anonymes",
        "Clés d'API du propriétaire",
    ]
    assert values(french["Par domaine"])[1][0] == "(sans référent)"


def test_xlsx_sets_column_widths() -> None:
    book = workbook("fr")
    sheet = book["Jeux de données"]
    assert [sheet.column_dimensions[c].width for c in "ABC"] == [24, 48, 28]
    assert book["Par domaine"].column_dimensions["A"].width == 40


def test_xlsx_drops_characters_a_workbook_cannot_hold() -> None:
    datasets = [DatasetFigures(DatasetRow("roads", "Bell\x07 and #N/A", ORG1), figures((1, 0)))]
    errors = [DatasetFigures(DatasetRow("na", "#N/A", ORG1), figures((1, 0)))]
    assert workbook(datasets=datasets)["Datasets"]["B2"].value == "Bell and #N/A"
    cell = workbook(datasets=errors)["Datasets"]["B2"]
    assert (cell.value, cell.data_type) == ("#N/A", "s")


def test_xlsx_of_10_000_datasets_builds() -> None:
    datasets = [
        DatasetFigures(DatasetRow(f"d{n:05}", f"Data {n}", ORG1), figures((n, n // 2), (n % 7, 1)))
        for n in range(10_000)
    ]
    book = load_workbook(BytesIO(xlsx_export(OVERVIEW, DAYS, datasets, "en")), read_only=True)
    rows = list(book["Datasets"].values)
    assert len(rows) == 10_001
    assert rows[-1] == ("d09999", "Data 9999", "organization:org1", 9999, 4999, 3, 1)


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("Semi;=1+1;@SUM(2)", "\"Semi;'=1+1;'@SUM(2)\""),
        ("evil.example;=1+1", '"evil.example;\'=1+1"'),
        ("a;b", '"a;b"'),  # quoted: a `;` reader keeps it whole
        ("tab\t+1", '"tab\t\'+1"'),
        ("line\n-1", '"line\n\'-1"'),
        ("a, =1", '"a, \'=1"'),  # a reader may trim the space
        ("a=1;b-2", '"a=1;b-2"'),
    ],
)
def test_csv_pieces_after_any_separator_never_run_as_formulas(text: str, cell: str) -> None:
    rows = [detail("roads", domain=text)]
    assert csv_text(rows, {"roads": text}) == HEADER + f"roads,{cell},ANONYMOUS,{cell},1,0,0,2\r\n"
