"""Check the pipeline's verdict on every generated line against what the generator meant it to be.

A benchmark of a pipeline that drops or misreads lines would flatter it, so every set is checked
before it is timed: per 5 000-line batch, the counters, ignored reasons and rejected line numbers
must equal the generator's; on a difference, each line of the batch is run alone to name it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from app.core.records import Owner
from app.ingest.body import TEXT, entries
from app.ingest.classify import Classifier
from app.ingest.formats import ParseContext
from app.ingest.pipeline import ResourceRef, reduce_entries, resolve_pending
from app.ingest.route_rules import DEFAULT_RULES, route_matcher
from bench.lines import END, REJECTED, Expected, LineSet

BATCH_LINES = 5000
MAX_REPORTED = 12  # lines named per set; the rest are only counted


class Verdicts(NamedTuple):
    """A batch's outcome in comparable form: counters per plain key, ignored, rejected lines."""

    counters: dict[tuple[Any, ...], tuple[int, int, int]]
    ignored: dict[str, int]
    rejected: list[int]


class CheckResult(NamedTuple):
    accepted: int
    ignored: int
    rejected: int
    problems: list[str]  # one per line that did not get its expected verdict (capped)
    problem_count: int


def check(line_set: LineSet, known: Mapping[ResourceRef, Owner]) -> CheckResult:
    # A fixed reception time: syslog dates (no year) and header-less lines get a stable day.
    context = ParseContext(ZoneInfo("UTC"), END, route_matcher(DEFAULT_RULES))
    classifier = Classifier(frozenset())
    problems: list[str] = []
    count, tally = 0, Counter[str]()
    for offset in range(0, len(line_set.lines), BATCH_LINES):
        lines = line_set.lines[offset : offset + BATCH_LINES]
        wanted = line_set.expected[offset : offset + BATCH_LINES]
        got = _run(lines, context, classifier, known)
        tally.update(
            accepted=sum(n for n, _, _ in got.counters.values()),
            ignored=sum(got.ignored.values()),
            rejected=len(got.rejected),
        )
        if got == _expected(wanted, context.received_day):
            continue
        for index, (line, want) in enumerate(zip(lines, wanted, strict=True)):
            alone = _run([line], context, classifier, known)
            if alone != _expected([want], context.received_day):
                count += 1
                if len(problems) < MAX_REPORTED:
                    number = offset + index + 1
                    problems.append(_describe(line_set.name, number, line, want, alone))
    return CheckResult(tally["accepted"], tally["ignored"], tally["rejected"], problems, count)


def _run(
    lines: Sequence[str],
    context: ParseContext,
    classifier: Classifier,
    known: Mapping[ResourceRef, Owner],
) -> Verdicts:
    body = "\n".join(lines).encode()
    totals = resolve_pending(
        reduce_entries(entries(TEXT, body), context, classifier), known, classifier
    )
    counters = {
        tuple(_plain(v) for v in key): (c[0], c[1], c[2]) for key, c in totals.counters.items()
    }
    ignored = {reason.value: n for reason, n in totals.ignored.items() if n}
    return Verdicts(counters, ignored, [r.line for r in totals.rejected])


def _expected(wanted: Sequence[Expected], received_day: date) -> Verdicts:
    counters: dict[tuple[Any, ...], tuple[int, int, int]] = {}
    ignored: Counter[str] = Counter()
    rejected: list[int] = []
    for number, want in enumerate(wanted, start=1):
        if want.outcome == REJECTED:
            rejected.append(number)
        elif want.key:
            key = (*want.key[:2], want.key[2] or received_day, *want.key[3:])
            n, size, ms = counters.get(key, (0, 0, 0))
            counters[key] = (n + 1, size + want.bytes, ms + want.duration_ms)
        else:
            ignored[want.outcome] += 1
    return Verdicts(counters, dict(ignored), rejected)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _describe(name: str, number: int, line: str, want: Expected, got: Verdicts) -> str:
    # The lines are synthetic (documentation IPs, fake tokens): quoting them here is safe.
    if want.outcome == REJECTED:
        wanted = "rejected"
    elif want.key:
        wanted = f"accepted {_fields(want.key)} bytes={want.bytes} ms={want.duration_ms}"
    else:
        wanted = f"ignored ({want.outcome})"
    if got.rejected:
        outcome = "rejected"
    elif got.ignored:
        outcome = f"ignored ({', '.join(got.ignored)})"
    else:
        (key, (_, size, ms)), *_ = got.counters.items()
        outcome = f"accepted {_fields(key)} bytes={size} ms={ms}"
    return f"{name} line {number}: expected {wanted}; got {outcome}\n    {line[:300]}"


def _fields(key: tuple[Any, ...]) -> str:
    return "/".join(str(v) if not isinstance(v, datetime | date) else v.isoformat() for v in key)
