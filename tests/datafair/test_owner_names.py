"""`usage-metrics owner-names`: owners' names asked of a real HTTP stand-in for Data Fair's API
(its X-Owner header names no one) and stored as the ingest stores them; `--set` by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.config import load_settings
from app.errors import ConfigError
from app.storage.database import connection
from tests.datafair.data_fair_api import (
    API_KEY,
    BASE_PATH,
    FAILING,
    DataFairApi,
    data_fair_api,
    owner_names,
)
from tests.helpers import dataset, ingest, line_on
from tests.server_processes import free_port

pytestmark = pytest.mark.anyio

ZONE = "Pacific/Kiritimati"  # UTC+14: the service's today, not UTC's
ORG1 = {"type": "organization", "id": "org1"}
ORG2 = {"type": "organization", "id": "org2"}
GONE = {"type": "organization", "id": "gone"}
ALICE = {"type": "user", "id": "alice"}


def today() -> str:
    return datetime.now(ZoneInfo(ZONE)).date().isoformat()


@pytest.fixture
def api() -> Iterator[DataFairApi]:
    with data_fair_api() as stand_in:
        stand_in.owners = {
            "organization:org1": {**ORG1, "name": "Métropole de Lyon"},
            "organization:org2": {**ORG2, "name": " Région\x00 privée", "department": "dep1"},
            "user:alice": {**ALICE, "name": "Alice Martin"},
        }
        stand_in.private = {"organization:org2"}
        yield stand_in


async def ingest_owners(client: httpx.AsyncClient) -> None:
    """org1 named by its line (as a portal whose header had names); org2, gone, alice not."""
    await ingest(
        client,
        line_on("2024-01-08", owner={**ORG1, "name": "Grand Lyon"}, resource=dataset("roads")),
        line_on("2024-01-08", owner=ORG2, resource=dataset("budget")),
        line_on("2024-01-08", owner=GONE, resource=dataset("old")),
        line_on("2024-01-08", owner=ALICE, resource=dataset("notes")),
    )


async def stored_names() -> list[tuple[str, str, str, str]]:
    rows = await connection().execute_query_dict(
        "SELECT owner_type, owner_id, name, last_day FROM owners ORDER BY owner_type, owner_id"
    )
    return [(r["owner_type"], r["owner_id"], r["name"], str(r["last_day"])) for r in rows]


async def run(database_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    done = await owner_names(database_url, tmp_path, *args, USAGE_METRICS_TIMEZONE=ZONE)
    assert API_KEY not in done.out + done.err
    return done.status, done.out, done.err


async def test_names_the_owners_without_a_name_with_the_api_key(
    client: httpx.AsyncClient, api: DataFairApi, database_url: str, tmp_path: Path
) -> None:
    await ingest_owners(client)
    status, out, _ = await run(
        database_url, tmp_path, "--data-fair", api.url, "--api-key-env", "DATA_FAIR_KEY"
    )
    assert (status, out.splitlines()) == (
        0,
        [
            "organization:gone: not found (Data Fair's API shows no dataset of this owner)",
            'organization:org2: named " Région privée"',
            'user:alice: named "Alice Martin"',
            "3 owners asked: 2 named, 1 not found, 0 failed",
        ],
    )
    # One request per owner without a name, as Data Fair's list takes it, with the API key.
    asked = sorted(((a.path, a.query, a.api_key) for a in api.asked), key=lambda a: a[1]["owner"])
    assert asked == [
        (
            f"{BASE_PATH}/api/v1/datasets",
            {"owner": [owner], "size": ["1"], "select": ["id,owner"]},
            API_KEY,
        )
        for owner in ("organization:gone", "organization:org2", "user:alice")
    ]
    assert await stored_names() == [
        ("organization", "org1", "Grand Lyon", "2024-01-08"),  # named by its line: not asked
        ("organization", "org2", " Région privée", today()),  # NUL dropped, as the ingest does
        ("user", "alice", "Alice Martin", today()),
    ]


async def test_without_the_api_key_a_private_owner_is_not_found(
    client: httpx.AsyncClient, api: DataFairApi, database_url: str, tmp_path: Path
) -> None:
    await ingest_owners(client)
    status, out, _ = await run(database_url, tmp_path, "--data-fair", api.url)
    assert status == 0
    assert out.splitlines()[1] == (
        "organization:org2: not found (Data Fair's API shows no dataset of this owner)"
    )
    assert {a.api_key for a in api.asked} == {None}


async def test_a_later_line_replaces_the_name_and_all_refreshes_every_owner(
    client: httpx.AsyncClient, api: DataFairApi, database_url: str, tmp_path: Path
) -> None:
    await ingest_owners(client)
    assert (await run(database_url, tmp_path, "--data-fair", api.url))[0] == 0
    later = line_on("2024-01-09", owner={**ALICE, "name": "A. Martin"}, resource=dataset("notes"))
    await ingest(client, later)
    # The line's name wins; last_day, today's, does not go down to the line's day.
    assert ("user", "alice", "A. Martin", today()) in await stored_names()

    api.asked.clear()
    status, out, _ = await run(database_url, tmp_path, "--data-fair", api.url)
    assert (status, out.splitlines()[-1]) == (0, "2 owners asked: 0 named, 2 not found, 0 failed")
    asked = sorted(a.query["owner"][0] for a in api.asked)  # alice has a name: not asked
    assert asked == ["organization:gone", "organization:org2"]

    status, out, _ = await run(database_url, tmp_path, "--data-fair", api.url, "--all")
    assert (status, out.splitlines()[-1]) == (0, "4 owners asked: 2 named, 2 not found, 0 failed")
    assert await stored_names() == [
        ("organization", "org1", "Métropole de Lyon", today()),
        ("user", "alice", "Alice Martin", today()),
    ]


async def test_failures_are_said_in_words_and_exit_1(
    client: httpx.AsyncClient, api: DataFairApi, database_url: str, tmp_path: Path
) -> None:
    await ingest_owners(client)
    api.owners["organization:gone"] = FAILING
    # An API that ignored ?owner= would give everyone the first dataset's owner: refused.
    api.owners["organization:org2"] = {**ORG1, "name": "Métropole de Lyon"}
    api.private = set()
    status, out, _ = await run(database_url, tmp_path, "--data-fair", api.url)
    assert (status, out.splitlines()) == (
        1,
        [
            "organization:gone: failed: Data Fair answered HTTP 500 Internal Server Error",
            "organization:org2: failed: the dataset in the answer belongs to another owner",
            'user:alice: named "Alice Martin"',
            "3 owners asked: 1 named, 0 not found, 2 failed",
        ],
    )
    assert [name[:3] for name in await stored_names()] == [
        ("organization", "org1", "Grand Lyon"),
        ("user", "alice", "Alice Martin"),  # what succeeded is stored
    ]

    status, out, _ = await run(database_url, tmp_path, "--data-fair", api.url + "/api/v1")
    assert status == 1
    assert out.splitlines()[0] == (
        "organization:gone: failed: Data Fair answered HTTP 404 Not Found "
        "(is the URL Data Fair's base URL, like https://portal.example/data-fair?)"
    )


async def test_an_unreachable_data_fair_fails_every_owner(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    await ingest_owners(client)
    unreachable = f"http://127.0.0.1:{free_port()}/data-fair"
    status, out, _ = await run(database_url, tmp_path, "--data-fair", unreachable)
    lines = out.splitlines()
    assert (status, lines[-1]) == (1, "3 owners asked: 0 named, 0 not found, 3 failed")
    assert [line.partition(" (")[0] for line in lines[:-1]] == [
        f"{owner}: failed: could not connect to Data Fair"
        for owner in ("organization:gone", "organization:org2", "user:alice")
    ]
    assert [name[1] for name in await stored_names()] == ["org1"]


async def test_the_url_comes_from_the_setting_or_is_asked_for(
    client: httpx.AsyncClient, api: DataFairApi, database_url: str, tmp_path: Path
) -> None:
    await ingest_owners(client)
    done = await owner_names(database_url, tmp_path, USAGE_METRICS_DATA_FAIR_URL=api.url)
    assert (done.status, done.out.splitlines()[-1]) == (
        0,
        "3 owners asked: 1 named, 2 not found, 0 failed",
    )
    done = await owner_names(database_url, tmp_path)
    assert (done.status, done.out) == (2, "")
    assert "give Data Fair's base URL: --data-fair URL or USAGE_METRICS_DATA_FAIR_URL" in done.err
    done = await owner_names(database_url, tmp_path, "--data-fair", api.url, "--api-key-env", "NO")
    assert (done.status, api.asked[3:]) == (2, [])
    assert "the environment variable NO (--api-key-env) is empty" in done.err


def test_a_data_fair_url_that_is_not_http_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="USAGE_METRICS_DATA_FAIR_URL='ftp://x' is not an http"):
        load_settings({"USAGE_METRICS_DATA_FAIR_URL": "ftp://x"})
    settings = load_settings({"USAGE_METRICS_DATA_FAIR_URL": "https://portal.example/data-fair/"})
    assert settings.data_fair_url == "https://portal.example/data-fair"


async def test_set_names_one_owner_by_hand(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    await ingest_owners(client)
    status, out, _ = await run(database_url, tmp_path, "--set", "organization:gone", "Ancienne")
    assert (status, out) == (0, 'organization:gone: named "Ancienne"\n')
    status, out, _ = await run(database_url, tmp_path, "--set", "organization:org1", "Lyon\n")
    assert (status, out) == (0, 'organization:org1: named "Lyon\\n"\n')
    assert await stored_names() == [
        ("organization", "gone", "Ancienne", today()),
        ("organization", "org1", "Lyon\n", today()),  # last_day goes up, never down
    ]
    for refused in (
        ("--set", "team:gone", "X"),
        ("--set", "organization:", "X"),
        ("--set", "user:alice", " "),
        ("--set", "user:alice", "X", "--all"),
    ):
        status, out, err = await run(database_url, tmp_path, *refused)
        assert (status, out) == (2, ""), refused
        assert err.splitlines()[-1].startswith("usage-metrics owner-names: --set"), err
    assert len(await stored_names()) == 2
