"""One `daily-api-metrics` document (mongoexport, Extended JSON) -> our key and counters, or the
reason it is skipped (docs/coming-from-data-fair.md). Pure.

Legacy shapes are read as Data Fair's queries read them: a missing refererCategory is `other`,
float bytes are rounded, the processing classes count as API keys. A department is folded into
its organisation, as our owners have none.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from app.core.hosts import INVALID_DOMAIN, NO_DOMAIN
from app.core.limits import MAX_DOMAIN_LENGTH, MAX_ID_LENGTH
from app.core.records import OWNER_TYPES, UsageKey
from app.core.titles import shown_text
from app.datafair.vocabulary import (
    GROUP_BY_CLASS,
    OPERATION_BY_TRACK,
    OTHER_CATEGORY,
    REFERER_CATEGORIES,
    STATUS_BY_CLASS,
)

# One document's counters past this are garbage (a year of 30 000 requests a second), and a few
# of them would overflow our 64-bit sums.
MAX_COUNTER = 2**50


class Skipped(StrEnum):
    """Why a document is not imported: a closed set, reported per file."""

    BAD_JSON = "bad_json"
    NOT_A_DOCUMENT = "not_a_document"
    BAD_VALUE = "bad_value"
    BAD_OWNER = "bad_owner"
    BAD_DAY = "bad_day"
    BAD_RESOURCE = "bad_resource"
    UNKNOWN_TRACK = "unknown_track"
    UNKNOWN_STATUS = "unknown_status"
    UNKNOWN_USER_CLASS = "unknown_user_class"
    UNKNOWN_CATEGORY = "unknown_category"
    BAD_COUNTER = "bad_counter"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Skipped.BAD_JSON: "not valid JSON",
    Skipped.NOT_A_DOCUMENT: "not a JSON object",
    Skipped.BAD_VALUE: "an Extended JSON value ($numberLong, $date, ...) that cannot be read",
    Skipped.BAD_OWNER: "owner is not {type: user|organization, id} with an id of 1-200 characters",
    Skipped.BAD_DAY: "day is not a date as YYYY-MM-DD",
    Skipped.BAD_RESOURCE: "resource is not {type, id, title?} with ids of 1-200 characters",
    Skipped.UNKNOWN_TRACK: "operationTrack is not readDataAPI, readDataFiles or openApplication",
    Skipped.UNKNOWN_STATUS: "statusClass is not info, ok, redirect, clientError or serverError",
    Skipped.UNKNOWN_USER_CLASS: "userClass is not one of Data Fair's",
    Skipped.UNKNOWN_CATEGORY: "refererCategory is not backoffice, embed, app, mcp or other",
    Skipped.BAD_COUNTER: "nbRequests, bytes or duration is not a number from 0 to 2^50",
}


class Imported(NamedTuple):
    """A document as one of our rows: its key, counters, the resource's title and the owner's
    name (when its X-Owner had one)."""

    key: UsageKey
    requests: int
    bytes: int
    duration_ms: int
    title: str | None
    owner_name: str | None


def plain(value: Any) -> Any:
    """Extended JSON ({"$date": ...}, {"$numberLong": ...}, {"$oid": ...}) -> plain values."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((name, inner),) = value.items()
            if name in ("$numberLong", "$numberInt"):
                return int(inner)
            if name in ("$numberDouble", "$numberDecimal"):
                return float(inner)
            if name == "$oid":
                return str(inner)
            if name == "$date":
                return _date(inner)
        return {name: plain(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def read_document(raw: Any) -> Imported | Skipped:
    try:
        document = plain(raw)
    except (TypeError, ValueError, OverflowError):
        return Skipped.BAD_VALUE
    if not isinstance(document, dict):
        return Skipped.NOT_A_DOCUMENT
    owner = document.get("owner")
    if not (
        isinstance(owner, dict) and owner.get("type") in OWNER_TYPES and _is_id(owner.get("id"))
    ):
        return Skipped.BAD_OWNER
    day = _day(document.get("day"))
    if day is None:
        return Skipped.BAD_DAY
    resource = document.get("resource")
    if not (
        isinstance(resource, dict)
        and _is_id(resource.get("type"), 64)
        and _is_id(resource.get("id"))
        and isinstance(resource.get("title"), str | None)
    ):
        return Skipped.BAD_RESOURCE
    operation = OPERATION_BY_TRACK.get(_text(document.get("operationTrack")))
    if operation is None:
        return Skipped.UNKNOWN_TRACK
    status = STATUS_BY_CLASS.get(_text(document.get("statusClass")))
    if status is None:
        return Skipped.UNKNOWN_STATUS
    group = GROUP_BY_CLASS.get(_text(document.get("userClass")))
    if group is None or group == "BOT":
        return Skipped.UNKNOWN_USER_CLASS
    category = document.get("refererCategory")
    if category is None:
        category = OTHER_CATEGORY  # documents from before Data Fair had categories
    if category not in REFERER_CATEGORIES:
        return Skipped.UNKNOWN_CATEGORY
    counters = [_counter(document.get(name, 0)) for name in ("nbRequests", "bytes", "duration")]
    if None in counters:
        return Skipped.BAD_COUNTER
    requests, size, seconds = counters
    assert requests is not None and size is not None and seconds is not None
    domain = _domain(document.get("refererDomain"))
    app = document.get("refererApp")
    app = app[:MAX_ID_LENGTH].replace("\x00", "") if isinstance(app, str) else ""
    key = UsageKey(
        owner["type"],
        owner["id"],  # its department, if any, is folded into the organisation
        day,
        resource["type"],
        resource["id"],
        operation,
        status,
        group,
        domain,
        # Ours say "none" where there was no referer; Data Fair's `other` covered it.
        "none" if domain == NO_DOMAIN and category == OTHER_CATEGORY else category,
        app,
    )
    title = resource.get("title")
    title = shown_text(title) if isinstance(title, str) else None
    figures = (round(requests), round(size), round(seconds * 1000))
    return Imported(key, *figures, title, _name(owner.get("name")))


def _name(value: Any) -> str | None:
    # Shown only, as a title is: a name of the wrong type, or blank, is no name.
    name = shown_text(value) if isinstance(value, str) else ""
    return name if name.strip() else None


def _date(value: Any) -> datetime:
    if isinstance(value, dict):
        value = plain(value)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    raise ValueError("not a date")


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _is_id(value: Any, longest: int = MAX_ID_LENGTH) -> bool:
    return isinstance(value, str) and 0 < len(value) <= longest and "\x00" not in value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _counter(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not (0 <= value <= MAX_COUNTER) or math.isnan(value):
        return None
    return value


def _domain(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return NO_DOMAIN
    # Data Fair kept an unreadable referer as it came; we count those as "invalid".
    if len(value) > MAX_DOMAIN_LENGTH or "\x00" in value or "/" in value or " " in value:
        return INVALID_DOMAIN
    return value
