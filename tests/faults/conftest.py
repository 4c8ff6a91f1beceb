"""The fault tests' private PostgreSQL cluster (one per session) and a fresh database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.faults.cluster import Cluster, find_bin_dir, private_cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "the PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; the fault tests need them in CI")
        pytest.skip(message)
    with private_cluster(bin_dir) as started:
        yield started


@pytest.fixture
async def cluster_url(cluster: Cluster) -> str:
    """A new database on the private cluster, for one test."""
    return await cluster.create_database(f"faults_{uuid.uuid4().hex[:12]}")
