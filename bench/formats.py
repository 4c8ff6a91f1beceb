"""One renderer per line format of docs/ingest.md, from a generated request, and a corrupter.

The lines look like what nginx writes: Data Fair's positional `metrics` array (optionally behind
a syslog header), our named JSON object (`escape=json`: headers are JSON strings holding JSON),
and nginx `combined` ("-" for an empty Referer), with documentation IPs (192.0.2.0/24) only.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import NamedTuple
from urllib.parse import urlsplit

import orjson

from bench.population import PORTAL_HOST, Credentials, Population, Referer, Resource

DATA_FAIR, NAMED, COMBINED = "data-fair", "named", "combined"
SYSLOG_TAG = "df: "
OPERATION_IDS = {  # X-Operation track -> its id ("" : an operation without a track)
    "readDataAPI": "readLines",
    "readDataFiles": "downloadFullData",
    "openApplication": "readConfig",
    "": "readDescription",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PARIS_WINTER = timezone(timedelta(hours=1))


class Visit(NamedTuple):
    """Who asks what from where: shared by the requests of one page view or script run."""

    resource: Resource
    track: str  # "" when the requests are no tracked operation
    referer: Referer
    agent: str
    is_bot: bool
    credentials: Credentials


class Request(NamedTuple):
    visit: Visit
    time: datetime
    uri: str
    status: int
    sent: int
    gzip_ratio: str  # "-" when the response was not gzipped
    duration_ms: int


def _operation_header(track: str) -> str:
    operation_id = OPERATION_IDS[track]
    fields = {"class": "read", "id": operation_id, **({"track": track} if track else {})}
    return orjson.dumps(fields).decode()


def data_fair_line(pop: Population, r: Request) -> str:
    v = r.visit
    creds = v.credentials
    items = [
        PORTAL_HOST,
        v.referer.url,
        # Data Fair's log_format writes these three unquoted: JSON numbers.
        round(r.duration_ms / 1000, 3),
        r.sent,
        r.status,
        pop.owner_headers[v.resource.owner],
        creds.id_token,
        creds.id_token_org,
        creds.api_key,
        "",
        "",
        "MISS",
        v.resource.header,
        _operation_header(v.track),
        r.gzip_ratio,
    ]
    return orjson.dumps(items).decode()


def syslog_header(time: datetime) -> str:
    return f"<190>{_MONTHS[time.month - 1]} {time.day:>2} {time:%H:%M:%S} {SYSLOG_TAG}"


def named_line(rng: random.Random, pop: Population, r: Request) -> str:
    v = r.visit
    creds = v.credentials
    local = r.time if rng.random() < 0.8 else r.time.astimezone(_PARIS_WINTER)
    referer, origin = v.referer.url, ""
    if v.referer.category == "external" and rng.random() < 0.2:
        # A cross-origin fetch under a strict referrer policy sends Origin only: same domain.
        parts = urlsplit(referer)
        referer, origin = "", f"{parts.scheme}://{parts.netloc}"
    # Responses served from nginx's cache carry no upstream headers: route rules take over.
    cached = rng.random() < 0.1
    fields = {
        "time": local.isoformat(timespec="seconds"),
        "host": PORTAL_HOST,
        "method": "GET",
        "uri": r.uri,
        "status": r.status,
        "bytes": r.sent,
        "request_time": r.duration_ms / 1000,
        "referer": referer,
        "origin": origin,
        "user_agent": v.agent,
        "gzip_ratio": r.gzip_ratio,
        "owner": "" if cached else pop.owner_headers[v.resource.owner],
        "resource": "" if cached else v.resource.header,
        "operation": "" if cached else _operation_header(v.track),
        "id_token": creds.id_token,
        "id_token_org": creds.id_token_org,
        "api_key": creds.api_key,
    }
    return orjson.dumps(fields).decode()


def combined_line(rng: random.Random, r: Request) -> str:
    local = r.time if rng.random() < 0.7 else r.time.astimezone(_PARIS_WINTER)
    stamp = f"{local.day:02d}/{_MONTHS[local.month - 1]}/{local:%Y:%H:%M:%S} {local:%z}"
    return (
        f'192.0.2.{rng.randint(1, 254)} - - [{stamp}] "GET {r.uri} HTTP/1.1" {r.status} '
        f'{r.sent} "{r.visit.referer.url or "-"}" "{r.visit.agent}"'
    )


def corrupt(rng: random.Random, fmt: str, line: str) -> str:
    """A line the pipeline must reject: truncated, or one field made unreadable."""
    if fmt == COMBINED:
        # Cut before the request's closing quote: nothing after it can make the line readable.
        return line[: rng.randint(12, line.index('" ', line.index('"GET ')) - 1)]
    start = line.index("[") if line.startswith("<") else 0
    if rng.random() < 0.8:
        return line[: rng.randint(start + 1, len(line) - 2)]
    value = orjson.loads(line[start:])
    if fmt == DATA_FAIR:
        value = value[:13]  # 13 positional items: neither Data Fair variant
    else:
        value["time"] = "24/11/2026 10:00:00"  # not ISO 8601
    return line[:start] + orjson.dumps(value).decode()
