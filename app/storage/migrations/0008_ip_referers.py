"""IP addresses stored as calling domains before they counted as `ip` are folded into it, so
that no address stays in the database (docs/classification.md, docs/security.md).

In usage_daily, usage_by_caller and the ledger rows waiting for the folder, a row whose
referer_domain is an IP address (app/core/hosts.py) is added to the row of the same key with the
domain `ip` (and the category `ip` where it was `external`, as the ingest now counts it), then
deleted; another site literally named `ip` (category `external`), now our own value, is folded
into `invalid` first. Run again, it finds nothing to fold: a crash between its commit and its
record is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from tortoise import migrations
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

from app.core.hosts import is_ip_literal

# The tables' keys and counters as this migration knows them (later migrations may change them).
_DAILY_KEY = (
    "owner_type",
    "owner_id",
    "day",
    "resource_type",
    "resource_id",
    "operation",
    "status_class",
    "user_group",
    "referer_domain",
    "referer_category",
    "referer_app",
)
_CALLER_KEY = (
    "resource_type",
    "span",
    "day",
    "owner_type",
    "owner_id",
    "user_group",
    "referer_domain",
    "referer_category",
)
_TABLES = (
    ("usage_daily", _DAILY_KEY, ("requests", "bytes", "duration_ms")),
    ("usage_by_caller", _CALLER_KEY, ("api_calls", "downloads", "downloaded_bytes", "app_opens")),
)
# A ledger row (version 1): {"v": 1, "rows": [[the 11 key fields in _DAILY_KEY's order, requests,
# bytes, ms], ...]}.
_LEDGER_VERSION = 1
_DOMAIN = _DAILY_KEY.index("referer_domain")
_KEY_FIELDS = len(_DAILY_KEY)
_CHUNK = 500  # domains per statement: far below either database's limit of bound values
# (new domain, category expression, app expression or None to keep it, which rows) per fold.
_Fold = tuple[str, str, str | None, str]
_TO_INVALID: _Fold = ("invalid", "'invalid'", "''", "referer_category = 'external'")
_TO_IP: _Fold = (
    "ip",
    "CASE WHEN referer_category = 'external' THEN 'ip' ELSE referer_category END",
    None,
    "TRUE",
)


class FoldIpReferers(ops.TortoiseOperation):
    """Folds stored addresses into `ip`. It reduces to no SQL: the SQL of a migration is only run
    on an empty database (app/storage/migrator.py), which holds no address."""

    reduces_to_sql = True

    def describe(self) -> str:
        return "Fold calling domains that are IP addresses into `ip`"

    def state_forward(self, app_label: str, state: State) -> None:
        return None

    async def database_forward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        if state_editor is None or state_editor.collect_sql:
            return
        client = state_editor.client
        for table, key, counters in _TABLES:
            domains = await _domains(client, table)
            if "ip" in domains:
                await _fold(client, table, key, counters, ["ip"], _TO_INVALID)
            addresses = sorted(domain for domain in domains if is_ip_literal(domain))
            for start in range(0, len(addresses), _CHUNK):
                chunk = addresses[start : start + _CHUNK]
                await _fold(client, table, key, counters, chunk, _TO_IP)
        await _fold_ledger(client)

    async def database_backward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        return None  # the addresses are gone, as they should be


async def _domains(client: BaseDBAsyncClient, table: str) -> set[str]:
    rows = await client.execute_query_dict(f"SELECT DISTINCT referer_domain FROM {table}")  # noqa: S608
    return {row["referer_domain"] for row in rows}


async def _fold(
    client: BaseDBAsyncClient,
    table: str,
    key: Sequence[str],
    counters: Sequence[str],
    domains: Sequence[str],
    into: _Fold,
) -> None:
    """Add the rows of `domains` to the rows of their new key, then delete them, in one go:
    grouped first, so that addresses whose rows now share a key make one row."""
    domain, category, app, rows = into
    chosen = {"referer_domain": f"'{domain}'", "referer_category": category}
    if app is not None:
        chosen["referer_app"] = app
    postgres = client.capabilities.dialect == "postgres"
    marks = ", ".join(f"${n}" if postgres else "?" for n in range(1, len(domains) + 1))
    columns = ", ".join((*key, *counters))
    selected = ", ".join(
        (*(chosen.get(column, column) for column in key), *(f"SUM({c})" for c in counters))
    )
    groups = ", ".join(str(n) for n in range(1, len(key) + 1))
    added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
    await client.execute_query(
        f"INSERT INTO {table} ({columns}) SELECT {selected} FROM {table} "  # noqa: S608 (our constants; domains bound)
        f"WHERE referer_domain IN ({marks}) AND {rows} GROUP BY {groups} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {added}",
        list(domains),
    )
    await client.execute_query(
        f"DELETE FROM {table} WHERE referer_domain IN ({marks}) AND {rows}",  # noqa: S608
        list(domains),
    )


async def _fold_ledger(client: BaseDBAsyncClient) -> None:
    """The ledger rows waiting for the folder, each rewritten in place when it holds an address
    (or another site named `ip`)."""
    mark = "$" if client.capabilities.dialect == "postgres" else "?"
    for row in await client.execute_query_dict("SELECT id, counters FROM ingest_ledger"):
        counters = _ledger_folded(row["counters"])
        if counters is not None:
            await client.execute_query(
                f"UPDATE ingest_ledger SET counters = {mark}1 WHERE id = {mark}2",  # noqa: S608
                [counters, row["id"]],
            )


def _ledger_folded(text: str) -> str | None:
    """The ledger row's text with its addresses folded; None when it has none to fold."""
    data = orjson.loads(text)
    if data.get("v") != _LEDGER_VERSION:
        return None  # a later format, which this migration predates
    merged: dict[tuple[object, ...], list[int]] = {}
    changed = False
    for row in data["rows"]:
        key = list(row[:_KEY_FIELDS])
        domain = key[_DOMAIN]
        if domain == "ip" and key[_DOMAIN + 1] == "external":
            key[_DOMAIN : _DOMAIN + 3] = ["invalid", "invalid", ""]
        elif is_ip_literal(domain):
            category = key[_DOMAIN + 1]
            key[_DOMAIN : _DOMAIN + 2] = ["ip", "ip" if category == "external" else category]
        changed = changed or key != row[:_KEY_FIELDS]
        found = merged.setdefault(tuple(key), [0, 0, 0])
        for index, count in enumerate(row[_KEY_FIELDS:]):
            found[index] += count
    if not changed:
        return None
    rows = [[*key, *counts] for key, counts in merged.items()]
    return orjson.dumps({"v": _LEDGER_VERSION, "rows": rows}).decode()


class Migration(migrations.Migration):
    dependencies = [("models", "0007_ingest_quarantine")]

    initial = False

    operations = [FoldIpReferers()]
