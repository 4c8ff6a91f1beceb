"""Which table a usage query reads: the narrowest summary that answers exactly, else usage_daily.

The summaries (app/storage/summaries.py) count status-ok requests only and drop some
dimensions, so a query may read one only if it neither filters nor groups on a dimension that
summary dropped.
A summary is read through the list of its blocks that cover the periods, each day exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.core.periods import Period
from app.core.records import Owner, OwnerFilter
from app.reports.rows import BREAKDOWN_COLUMNS, DATASETS, UsageFilter
from app.reports.statement import Statement
from app.storage import summaries
from app.storage.dimensions import id_of
from app.storage.models.summaries import FIGURE_COLUMNS
from app.storage.summaries import (
    BY_CALLER,
    BY_DATASET,
    BY_OWNER,
    DOMAINS,
    EVERY_OWNER,
    OWNER_KEYS,
    STATUS_OK,
    USER_GROUPS,
    Block,
    Dimension,
    Summary,
)

# Data Fair logs most application opens on the application (resource type `applications`), not
# on a dataset: figures that are not per dataset count those opens too.
APPLICATIONS = "applications"
_IS_DATASET = f"t.resource_type = '{DATASETS}'"
# usage_daily's value of each figure in one row (its status class is filtered on separately).
_DAILY_FIGURES = {
    "api_calls": "CASE WHEN t.operation = 'api' THEN t.requests ELSE 0 END",
    "downloads": "CASE WHEN t.operation = 'download' THEN t.requests ELSE 0 END",
    "downloaded_bytes": "CASE WHEN t.operation = 'download' THEN t.bytes ELSE 0 END",
    "app_opens": "CASE WHEN t.operation = 'app' THEN t.requests ELSE 0 END",
}
_SUMMARY_FIGURES = {column: f"t.{column}" for column in FIGURE_COLUMNS}


def _datasets_but_app_opens(figures: Mapping[str, str]) -> dict[str, str]:
    """The figures of rows of datasets and applications: app opens from both, the rest from
    datasets alone."""
    return {
        column: value
        if column == "app_opens"
        else f"CASE WHEN {_IS_DATASET} THEN {value} ELSE 0 END"
        for column, value in figures.items()
    }


@dataclass(frozen=True)
class Source:
    """The parts of a statement that read usage rows as `t`: CTEs, FROM, WHERE, the figures."""

    ctes: tuple[str, ...]
    tables: str
    where: str
    figures: Mapping[str, str]  # figure column -> its SQL value in one row of `t`
    # Which period a row of `t` counts in: read_usage's 1 for the period and 0 for the previous
    # one, read_parts' index of the part.
    part: str
    # Breakdown columns that `t` holds as dimension ids: group by `t.<its column>`, then name
    # the groups (named()).
    ids: Mapping[str, Dimension] = field(default_factory=dict)

    def key(self, column: str) -> str:
        """What to group `t` by for a breakdown column: its value, or its dimension id."""
        dimension = self.ids.get(column)
        return f"t.{dimension.column if dimension else column}"

    def selected(self, column: str) -> str:
        """key(column) in a statement's SELECT, named as named() expects."""
        return f"{self.key(column)} AS {column}{_ID if column in self.ids else ''}"


_ID = "_id"


def named(source: Source, statement: str, columns: Sequence[str], *, few: bool = False) -> str:
    """`statement` (grouped by source.key() of `columns`, selected as source.selected()) with
    the dimension ids among them replaced by their values: one look-up per group, not per row
    read. `few`: the statement returns few rows (a ranking's first ones), each looked up by its
    id whatever the planner guesses of their number (a guess of thousands joined them to a
    scan of the whole dimension: 90 ms on 10^5 domains)."""
    joined = [c for c in columns if c in source.ids]
    if not joined:
        return statement
    if few:
        looked_up = ", ".join(
            f"(SELECT n.{source.ids[c].values[0]} FROM {source.ids[c].table} n "  # noqa: S608
            f"WHERE n.id = g.{c}{_ID}) AS {c}"
            for c in joined
        )
        return f"SELECT g.*, {looked_up} FROM ({statement}) g"  # noqa: S608
    values = ", ".join(f"n_{c}.{source.ids[c].values[0]} AS {c}" for c in joined)
    joins = "".join(
        f" LEFT JOIN {source.ids[c].table} n_{c} ON n_{c}.id = g.{c}{_ID}" for c in joined
    )
    return f"SELECT g.*, {values} FROM ({statement}) g{joins}"  # noqa: S608


def pick(usage: UsageFilter, *, by_dataset: bool, column: str | None) -> Summary | None:
    """The narrowest summary that has every dimension the query needs; None: usage_daily."""
    needs_dataset = by_dataset or usage.dataset_ids is not None
    needs_caller = column is not None or usage.user_groups is not None or usage.domains is not None
    if needs_dataset:
        return None if needs_caller else BY_DATASET
    return BY_CALLER if needs_caller else BY_OWNER


def read_usage(
    sql: Statement,
    usage: UsageFilter,
    period: Period,
    *,
    with_previous: bool = False,
    by_dataset: bool = False,
    column: str | None = None,
    by_day: bool = False,
    against: Period | None = None,
) -> Source:
    """Where the usage of the period (and the previous one, or `against`: a period that ends
    before it) comes from; `by_day`: single days."""
    summary = pick(usage, by_dataset=by_dataset, column=column)
    before = (against or period.previous()) if with_previous else None
    if before is not None and before.end >= period.start:
        raise ValueError(f"{before} does not end before {period}")
    periods = ((0, before), (1, period)) if before is not None else ((1, period),)
    with_apps = not by_dataset and usage.dataset_ids is None
    if summary is None:
        return _usage_daily(sql, usage, period, before, with_apps)
    blocks: list[tuple[int, Block]] = [
        (is_current, block)
        for is_current, part in periods
        for block in (
            [(1, day) for day in part.each_day()]
            if by_day
            else summaries.blocks(summary, part.start, part.end)
        )
    ]
    return _read_blocks(sql, usage, summary, blocks, with_apps)


def read_parts(
    sql: Statement, usage: UsageFilter, parts: Sequence[Period], *, by_dataset: bool = False
) -> Source | None:
    """Where the usage of each of `parts` comes from, told apart by `Source.part` (the part's
    index): the fewest summary blocks that cover each part, so a month of a series is one row
    per owner, not thirty. Parts may overlap: a row counts in every part that holds its days.
    None when only usage_daily has the dimensions asked for (read its days instead)."""
    summary = pick(usage, by_dataset=by_dataset, column=None)
    if summary is None:
        return None
    blocks = [
        (index, block)
        for index, part in enumerate(parts)
        for block in summaries.blocks(summary, part.start, part.end)
    ]
    return _read_blocks(sql, usage, summary, blocks, not by_dataset and usage.dataset_ids is None)


def _read_blocks(
    sql: Statement,
    usage: UsageFilter,
    summary: Summary,
    blocks: Sequence[tuple[int, Block]],
    with_apps: bool,
) -> Source:
    values = ", ".join(f"({span}, {sql.bind(first)}, {part})" for part, (span, first) in blocks)
    where = " AND ".join(
        ["t.span = b.span", "t.day = b.day", *_filters(sql, usage, with_apps, summary)]
    )
    # Each block, then its key range in the table. CROSS JOIN keeps that order on SQLite. On
    # PostgreSQL a LATERAL subquery behind OFFSET 0 (which it cannot flatten) does: given 120
    # month blocks it otherwise estimated a hash join over a scan of the whole table (ranking
    # every dataset over ten years took 740 ms instead of 116).
    if sql.postgres:
        # The blocks' days as constants too: the planner then plans only the months' partitions
        # they fall in (docs/storage.md#monthly-partitions), not every month's.
        firsts = [first for _, (_, first) in blocks]
        bounds = (
            f" AND t.day BETWEEN {sql.bind(min(firsts))} AND {sql.bind(max(firsts))}"
            if firsts
            else ""
        )
        tables = (
            f"b CROSS JOIN LATERAL (SELECT * FROM {summary.table} t WHERE {where}{bounds} "  # noqa: S608
            "OFFSET 0) t"
        )
    else:
        tables = f"b CROSS JOIN {summary.table} t"
    return Source(
        ctes=(f"b(span, day, part) AS (VALUES {values})",),
        tables=tables,
        where="TRUE" if sql.postgres else where,
        figures=_datasets_but_app_opens(_SUMMARY_FIGURES) if with_apps else _SUMMARY_FIGURES,
        part="b.part",
        ids={c: d for d in summary.ids for c in d.values if c in BREAKDOWN_COLUMNS},
    )


def _usage_daily(
    sql: Statement, usage: UsageFilter, period: Period, before: Period | None, with_apps: bool
) -> Source:
    if before is not None and before != period.previous():  # a gap between them
        days = (
            f"(t.day >= {sql.bind(before.start)} AND t.day <= {sql.bind(before.end)} "
            f"OR t.day >= {sql.bind(period.start)} AND t.day <= {sql.bind(period.end)})"
        )
    else:
        start = before.start if before is not None else period.start
        days = f"t.day >= {sql.bind(start)} AND t.day <= {sql.bind(period.end)}"
    where = [days, f"t.status_class = '{STATUS_OK}'", *_filters(sql, usage, with_apps)]
    # Not the literal 1 without a previous period: GROUP BY 1 would mean the first column.
    part = (
        f"CASE WHEN t.day >= {sql.bind(period.start)} THEN 1 ELSE 0 END"
        if before is not None
        else "CAST(1 AS INTEGER)"
    )
    figures = _datasets_but_app_opens(_DAILY_FIGURES) if with_apps else _DAILY_FIGURES
    return Source((), "usage_daily t", " AND ".join(where), figures, part)


def _filters(
    sql: Statement, usage: UsageFilter, with_apps: bool = False, summary: Summary | None = None
) -> list[str]:
    types = (DATASETS, APPLICATIONS) if with_apps else (DATASETS,)
    clauses = [f"t.resource_type IN ({sql.bind_all(types)})"]
    if summary is not None and summary.ids:
        return clauses + _id_filters(sql, usage)
    if usage.owner is None and summary is not None and summary is not BY_DATASET:
        # Every owner: the rows that add them all up (and not those, besides, of each owner).
        every_type, every_id = EVERY_OWNER
        clauses.append(f"t.owner_type = {sql.bind(every_type)}")
        clauses.append(f"t.owner_id = {sql.bind(every_id)}")
    clauses += owner_clauses(sql, "t", usage.owner)
    if usage.dataset_ids is not None:
        clauses.append(f"t.resource_id IN ({sql.bind_all(usage.dataset_ids)})")
    if usage.user_groups is not None:
        clauses.append(f"t.user_group IN ({sql.bind_all(usage.user_groups)})")
    if usage.domains is not None:
        clauses.append(f"t.referer_domain IN ({sql.bind_all(usage.domains)})")
    return clauses


def _id_filters(sql: Statement, usage: UsageFilter) -> list[str]:
    """_filters on a summary that stores owners and callers as ids (usage_by_caller): the ids of
    the values asked for, each found once per statement."""
    owner = usage.owner if usage.owner is not None else Owner(*EVERY_OWNER)
    if isinstance(owner, Owner):
        ids = id_of(OWNER_KEYS, [sql.bind(owner.type), sql.bind(owner.id)])
        clauses = [f"t.{OWNER_KEYS.column} = {ids}"]
    else:
        (any_of,) = owner_clauses(sql, OWNER_KEYS.table, owner)
        clauses = [
            f"t.{OWNER_KEYS.column} IN (SELECT id FROM {OWNER_KEYS.table} WHERE {any_of})"  # noqa: S608
        ]
    for dimension, values in ((USER_GROUPS, usage.user_groups), (DOMAINS, usage.domains)):
        if values is not None:
            clauses.append(
                f"t.{dimension.column} IN (SELECT id FROM {dimension.table} "  # noqa: S608
                f"WHERE {dimension.values[0]} IN ({sql.bind_all(values)}))"
            )
    return clauses


def owner_clauses(sql: Statement, table: str, owner: OwnerFilter) -> list[str]:
    """`table`'s rows of the owner, or of any of several owners; none for every owner."""
    if owner is None:
        return []
    if isinstance(owner, Owner):
        return [
            f"{table}.owner_type = {sql.bind(owner.type)}",
            f"{table}.owner_id = {sql.bind(owner.id)}",
        ]
    # Several owners (a portal session's): their rows are disjoint, so summing them is exact.
    # OR, not a row-value IN: SQLite then seeks each owner on the whole key (MULTI-INDEX OR).
    each = " OR ".join(
        f"({table}.owner_type = {sql.bind(one.type)} AND {table}.owner_id = {sql.bind(one.id)})"
        for one in owner
    )
    return [f"({each})" if each else "1 = 0"]


def with_clause(ctes: Sequence[str]) -> str:
    return f"WITH {', '.join(ctes)} " if ctes else ""
