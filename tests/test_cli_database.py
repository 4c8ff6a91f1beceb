"""Which database a command uses, and what it says when it cannot open it (issue 23, points 2
and 3): the line naming it, the settings file, `--create`, one-line errors with exit 2."""

from __future__ import annotations

import asyncio
import hashlib
import os
import select
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from app.cli import DatabaseUse, build_parser, leaf_commands, main
from app.errors import DatabaseUnavailableError
from app.storage.database import close_database, connect_database
from tests.server_processes import POSTGRES_ADMIN_URL, free_port

# A hang detector, not a speed: from the line naming the database (the interpreter has started
# and imported everything) to the exit. A SQLite path in a missing folder used to hang forever.
HANG_S = 10
STARTED_WITHIN_S = 120  # the imports, on a busy machine
WORKED_WITHIN_S = 120  # a command that does its work: migrations first, on a busy machine
PG = urlsplit(POSTGRES_ADMIN_URL)
PG_AT = f"{PG.hostname}:{PG.port or 5432}"
FROM_ENVIRONMENT = "USAGE_METRICS_DATABASE_URL from the environment"
WITHOUT_DATABASE = (
    "name the server's settings (--env-file /etc/usage-metrics/env, or USAGE_METRICS_ENV_FILE), "
    "or add --create to make a new database there"
)
REFUSED = "connection refused (is PostgreSQL running, and listening on that address and port?)"


@dataclass(frozen=True)
class Done:
    status: int
    out: str
    err: list[str]


def usage_metrics(
    *arguments: str, cwd: Path, exits_within: float = HANG_S, **settings: str
) -> Done:
    """The command as a process, in `cwd`, with no USAGE_METRICS_* variable but `settings`;
    it must exit within `exits_within` seconds of naming its database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    command = [sys.executable, "-m", "app.cli", *arguments]
    process = subprocess.Popen(
        command, cwd=cwd, env={**env, **settings}, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        ready, _, _ = select.select([process.stderr], [], [], STARTED_WITHIN_S)
        first = process.stderr.readline() if ready else ""
        process.wait(timeout=exits_within)  # its output is a few lines: the pipes never fill
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"{' '.join(arguments)} still ran {exits_within} s after naming its database")
    with process.stdout, process.stderr:
        out, rest = process.stdout.read(), process.stderr.read()
    return Done(process.returncode, out, (first + rest).splitlines())


def named(url: str, source: str = FROM_ENVIRONMENT) -> str:
    return f"usage-metrics: database {url} ({source})"


def missing_folder(tmp_path: Path) -> str:
    return (
        f"usage-metrics: the folder {tmp_path / 'missing'} of the SQLite database does not "
        "exist: create it, or correct the path in USAGE_METRICS_DATABASE_URL"
    )


# --- the default database is named, and not made -----------------------------------------


@pytest.mark.parametrize(
    "command",
    [["tokens", "create", "--scope", "admin"], ["import-data-fair", "metrics.json"]],
    ids=["tokens-create", "import-data-fair"],
)
def test_a_command_without_the_environment_names_the_default_database_and_makes_none(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "metrics.json").write_text("{}\n")
    database = tmp_path / "usage-metrics.sqlite3"

    done = usage_metrics(*command, cwd=tmp_path)

    assert (done.status, done.out) == (2, "")
    assert done.err == [
        named(f"sqlite://{database}", "the default: USAGE_METRICS_DATABASE_URL is not set"),
        f"usage-metrics: no SQLite database at {database}: {WITHOUT_DATABASE}",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.json"]


def test_create_makes_a_new_database_when_asked(tmp_path: Path) -> None:
    done = usage_metrics(
        "tokens", "create", "--scope", "admin", "--create", cwd=tmp_path,
        exits_within=WORKED_WITHIN_S,
    )  # fmt: skip

    assert done.status == 0, done.err
    assert done.out.startswith("um_")
    assert (tmp_path / "usage-metrics.sqlite3").is_file()
    listed = usage_metrics("tokens", "list", cwd=tmp_path, exits_within=WORKED_WITHIN_S)
    assert listed.status == 0, listed.err
    assert listed.out.splitlines()[1].split()[:3] == ["1", "admin", "admin"]


# --- the settings file of the units --------------------------------------------------------


def test_the_units_settings_file_gives_the_servers_database_its_password_hidden(
    postgres_url: str, tmp_path: Path
) -> None:
    password = "s3cret-pw"  # trust authentication: any password is accepted
    parts = urlsplit(postgres_url)
    with_password = parts._replace(
        netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    )
    settings = tmp_path / "env"
    settings.write_text(
        "# as /etc/usage-metrics/env\n"
        f"USAGE_METRICS_DATABASE_URL={with_password.geturl()}\n"
        "USAGE_METRICS_TIMEZONE='Europe/Paris'\n"
    )
    shown = postgres_url.replace(f"{parts.username}@", f"{parts.username}:***@")
    name = f"cli-{uuid.uuid4().hex[:8]}"

    made = usage_metrics(
        "tokens", "create", "--scope", "ingest", "--name", name, "--env-file", str(settings),
        cwd=tmp_path, exits_within=WORKED_WITHIN_S,
    )  # fmt: skip

    assert made.status == 0, made.err
    assert made.err[0] == named(shown, f"USAGE_METRICS_DATABASE_URL from {settings}")
    assert password not in "\n".join(made.err) + made.out
    assert asyncio.run(_scope_of(postgres_url, made.out.strip())) == "ingest"
    # The variable names the file as well; a variable of the environment wins over the file's.
    listed = usage_metrics(
        "tokens", "list", cwd=tmp_path, exits_within=WORKED_WITHIN_S,
        USAGE_METRICS_ENV_FILE=str(settings),
    )  # fmt: skip
    assert listed.status == 0, listed.err
    assert name in listed.out
    elsewhere = tmp_path / "elsewhere.sqlite3"
    overridden = usage_metrics(
        "tokens", "list", cwd=tmp_path, USAGE_METRICS_ENV_FILE=str(settings),
        USAGE_METRICS_DATABASE_URL=f"sqlite://{elsewhere}",
    )  # fmt: skip
    assert (overridden.status, overridden.err) == (
        2,
        [
            named(f"sqlite://{elsewhere}", f"{FROM_ENVIRONMENT}, which wins over {settings}"),
            f"usage-metrics: no SQLite database at {elsewhere}: {WITHOUT_DATABASE}",
        ],
    )


async def _scope_of(database_url: str, token: str) -> str | None:
    conn = await asyncpg.connect(database_url)
    try:
        digest = hashlib.sha256(token.encode()).hexdigest()
        scope: str | None = await conn.fetchval(
            "SELECT scope FROM tokens WHERE token_sha256 = $1", digest
        )
        return scope
    finally:
        await conn.close()


def test_a_settings_file_that_cannot_be_read_stops_the_command(tmp_path: Path) -> None:
    done = usage_metrics("fold", "--env-file", str(tmp_path / "absent"), cwd=tmp_path)
    assert (done.status, done.out) == (2, "")
    assert done.err == [
        f"usage-metrics: cannot read the settings file {tmp_path / 'absent'}: "
        "No such file or directory"
    ]


# --- database errors in one line, exit 2 ----------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["tokens", "list"], ["migrate", "--check"], ["serve", "--port", "0"]],
    ids=["tokens-list", "migrate-check", "serve"],
)
def test_an_unreachable_postgresql_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgres://usage:pw@127.0.0.1:{port}/usage"

    done = usage_metrics(*command, cwd=tmp_path, USAGE_METRICS_DATABASE_URL=url)

    assert (done.status, done.out) == (2, "")
    assert done.err == [
        named(f"postgres://usage:***@127.0.0.1:{port}/usage"),
        f"usage-metrics: cannot reach PostgreSQL at 127.0.0.1:{port}: {REFUSED}",
    ]


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "0"]])
def test_a_sqlite_path_in_a_missing_folder_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    url = f"sqlite://{tmp_path / 'missing' / 'metrics.sqlite3'}"

    done = usage_metrics(*command, cwd=tmp_path, USAGE_METRICS_DATABASE_URL=url)

    assert (done.status, done.out, done.err) == (2, "", [named(url), missing_folder(tmp_path)])
    assert not (tmp_path / "missing").exists()


def test_a_missing_postgresql_database_is_one_line_and_exit_2(
    postgres_url: str, tmp_path: Path
) -> None:
    name = f"usage_metrics_absent_{uuid.uuid4().hex[:8]}"
    url = f"{postgres_url.rsplit('/', 1)[0]}/{name}"
    (tmp_path / "x.json").write_text("{}\n")

    done = usage_metrics("import-data-fair", "x.json", cwd=tmp_path, USAGE_METRICS_DATABASE_URL=url)

    assert (done.status, done.out) == (2, "")
    assert done.err == [
        named(url),
        f'usage-metrics: PostgreSQL at {PG_AT} has no database "{name}": create it (createdb '
        f"--owner {PG.username} {name}), or correct its name in USAGE_METRICS_DATABASE_URL",
    ]


def test_a_missing_postgresql_role_is_one_line_and_exit_2(
    postgres_url: str, tmp_path: Path
) -> None:
    role = f"usage_metrics_nobody_{uuid.uuid4().hex[:8]}"
    url = f"postgres://{role}@{PG_AT}/{postgres_url.rsplit('/', 1)[1]}"

    done = usage_metrics("purge", cwd=tmp_path, USAGE_METRICS_DATABASE_URL=url)

    assert (done.status, done.out) == (2, "")
    assert done.err == [
        named(url),
        f'usage-metrics: PostgreSQL at {PG_AT} refused the connection: role "{role}" does not '
        "exist (create the role, or correct the user in USAGE_METRICS_DATABASE_URL)",
    ]


# --- every command, in process ---------------------------------------------------------------

# The least each command needs to reach its database.
ARGUMENTS = {
    "serve": [],
    "tokens create": ["--scope", "admin"],
    "tokens list": [],
    "tokens revoke": ["me"],
    "import-data-fair": ["metrics.json"],
    "owner-names": ["--set", "user:alice", "Alice"],
    "resources add": ["datasets/roads", "--owner", "user:alice"],
    "fold": [],
    "analytics set": ["--provider", "none"],
    "analytics show": [],
    "migrate": [],
    "purge": [],
    "subscriptions add": ["--all", "--email", "ops@portal.example", "--alerts"],
    "subscriptions list": [],
    "subscriptions remove": ["1"],
    "reports send": ["--period", "last-week"],
    "alerts check": [],
}


# What a sender needs to get as far as its token (not set: exit 1).
SENDERS = {
    "ship": ["x.log", "--url", "http://127.0.0.1:9", "--token-env", "UNSET_TOKEN"],
    "import": ["x.log", "--url", "http://127.0.0.1:9", "--token-env", "UNSET_TOKEN"],
    "syslog": ["--udp", "127.0.0.1:9", "--url", "http://127.0.0.1:9", "--token-env", "UNSET_TOKEN"],
}


def test_every_command_that_opens_the_database_names_it_and_stops_on_a_missing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite://{tmp_path / 'missing' / 'metrics.sqlite3'}"
    monkeypatch.setenv("USAGE_METRICS_DATABASE_URL", url)
    monkeypatch.delenv("USAGE_METRICS_ENV_FILE", raising=False)
    uses = {
        name.removeprefix("usage-metrics "): leaf.get_default("database_use")
        for name, leaf in leaf_commands(build_parser(), "usage-metrics")
    }
    assert {name for name, use in uses.items() if use is not DatabaseUse.NONE} == set(ARGUMENTS)
    assert {name for name, use in uses.items() if use is DatabaseUse.NONE} == set(SENDERS)

    for name, arguments in [*ARGUMENTS.items(), ("migrate", ["--check"])]:
        assert main([*name.split(), *arguments]) == 2, name
        assert capsys.readouterr().err.splitlines() == [named(url), missing_folder(tmp_path)]
    for name, arguments in SENDERS.items():  # they post to a server: no database, no line
        assert main([name, *arguments]) == 1, name
        assert capsys.readouterr().err.splitlines() == [
            "usage-metrics: the environment variable UNSET_TOKEN (--token-env) is empty or not "
            "set: put an ingest token in it"
        ]


def test_migrate_check_makes_no_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "metrics.sqlite3"
    monkeypatch.setenv("USAGE_METRICS_DATABASE_URL", f"sqlite://{database}")
    assert main(["migrate", "--check"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        named(f"sqlite://{database}"),
        f"usage-metrics: no SQLite database at {database}: `usage-metrics migrate` makes one, "
        "or name the server's settings (--env-file PATH, or USAGE_METRICS_ENV_FILE)",
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
async def test_a_sqlite_file_that_cannot_be_opened_fails_at_once(tmp_path: Path) -> None:
    # A folder where the file should be: SQLite cannot open it. Tortoise used to keep the lock
    # of the failed connection, and the next statement waited forever.
    (tmp_path / "metrics.sqlite3").mkdir()
    with pytest.raises(DatabaseUnavailableError) as raised:
        await connect_database(f"sqlite://{tmp_path / 'metrics.sqlite3'}")
    assert raised.value.message == (
        f"cannot open the SQLite database {tmp_path / 'metrics.sqlite3'}: unable to open "
        "database file"
    )
    await close_database()
