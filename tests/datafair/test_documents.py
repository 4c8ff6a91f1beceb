"""One mongoexport document -> its id, key and counters, or the reason it is skipped: every value
out of its range is a reason, never an exception."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from app.core.records import UsageKey
from app.datafair.documents import Imported, document_id, read_document
from app.datafair.skips import Skipped

OID = "65a0f0f0f0f0f0f0f0f0f0f0"


def doc(**fields: Any) -> dict[str, Any]:
    return {
        "_id": {"$oid": OID},
        "owner": {"type": "organization", "id": "org1"},
        "day": "2024-01-08",
        "resource": {"type": "datasets", "id": "roads", "title": "Roads"},
        "operationTrack": "readDataAPI",
        "statusClass": "ok",
        "userClass": "anonymous",
        "refererDomain": "news.example",
        "refererCategory": "other",
        "nbRequests": 3,
        "bytes": 3000,
        "duration": 0.75,
        **fields,
    }


def read(document: Any) -> Imported | Skipped:
    return read_document(7, json.dumps(document).encode())


def test_reads_a_document() -> None:
    assert read(doc()) == Imported(
        7,
        OID,
        UsageKey(
            *("organization", "org1", date(2024, 1, 8), "datasets", "roads", "api", "ok"),
            *("ANONYMOUS", "news.example", "other", ""),
        ),
        3,
        3000,
        750,
        "Roads",
        None,
    )


@pytest.mark.parametrize(
    ("day", "read_as"),
    [
        ({"$date": "2024-01-10T23:30:00-02:00"}, date(2024, 1, 11)),  # its day in UTC
        ({"$date": 1704844800000}, date(2024, 1, 10)),
        ({"$date": {"$numberLong": "1704844800000"}}, date(2024, 1, 10)),
        ({"$date": -1.5}, None),  # 1969
        ("0001-01-01", None),
        ("3000-01-01", None),
        ({"$date": "0001-01-01T00:00:00+01:00"}, None),  # OverflowError in datetime
        ({"$date": 10**20}, None),  # OverflowError / OSError in datetime
        ({"$date": {"$numberLong": "100000000000000000000"}}, None),
        ({"$date": {"$numberLong": "9" * 5000}}, None),  # ValueError in int()
        ({"$date": {"$numberDouble": "Infinity"}}, None),
        ({"$date": "yesterday"}, None),
        ({"$date": [2024]}, None),
        ("2024-13-01", None),
        ("2024-01-08T00:00:00Z", None),
    ],
)
def test_reads_a_day_within_1970_to_2999_or_skips_it(day: Any, read_as: date | None) -> None:
    found = read_document(1, json.dumps(doc(day=day)).encode())
    if read_as is None:
        assert found is Skipped.BAD_DAY
    else:
        assert isinstance(found, Imported)
        assert found.key.day == read_as


# A document nested 1 000 deep: json and the old import ran out of Python's recursion limit.
DEEP = json.dumps(doc())[:-1] + ', "extra": ' + "[" * 1000 + "]" * 1000 + "}"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ('{"nbRequests": "\\ud800"}', Skipped.BAD_JSON),  # a lone surrogate
        ("[" * 1000 + "]" * 1000, Skipped.TOO_DEEP),
        (DEEP, Skipped.TOO_DEEP),
        ({**doc(), "extra": {"a": [{"b": [{"c": [{"d": [{"e": [{"f": [[1]]}]}]}]}]}]}}, None),
        ([1, 2], Skipped.NOT_A_DOCUMENT),
        (doc(nbRequests={"$numberLong": "many"}), Skipped.BAD_VALUE),
        (doc(bytes={"$numberLong": "9" * 5000}), Skipped.BAD_VALUE),
        (doc(owner={"type": "group", "id": "g"}), Skipped.BAD_OWNER),
        (doc(owner={"type": "user", "id": ["a"]}), Skipped.BAD_OWNER),
        (doc(owner="org1"), Skipped.BAD_OWNER),
        (doc(resource={"type": "datasets"}), Skipped.BAD_RESOURCE),
        (doc(resource={"type": "datasets", "id": "r", "title": 3}), Skipped.BAD_RESOURCE),
        (doc(operationTrack="readDescription"), Skipped.UNKNOWN_TRACK),
        (doc(operationTrack=["readDataAPI"]), Skipped.UNKNOWN_TRACK),
        (doc(statusClass="teapot"), Skipped.UNKNOWN_STATUS),
        (doc(userClass="superadmin"), Skipped.UNKNOWN_USER_CLASS),
        (doc(userClass="bot"), Skipped.UNKNOWN_USER_CLASS),  # none in Data Fair's history
        (doc(refererCategory="portal"), Skipped.UNKNOWN_CATEGORY),
        (doc(refererCategory={"x": 1}), Skipped.UNKNOWN_CATEGORY),
        (doc(refererApp=42), Skipped.BAD_REFERER_APP),
        (doc(refererApp=["map"]), Skipped.BAD_REFERER_APP),
        (doc(refererApp={"id": "map"}), Skipped.BAD_REFERER_APP),
        (doc(bytes=-1), Skipped.BAD_COUNTER),
        (doc(nbRequests="3"), Skipped.BAD_COUNTER),
        (doc(nbRequests=True), Skipped.BAD_COUNTER),
        (doc(bytes=2**48 + 1), Skipped.BAD_COUNTER),
        (doc(bytes=2**48), None),
        # Past the old bound: 2^50 s was stored as 2^60 ms, and a few of them overflowed a sum.
        (doc(duration=2**50), Skipped.BAD_COUNTER),
        (doc(duration=2**48 / 1000 + 1), Skipped.BAD_COUNTER),
        (doc(duration={"$numberDouble": "NaN"}), Skipped.BAD_COUNTER),
        (doc(duration={"$numberDouble": "-Infinity"}), Skipped.BAD_COUNTER),
        (doc(bytes={"$numberDecimal": "1E+6000"}), Skipped.BAD_COUNTER),
        (doc(nbRequests=1e300), Skipped.BAD_COUNTER),
        (doc(nbRequests=123456789012345678901234567890), Skipped.BAD_COUNTER),
    ],
)
def test_skips_each_value_out_of_its_range_with_its_reason(
    document: Any, reason: Skipped | None
) -> None:
    data = document.encode() if isinstance(document, str) else json.dumps(document).encode()
    found = read_document(1, data)
    if reason is None:
        assert isinstance(found, Imported)
    else:
        assert found is reason


def test_reads_legacy_and_extended_json_figures() -> None:
    found = read(
        doc(
            nbRequests={"$numberLong": "2"},
            bytes=1234.75,  # the gzip ratio: rounded to the byte
            duration={"$numberDouble": "1.5"},  # seconds: stored as milliseconds
            refererApp="m\x00ap",
            refererCategory=None,
            refererDomain="none",
            owner={"type": "user", "id": "alice", "name": "\u202eAlice\x1b[2J\u0085"},
            resource={"type": "datasets", "id": "roads", "title": "Ro\u2066ads\nmap"},
        )
    )
    assert isinstance(found, Imported)
    assert (found.requests, found.bytes, found.duration_ms) == (2, 1235, 1500)
    assert (found.key.referer_app, found.key.referer_category) == ("map", "none")
    # Terminal and bidi controls dropped from what is shown; a line break is a space.
    assert (found.title, found.owner_name) == ("Roads map", "Alice[2J")


@pytest.mark.parametrize(
    ("raw_id", "kept"),
    [
        ({"$oid": OID}, OID),
        (OID, OID),
        ("dataset-roads_2024", None),  # not only letters and digits: hashed
        (42, None),
        ({"a": 1, "b": 2}, None),
    ],
)
def test_a_document_is_known_by_its_id(raw_id: Any, kept: str | None) -> None:
    found = document_id({"_id": raw_id, "x": 1})
    assert found == (kept or found)
    if kept is None:
        assert found.startswith("#") and len(found) == 33
    # The same id whatever else the document holds.
    assert document_id({"y": [2], "_id": raw_id}) == found


def test_a_document_without_id_is_known_by_its_content_whatever_its_spacing_or_order() -> None:
    first = read_document(1, b'{"a": 1, "b": {"c": 2, "d": [3]}}')
    again = read_document(2, b'{"b":{"d":[3],"c":2},"a":1}')
    other = read_document(3, b'{"a": 1, "b": {"c": 2, "d": [4]}}')
    assert first is again is other is Skipped.BAD_OWNER  # still skipped: no owner
    assert document_id({"a": 1, "b": {"c": 2, "d": [3]}}) == document_id(
        {"b": {"d": [3], "c": 2}, "a": 1}
    )
    assert document_id({"a": 1}) != document_id({"a": 2})


@pytest.mark.parametrize(
    ("domain", "category", "stored"),
    [
        ("198.51.100.23", "other", ("ip", "ip")),
        ("[2001:db8::1]", "other", ("ip", "ip")),
        ("2001:db8::1", "embed", ("ip", "embed")),  # the portal's embed, reached by address
        ("3325256727", "other", ("ip", "ip")),  # an address as a browser reads one
        ("1.2.3.4.5", "other", ("invalid", "other")),  # ends in a number, no address
        ("none", "other", ("none", "none")),
        ("news.example", "other", ("news.example", "other")),
    ],
)
def test_an_address_is_never_stored_as_a_calling_domain(
    domain: str, category: str, stored: tuple[str, str]
) -> None:
    found = read(doc(refererDomain=domain, refererCategory=category))
    assert isinstance(found, Imported)
    assert (found.key.referer_domain, found.key.referer_category) == stored
