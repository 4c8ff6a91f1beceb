"""The breakdowns of a period that ends today, ranked from the kept sums of its closed days and
the groups of its live days, reading a bounded number of kept rows: a whole portal's year has
~10^5 groups, a page shows ten (docs/storage.md#periods-that-end-today).

The closed days' groups are kept once, each with its use (current API calls + downloads),
whether it is ranked and how many of its breakdown are; then each request merges the live
days' groups (a day of a whole portal: thousands) with their kept rows, and for each breakdown
reads the kept rows most used down to the `upto`-th largest use (an index in use order), the
way rank() would place them, ties included."""

from __future__ import annotations

from collections.abc import Sequence

from app.reports.sources import Source, named, with_clause
from app.reports.statement import Statement
from app.storage.models.summaries import FIGURE_COLUMNS
from app.storage.sql import BIGINT_MAX

SUMS_TABLE = "kept_caller_sums"
_DOMAIN = "referer_domain"
# One name per side of a figure: <figure>_1 the period's, <figure>_0 the previous one's.
SIDES = (1, 0)
SUMS = tuple(f"{f}_{side}" for f in FIGURE_COLUMNS for side in SIDES)
# What ranks a group, and whether it is ranked at all (the total's row is, alone in its set).
USE = "COALESCE(api_calls_1, 0)::numeric + COALESCE(downloads_1, 0)"
USED = "GREATEST(api_calls_1, downloads_1, api_calls_0, downloads_0) > 0"


def kept_columns(columns: Sequence[str]) -> list[str]:
    """The columns of kept_caller_sums that keeping() fills, in its order."""
    return [*_ids(columns), "grouping_set", *SUMS, "group_id", "use", "used", "groups"]


def keeping(grouped: str, columns: Sequence[str]) -> str:
    """`grouped` (the breakdowns' groups, both periods side by side) with what ranks each."""
    used = f"({USED} OR grouping_set = {total_set(columns)})"
    return (
        f"SELECT g.*, {_group_id(columns)} AS group_id, {USE} AS use, {used} AS used, "  # noqa: S608
        f"count(*) FILTER (WHERE {used}) OVER (PARTITION BY grouping_set) AS groups "
        f"FROM ({grouped}) AS g"
    )


def ranked(
    sql: Statement,
    source: Source,
    columns: Sequence[str],
    upto: int,
    answer: int,
    live: str,
    reserved: str | None,
) -> str:
    """The statement: the first `upto` groups of each breakdown (with those tied at the last
    place), its count of groups and the total's row, from the kept sums of `answer` and the
    live days' groups (`live`: the breakdowns' grouped statement over them, reading `source`).
    `reserved`: the ids of the reserved domains, returned wherever they rank."""
    ids = _ids(columns)
    everything = total_set(columns)
    kept = sql.bind(answer)
    merged = ", ".join(
        f"CASE WHEN k.answer_id IS NULL THEN l.{s} "
        f"ELSE LEAST(k.{s}::numeric + l.{s}, {BIGINT_MAX})::bigint END AS {s}"
        for s in SUMS
    )
    # A live group's kept row is stale: each group is taken once, its merged row (live 1)
    # before its kept one (live 0). Deduplicated rather than excluded by NOT EXISTS, whose
    # anti-join the planner ran as a nested loop over every live group for each kept row
    # (1.3 s for the largest owner's week, where a sort of the few rows taken costs nothing).
    shown = [*ids, "grouping_set", *SUMS, "use", "group_id"]
    kept_rows = f"{SUMS_TABLE} k WHERE k.answer_id = {kept} AND k.used"
    # Uses are never negative: without a least one, every group. Not an OR, and bounded on
    # both sides by values of `t` (the kept groups' largest use above): PostgreSQL guesses a
    # third of the rows for an open range and read every kept row (60 ms a breakdown for the
    # admin's year), 0.5 % for a closed one, and reads the index from the most used down.
    reaches = "use >= COALESCE(t.least_use, 0)"
    stand_ins, live_stand_ins = "", ""
    if reserved is not None:
        domains = column_sets(columns)[list(columns).index(_DOMAIN)]
        # Wherever they rank: looked up by their ids (four at most), each by the unique key.
        stand_ins = (
            f" UNION ALL SELECT {_of('k', shown)}, 0 FROM ({reserved}) AS rsv(id) "  # noqa: S608
            f"JOIN {SUMS_TABLE} k ON k.answer_id = {kept} AND k.grouping_set = t.gs "
            f"AND k.group_id = rsv.id WHERE t.gs = {domains} AND k.used"
        )
        live_stand_ins = f" OR mu.grouping_set = {domains} AND mu.group_id IN ({reserved})"
    sets = ", ".join(f"({s})" for s in [*column_sets(columns), everything])
    ctes = (
        # The live days' groups, each beside its kept row if any: merged.
        f"l AS MATERIALIZED (SELECT g.*, {_group_id(columns)} AS group_id FROM ({live}) AS g)",  # noqa: S608
        f"m AS MATERIALIZED (SELECT {_of('l', ids)}, l.grouping_set, l.group_id, {merged}, "  # noqa: S608
        f"COALESCE(k.used, FALSE) AS was_used FROM l LEFT JOIN {SUMS_TABLE} k "
        f"ON k.answer_id = {kept} AND k.grouping_set = l.grouping_set "
        "AND k.group_id = l.group_id)",
        f"mu AS (SELECT m.*, {USE} AS use FROM m WHERE {USED} OR grouping_set = {everything})",  # noqa: S608
        f"s(gs) AS (VALUES {sets})",
        # Each breakdown's `upto`-th largest use: among its kept groups most used (as many
        # more as it has live groups, whose kept rows are stale) and the merged live ones.
        # Its count: the kept one, less the live groups' kept rows, plus the merged ones.
        "t AS MATERIALIZED (SELECT s.gs AS gs, (SELECT c.use FROM (SELECT DISTINCT ON "  # noqa: S608
        "(c.group_id) c.use FROM ((SELECT k.group_id, k.use, 0 AS live FROM "
        f"{kept_rows} AND k.grouping_set = s.gs ORDER BY k.use DESC LIMIT {upto} + "
        "(SELECT count(*) FROM m WHERE m.grouping_set = s.gs)) UNION ALL "
        "(SELECT mu.group_id, mu.use, 1 FROM mu WHERE mu.grouping_set = s.gs)) AS c "
        "ORDER BY c.group_id, c.live DESC) AS c "
        f"ORDER BY c.use DESC OFFSET {upto - 1} LIMIT 1) AS least_use, "
        # The set's most used kept row: its use, and its count (any row of the set has it).
        "top.use AS top_use, COALESCE(top.groups, 0) "
        "- (SELECT count(*) FROM m WHERE m.grouping_set = s.gs AND m.was_used) "
        "+ (SELECT count(*) FROM mu WHERE mu.grouping_set = s.gs) AS groups "
        f"FROM s LEFT JOIN LATERAL (SELECT k.use, k.groups FROM {SUMS_TABLE} k "
        f"WHERE k.answer_id = {kept} AND k.grouping_set = s.gs "
        "ORDER BY k.use DESC LIMIT 1) AS top ON TRUE)",
    )
    statement = (
        "SELECT DISTINCT ON (r.grouping_set, r.group_id) r.*, t.groups "  # noqa: S608
        "FROM t CROSS JOIN LATERAL ("
        f"SELECT {_of('k', shown)}, 0 AS live FROM {kept_rows} AND k.grouping_set = t.gs "
        f"AND k.{reaches} AND k.use <= t.top_use{stand_ins} "
        f"UNION ALL SELECT {_of('mu', shown)}, 1 FROM mu "
        f"WHERE mu.grouping_set = t.gs AND (mu.{reaches}{live_stand_ins})) AS r "
        "ORDER BY r.grouping_set, r.group_id, r.live DESC"
    )
    return (
        f"{with_clause((*source.ctes, *ctes))}SELECT x.*, {sql.still_kept(answer)} "  # noqa: S608
        f"FROM ({named(source, statement, columns, few=True)}) AS x"
    )


def _ids(columns: Sequence[str]) -> list[str]:
    return [f"{c}_id" for c in columns]


def _group_id(columns: Sequence[str]) -> str:
    """The id of a group's own column (each breakdown groups by one), 0 for the total."""
    return f"COALESCE({', '.join(_ids(columns))}, 0)"


def total_set(columns: Sequence[str]) -> int:
    """GROUPING()'s value on the total's row: a bit set per column."""
    return (1 << len(columns)) - 1


def column_sets(columns: Sequence[str]) -> list[int]:
    """Each breakdown's GROUPING() value, in the order of `columns`: all bits set but its
    column's (the first column's bit the highest)."""
    everything = total_set(columns)
    return [everything ^ (1 << (len(columns) - 1 - i)) for i in range(len(columns))]


def _of(table: str, names: Sequence[str]) -> str:
    return ", ".join(f"{table}.{name}" for name in names)
