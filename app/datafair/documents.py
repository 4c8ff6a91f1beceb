"""One `daily-api-metrics` document (mongoexport, Extended JSON) -> its id, our key and counters,
or the reason it is skipped (docs/coming-from-data-fair.md). Pure.

Legacy shapes are read as Data Fair's queries read them: a missing refererCategory is `other`,
float bytes are rounded, the processing classes count as API keys. A department is folded into
its organisation, as our owners have none. Only the fields we use are read, each checked for
its type and range, so that no value can raise past here (a `$date` of year 1 or of 10^20 ms,
a number of 5 000 digits, a document nested 1 000 deep).
"""

from __future__ import annotations

import functools
import hashlib
import math
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from app.core.hosts import (
    INVALID_DOMAIN,
    IP_DOMAIN,
    NO_DOMAIN,
    ends_in_a_number,
    is_ip_literal,
)
from app.core.limits import MAX_DOMAIN_LENGTH, MAX_ID_LENGTH
from app.core.records import OWNER_TYPES, UsageKey
from app.core.titles import shown_text
from app.datafair.mongoexport import nesting_depth
from app.datafair.skips import Skipped
from app.datafair.vocabulary import (
    GROUP_BY_CLASS,
    OPERATION_BY_TRACK,
    OTHER_CATEGORY,
    REFERER_CATEGORIES,
    STATUS_BY_CLASS,
)

# Each figure a document stores (requests, bytes, milliseconds) is at most this: past it the
# document is garbage (a day of 3 billion requests a second), and a chunk of 32 767 of them
# still adds up within a 64-bit column (docs/coming-from-data-fair.md). Sums across chunks are
# the storage's to bound.
MAX_COUNTER = 2**48
# Data Fair's documents nest 3 levels ({"day": {"$date": {"$numberLong": ...}}}).
MAX_DEPTH = 16
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
_MS_PER_DAY = 86_400_000
_EPOCH = FIRST_DAY.toordinal()
_LONGEST_NUMBER = 40  # characters of a $numberLong or $numberDouble worth reading
_LONGEST_ID = 64  # an `_id` kept as it is (an ObjectId has 24); longer ones are hashed
_CLASSES = ("operationTrack", "statusClass", "userClass")
# A history repeats a few hundred domains, days and titles: each raw text is checked once. Bounded,
# so that memory stays flat whatever the file (a domain is at most 253 characters).
_CACHED_TEXTS = 16_384
_CACHED_TITLES = 4_096  # a title is cut at 1 000 characters
# Ours say "none" where there was no referer, and "ip" for an address, where Data Fair's `other`
# covered both.
_OTHER_BY_DOMAIN = {NO_DOMAIN: "none", IP_DOMAIN: "ip"}


class Imported(NamedTuple):
    """A document as one of our rows: its number in its file, its id, key, counters, the
    resource's title and the owner's name (when its X-Owner had one)."""

    number: int
    document_id: str
    key: UsageKey
    requests: int
    bytes: int
    duration_ms: int
    title: str | None
    owner_name: str | None


def read_document(number: int, data: bytes, value: Any = None) -> Imported | Skipped:
    """Document `number` of a file: its bytes (and its value, when the reader parsed it
    already) -> Imported."""
    # A bracket per level at least: most documents are cleared by counting them.
    if data.count(b"{") + data.count(b"[") > MAX_DEPTH and nesting_depth(data) > MAX_DEPTH:
        return Skipped.TOO_DEEP
    if value is None:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            return Skipped.BAD_JSON
    if type(value) is not dict:
        return Skipped.NOT_A_DOCUMENT
    found = _fields(value)
    if isinstance(found, Skipped):
        return found
    return Imported(number, document_id(value), *found)


def document_id(document: dict[str, Any]) -> str:
    """Its `_id` (an ObjectId's hex digits), or `#` and a hash of it, or without one a hash of
    the whole document: the same document has the same id in every form of export."""
    raw = document.get("_id")
    if raw is None:
        return "#" + _digest(document)
    if type(raw) is dict and len(raw) == 1 and "$oid" in raw:
        raw = raw["$oid"]
    if type(raw) is str and 0 < len(raw) <= _LONGEST_ID and raw.isascii() and raw.isalnum():
        return raw
    return "#" + _digest(raw)


def _digest(value: Any) -> str:
    # Sorted keys: a canonical text, whatever the order or spacing of the file.
    canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def _fields(document: dict[str, Any]) -> tuple[Any, ...] | Skipped:
    owner = document.get("owner")
    if type(owner) is not dict or owner.get("type") not in OWNER_TYPES:
        return Skipped.BAD_OWNER
    if not _is_id(owner.get("id")):
        return Skipped.BAD_OWNER
    day = _day(document.get("day"))
    if day is None:
        return Skipped.BAD_DAY
    resource = document.get("resource")
    if type(resource) is not dict:
        return Skipped.BAD_RESOURCE
    title = resource.get("title")
    if not (_is_id(resource.get("type"), 64) and _is_id(resource.get("id"))) or not (
        title is None or type(title) is str
    ):
        return Skipped.BAD_RESOURCE
    track, status, user_class = (document.get(name) for name in _CLASSES)
    operation = OPERATION_BY_TRACK.get(track) if type(track) is str else None
    if operation is None:
        return Skipped.UNKNOWN_TRACK
    status = STATUS_BY_CLASS.get(status) if type(status) is str else None
    if status is None:
        return Skipped.UNKNOWN_STATUS
    group = GROUP_BY_CLASS.get(user_class) if type(user_class) is str else None
    if group is None or group == "BOT":
        return Skipped.UNKNOWN_USER_CLASS
    category = document.get("refererCategory")
    if category is None:
        category = OTHER_CATEGORY  # documents from before Data Fair had categories
    elif category not in REFERER_CATEGORIES:
        return Skipped.UNKNOWN_CATEGORY
    app = document.get("refererApp")
    if app is None:
        app = ""
    elif type(app) is str:
        app = app[:MAX_ID_LENGTH].replace("\x00", "")
    else:
        return Skipped.BAD_REFERER_APP
    requests = _figure(document.get("nbRequests", 0), 1)
    size = _figure(document.get("bytes", 0), 1)
    milliseconds = _figure(document.get("duration", 0), 1000)
    for figure in (requests, size, milliseconds):
        if type(figure) is not int:
            return figure  # type: ignore[return-value]
    domain = _domain(document.get("refererDomain"))
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
        _category(domain, category),
        app,
    )
    shown = _shown_title(title) if title is not None else None
    name = owner.get("name")
    return (key, requests, size, milliseconds, shown, None if name is None else _name(name))


def _figure(value: Any, scale: int) -> int | Skipped:
    """nbRequests, bytes (the gzip ratio makes them floats: rounded to the byte) or duration
    (seconds: rounded to the millisecond) as stored, within 0..MAX_COUNTER."""
    if type(value) is not int and type(value) is not float:
        value = _number(value)  # Extended JSON, or not a number
        if value is None:
            return Skipped.BAD_COUNTER
        if isinstance(value, Skipped):
            return value
    scaled: float = value * scale
    if 0 <= scaled <= MAX_COUNTER:  # NaN fails it too
        return round(scaled)
    return Skipped.BAD_COUNTER


def _number(value: Any) -> int | float | Skipped | None:
    """A JSON or Extended JSON number; None for anything else; BAD_VALUE for an Extended JSON
    number that cannot be read."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if type(value) is not dict or len(value) != 1:
        return None
    ((name, inner),) = value.items()
    if name not in ("$numberLong", "$numberInt", "$numberDouble", "$numberDecimal"):
        return None
    if type(inner) is not str or len(inner) > _LONGEST_NUMBER:
        return Skipped.BAD_VALUE
    try:
        return int(inner) if name in ("$numberLong", "$numberInt") else float(inner)
    except ValueError:
        return Skipped.BAD_VALUE


def _day(value: Any) -> date | None:
    if type(value) is str:
        day = _iso_day(value)
    elif type(value) is dict and len(value) == 1 and "$date" in value:
        day = _date_value(value["$date"])
    else:
        return None
    return day if day is not None and FIRST_DAY <= day <= LAST_DAY else None


@functools.lru_cache(maxsize=_CACHED_TEXTS)
def _iso_day(value: str) -> date | None:
    if len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _date_value(inner: Any) -> date | None:
    """A `$date`: ISO 8601 text, milliseconds since 1970, or {"$numberLong": milliseconds}; its
    day in UTC, computed without datetime's range (year 1 or 10^20 ms raise there)."""
    if type(inner) is str:
        return _iso_moment_day(inner)
    milliseconds = _number(inner)
    if not isinstance(milliseconds, int | float) or not math.isfinite(milliseconds):
        return None
    days = math.floor(milliseconds / _MS_PER_DAY)
    if not FIRST_DAY.toordinal() - _EPOCH <= days <= LAST_DAY.toordinal() - _EPOCH:
        return None
    return date.fromordinal(_EPOCH + days)


@functools.lru_cache(maxsize=_CACHED_TEXTS)
def _iso_moment_day(inner: str) -> date | None:
    try:
        moment = datetime.fromisoformat(inner)
        offset = moment.utcoffset() or timedelta(0)
        # Within a day of the range's ends nothing is lost by dropping the offset first.
        return (moment.replace(tzinfo=None) - offset).date()
    except (ValueError, OverflowError):
        return None


_shown_title = functools.lru_cache(maxsize=_CACHED_TITLES)(shown_text)


def _name(value: Any) -> str | None:
    # Shown only, as a title is: a name of the wrong type, or blank, is no name.
    name = shown_text(value) if type(value) is str else ""
    return name if name.strip() else None


def _is_id(value: Any, longest: int = MAX_ID_LENGTH) -> bool:
    return type(value) is str and 0 < len(value) <= longest and "\x00" not in value


def _text(value: Any) -> str:
    return value if type(value) is str else ""


def _category(domain: str, category: str) -> str:
    if category != OTHER_CATEGORY:
        return category
    return _OTHER_BY_DOMAIN.get(domain, category)


def _domain(value: Any) -> str:
    if type(value) is not str or not value:
        return NO_DOMAIN
    return _domain_text(value)


@functools.lru_cache(maxsize=_CACHED_TEXTS)
def _domain_text(value: str) -> str:
    # Data Fair kept an unreadable referer as it came; we count those as "invalid".
    if len(value) > MAX_DOMAIN_LENGTH or "\x00" in value or "/" in value or " " in value:
        return INVALID_DOMAIN
    # An address is never stored as a calling domain (docs/classification.md): it counts as
    # `ip`, as the ingest counts it; a host ending in a number that is no address is unreadable.
    if is_ip_literal(value):
        return IP_DOMAIN
    if ends_in_a_number(value):
        return INVALID_DOMAIN
    return value
