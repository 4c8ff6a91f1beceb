"""Finding 11 (info): the SQLite database file was created 0644, readable by every local user."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.storage.database import close_database, open_database

pytestmark = pytest.mark.anyio


async def test_the_sqlite_file_is_created_for_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "metrics.sqlite3"
    old = os.umask(0o022)  # the usual umask, which gave 0644
    try:
        await open_database(f"sqlite://{path}")
        await close_database()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size > 0  # SQLite took the empty file and migrated it
