"""The pure pipeline: cached signatures give the verdicts of the full parser, across batches."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.core.records import Owner, UsageKey
from app.ingest.body import TEXT, entries
from app.ingest.classify import Classifier
from app.ingest.formats import ParseContext
from app.ingest.pipeline import reduce_entries, resolve_pending
from app.ingest.route_rules import DEFAULT_RULES, route_matcher
from tests.helpers import data_fair_line, named_line

CONTEXT = ParseContext(
    ZoneInfo("UTC"), datetime(2024, 1, 8, 12, tzinfo=UTC), route_matcher(DEFAULT_RULES)
)
DAY = date(2024, 1, 8)
COMBINED = (
    '192.0.2.9 - - [08/Jan/2024:10:00:00 +0000] "GET /data-fair/api/v1/datasets/roads/lines '
    'HTTP/1.1" 200 512 "-" "curl/8.5.0"'
)


def _body(*lines: str) -> bytes:
    return "\n".join(lines).encode()


def _key(group: str = "ANONYMOUS", status_class: str = "ok") -> UsageKey:
    return UsageKey(
        "organization", "org1", DAY, "datasets", "roads", "api", status_class, group,
        "none", "none", "",
    )  # fmt: skip


def test_counts_repeated_signatures_like_the_first_line() -> None:
    classifier = Classifier()
    line = json.dumps(data_fair_line(bytes_sent=100, request_time=0.25))
    failed = json.dumps(data_fair_line(bytes_sent=7, status=404))
    totals = resolve_pending(
        reduce_entries(entries(TEXT, _body(line, line, failed, line)), CONTEXT, classifier),
        {},
        classifier,
    )
    assert totals.counters == {_key(): [3, 300, 750], _key(status_class="client_error"): [1, 7, 10]}
    assert totals.accepted == 4


def test_a_cached_signature_still_checks_each_lines_numbers() -> None:
    classifier = Classifier()
    good = data_fair_line()
    bad = data_fair_line()
    bad[4] = "teapot"
    body = _body(json.dumps(good), json.dumps(bad))
    batch = reduce_entries(entries(TEXT, body), CONTEXT, classifier)
    assert [(r.line, r.reason) for r in batch.rejected] == [
        (2, "the status must be an HTTP status code, not a string")
    ]


@pytest.mark.parametrize("request_time", [1e308, -0.5])
def test_a_cached_signature_rejects_a_request_time_out_of_range(request_time: float) -> None:
    # Found by tests/hostile: 1e308 s in ms is infinite, and round() raised past the rejection.
    classifier = Classifier()
    bad = data_fair_line(request_time=request_time)
    named = named_line()
    named_bad = {**named, "request_time": request_time}
    lines = [json.dumps(v) for v in (data_fair_line(), bad, named, named_bad)]
    batch = reduce_entries(entries(TEXT, _body(*lines)), CONTEXT, classifier)
    reason = "the request time must be from 0 to 1000000 seconds"
    assert [(r.line, r.reason) for r in batch.rejected] == [(2, reason), (4, reason)]
    assert batch.accepted == 2


def test_a_batch_in_flight_keeps_its_profiles_when_the_caches_start_again() -> None:
    classifier = Classifier()
    counted = json.dumps(data_fair_line(bytes_sent=100))
    first = reduce_entries(entries(TEXT, _body(counted, COMBINED)), CONTEXT, classifier)
    # Another request's batch, reduced while the first awaited its owner look-up, found the
    # caches full and started a new generation of profiles.
    classifier.forget()
    other = json.dumps(data_fair_line(resource={"type": "datasets", "id": "rivers"}))
    reduce_entries(entries(TEXT, _body(other)), CONTEXT, classifier)

    totals = resolve_pending(
        first, {("datasets", "roads"): Owner("organization", "org1")}, classifier
    )
    assert totals.counters == {_key(): [2, 612, 10]}
    assert list(totals.resources) == [("datasets", "roads")]
