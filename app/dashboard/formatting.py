"""Figures as the dashboard writes them, in English or French: counts, volumes, percents, badges."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Lang = Literal["en", "fr"]
Direction = Literal["up", "down", "flat", "new", "none"]

NBSP = "\u00a0"  # between a number and its unit or "%", and before a French colon
NNBSP = "\u202f"  # French thousands separator and the space before a French semicolon
MINUS = "\u2212"  # a hyphen reads as a dash next to figures; screen readers say "minus"
COLON: dict[Lang, str] = {"en": ":", "fr": NBSP + ":"}
SEMICOLON: dict[Lang, str] = {"en": ";", "fr": NNBSP + ";"}

_DECIMAL_MARK: dict[Lang, str] = {"en": ".", "fr": ","}
_UNITS: dict[Lang, tuple[str, ...]] = {
    "en": ("B", "kB", "MB", "GB", "TB"),
    "fr": ("o", "ko", "Mo", "Go", "To"),
}
_ARROWS: dict[Direction, str] = {"up": "\u25b2", "down": "\u25bc", "flat": "="}
_NEW: dict[Lang, str] = {"en": "new", "fr": "nouveau"}
_NO_FIGURE = "\u2013"  # en dash: nothing to compare
# An age's units, from seconds up, each with how many seconds it holds: "41 s", "3 min", "2 h".
_AGE_UNITS: dict[Lang, tuple[tuple[str, int], ...]] = {
    "en": (("s", 1), ("min", 60), ("h", 3600), ("d", 86400)),
    "fr": (("s", 1), ("min", 60), ("h", 3600), ("j", 86400)),
}
_LABELS: dict[Lang, dict[Direction, str]] = {
    "en": {
        "up": "up {percent} from {previous}",
        "down": "down {percent} from {previous}",
        "flat": "unchanged from {previous}",
        "new": "new: none in the previous period",
        "none": "none in either period",
    },
    "fr": {
        "up": "en hausse de {percent} par rapport à {previous}",
        "down": "en baisse de {percent} par rapport à {previous}",
        "flat": "stable par rapport à {previous}",
        "new": f"nouveau{NBSP}: aucun sur la période précédente",
        "none": "aucun sur les deux périodes",
    },
}


_DIFFERENCES: dict[Lang, dict[Direction, str]] = {
    "en": {
        "up": "up {difference} from {previous}",
        "down": "down {difference} from {previous}",
        "flat": "unchanged from {previous}",
    },
    "fr": {
        "up": "en hausse de {difference} par rapport à {previous}",
        "down": "en baisse de {difference} par rapport à {previous}",
        "flat": "stable par rapport à {previous}",
    },
}


@dataclass(frozen=True)
class Badge:
    """A change between two periods: short text, its direction, and a sentence for screen readers.

    The direction drives the colour; text and label say the same thing without it.
    """

    text: str
    direction: Direction
    label: str


def count(n: int, lang: Lang) -> str:
    """1234567 -> en "1,234,567", fr "1 234 567" (narrow no-break spaces)."""
    digits = f"{abs(n):,}"
    if lang == "fr":
        digits = digits.replace(",", NNBSP)
    return MINUS + digits if n < 0 else digits


def volume(n_bytes: int, lang: Lang) -> str:
    """Decimal units (1 kB = 1000 B): one decimal below 10, none from 10 up: "1.5 kB", "12 MB"."""
    units = _UNITS[lang]
    if abs(n_bytes) < 1000:
        return f"{count(n_bytes, lang)}{NBSP}{units[0]}"
    sign, size = (MINUS if n_bytes < 0 else ""), abs(n_bytes)
    for power, unit in enumerate(units[1:], start=1):
        # Integer rounding (half up) so 9,960 B is "10 kB", not "10.0 kB", and 999,600 B is
        # "1.0 MB", not "1000 kB".
        scale = 1000**power
        tenths = (size * 20 + scale) // (scale * 2)
        if tenths < 100:
            return f"{sign}{tenths // 10}{_DECIMAL_MARK[lang]}{tenths % 10}{NBSP}{unit}"
        whole = (size * 2 + scale) // (scale * 2)
        if whole < 1000 or power == len(units) - 1:
            return f"{sign}{count(whole, lang)}{NBSP}{unit}"
    raise AssertionError("unreachable: the last unit always returns")


def age(seconds: float, lang: Lang) -> str:
    """How long ago, rounded down in the largest unit that leaves at least 1 of it: 59.9 ->
    "59 s", 61 -> "1 min", 7200 -> "2 h", 3 days -> "3 d" ("3 j" in French)."""
    whole = max(0, int(seconds))
    unit, size = _AGE_UNITS[lang][0]
    for name, length in _AGE_UNITS[lang]:
        if whole >= length:
            unit, size = name, length
    return f"{count(whole // size, lang)}{NBSP}{unit}"


def badge(current: int, previous: int, lang: Lang, *, small_base: int = 0) -> Badge:
    """How current compares with previous; "new" when previous is 0, "none" when both are.
    Below `small_base` the change is a difference ("▲ +83"), not a percentage (+591 %)."""
    if previous == 0:
        if current == 0:
            return Badge(_NO_FIGURE, "none", _LABELS[lang]["none"])
        return Badge(_NEW[lang], "new", _LABELS[lang]["new"])
    if previous < small_base:
        difference = current - previous
        way: Direction = "up" if difference > 0 else "down" if difference < 0 else "flat"
        sign = "+" if difference > 0 else ""
        words = _DIFFERENCES[lang][way].format(
            difference=count(abs(difference), lang), previous=count(previous, lang)
        )
        return Badge(f"{_ARROWS[way]}{NBSP}{sign}{count(difference, lang)}", way, words)
    # Exact arithmetic: a float ratio could round 12.5 % down when it is stored as 12.4999...
    change = Fraction(current - previous, previous) * 100
    direction: Direction = "up" if change > 0 else "down" if change < 0 else "flat"
    text = f"{_ARROWS[direction]}{NBSP}{_signed_percent(change, lang)}"  # never split by a wrap
    label = _LABELS[lang][direction].format(
        percent=_unsigned_percent(abs(change), lang), previous=count(previous, lang)
    )
    return Badge(text, direction, label)


def share(part: int, whole: int, lang: Lang) -> str:
    """part's share of whole, "12.5 %" (whole numbers from 10 %); an en dash when whole is 0."""
    if whole == 0:
        return _NO_FIGURE
    return _unsigned_percent(Fraction(part, whole) * 100, lang)


def _signed_percent(value: Fraction, lang: Lang) -> str:
    # The sign follows the exact value, so a rise too small to show still reads "+0.0 %".
    sign = "+" if value > 0 else MINUS if value < 0 else ""
    return sign + _unsigned_percent(abs(value), lang)


def _unsigned_percent(value: Fraction, lang: Lang) -> str:
    tenths = math.floor(value * 10 + Fraction(1, 2))
    if value == 0:
        number = "0"
    elif tenths < 100:
        number = f"{tenths // 10}{_DECIMAL_MARK[lang]}{tenths % 10}"
    else:
        number = count(math.floor(value + Fraction(1, 2)), lang)
    return f"{number}{NBSP}%"
