"""The admin pages' tests answer a failed sign-in at once (one test checks the delay)."""

from __future__ import annotations

import pytest

from app.config import Settings
from tests.conftest import with_settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, failed_sign_in_delay_s=0.0)
