"""Counts, volumes, percents and trend badges as the dashboard writes them in English and French."""

from __future__ import annotations

import pytest

from app.dashboard.formatting import Badge, Lang, age, badge, count, volume

NB = "\u00a0"  # no-break space: before a unit, "%" and a French colon
NN = "\u202f"  # narrow no-break space: French thousands
MINUS = "\u2212"


@pytest.mark.parametrize(
    ("n", "en", "fr"),
    [
        (0, "0", "0"),
        (999, "999", "999"),
        (1000, "1,000", f"1{NN}000"),
        (1_234_567, "1,234,567", f"1{NN}234{NN}567"),
        (-1500, f"{MINUS}1,500", f"{MINUS}1{NN}500"),
    ],
)
def test_count_separates_thousands(n: int, en: str, fr: str) -> None:
    assert (count(n, "en"), count(n, "fr")) == (en, fr)


@pytest.mark.parametrize(
    ("seconds", "en", "fr"),
    [
        (0.0, f"0{NB}s", f"0{NB}s"),
        (59.9, f"59{NB}s", f"59{NB}s"),
        (60.0, f"1{NB}min", f"1{NB}min"),
        (3599.0, f"59{NB}min", f"59{NB}min"),
        (7200.0, f"2{NB}h", f"2{NB}h"),
        (3 * 86400.0, f"3{NB}d", f"3{NB}j"),
        (1234 * 86400.0, f"1,234{NB}d", f"1{NN}234{NB}j"),
    ],
)
def test_an_age_is_whole_in_its_largest_unit(seconds: float, en: str, fr: str) -> None:
    assert (age(seconds, "en"), age(seconds, "fr")) == (en, fr)


@pytest.mark.parametrize(
    ("n_bytes", "en", "fr"),
    [
        (0, f"0{NB}B", f"0{NB}o"),
        (999, f"999{NB}B", f"999{NB}o"),
        (1000, f"1.0{NB}kB", f"1,0{NB}ko"),
        (1500, f"1.5{NB}kB", f"1,5{NB}ko"),
        (9_949, f"9.9{NB}kB", f"9,9{NB}ko"),
        (9_950, f"10{NB}kB", f"10{NB}ko"),  # rounds up to 10: no decimal from 10 on
        (999_499, f"999{NB}kB", f"999{NB}ko"),
        (999_500, f"1.0{NB}MB", f"1,0{NB}Mo"),  # not "1000 kB"
        (12_000_000, f"12{NB}MB", f"12{NB}Mo"),
        (3_400_000_000, f"3.4{NB}GB", f"3,4{NB}Go"),
        (10_000_000_000, f"10{NB}GB", f"10{NB}Go"),
        (1_250_000_000_000, f"1.3{NB}TB", f"1,3{NB}To"),  # half up
        (10**16, f"10,000{NB}TB", f"10{NN}000{NB}To"),  # no unit past TB
    ],
)
def test_volume_uses_decimal_units(n_bytes: int, en: str, fr: str) -> None:
    assert (volume(n_bytes, "en"), volume(n_bytes, "fr")) == (en, fr)


@pytest.mark.parametrize(
    ("ratio", "en", "fr"),
    [
        (0.25, f"+25{NB}%", f"+25{NB}%"),
        (-0.1, f"{MINUS}10{NB}%", f"{MINUS}10{NB}%"),
        (0.025, f"+2.5{NB}%", f"+2,5{NB}%"),
        (-0.025, f"{MINUS}2.5{NB}%", f"{MINUS}2,5{NB}%"),
        (0.0125, f"+1.3{NB}%", f"+1,3{NB}%"),
        (0.0996, f"+10{NB}%", f"+10{NB}%"),  # rounds to 10: no decimal
        (0.0004, f"+0.0{NB}%", f"+0,0{NB}%"),  # the sign tells a tiny rise from none
        (-0.0004, f"{MINUS}0.0{NB}%", f"{MINUS}0,0{NB}%"),
        (0.0, f"0{NB}%", f"0{NB}%"),
        (12.345, f"+1,235{NB}%", f"+1{NN}235{NB}%"),
    ],
)
def test_badge_percent_is_signed_with_one_decimal_below_ten(ratio: float, en: str, fr: str) -> None:
    current = round(10_000 * (1 + ratio))

    def change(lang: Lang) -> str:
        return badge(current, 10_000, lang).text.split(NB, 1)[1]  # past the arrow

    assert (change("en"), change("fr")) == (en, fr)


@pytest.mark.parametrize(
    ("current", "previous", "lang", "expected"),
    [
        (5, 4, "en", Badge(f"▲{NB}+25{NB}%", "up", f"up 25{NB}% from 4")),
        (
            5,
            4,
            "fr",
            Badge(f"▲{NB}+25{NB}%", "up", f"en hausse de 25{NB}% par rapport à 4"),
        ),
        (9, 10, "en", Badge(f"▼{NB}{MINUS}10{NB}%", "down", f"down 10{NB}% from 10")),
        (
            9,
            10,
            "fr",
            Badge(f"▼{NB}{MINUS}10{NB}%", "down", f"en baisse de 10{NB}% par rapport à 10"),
        ),
        (5, 5, "en", Badge(f"={NB}0{NB}%", "flat", "unchanged from 5")),
        (5, 5, "fr", Badge(f"={NB}0{NB}%", "flat", "stable par rapport à 5")),
        (3, 0, "en", Badge("new", "new", "new: none in the previous period")),
        (3, 0, "fr", Badge("nouveau", "new", f"nouveau{NB}: aucun sur la période précédente")),
        (0, 0, "en", Badge("\u2013", "none", "none in either period")),
        (0, 0, "fr", Badge("\u2013", "none", "aucun sur les deux périodes")),
        # Numbers in the label go through count(); 12.5 % rounds half up to 13 %.
        (1_350, 1_200, "en", Badge(f"▲{NB}+13{NB}%", "up", f"up 13{NB}% from 1,200")),
        (
            1_350,
            1_200,
            "fr",
            Badge(f"▲{NB}+13{NB}%", "up", f"en hausse de 13{NB}% par rapport à 1{NN}200"),
        ),
        (1_025, 1_000, "en", Badge(f"▲{NB}+2.5{NB}%", "up", f"up 2.5{NB}% from 1,000")),
        (
            0,
            7,
            "fr",
            Badge(f"▼{NB}{MINUS}100{NB}%", "down", f"en baisse de 100{NB}% par rapport à 7"),
        ),
    ],
)
def test_badge_states_the_change_in_text_and_words(
    current: int, previous: int, lang: Lang, expected: Badge
) -> None:
    assert badge(current, previous, lang) == expected
