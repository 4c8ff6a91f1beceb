"""Ingest benchmark: prints, as Markdown, the figures docs/benchmarks.md quotes.

    python -m bench.ingest [--lines N] [--seed S] [--runs R] [--skip-in-process] [--skip-http]
                           [--skip-postgres] [--skip-import] [--import-batch-lines N,...]
                           [--skip-jobs] [--jobs N,...] [--jobs-rounds R] [--profile]

(a) a decoding floor, (b) parse + classify + merge in process, (c) b/a, (d) POST /ingest end to
end through a real uvicorn server into SQLite and PostgreSQL, (e) the user's path: `usage-metrics
import` of generated files into a fresh server pinned to one core, beside GoAccess on the same
combined lines, (f) `usage-metrics import --jobs N` (1, 2, every core) against one server process
and two, with the CPU seconds per line of each run and GoAccess beside it. Every generated line is
first checked against the verdict it was generated to get, so that a fast but wrong pipeline shows.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager

from app.core.records import Owner
from app.ingest.pipeline import ResourceRef
from bench import import_jobs, inprocess, server, user_path
from bench.check import check
from bench.formats import COMBINED, DATA_FAIR
from bench.lines import FORMATS, MIXED, LineSet, generate
from bench.population import build_population
from bench.tables import count, table, verdict

TARGET_PIPELINE = 300_000  # (b), lines/s (the target)
TARGET_RATIO = 0.5  # (c), docs/ingest.md
TARGET_HTTP = 100_000  # (d), lines/s, docs/ingest.md
WARM_UP_LINES = 10_000  # posted before each timed HTTP run, untimed
SHOWN_PROBLEMS = 3  # unexpected verdicts quoted per set


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    began = time.perf_counter()
    population = build_population(args.seed)
    owners = population.owners_by_resource()
    print("## Ingest benchmark\n")
    print(_environment(args) + "\n")
    sets = [generate(population, name, args.lines, args.seed) for name in (*FORMATS, MIXED)]
    _report_checks(sets, owners)
    # Keep the lines only: a few hundred thousand expected verdicts (NamedTuples, which the
    # collector tracks) would make every full collection during the timing far dearer than
    # in a server, whose heap holds ~50 000 tracked objects.
    lines = {line_set.name: line_set.lines for line_set in sets}
    del sets
    gc.collect()
    if not args.skip_in_process:
        _report_in_process(lines, owners, args.runs)
    if args.profile:
        print("### Profile of one warm (b) pass on the mixed set (cProfile, by own time)\n")
        print("```\n" + inprocess.profile(lines[MIXED], owners, top=30).strip() + "\n```\n")
    if not args.skip_http:
        warm_up = generate(population, MIXED, WARM_UP_LINES, args.seed, stream="warm-up").lines
        _report_http(lines[MIXED], warm_up, owners, skip_postgres=args.skip_postgres)
    if not args.skip_import:
        _report_import(lines, args.import_batch_lines, skip_postgres=args.skip_postgres)
    if not args.skip_jobs:
        import_jobs.report(lines[COMBINED], args.jobs, args.jobs_rounds, args.skip_postgres)
    print(f"_Total benchmark time: {time.perf_counter() - began:.0f} s._")
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--lines", type=int, default=100_000, help="lines per set (100 000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    parser.add_argument("--runs", type=int, default=5, help="timed in-process passes (5)")
    parser.add_argument("--skip-in-process", action="store_true", help="skip (a), (b), (c)")
    parser.add_argument("--skip-http", action="store_true", help="skip (d)")
    parser.add_argument("--skip-postgres", action="store_true", help="(d) on SQLite only")
    parser.add_argument("--skip-import", action="store_true", help="skip (e)")
    parser.add_argument(
        "--import-batch-lines",
        type=lambda text: [int(n) if n != "default" else None for n in text.split(",")],
        default=[None],
        help="(e): comma-separated --batch-lines of import, 'default' for its own (default)",
    )
    parser.add_argument("--skip-jobs", action="store_true", help="skip (f)")
    parser.add_argument(
        "--jobs",
        type=_jobs_list,
        default=_jobs_list("1,2,all"),
        help="(f): comma-separated --jobs of import, 'all' for every core (default: 1,2,all)",
    )
    parser.add_argument(
        "--jobs-rounds", type=int, default=1, help="(f): runs of each --jobs, medians shown (1)"
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of (b)")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.runs < 1 or args.jobs_rounds < 1:
        parser.error("--lines, --runs and --jobs-rounds must be positive")
    return args


def _jobs_list(text: str) -> list[int]:
    cores = len(os.sched_getaffinity(0))
    jobs = [cores if word == "all" else int(word) for word in text.split(",")]
    if min(jobs) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: --jobs values from 1")
    return list(dict.fromkeys(jobs))  # 'all' is 2 on a 2-core machine: once


def _environment(args: argparse.Namespace) -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line for line in info if line.startswith("model name")).split(":")[1]
    except (OSError, StopIteration):
        pass  # not Linux: the platform line below still says where it ran
    extras = [m for m in ("uvloop", "httptools") if importlib.util.find_spec(m) is not None]
    return (
        f"Seed {args.seed}; {count(args.lines)} lines per set; batches of "
        f"{count(inprocess.BATCH_LINES)} lines. Python {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}, {cpu.strip()} ({os.cpu_count()} CPUs); orjson "
        f"{_version('orjson')}, uvicorn {_version('uvicorn')} "
        f"({' + '.join(extras) if extras else 'asyncio + h11: no uvloop, no httptools'}), "
        f"SQLite {sqlite3.sqlite_version}."
    )


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _report_checks(sets: Sequence[LineSet], owners: Mapping[ResourceRef, Owner]) -> None:
    print("### Verdicts: the pipeline against the generator\n")
    rows, problems = [], []
    for line_set in sets:
        result = check(line_set, owners)
        rows.append(
            [
                line_set.name,
                count(len(line_set.lines)),
                count(result.accepted),
                count(result.ignored),
                count(result.rejected),
                count(result.problem_count),
            ]
        )
        problems += result.problems[:SHOWN_PROBLEMS]
    header = ["set", "lines", "accepted", "ignored", "rejected", "unexpected verdicts"]
    print(table(header, rows, right=frozenset(range(1, 6))) + "\n")
    print(
        "Expected: ~2 % rejected (malformed on purpose), ~7 % ignored as not_tracked, the rest "
        "accepted with the key docs/classification.md gives (checked field by field, with bytes "
        "and duration)."
    )
    if problems:
        print("\nFirst unexpected verdicts per set (these lines are synthetic):\n")
        print("```\n" + "\n".join(problems) + "\n```")
    print()


def _report_in_process(
    sets: Mapping[str, list[str]], owners: Mapping[ResourceRef, Owner], runs: int
) -> None:
    print("### In process, one core: (a) floor, (b) parse + classify + merge, (c) = b / a\n")
    rows = []
    for name, lines in sets.items():
        rates = inprocess.measure(lines, owners, runs)
        ratio = rates.warm / rates.floor
        comparable = "str.split" not in rates.floor_kind
        rows.append(
            [
                name,
                rates.floor_kind,
                count(rates.floor),
                count(rates.warm),
                verdict(rates.warm, TARGET_PIPELINE),
                count(rates.cold),
                f"{ratio:.2f}",
                verdict(ratio, TARGET_RATIO) if comparable else "n/a",
            ]
        )
    header = [
        "set",
        "(a) measures",
        "(a) lines/s",
        "(b) lines/s",
        f"(b) ≥ {count(TARGET_PIPELINE)}",
        "(b) cold lines/s",
        "(c) b/a",
        f"(c) ≥ {TARGET_RATIO}",
    ]
    print(table(header, rows, right=frozenset({2, 3, 5, 6})) + "\n")
    print(
        f"(a): the best of {runs + 1} passes of a bare loop over the set's lines: orjson.loads "
        "on each JSON line (syslog header cut off beforehand, untimed; the malformed lines "
        "raise and are caught), str.split() on each nginx combined line. There is no JSON in "
        "combined lines, so str.split() is only a tokenising floor (it cannot even read quoted "
        "fields) and (c) is not a target there; the mixed floor adds both loops.\n"
        f"(b): text/plain bodies of {count(inprocess.BATCH_LINES)} lines through entries() -> "
        "reduce_entries() -> resolve_pending() (a new ParseContext per batch; owners of "
        "route-rule lines from an in-memory dict of every dataset and application, i.e. the "
        f"resources table's answer). Figure: the best of {runs} timed passes over the set, "
        "after a first pass that warmed the lru_caches (user agents, tokens, API keys, "
        "headers, referers, minutes, routes), as a long-running server's caches are. 'cold': "
        "that first pass, with every cache of app.ingest emptied before it. gc stays on; the "
        "generated verdicts are dropped before timing, so the heap is about a server's size.\n"
    )


ServerRun = tuple[str, Callable[[], AbstractContextManager[str]]]


def _report_http(
    mixed: list[str], warm_up: list[str], owners: Mapping[ResourceRef, Owner], skip_postgres: bool
) -> None:
    print("### End to end: POST /ingest over HTTP (mixed set, gzip, committed)\n")
    rows_per_batch, resources_per_batch = inprocess.batch_shape(mixed, owners)
    timed = _batches(mixed)
    warm = _batches(warm_up)
    databases: list[ServerRun] = [("SQLite", server.sqlite_database)]
    unreachable = None if skip_postgres else server.postgres_unreachable()
    if unreachable:
        print(
            f"PostgreSQL at {server.POSTGRES_ADMIN_URL} is unreachable ({unreachable}): skipped.\n"
        )
    elif not skip_postgres:
        databases.append(("PostgreSQL", server.postgres_database))
    rows = []
    for (name, database), clients in _runs(databases):
        with database() as url, server.running_server(url) as base_url:
            server.post_batches(base_url, warm, clients=1, run="warm-up")
            result = server.post_batches(base_url, timed, clients=clients, run="timed")
        tally = result.tally
        rate = result.lines / result.seconds
        reasons = ", ".join(f"{k} {count(v)}" for k, v in sorted(tally.ignored_by_reason.items()))
        rows.append(
            [
                name,
                str(clients),
                count(result.lines),
                f"{result.seconds:.2f}",
                count(rate),
                verdict(rate, TARGET_HTTP),
                count(tally.accepted),
                f"{count(tally.ignored)} ({reasons})" if reasons else "0",
                count(tally.rejected),
            ]
        )
    header = ["database", "clients", "lines", "s", "lines/s", f"≥ {count(TARGET_HTTP)}"]
    header += ["accepted", "ignored", "rejected"]
    print(table(header, rows, right=frozenset({1, 2, 3, 4, 6, 8})) + "\n")
    print(
        f"Each row: a fresh database and a fresh server (one uvicorn process, one event loop), "
        f"{count(WARM_UP_LINES)} other mixed lines posted first (untimed: it opens connections, "
        "warms the caches and teaches the resources table some owners), then the set's "
        f"{len(timed)} batches, gzipped beforehand, each with its own Idempotency-Key; time "
        "from the first post to the last answer. Every answer was 200 and accounted for every "
        f"line. A batch of this set upserts ~{count(rows_per_batch)} usage_daily rows and "
        f"~{count(resources_per_batch)} resources rows. unknown_owner: nginx combined lines "
        "(and named lines served from nginx's cache) for a dataset that no earlier line of the "
        "run named with its owner.\n"
    )


def _report_import(
    sets: Mapping[str, list[str]], batch_lines: list[int | None], skip_postgres: bool
) -> None:
    print("### (e) The user's path: `usage-metrics import FILE --url BASE`, server on one core\n")
    goaccess = user_path.goaccess_seconds(sets[COMBINED])
    databases: list[ServerRun] = [("SQLite", server.sqlite_database)]
    if not skip_postgres and server.postgres_unreachable() is None:
        databases.append(("PostgreSQL", server.postgres_database))
    rows = []
    for name, database in databases:
        for set_name in (COMBINED, DATA_FAIR):
            for lines_per_batch in batch_lines:
                with database() as url:
                    run = user_path.import_file(url, sets[set_name], lines_per_batch)
                answered, folded = run.lines / run.answered_s, run.lines / run.folded_s
                ratio = (
                    f"{folded * goaccess / run.lines:.2f}"
                    if goaccess is not None and set_name == COMBINED
                    else ""
                )
                rows.append(
                    [
                        name,
                        set_name,
                        str(lines_per_batch or "default"),
                        count(run.lines),
                        count(answered),
                        count(folded),
                        verdict(folded, TARGET_HTTP),
                        ratio,
                    ]
                )
    header = ["database", "set", "--batch-lines", "lines", "answered lines/s"]
    header += ["folded lines/s", f"≥ {count(TARGET_HTTP)}", "× GoAccess"]
    print(table(header, rows, right=frozenset({3, 4, 5, 7})) + "\n")
    shown = f"{count(len(sets[COMBINED]) / goaccess)} lines/s" if goaccess else "not installed"
    print(
        "Each row: a fresh database and server (uvicorn, `taskset -c 0`), the command on the "
        "other core (`taskset -c 1`), its default settings but --batch-lines; 'answered': until "
        "the command exits, every batch answered; 'folded': until GraphQL's freshness shows no "
        "waiting batch (the figures complete). GoAccess on the same combined lines "
        f"(`goaccess FILE --log-format=COMBINED -o report.json`, core 0): {shown}.\n"
    )


def _runs(databases: list[ServerRun]) -> Iterator[tuple[ServerRun, int]]:
    # Single client first for every database: it is the figure docs/benchmarks.md quotes.
    for clients in (1, 2):
        for database in databases:
            yield database, clients


def _batches(lines: list[str]) -> list[server.Batch]:
    bodies = inprocess.batch_bodies(lines)
    size = inprocess.BATCH_LINES
    counts = [len(lines[i : i + size]) for i in range(0, len(lines), size)]
    return server.gzip_batches(bodies, counts)


if __name__ == "__main__":
    sys.exit(main())
