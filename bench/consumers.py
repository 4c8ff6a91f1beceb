"""Distinct consumers: the ingest pipeline's rate with consumers off and on, in the same run, and
the sketches' accuracy (docs/benchmarks.md, issue 26's targets).

    python -m bench.consumers [--lines N] [--seed S] [--runs R] [--addresses N]

(b) of bench/ingest.py (parse + classify + merge, one core) on the mixed set, timed alternately
without epoch keys (no consumer hashed) and with a key for every day of the set; named lines get
a `remote_addr` drawn from `--addresses` client addresses (Zipf-like, as real clients repeat),
or a new address on every line with `--addresses 0` (the worst case). Then the estimate's error
over seeds at 100, 10 000 and 100 000 distinct consumers.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
from collections.abc import Sequence
from datetime import UTC, date, datetime
from time import perf_counter
from zoneinfo import ZoneInfo

import orjson

from app.core.epochs import EpochKeys
from app.core.records import Owner
from app.core.sketches import Sketch, consumer_hash
from app.ingest.body import TEXT, entries
from app.ingest.classify import Classifier
from app.ingest.formats import ParseContext
from app.ingest.pipeline import ResourceRef, reduce_entries, resolve_pending
from app.ingest.route_rules import DEFAULT_RULES, route_matcher
from bench.inprocess import batch_bodies
from bench.lines import END, MIXED, START, generate
from bench.population import build_population

TARGET_RATIO = 0.85  # consumers on / off (issue 26)
_UTC = ZoneInfo("UTC")


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    population = build_population(args.seed)
    owners = population.owners_by_resource()
    lines = with_addresses(generate(population, MIXED, args.lines, args.seed).lines, args)
    bodies = batch_bodies(lines)
    keys = EpochKeys("year", {date(year, 1, 1): b"\x07" * 32 for year in _years()})
    off: list[float] = []
    on: list[float] = []
    for _ in range(args.runs + 1):  # the first pass of each fills the caches: not counted
        off.append(_seconds(bodies, owners, None))
        on.append(_seconds(bodies, owners, keys))
    rate_off, rate_on = len(lines) / min(off[1:]), len(lines) / min(on[1:])
    print("## Consumers: ingest rate and accuracy\n")
    print(f"{len(lines):,} mixed lines, addresses: {args.addresses or 'a new one per line'}\n")
    print("| consumers | lines/s (best of runs) |\n|---|---|")
    print(f"| off | {rate_off:,.0f} |\n| on | {rate_on:,.0f} |")
    ratio = rate_on / rate_off
    print(f"\nratio {ratio:.2f} (target ≥ {TARGET_RATIO})\n")
    print("| distinct | p95 relative error over seeds | worst |\n|---|---|---|")
    for distinct in (100, 10_000, 100_000):
        errors = _errors(distinct, args.error_seeds)
        p95 = statistics.quantiles(errors, n=20, method="inclusive")[-1]
        print(f"| {distinct:,} | {p95:.2%} | {max(errors):.2%} |")
    return 0


def with_addresses(lines: list[str], args: argparse.Namespace) -> list[str]:
    """Named lines with a `remote_addr`; the other formats as generated (combined lines carry
    an address already, Data Fair arrays none)."""
    rng = random.Random(f"consumers/{args.seed}")
    pool = [
        f"198.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(args.addresses)
    ]
    out = []
    for line in lines:
        if line.startswith("{"):
            try:
                fields = orjson.loads(line)
            except orjson.JSONDecodeError:
                out.append(line)
                continue
            if pool:
                address = pool[min(int(rng.paretovariate(1.1)) - 1, len(pool) - 1)]
            else:
                address = f"2001:db8:{rng.randrange(65536):x}:{rng.randrange(65536):x}::1"
            fields["remote_addr"] = address
            line = orjson.dumps(fields).decode()
        out.append(line)
    return out


def _years() -> range:
    return range(START.year, END.year + 2)


def _seconds(
    bodies: list[bytes], owners: dict[ResourceRef, Owner], keys: EpochKeys | None
) -> float:
    classifier, match_route = Classifier(frozenset()), route_matcher(DEFAULT_RULES)
    gc.collect()
    start = perf_counter()
    for body in bodies:
        context = ParseContext(_UTC, datetime.now(UTC), match_route)
        batch = reduce_entries(entries(TEXT, body), context, classifier, keys)
        resolve_pending(batch, owners, classifier)
    return perf_counter() - start


def _errors(distinct: int, seeds: int) -> list[float]:
    errors = []
    for seed in range(seeds):
        key = random.Random(seed).randbytes(32)
        sketch = Sketch.of_hashes(consumer_hash(f"consumer {n}", key) for n in range(distinct))
        errors.append(abs(sketch.estimate() - distinct) / distinct)
    return errors


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="lines (100 000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    parser.add_argument("--runs", type=int, default=3, help="timed passes of each (3)")
    parser.add_argument(
        "--addresses", type=int, default=5_000, help="client addresses (5 000; 0: one per line)"
    )
    parser.add_argument("--error-seeds", type=int, default=20, help="seeds per size (20)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
