"""The stored web-analytics configuration: read fresh on every request, written by admins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from app.errors import DatabaseUnavailableError
from app.storage.database import DATABASE_ERRORS, connection, placeholders
from app.storage.models import SettingRow
from app.webanalytics.tracking import SETTING_KEY


async def read_analytics() -> dict[str, Any] | None:
    """The settings row's JSON, or None. Never cached, so that a save made through another
    server process takes effect at once (one primary-key read)."""
    try:
        row = await SettingRow.get_or_none(key=SETTING_KEY)
    except DATABASE_ERRORS as exc:
        raise DatabaseUnavailableError(
            "the database did not answer to read the analytics settings: retry shortly"
        ) from exc
    if row is None:
        return None
    stored: dict[str, Any] = json.loads(row.value)
    return stored


async def save_analytics(stored: dict[str, Any]) -> None:
    """Store a validated configuration (from `validate_form`), replacing the previous one."""
    # One upsert statement: two first saves racing each other cannot both insert.
    client = connection()
    try:
        await client.execute_query(
            f"INSERT INTO settings (key, value, updated_at) VALUES ({placeholders(client, 3)}) "  # noqa: S608 (constant SQL, bound values)
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [SETTING_KEY, json.dumps(stored, sort_keys=True), datetime.now(UTC)],
        )
    except DATABASE_ERRORS as exc:
        raise DatabaseUnavailableError(
            "the database did not take the analytics settings; nothing was changed: "
            "save them again shortly"
        ) from exc
