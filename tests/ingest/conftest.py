"""Fixtures of the ledger's tests: batches wait in the ledger until the test folds them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from app.config import Settings
from tests.helpers import HELD_BACK_S, app_client


@pytest.fixture
def held_back(settings: Settings) -> Settings:
    """Batches go to the ledger, and only the test folds them."""
    return replace(settings, fold_interval_s=HELD_BACK_S)


@pytest.fixture
async def ledger_client(held_back: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(held_back) as client:
        yield client
