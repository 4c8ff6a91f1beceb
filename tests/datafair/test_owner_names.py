"""`usage-metrics owner-names`: owners' names asked of a real HTTP stand-in for Data Fair's API
(its X-Owner header names no one) and stored as the ingest stores them, each as soon as it is
known; hostile answers (a trickle, deep nesting, 2 MiB, not UTF-8, another owner) each end as a
reason within the answer's and the run's deadlines; `--set` by hand."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest

from app.cli import main
from app.config import load_settings
from app.errors import ConfigError
from app.storage.database import connection
from tests.datafair.data_fair_api import (
    API_KEY,
    BASE_PATH,
    FAILING,
    HUGE,
    LATIN_1,
    NESTED,
    TRICKLE,
    DataFairApi,
    data_fair_api,
    owner_names,
    owner_names_command,
    owner_names_env,
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
    name = "Lyon\n\u202eMétropole\x1b[2J"  # a line break becomes a space, controls go
    status, out, _ = await run(database_url, tmp_path, "--set", "organization:org1", name)
    assert (status, out) == (0, 'organization:org1: named "Lyon Métropole[2J"\n')
    assert await stored_names() == [
        ("organization", "gone", "Ancienne", today()),
        ("organization", "org1", "Lyon Métropole[2J", today()),  # last_day goes up, not down
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


async def ingest_owners_of(client: httpx.AsyncClient, *owners: str) -> None:
    """A dataset for each owner ("type:id"), none of them named."""
    await ingest(
        client,
        *(
            line_on("2024-01-08", owner={"type": kind, "id": ident}, resource=dataset(ident))
            for kind, _, ident in (owner.partition(":") for owner in owners)
        ),
    )


async def test_hostile_answers_each_end_as_a_reason_within_the_deadlines(
    client: httpx.AsyncClient, api: DataFairApi, database_url: str, tmp_path: Path
) -> None:
    api.owners = {
        "organization:controls": {
            "type": "organization",
            "id": "controls",
            "name": "Lyon\x1b[2J\u202e M\u0085étropole\n",
        },
        "organization:gone": {**ORG1, "name": "Métropole de Lyon"},  # another owner's dataset
        "organization:org1": NESTED,
        "organization:org2": HUGE,
        "user:alice": LATIN_1,
        "user:bob": TRICKLE,
    }
    api.private = set()
    await ingest_owners_of(client, *api.owners)
    status, out, _ = await run(database_url, tmp_path, "--data-fair", api.url, "--timeout", "2")
    assert (status, out.splitlines()) == (
        1,
        [
            'organization:controls: named "Lyon[2J Métropole "',
            "organization:gone: failed: the dataset in the answer belongs to another owner",
            "organization:org1: failed: the answer is not JSON (depth limit exceeded)",
            "organization:org2: failed: the answer is longer than 1 MiB",
            "user:alice: failed: the answer is not UTF-8, as JSON must be",
            "user:bob: failed: Data Fair did not answer within 2 s",
            "6 owners asked: 1 named, 0 not found, 5 failed",
        ],
    )
    assert [name[:3] for name in await stored_names()] == [
        ("organization", "controls", "Lyon[2J Métropole ")
    ]


async def test_the_run_ends_at_its_deadline_and_keeps_the_names_it_found(
    client: httpx.AsyncClient, api: DataFairApi, database_url: str, tmp_path: Path
) -> None:
    trickling = [f"user:t{i}" for i in range(1, 7)]
    api.owners = {"organization:org1": {**ORG1, "name": "Métropole de Lyon"}}
    api.owners.update(dict.fromkeys(trickling, TRICKLE))
    await ingest_owners_of(client, *api.owners)
    args = ("--data-fair", api.url, "--timeout", "100", "--deadline", "4")
    status, out, _ = await run(database_url, tmp_path, *args)
    # Four at a time: org1 answers at once, t1 to t4 are still trickling at the deadline.
    assert (status, out.splitlines()) == (
        1,
        [
            'organization:org1: named "Métropole de Lyon"',
            *(f"user:t{i}: failed: no answer before the run's deadline (4 s)" for i in range(1, 5)),
            *(f"user:t{i}: failed: not asked: the run's deadline (4 s) came first" for i in (5, 6)),
            "7 owners asked: 1 named, 0 not found, 6 failed",
        ],
    )
    assert [name[:3] for name in await stored_names()] == [
        ("organization", "org1", "Métropole de Lyon")
    ]


async def test_each_name_is_stored_as_soon_as_it_is_known(
    client: httpx.AsyncClient, api: DataFairApi, database_url: str, tmp_path: Path
) -> None:
    api.owners = {"organization:org1": {**ORG1, "name": "Métropole de Lyon"}, "user:t1": TRICKLE}
    await ingest_owners_of(client, *api.owners)
    command = owner_names_command("--data-fair", api.url, "--timeout", "100", "--deadline", "100")
    async with await anyio.open_process(
        command, env=owner_names_env(database_url), cwd=tmp_path, stdout=subprocess.DEVNULL
    ) as process:
        with anyio.fail_after(60):
            while not await stored_names():
                assert process.returncode is None
                await anyio.sleep(0.05)
        # Stored while the run still waits for the trickling answer, not at its end.
        assert process.returncode is None
        assert [name[:3] for name in await stored_names()] == [
            ("organization", "org1", "Métropole de Lyon")
        ]
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(60):
            await process.wait()


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "inf", "soon", "86401"])
@pytest.mark.parametrize("option", ["--timeout", "--deadline"])
def test_deadlines_are_numbers_of_seconds(
    option: str, seconds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["owner-names", "--data-fair", "http://127.0.0.1:9/", option, seconds])
    assert exited.value.code == 2  # argparse's, before anything is asked or opened
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"usage-metrics owner-names: error: argument {option}: {seconds!r} is not a number of "
        "seconds from 0 to 86400"
    )
