"""One parser per line format (docs/ingest.md), detected per line, each giving a LogRecord.

A line that cannot be read raises LineError with a reason a person understands. Parsers never
keep the IP, the remote user, the path or the query string: they are read past.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import orjson

from app.core.limits import MAX_ID_LENGTH
from app.core.records import OWNER_TYPES, LogRecord, Operation, Owner, Rejected, Resource
from app.core.titles import shown_text
from app.ingest.route_rules import Route

# Marks a record whose owner must be looked up from its resource (route-rule lines).
LOOKUP_OWNER = Owner("", "")
# An owner header read: the owner (None when the header names none) and its name, if it has one.
OwnerHeader = tuple[Owner | None, str | None]
NO_OWNER: OwnerHeader = (None, None)

OPERATION_BY_TRACK = {
    "readDataAPI": Operation.API,
    "readDataFiles": Operation.DOWNLOAD,
    "openApplication": Operation.APP,
}
_SYSLOG = re.compile(
    r"<\d{1,3}>(?P<month>[A-Z][a-z]{2}) (?P<day>[ \d]\d) \d\d:\d\d:\d\d (?:[^\s:]+ )?[^\s:]*: ?"
)
_COMBINED = re.compile(
    r'(?P<remote_addr>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" '
    r"(?P<status>\d{3}) (?P<bytes>\d+|-)"
    # Referer and user agent are optional (common log format), but a line cut inside one of
    # them (syslog truncates long lines) must not pass as a line without them.
    r'(?:$| "(?P<referer>[^"]*)"(?:$| "(?P<user_agent>[^"]*)"(?:$| )))'
)
_CLF_MINUTE = re.compile(
    r"(?P<day>\d\d)/(?P<month>[A-Z][a-z]{2})/(?P<year>\d{4}):(?P<hour>\d\d):(?P<minute>\d\d)"
    r" (?P<sign>[+-])(?P<oh>\d\d)(?P<om>\d\d)"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_NO_VALUE = ("", "-")
# An operation field that names no operation: the route rules apply to the line's method and URI.
NO_OPERATION = (None, "", "-")
# The items of Data Fair's positional `metrics` log format (docs/ingest.md), by position.
DF_HOST = 0
DF_REFERER = 1
DF_REQUEST_TIME = 2
DF_BYTES_SENT = 3
DF_STATUS = 4
DF_OWNER = 5
DF_ID_TOKEN = 6
DF_ID_TOKEN_ORG = 7
DF_API_KEY = 8
DF_ACCOUNT = 9
DF_PROCESSING = 10
DF_CACHE_STATUS = 11
DF_RESOURCE = 12
DF_OPERATION = 13
DF_GZIP_RATIO = 14  # absent from the 14-item form
DF_ITEM_COUNTS = (DF_GZIP_RATIO + 1, DF_GZIP_RATIO)
# One request's figures past these are garbage, and a few of them would overflow the 64-bit
# counters (SQLite INTEGER, PostgreSQL bigint): the whole batch would fail on every retry.
MAX_BYTES = 2**40  # 1 TiB
MAX_REQUEST_TIME_S = 1_000_000.0  # 11.6 days


class LineError(ValueError):
    """A line that cannot be read: its code, and a reason that never quotes the line (it may
    hold an IP or a token); without one, the code's message."""

    def __init__(self, code: Rejected, reason: str | None = None) -> None:
        super().__init__(reason or code.message)
        self.code = code
        self.reason = reason or code.message


@dataclass(frozen=True)
class ParseContext:
    """What parsing needs beyond the line: the clock and zone of this batch, the route rules."""

    timezone: ZoneInfo
    received_at: datetime  # aware
    match_route: Callable[[str, str], Route | None]

    @functools.cached_property
    def received_day(self) -> date:
        return self.received_at.astimezone(self.timezone).date()


def parse_entry(value: Any, context: ParseContext) -> LogRecord:
    """A body entry (raw line, Data Fair array, named object, shipper event) -> LogRecord."""
    if isinstance(value, dict):
        value = unwrap_event(value)
    if isinstance(value, str):
        return parse_line(value, context)
    if isinstance(value, list):
        return parse_data_fair(value, context.received_day)
    if isinstance(value, dict):
        return parse_named(value, context)
    raise LineError(
        Rejected.NOT_A_LINE,
        f"a log line must be a string, an array or an object, not {_kind(value)}",
    )


def unwrap_event(fields: dict[str, Any]) -> Any:
    """A shipper's event -> the line it carries (Vector: `message`, Fluent Bit: `log`).

    Unwrapped once: an event inside an event is not a format. Our named objects stay as they are.
    """
    if "operation" not in fields and "uri" not in fields:
        inner = fields.get("message", fields.get("log"))
        if isinstance(inner, str | list | dict):
            return inner
    return fields


def parse_line(line: str, context: ParseContext) -> LogRecord:
    """A raw line: optional syslog header, then a JSON array, a JSON object or nginx combined."""
    day, value = read_line(line, context)
    if type(value) is list:
        return parse_data_fair(value, day)
    if type(value) is dict:
        return parse_named(value, context, day)
    return parse_combined(value, context)


def read_line(line: str, context: ParseContext) -> tuple[date, Any]:
    """A raw line -> (its day so far, a decoded JSON array or object, or the text to parse)."""
    text = line.strip()
    day = context.received_day
    if text[:1] == "<":
        day, text = read_syslog_header(text, context)
    first = text[:1]
    if first != "[" and first != "{":
        return day, text
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise LineError(
            Rejected.BAD_JSON, f"the line is not valid JSON ({exc.msg} at character {exc.pos})"
        ) from None
    if type(value) is not list and type(value) is not dict:
        raise LineError(
            Rejected.NOT_A_LINE,
            f"a JSON log line must be an array or an object, not {_kind(value)}",
        )
    return day, value


def read_syslog_header(text: str, context: ParseContext) -> tuple[date, str]:
    """`<PRI>Mmm dd hh:mm:ss [host] tag: rest` -> (the day it gives, rest)."""
    header = _SYSLOG.match(text)
    if header is None:
        raise LineError(
            Rejected.UNKNOWN_FORMAT,
            "the line starts with '<' but has no syslog header '<PRI>Mmm dd hh:mm:ss tag: '",
        )
    return _syslog_day(header["month"], int(header["day"]), context), text[header.end() :]


def parse_data_fair(items: list[Any], day: date) -> LogRecord:
    """Data Fair's positional `metrics` array: 15 items, or 14 without the gzip ratio."""
    if len(items) == DF_GZIP_RATIO + 1:
        gzip_ratio = items[DF_GZIP_RATIO]
    elif len(items) == DF_GZIP_RATIO:
        gzip_ratio = ""
    else:
        raise LineError(
            Rejected.WRONG_ITEM_COUNT,
            f"a Data Fair log line has 14 or 15 items, this one has {len(items)}",
        )
    owner, owner_name = _owner(items[DF_OWNER])
    return LogRecord(
        day=day,
        host=_text(items[DF_HOST], "host"),
        referer=_text(items[DF_REFERER], "referer"),
        user_agent="",
        status=read_status(items[DF_STATUS]),
        bytes=_bytes(items[DF_BYTES_SENT], gzip_ratio),
        duration_ms=duration_ms(items[DF_REQUEST_TIME]),
        owner=owner,
        owner_name=owner_name,
        resource=_resource(items[DF_RESOURCE]),
        operation=_operation(items[DF_OPERATION]),
        id_token=_text(items[DF_ID_TOKEN], "id_token"),
        api_key=_text(items[DF_API_KEY], "api_key"),
    )


def parse_named(
    fields: dict[str, Any], context: ParseContext, day: date | None = None
) -> LogRecord:
    """Our nginx `usage_metrics` JSON format (named keys; unknown keys are ignored)."""
    time = fields.get("time")
    day = iso_day(time, context.timezone) if time else (day or context.received_day)
    operation_field = fields.get("operation")
    referer = _text(fields.get("referer"), "referer") or _text(fields.get("origin"), "origin")
    (owner, owner_name), resource, operation = (
        _owner(fields.get("owner")),
        _resource(fields.get("resource")),
        _operation(operation_field),
    )
    if operation_field in NO_OPERATION:
        route = _route(fields.get("method"), fields.get("uri"), context)
        if route is not None:
            # The owner is looked up from the resource: nothing is learnt of it here.
            owner, owner_name, resource, operation = LOOKUP_OWNER, None, route[0], route[1]
    return LogRecord(
        day=day,
        host=_text(fields.get("host"), "host"),
        referer=referer,
        user_agent=_text(fields.get("user_agent"), "user_agent"),
        status=read_status(fields.get("status")),
        bytes=_bytes(fields.get("bytes", 0), fields.get("gzip_ratio")),
        duration_ms=duration_ms(fields.get("request_time", 0)),
        owner=owner,
        owner_name=owner_name,
        resource=resource,
        operation=operation,
        id_token=_text(fields.get("id_token"), "id_token"),
        api_key=_text(fields.get("api_key"), "api_key"),
        remote_addr=_text(fields.get("remote_addr"), "remote_addr"),
    )


def parse_combined(line: str, context: ParseContext) -> LogRecord:
    """nginx `combined`: dataset and operation come from the route rules, the owner from lookup."""
    found = _COMBINED.match(line)
    if found is None:
        raise LineError(
            Rejected.UNKNOWN_FORMAT,
            "the line is in no known format (Data Fair array, named JSON object, nginx combined)",
        )
    method, _, target = found["request"].partition(" ")
    route = _route(method, target.partition(" ")[0], context)
    owner, resource, operation = (
        (LOOKUP_OWNER, route[0], route[1]) if route is not None else (None, None, None)
    )
    sent = found["bytes"]
    return LogRecord(
        day=_clf_day(found["time"], context.timezone),
        host="",
        referer=_text(found["referer"], "referer"),
        user_agent=_text(found["user_agent"], "user_agent"),
        status=read_status(found["status"]),
        bytes=0 if sent == "-" else _bytes(sent, None),
        duration_ms=0,
        owner=owner,
        owner_name=None,
        resource=resource,
        operation=operation,
        id_token="",
        api_key="",
        remote_addr=found["remote_addr"],
    )


def _route(method: Any, uri: Any, context: ParseContext) -> tuple[Resource, Operation] | None:
    if not isinstance(uri, str) or not uri:
        return None
    path = uri.split("?", 1)[0]
    route = context.match_route(method.upper() if isinstance(method, str) else "GET", path)
    if route is None:
        return None
    return Resource(route.resource_type, route.resource_id, None), route.operation


def read_text(value: Any, name: str) -> str:
    """A text field: "" for none (null, "-"), BAD_FIELD for what is not a string."""
    return _text(value, name)


def _text(value: Any, name: str) -> str:
    if value is None or value == "-":
        return ""
    if isinstance(value, str):
        return value
    raise LineError(Rejected.BAD_FIELD, f"the field {name!r} must be a string, not {_kind(value)}")


def read_status(value: Any) -> int:
    if type(value) is int and 100 <= value <= 999:
        return value
    try:
        status = int(value)
    except (TypeError, ValueError):
        raise LineError(
            Rejected.BAD_STATUS, f"the status must be an HTTP status code, not {_kind(value)}"
        ) from None
    if not 100 <= status <= 999:
        raise LineError(Rejected.BAD_STATUS, f"the status {status} is not an HTTP status code")
    return status


def sent_bytes(sent: Any, gzip_ratio: Any) -> int:
    """Bytes sent x gzip ratio (~ the uncompressed size, what was downloaded), rounded."""
    if (
        type(sent) is int
        and 0 <= sent <= MAX_BYTES
        and (gzip_ratio is None or gzip_ratio == "-" or gzip_ratio == "")
    ):
        return sent
    return _bytes(sent, gzip_ratio)


def _bytes(sent: Any, gzip_ratio: Any) -> int:
    try:
        size = sent if type(sent) is int else int(sent or 0)
        if gzip_ratio not in _NO_VALUE and gzip_ratio is not None:
            # bytes sent x gzip ratio ~ the uncompressed size, which is what was downloaded
            size = round(size * float(gzip_ratio))
    except (TypeError, ValueError, OverflowError):
        # ValueError too for digit strings past Python's 4300-digit limit on int().
        raise LineError(
            Rejected.BAD_NUMBER, "the bytes sent and gzip ratio must be numbers"
        ) from None
    if not 0 <= size <= MAX_BYTES:
        raise LineError(
            Rejected.BAD_NUMBER, f"the bytes sent (x gzip ratio) must be from 0 to {MAX_BYTES}"
        )
    return size


def duration_ms(request_time: Any) -> int:
    """A request time in seconds (nginx's $request_time) -> whole milliseconds, checked."""
    if type(request_time) is float and 0.0 <= request_time <= MAX_REQUEST_TIME_S:
        return round(request_time * 1000)  # the common case, without float() and try
    try:
        seconds = float(request_time)
    except (TypeError, ValueError, OverflowError):
        raise LineError(
            Rejected.BAD_NUMBER, "the request time must be a number of seconds"
        ) from None
    if not 0.0 <= seconds <= MAX_REQUEST_TIME_S:  # also refuses NaN
        raise LineError(
            Rejected.BAD_NUMBER,
            f"the request time must be from 0 to {MAX_REQUEST_TIME_S:.0f} seconds",
        )
    return round(seconds * 1000)


def _owner(value: Any) -> OwnerHeader:
    if isinstance(value, str):
        return _owner_header(value)
    if isinstance(value, dict):
        return _owner_of(value)
    return NO_OWNER


@functools.lru_cache(maxsize=4096)
def _owner_header(raw: str) -> OwnerHeader:
    return _owner_of(_header_object(raw, "owner"))


def _owner_of(fields: dict[str, Any] | None) -> OwnerHeader:
    if not fields:
        return NO_OWNER
    kind, ident, name = fields.get("type"), fields.get("id"), fields.get("name")
    if not (kind in OWNER_TYPES and isinstance(ident, str) and ident):
        return NO_OWNER
    owner = Owner(_key_text(kind, "owner type", 32), _key_text(ident, "owner id", MAX_ID_LENGTH))
    # A name is only shown, as a title is: a name of the wrong type is no name, not a bad line.
    shown = _shown(name) if isinstance(name, str) else ""
    return owner, shown if shown.strip() else None


def _resource(value: Any) -> Resource | None:
    if isinstance(value, str):
        return _resource_header(value)
    if isinstance(value, dict):
        return _resource_of(value)
    return None


@functools.lru_cache(maxsize=16384)
def _resource_header(raw: str) -> Resource | None:
    return _resource_of(_header_object(raw, "resource"))


def _resource_of(fields: dict[str, Any] | None) -> Resource | None:
    if not fields:
        return None
    kind, ident, title = fields.get("type"), fields.get("id"), fields.get("title")
    if not (isinstance(kind, str) and isinstance(ident, str) and kind and ident):
        return None
    return Resource(
        _key_text(kind, "resource type", 64),
        _key_text(ident, "resource id", MAX_ID_LENGTH),
        _shown(title) if isinstance(title, str) and title else None,
    )


def _shown(text: str) -> str:
    # Data Fair URI-encodes what it puts in a header, so that the header stays ASCII.
    return shown_text(unquote(text))


def _key_text(value: str, name: str, limit: int) -> str:
    if len(value) > limit:
        raise LineError(Rejected.TOO_LONG, f"the {name} is longer than {limit} characters")
    if "\x00" in value:  # PostgreSQL text cannot hold it: the whole batch would fail
        raise LineError(Rejected.BAD_FIELD, f"the {name} contains a NUL character")
    return value


def _operation(value: Any) -> Operation | None:
    if isinstance(value, str):
        return _operation_header(value)
    if isinstance(value, dict):
        return OPERATION_BY_TRACK.get(value.get("track"))  # type: ignore[arg-type]
    return None


@functools.lru_cache(maxsize=1024)
def _operation_header(raw: str) -> Operation | None:
    fields = _header_object(raw, "operation")
    return OPERATION_BY_TRACK.get(fields.get("track")) if fields else None  # type: ignore[arg-type]


def _header_object(raw: str, name: str) -> dict[str, Any] | None:
    if raw in _NO_VALUE:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise LineError(Rejected.BAD_HEADER, f"the {name} header is not valid JSON") from None
    if not isinstance(value, dict):
        raise LineError(
            Rejected.BAD_HEADER, f"the {name} header must be a JSON object, not {_kind(value)}"
        )
    return value


def iso_day(time: Any, zone: ZoneInfo) -> date:
    if not isinstance(time, str):
        raise LineError(
            Rejected.BAD_TIME, f"the time must be an ISO 8601 string, not {_kind(time)}"
        )
    # The day depends on the minute and the offset only: cache on those, not on each second.
    return _iso_day_cached(time[:16] + time[19:] if len(time) >= 19 else time, zone)


@functools.lru_cache(maxsize=8192)
def _iso_day_cached(minute: str, zone: ZoneInfo) -> date:
    try:
        moment = datetime.fromisoformat(minute)
    except ValueError:
        raise LineError(Rejected.BAD_TIME, "the time is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise LineError(Rejected.BAD_TIME, "the time has no UTC offset (use nginx's $time_iso8601)")
    return moment.astimezone(zone).date()


def _clf_day(time: str, zone: ZoneInfo) -> date:
    # [10/Oct/2000:13:55:36 -0700]: cache on the minute and the offset
    return _clf_day_cached(time[:17] + time[20:], zone)


@functools.lru_cache(maxsize=8192)
def _clf_day_cached(minute: str, zone: ZoneInfo) -> date:
    # Read by hand: datetime.strptime costs ~5 us, and logs have a new minute every minute.
    found = _CLF_MINUTE.fullmatch(minute)
    month = _MONTHS.get(found["month"]) if found else None
    if found is None or month is None:
        raise LineError(
            Rejected.BAD_TIME, "the time is not nginx's $time_local (10/Oct/2000:13:55:36 -0700)"
        )
    sign = -1 if found["sign"] == "-" else 1
    offset = timedelta(hours=int(found["oh"]), minutes=int(found["om"])) * sign
    try:
        moment = datetime(
            int(found["year"]),
            month,
            int(found["day"]),
            int(found["hour"]),
            int(found["minute"]),
            tzinfo=dt_timezone(offset),
        )
    except ValueError:
        raise LineError(
            Rejected.BAD_TIME, "the time is not nginx's $time_local (10/Oct/2000:13:55:36 -0700)"
        ) from None
    return moment.astimezone(zone).date()


def _syslog_day(month_name: str, day: int, context: ParseContext) -> date:
    return _syslog_day_cached(month_name, day, context.received_day)


@functools.lru_cache(maxsize=1024)
def _syslog_day_cached(month_name: str, day: int, received_day: date) -> date:
    """A syslog date has no year: take the year that puts it at most one day after reception."""
    month = _MONTHS.get(month_name)
    if month is None:
        raise LineError(
            Rejected.BAD_TIME, f"the syslog header's month {month_name!r} is not a month"
        )
    latest = received_day + timedelta(days=1)
    for year in (latest.year, latest.year - 1, latest.year - 2, latest.year - 3, latest.year - 4):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue  # 29 Feb of a common year, or day 0/32
        if candidate <= latest:
            return candidate
    raise LineError(Rejected.BAD_TIME, f"the syslog header's date {month_name} {day} is not a date")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )
