"""(f) `usage-metrics import --jobs N` of the nginx combined lines against `usage-metrics serve`:
one server process, then two (`serve --workers 2`, or, where `serve` has no --workers, two
`serve` processes behind nginx's `upstream` with `least_conn`), on PostgreSQL (SQLite: one
process only). Timed until every batch is answered and until the folder has added everything
to the tables; the CPU seconds of the servers (and nginx) and of the command, read from /proc
and `os.wait4`, per line; GoAccess on the same lines beside it."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from statistics import median
from typing import NamedTuple

import asyncpg
import httpx

from bench import server
from bench.tables import count, table

NGINX = Path("/usr/sbin/nginx")
CPU_TARGET = 0.15  # the issue's bound: CPU per line of --jobs N within 15 % of --jobs 1's
FOLDED_WITHIN_S = 600
POLL_S = 0.05  # freshness is asked only once the command is done: its cost stays out of the run
TICKS = os.sysconf("SC_CLK_TCK")
_WAITING = "{ freshness { waitingBatches } }"


class JobsRun(NamedTuple):
    jobs: int
    lines: int
    answered_s: float  # from the command's start to its exit
    folded_s: float  # from the command's start until no ledger row waits
    server_cpu_s: float  # the servers' processes (and nginx's), over the same span
    database_cpu_s: float  # PostgreSQL's backends serving the run's database (SQLite: 0)
    import_cpu_s: float  # the command's, user + system

    @property
    def cpu_per_line_us(self) -> float:
        return self.us_per_line(self.server_cpu_s + self.database_cpu_s + self.import_cpu_s)

    def us_per_line(self, seconds: float) -> float:
        return seconds / self.lines * 1e6


class Servers(NamedTuple):
    url: str
    pids: list[int]  # whose CPU is counted, with their descendants
    database_url: str


Topology = Callable[[str, Path], AbstractContextManager[Servers]]


def report(lines: list[str], jobs_list: Sequence[int], rounds: int, skip_postgres: bool) -> None:
    """Print (f) as Markdown."""
    print("### (f) `usage-metrics import --jobs N`, nginx combined lines\n")
    with tempfile.TemporaryDirectory(prefix="usage-metrics-jobs-") as directory:
        log = Path(directory) / "access.log"
        log.write_text("\n".join(lines) + "\n")
        goaccess = goaccess_run(log, len(lines))
        rows = []
        for database_name, database, topologies in _setups(skip_postgres):
            for topology_name, topology in topologies:
                runs = _measure(log, len(lines), database, topology, jobs_list, rounds)
                rows += _rows(database_name, topology_name, runs)
    header = ["database", "servers", "--jobs", "lines", "answered lines/s", "folded lines/s"]
    header += ["wall × --jobs 1", "CPU µs/line: servers", "PostgreSQL", "import", "total"]
    header += ["total / --jobs 1", f"≤ {1 + CPU_TARGET:.2f}"]
    print(table(header, rows, right=frozenset(range(2, 13))) + "\n")
    print(_notes(goaccess, rounds))


def _setups(
    skip_postgres: bool,
) -> Iterator[tuple[str, Callable[[], AbstractContextManager[str]], list[tuple[str, Topology]]]]:
    if skip_postgres or server.postgres_unreachable() is not None:
        yield "SQLite", server.sqlite_database, [("1 `serve`", one_server)]
        return
    two = ("`serve --workers 2`", workers_server) if has_workers() else None
    two = two or ("2 `serve` + nginx", two_servers_behind_nginx)
    yield "PostgreSQL", server.postgres_database, [("1 `serve`", one_server), two]


def _measure(
    log: Path,
    lines: int,
    database: Callable[[], AbstractContextManager[str]],
    topology: Topology,
    jobs_list: Sequence[int],
    rounds: int,
) -> dict[int, list[JobsRun]]:
    # Rounds alternate the --jobs values, so that a busier minute of a shared machine falls on
    # all of them alike; each run has a fresh database, servers and ranges folder.
    runs: dict[int, list[JobsRun]] = {jobs: [] for jobs in jobs_list}
    for _ in range(rounds):
        for jobs in jobs_list:
            with (
                tempfile.TemporaryDirectory(prefix="usage-metrics-run-") as directory,
                database() as url,
                topology(url, Path(directory)) as servers,
            ):
                runs[jobs].append(import_with_jobs(servers, log, lines, jobs, directory))
    return runs


def _rows(database: str, servers: str, runs: dict[int, list[JobsRun]]) -> list[list[str]]:
    first = min(runs)
    base_folded = median(run.folded_s for run in runs[first])
    base_cpu = median(run.cpu_per_line_us for run in runs[first])
    rows = []
    for jobs, measured in runs.items():
        folded = median(run.folded_s for run in measured)
        answered = median(run.answered_s for run in measured)
        cpu = median(run.cpu_per_line_us for run in measured)
        lines = measured[0].lines
        parts = [
            median(run.us_per_line(seconds(run)) for run in measured)
            for seconds in (_server_cpu, _database_cpu, _import_cpu)
        ]
        rows.append(
            [
                database,
                servers,
                str(jobs),
                count(lines),
                count(lines / answered),
                count(lines / folded),
                f"{base_folded / folded:.2f}",
                *(f"{part:.1f}" for part in parts),
                f"{cpu:.1f}",
                f"{cpu / base_cpu:.2f}",
                "yes" if cpu / base_cpu <= 1 + CPU_TARGET else "no",
            ]
        )
    return rows


def _server_cpu(run: JobsRun) -> float:
    return run.server_cpu_s


def _database_cpu(run: JobsRun) -> float:
    return run.database_cpu_s


def _import_cpu(run: JobsRun) -> float:
    return run.import_cpu_s


def _notes(goaccess: tuple[float, float] | None, rounds: int) -> str:
    if goaccess is None:
        shown = "GoAccess is not installed"
    else:
        rate, cpu = goaccess
        shown = f"GoAccess on the same file: {count(rate)} lines/s, {cpu:.1f} CPU µs/line"
    return (
        "Each row: a fresh database and servers (`usage-metrics serve`, default settings: the "
        "ledger folded every second), `usage-metrics import FILE --jobs N` beside them, nothing "
        "pinned: both cores shared by the servers and the command. 'answered': until the "
        "command exits; 'folded': until GraphQL's freshness shows no waiting batch. 'wall': "
        "folded time of --jobs 1 / of this row. 'CPU µs/line': user + system CPU per line of "
        "the servers (nginx too) and of the PostgreSQL backends connected to the run's "
        "database, from /proc over the same span, and of the command (`os.wait4`). Medians of "
        f"{rounds} round(s), the --jobs values alternating. {shown}.\n"
    )


def import_with_jobs(servers: Servers, log: Path, lines: int, jobs: int, scratch: str) -> JobsRun:
    """`usage-metrics import LOG --jobs N` into `servers`; its times and CPU."""
    command = [sys.executable, "-m", "app.cli", "import", str(log), "--url", servers.url]
    command += ["--token-env", "BENCH_TOKEN", "--jobs", str(jobs)]
    command += ["--ranges", str(Path(scratch) / "ranges")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    env["BENCH_TOKEN"] = server.TOKEN
    before = cpu_seconds(servers.pids)
    backends_before = backend_cpu(servers.database_url)
    start = time.perf_counter()
    with open(Path(scratch) / "import.err", "wb") as errors:
        process = subprocess.Popen(command, env=env, cwd=server.PROJECT_ROOT, stderr=errors)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    answered = time.perf_counter() - start
    output = (Path(scratch) / "import.err").read_text(errors="replace")
    # Every line sent once, none a duplicate: a fast run that skipped lines would show here.
    sent = f"imported 1 file(s): {lines} lines in "
    if process.returncode != 0 or sent not in output or "duplicate" in output:
        raise RuntimeError(f"usage-metrics import failed, or did not send each line once: {output}")
    _wait_until_folded(servers.url)
    folded = time.perf_counter() - start
    server_cpu = cpu_seconds(servers.pids) - before
    backends = backend_cpu(servers.database_url)
    # A backend that ended meanwhile is missed: the servers' pools keep theirs open.
    database_cpu = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends.items())
    import_cpu = usage.ru_utime + usage.ru_stime
    return JobsRun(jobs, lines, answered, folded, server_cpu, database_cpu, import_cpu)


def backend_cpu(database_url: str) -> dict[int, float]:
    """The CPU seconds of each PostgreSQL backend connected to this database, by pid."""
    if not database_url.startswith("postgres"):
        return {}
    name = database_url.rsplit("/", 1)[1]
    pids = asyncio.run(_backend_pids(name))
    return {pid: cpu_seconds([pid]) for pid in pids}


async def _backend_pids(name: str) -> list[int]:
    connection = await asyncpg.connect(server.POSTGRES_ADMIN_URL)
    try:
        rows = await connection.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await connection.close()
    return [int(row["pid"]) for row in rows]


def goaccess_run(log: Path, lines: int) -> tuple[float, float] | None:
    """GoAccess on `log`: lines per second and CPU µs per line; None if not installed."""
    binary = shutil.which("goaccess")
    if binary is None:
        return None
    report_path = log.with_name("report.json")
    command = [binary, str(log), "--log-format=COMBINED", "-o", str(report_path)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"goaccess exited with {process.returncode}")
    return lines / seconds, (usage.ru_utime + usage.ru_stime) / lines * 1e6


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of these processes and their descendants, the exited ones included
    (their parents' cutime and cstime)."""
    total = 0.0
    seen: set[int] = set()
    pending = list(pids)
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            pending += _children(pid)
        except OSError:
            continue  # gone: counted in its parent's cutime once waited for
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), 12-15 after the name.
        total += sum(int(value) for value in fields[11:15]) / TICKS
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def has_workers() -> bool:
    """Whether this checkout's `serve` takes --workers (issue 25, another branch)."""
    command = [sys.executable, "-m", "app.cli", "serve", "--help"]
    shown = subprocess.run(command, cwd=server.PROJECT_ROOT, capture_output=True, text=True)
    return "--workers" in shown.stdout


@contextmanager
def one_server(database_url: str, scratch: Path) -> Iterator[Servers]:
    with _serve(database_url, scratch, "serve") as (url, pid):
        yield Servers(url, [pid], database_url)


@contextmanager
def workers_server(database_url: str, scratch: Path) -> Iterator[Servers]:
    with _serve(database_url, scratch, "serve", "--workers", "2") as (url, pid):
        yield Servers(url, [pid], database_url)


@contextmanager
def two_servers_behind_nginx(database_url: str, scratch: Path) -> Iterator[Servers]:
    with ExitStack() as stack:
        # One after the other: the first migrates the new database, the second finds it done.
        first_url, first = stack.enter_context(_serve(database_url, scratch, "first"))
        second_url, second = stack.enter_context(_serve(database_url, scratch, "second"))
        url, nginx = stack.enter_context(_nginx(scratch, [first_url, second_url]))
        yield Servers(url, [first, second, nginx], database_url)


@contextmanager
def _serve(database_url: str, scratch: Path, name: str, *options: str) -> Iterator[tuple[str, int]]:
    port = server._free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    env |= {
        "USAGE_METRICS_DATABASE_URL": database_url,
        "USAGE_METRICS_ADMIN_TOKEN": server.TOKEN,
        "USAGE_METRICS_SECRET_KEY": "x",
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *options]
    with open(scratch / f"{name}.log", "wb") as log:
        process = subprocess.Popen(
            command, cwd=server.PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, scratch / f"{name}.log")
        yield url, process.pid
    finally:
        _end(process)


@contextmanager
def _nginx(scratch: Path, upstreams: list[str]) -> Iterator[tuple[str, int]]:
    if not NGINX.exists():
        raise RuntimeError(f"{NGINX} is needed for two servers without `serve --workers`")
    port = server._free_port()
    prefix = scratch / "nginx"
    prefix.mkdir()
    user = "user root;" if os.geteuid() == 0 else ""  # else its workers would be `nobody`
    temp = "\n".join(
        f"{kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    servers = "\n".join(f"server {url.removeprefix('http://')};" for url in upstreams)
    (prefix / "nginx.conf").write_text(f"""{user}
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
{temp}
access_log off;
client_max_body_size 32m;
upstream usage_metrics {{ least_conn; {servers} keepalive 8; }}
server {{
    listen 127.0.0.1:{port};
    location / {{
        proxy_pass http://usage_metrics;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_read_timeout 300s;
    }}
}}
}}
""")
    command = [str(NGINX), "-p", f"{prefix}/", "-e", str(prefix / "error.log")]
    command += ["-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, prefix / "error.log")
        yield url, process.pid
    finally:
        _end(process)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + server.START_TIMEOUT_S * 4  # a busy machine
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer GET /healthz")


def _wait_until_folded(url: str) -> None:
    headers = {"Authorization": f"Bearer {server.TOKEN}"}
    deadline = time.monotonic() + FOLDED_WITHIN_S
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        while time.monotonic() < deadline:
            answer = http.post("/graphql", json={"query": _WAITING}).json()
            if answer["data"]["freshness"]["waitingBatches"] == 0:
                return
            time.sleep(POLL_S)
    raise RuntimeError(f"the ledger was not folded within {FOLDED_WITHIN_S} s")


def _end(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
