"""(a) a decoding floor and (b) parse + classify + merge, timed in this process on one core.

(b) runs the real pipeline on text/plain bodies of 5 000 lines, as POST /ingest does between
reading the body and the transaction: entries() -> reduce_entries() -> resolve_pending().
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from time import perf_counter
from typing import NamedTuple
from zoneinfo import ZoneInfo

import orjson

from app.core.records import Owner
from app.ingest import classify, formats
from app.ingest.body import TEXT, entries
from app.ingest.classify import Classifier
from app.ingest.formats import ParseContext
from app.ingest.pipeline import ResourceRef, reduce_entries, resolve_pending
from app.ingest.route_rules import DEFAULT_RULES, Route, route_matcher
from bench.formats import SYSLOG_TAG

BATCH_LINES = 5000
_UTC = ZoneInfo("UTC")

RouteMatcher = Callable[[str, str], Route | None]


class Rates(NamedTuple):
    """Lines per second."""

    floor: float  # (a)
    floor_kind: str  # what (a) measures on this set
    cold: float  # (b), first pass with every cache of app.ingest emptied
    warm: float  # (b), best of the timed passes that follow the first


def measure(lines: Sequence[str], owners: Mapping[ResourceRef, Owner], runs: int) -> Rates:
    floor, kind = floor_rate(lines, runs)
    bodies = batch_bodies(lines)
    classifier, match_route = _fresh_caches()
    # The first pass fills the caches, as a server's first batches do; it is reported apart
    # ("cold") and the figure is the best of the passes after it, a long-running server's state.
    cold = len(lines) / _pipeline_seconds(bodies, owners, classifier, match_route)
    best = min(_pipeline_seconds(bodies, owners, classifier, match_route) for _ in range(runs))
    return Rates(floor, kind, cold, len(lines) / best)


def batch_bodies(lines: Sequence[str]) -> list[bytes]:
    """text/plain bodies of BATCH_LINES lines each (the last may be shorter)."""
    return [
        "\n".join(lines[i : i + BATCH_LINES]).encode() for i in range(0, len(lines), BATCH_LINES)
    ]


def batch_shape(lines: Sequence[str], owners: Mapping[ResourceRef, Owner]) -> tuple[float, float]:
    """Mean usage_daily keys and resources per batch: what the store has to upsert."""
    classifier, match_route = _fresh_caches()
    keys = resources = 0
    bodies = batch_bodies(lines)
    for body in bodies:
        context = ParseContext(_UTC, datetime.now(UTC), match_route)
        totals = resolve_pending(
            reduce_entries(entries(TEXT, body), context, classifier), owners, classifier
        )
        keys += len(totals.counters)
        resources += len(totals.resources)
    return keys / len(bodies), resources / len(bodies)


def floor_rate(lines: Sequence[str], runs: int) -> tuple[float, str]:
    """orjson.loads on the JSON text of JSON lines; str.split() on nginx combined lines.

    The syslog header is cut off beforehand (untimed): the floor decodes JSON and nothing else,
    and never decodes the header strings nested in a line (the pipeline does, cached).
    """
    json_texts = [_json_text(line) for line in lines if line.startswith(("<", "[", "{"))]
    plain = [line for line in lines if not line.startswith(("<", "[", "{"))]
    kind = " + ".join(
        name for name, part in (("orjson.loads", json_texts), ("str.split", plain)) if part
    )
    best = min(_floor_seconds(json_texts, plain) for _ in range(runs + 1))
    return len(lines) / best, kind


def _json_text(line: str) -> str:
    if line.startswith("<"):
        tag = line.find(SYSLOG_TAG)
        return line[tag + len(SYSLOG_TAG) :] if tag >= 0 else line
    return line


def _floor_seconds(json_texts: list[str], plain: list[str]) -> float:
    loads, error = orjson.loads, orjson.JSONDecodeError
    gc.collect()
    start = perf_counter()
    for text in json_texts:
        # Not contextlib.suppress: a context manager per line would slow the floor itself.
        try:  # noqa: SIM105
            loads(text)
        except error:
            pass  # the malformed lines: the pipeline pays for its exception too
    for line in plain:
        line.split()
    return perf_counter() - start


def _pipeline_seconds(
    bodies: list[bytes],
    owners: Mapping[ResourceRef, Owner],
    classifier: Classifier,
    match_route: RouteMatcher,
) -> float:
    gc.collect()
    start = perf_counter()
    for body in bodies:
        context = ParseContext(_UTC, datetime.now(UTC), match_route)
        batch = reduce_entries(entries(TEXT, body), context, classifier)
        resolve_pending(batch, owners, classifier)
    return perf_counter() - start


def _fresh_caches() -> tuple[Classifier, RouteMatcher]:
    """Empty every lru_cache of the parsers and rules; a new classifier and route matcher."""
    for module in (formats, classify):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
    return Classifier(frozenset()), route_matcher(DEFAULT_RULES)


def profile(lines: Sequence[str], owners: Mapping[ResourceRef, Owner], top: int) -> str:
    """cProfile of one warm pass: the `top` functions by own time, with per-call costs."""
    bodies = batch_bodies(lines)
    classifier, match_route = _fresh_caches()
    _pipeline_seconds(bodies, owners, classifier, match_route)
    profiler = cProfile.Profile()
    profiler.enable()
    _pipeline_seconds(bodies, owners, classifier, match_route)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()
