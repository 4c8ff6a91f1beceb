"""Documents as Data Fair's daemon wrote them, and `_agg` as Data Fair computes it on them.

Plain Python over the documents, written from Data Fair's query rules (docs/coming-from-data-fair.md
lists them), never with our code: the tests compare our answers with these figures. The only
conversions applied are those the import documents: the legacy processing classes count as API
keys, and bytes and durations are rounded per document (to a byte, to a millisecond).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

TRACKS = ("readDataAPI", "readDataFiles", "openApplication")
STATUS = ("ok", "ok", "ok", "clientError", "serverError", "redirect", "info")
CLASSES = (
    "anonymous",
    "anonymous",
    "owner",
    "external",
    "ownerAPIKey",
    "externalAPIKey",
    "ownerProcessing",
    "externalProcessing",
)
DOMAINS = ("none", "portal.example", "news.example", "café.example")
CATEGORIES = ("backoffice", "embed", "app", "mcp", "other", None)  # None: a legacy document
RESOURCES = (
    {"type": "datasets", "id": "roads", "title": "Roads"},
    {"type": "datasets", "id": "rivers", "title": "Rivers"},
    {"type": "datasets", "id": "trees"},
    {"type": "applications", "id": "map", "title": "Map"},
    {"type": "embed", "id": "dataset-roads-table", "title": "Roads / table"},
)
OWNERS = (
    {"type": "organization", "id": "org1"},
    {"type": "organization", "id": "org1", "department": "dep-a"},
    {"type": "organization", "id": "org1", "department": "dep-b"},
    {"type": "user", "id": "alice"},
)
LEGACY_CLASSES = {"ownerProcessing": "ownerAPIKey", "externalProcessing": "externalAPIKey"}
FIRST_DAY = date(2024, 1, 1)


def history(count: int, seed: int = 18) -> list[dict[str, Any]]:
    """`count` distinct documents over January 2024 (Data Fair's unique index: one per key)."""
    rng = random.Random(seed)
    found: dict[str, dict[str, Any]] = {}
    while len(found) < count:
        document = _document(rng)
        key = {k: v for k, v in document.items() if k not in ("nbRequests", "bytes", "duration")}
        found.setdefault(json.dumps(key, sort_keys=True), document)
    return list(found.values())


def _document(rng: random.Random) -> dict[str, Any]:
    requests = rng.randint(1, 40)
    document: dict[str, Any] = {
        "owner": dict(rng.choice(OWNERS)),
        "day": (FIRST_DAY + timedelta(days=rng.randrange(31))).isoformat(),
        "resource": dict(rng.choice(RESOURCES)),
        "operationTrack": rng.choice(TRACKS),
        "statusClass": rng.choice(STATUS),
        "userClass": rng.choice(CLASSES),
        "refererDomain": rng.choice(DOMAINS),
        "nbRequests": requests,
        # Float bytes (the gzip ratio) on some: quarters, so that rounding is never a tie.
        "bytes": rng.choice((requests * 1000, requests * 1000 + 0.25, requests * 717.75)),
        "duration": rng.randrange(1, 5000 * requests) / 1000,  # seconds, ms resolution
    }
    category = rng.choice(CATEGORIES)
    if category is not None:
        document["refererCategory"] = category
    if category == "app" and rng.random() < 0.7:
        document["refererApp"] = rng.choice(("map", "charts"))
    return document


def extended_json(document: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The document as mongoexport may write it: an `_id`, some numbers as `$numberLong`."""
    exported: dict[str, Any] = {"_id": {"$oid": f"{rng.getrandbits(96):024x}"}, **document}
    if isinstance(document["nbRequests"], int) and rng.random() < 0.5:
        exported["nbRequests"] = {"$numberLong": str(document["nbRequests"])}
    if isinstance(document["bytes"], int) and rng.random() < 0.5:
        exported["bytes"] = {"$numberLong": str(document["bytes"])}
    return exported


def agg(
    documents: Sequence[Mapping[str, Any]],
    account: Mapping[str, str],
    query: Mapping[str, Any],
) -> dict[str, Any]:
    """Data Fair's `_agg` on `documents` for `account`: match, group by the split, sum, sort."""
    split: list[str] = query.get("split", ["day"])
    items: dict[str, dict[str, Any]] = {}
    for document in documents:
        document = _converted(document)
        if not _matches(document, account, query):
            continue
        if "refererApp" in split and "refererApp" not in document:
            continue
        key = {part: _value(document, part) for part in split}
        item = items.setdefault(
            json.dumps(key, sort_keys=True), {"key": key, "n": 0, "bytes": 0, "duration": 0.0}
        )
        item["n"] += document["nbRequests"]
        item["bytes"] += document["bytes"]
        item["duration"] += document["duration"]
    by_day = split[0] == "day"
    series: dict[str, dict[str, Any]] = {}
    for item in sorted(items.values(), key=lambda item: item["key"].get("day", "")):
        key = {part: value for part, value in item["key"].items() if part != "day"}
        serie = series.setdefault(
            json.dumps(key, sort_keys=True), {"key": key, "nbRequests": 0, "bytes": 0}
        )
        serie["nbRequests"] += item["n"]
        serie["bytes"] += item["bytes"]
        if by_day:
            serie.setdefault("days", {})[item["key"]["day"]] = {
                "nbRequests": item["n"],
                "bytes": item["bytes"],
                "meanDuration": item["duration"] / item["n"],
            }
    result: dict[str, Any] = {
        "nbRequests": sum(s["nbRequests"] for s in series.values()),
        "bytes": sum(s["bytes"] for s in series.values()),
        "series": sorted(series.values(), key=lambda s: -s["nbRequests"]),
    }
    if by_day:
        result["days"] = _days(query["start"], query["end"]) if items else []
    return result


def row_key(document: Mapping[str, Any]) -> dict[str, Any]:
    """The dimensions of the row a document becomes: its key, once converted."""
    found = _converted(document)
    found["refererCategory"] = found.get("refererCategory", "other")
    return {k: v for k, v in found.items() if k not in ("nbRequests", "bytes", "duration")}


def _converted(document: Mapping[str, Any]) -> dict[str, Any]:
    found = dict(document)
    found["userClass"] = LEGACY_CLASSES.get(found["userClass"], found["userClass"])
    found["bytes"] = round(found["bytes"])
    found["duration"] = round(found["duration"] * 1000) / 1000
    return found


def _matches(
    document: Mapping[str, Any], account: Mapping[str, str], query: Mapping[str, Any]
) -> bool:
    owner = document["owner"]
    # An organisation-level account sees its departments' documents too.
    if (owner["type"], owner["id"]) != (account["type"], account["id"]):
        return False
    if not query["start"] <= document["day"] <= query["end"]:
        return False
    for name, field in (("statusClass", "statusClass"), ("operationTrack", "operationTrack")):
        if name in query and document[field] != query[name]:
            return False
    if "resourceType" in query and document["resource"]["type"] != query["resourceType"]:
        return False
    for name, value in (
        ("userClass", document["userClass"]),
        ("resourceId", document["resource"]["id"]),
        ("refererDomain", document["refererDomain"]),
        ("refererCategory", document.get("refererCategory", "other")),
    ):
        if name in query and value not in _listed(query[name]):
            return False
    return True


def _listed(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def _value(document: Mapping[str, Any], part: str) -> Any:
    if part == "resource":
        return document["resource"]
    if part == "refererCategory":
        return document.get("refererCategory", "other")
    return document[part]


def _days(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
