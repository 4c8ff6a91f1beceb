"""One real server (`usage-metrics serve`, SQLite) for the command tests of this folder: each
test counts its own dataset."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server_processes import free_port, serving


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(
        f"sqlite://{tmp_path_factory.mktemp('ship') / 'metrics.sqlite3'}", free_port()
    ) as base:
        yield base
