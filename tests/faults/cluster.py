"""A private PostgreSQL cluster that a test may crash and start again.

The machine's PostgreSQL is shared by every test run: the fault tests never stop it. They run
their own cluster from the PostgreSQL binaries (initdb, pg_ctl) in a temporary directory, on a
free port, with trust authentication, and stop it with `pg_ctl stop -m immediate`: the
postmaster kills its backends without a checkpoint, as a crash would, and the next start
recovers from the write-ahead log.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from tests.server_processes import free_port

# initdb refuses to run as root: as root, the cluster belongs to this user.
CLUSTER_USER = "postgres"
# Enough for 8 servers with 10 pooled connections each, and the test's own.
MAX_CONNECTIONS = 200


class Cluster:
    """One PostgreSQL cluster in a directory of its own, listening on 127.0.0.1:`port`."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self._bin = bin_dir
        self._root = root
        self._data = root / "data"
        self.port = port

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        # --no-sync: nothing here has to survive a power cut, only a crash of PostgreSQL.
        # On a 2-core machine: initdb ~0.7 s, each start ~0.1 s.
        initdb = ("-D", str(self._data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self._run("initdb", *initdb)
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 "
            f"-c max_connections={MAX_CONNECTIONS} -c fsync=off"
        )
        log = str(self._root / "postgres.log")
        self._run("pg_ctl", "-D", str(self._data), "-o", options, "-l", log, "-w", "start")

    def crash(self) -> None:
        """Stop at once: backends die mid-transaction, nothing is checkpointed."""
        self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")

    def standby(self, port: int) -> Cluster:
        """A new hot standby of this cluster on `port`, streaming its WAL, started.

        initdb's pg_hba.conf lets replication connections in from 127.0.0.1 (trust), and
        wal_level=replica is the default: the machine's own cluster, whose pg_hba.conf has no
        replication line, is never the primary here.
        """
        root = self._root / f"standby-{port}"
        root.mkdir()
        _own(root)
        standby = Cluster(self._bin, root, port)
        # -c fast: a checkpoint at once, not spread over minutes; -X stream: the WAL written
        # meanwhile comes too; -R: standby.signal and primary_conninfo, so it starts streaming.
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-D", str(standby._data)),
            *("-R", "-X", "stream", "-c", "fast", "--no-sync"),
        )
        standby.start()
        return standby

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.url("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def _run(self, program: str, *arguments: str) -> None:
        command = [*_as_cluster_user(), str(self._bin / program), *arguments]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")


def find_bin_dir() -> Path | None:
    """The directory of initdb, pg_ctl and pg_basebackup: pg_ctl's on the PATH (followed to
    the version's own directory: a link beside pg_ctl may have no pg_basebackup beside it),
    else Debian's newest version."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


@contextlib.contextmanager
def private_cluster(bin_dir: Path) -> Iterator[Cluster]:
    """A new cluster, started; crashed and deleted at the end, whatever its state."""
    root = Path(tempfile.mkdtemp(prefix="usage-metrics-faults-"))
    _own(root)
    cluster = Cluster(bin_dir, root, free_port())
    try:
        cluster.init()
        yield cluster
    finally:
        with contextlib.suppress(RuntimeError):  # already stopped
            cluster.crash()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def standby_of(primary: Cluster) -> Iterator[Cluster]:
    """A streaming standby of `primary`, on a free port; stopped at the end, whatever its state
    (its files go with the primary's)."""
    standby = primary.standby(free_port())
    try:
        yield standby
    finally:
        with contextlib.suppress(RuntimeError):  # already stopped
            standby.crash()


def _own(directory: Path) -> None:
    # initdb and pg_basebackup run as the cluster's user when we are root.
    if os.geteuid() == 0:
        shutil.chown(directory, CLUSTER_USER, CLUSTER_USER)


def _as_cluster_user() -> list[str]:
    return ["runuser", "-u", CLUSTER_USER, "--"] if os.geteuid() == 0 else []
