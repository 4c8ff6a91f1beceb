"""The Date and BigInt scalars: ISO days that fail as BAD_USER_INPUT, and counters past 32 bits."""

from __future__ import annotations

import re
from datetime import date
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from app.errors import BadUserInputError

BigInt = NewType("BigInt", int)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(value: object) -> date:
    # date.fromisoformat alone also takes "20240108" and week dates: a day is YYYY-MM-DD only.
    # graphql-core copies our error's `extensions` (code BAD_USER_INPUT) onto the one it reports.
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise BadUserInputError("not a day: write days as YYYY-MM-DD, e.g. 2024-01-31")


def serialize_day(value: date) -> str:
    return value.isoformat()


def parse_big_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadUserInputError(f"{value!r} is not a whole number")


def serialize_big_int(value: int) -> int:
    # A JSON number: JavaScript reads integers exactly up to 2**53, far above any count here.
    return int(value)


SCALARS: dict[object, ScalarDefinition] = {
    date: strawberry.scalar(
        name="Date",
        description="A calendar day, ISO 8601 (YYYY-MM-DD), in the service's time zone "
        "(USAGE_METRICS_TIMEZONE, UTC unless set): a request counts on the day the proxy logged "
        "it there.",
        serialize=serialize_day,
        parse_value=parse_day,
    ),
    BigInt: strawberry.scalar(
        name="BigInt",
        description="A whole number as a JSON number; counters outgrow GraphQL's 32-bit Int.",
        serialize=serialize_big_int,
        parse_value=parse_big_int,
    ),
}
