"""deploy/syslog-ng/usage-metrics.conf in a real syslog-ng, between a real nginx and a real server.

nginx (deploy/nginx, as tests/deploy/test_nginx.py runs it) logs the requests of a portal's
visitors; syslog-ng follows its log file, or receives its syslog datagrams, and posts them to
`usage-metrics serve` on SQLite; GraphQL must then give the exact figures of those requests.
Needs Debian's nginx, syslog-ng-core and syslog-ng-mod-http; skipped without them, except in CI.
syslog-ng runs as this test's child, with its own persist file and control socket: a system
syslog-ng, if any, is neither needed nor touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.deploy.test_nginx import (
    DataFairStandIn,
    ProxyRun,
    _free_port,
    _gzip_ratio,
    assert_figures,
    running_nginx,
    send_requests,
    write_config,
)
from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN

SYSLOG_NG = Path("/usr/sbin/syslog-ng")
SYSLOG_NG_CTL = Path("/usr/sbin/syslog-ng-ctl")
HTTP_MODULES = list(Path("/usr/lib/syslog-ng").glob("*/libhttp.so"))
# CI installs them (.ci/run): there a missing syslog-ng is a failure, not a reason to skip.
if os.environ.get("CI") == "true":
    assert SYSLOG_NG.exists(), "CI needs Debian's syslog-ng-core: .ci/run installs it"
    assert HTTP_MODULES, "CI needs Debian's syslog-ng-mod-http: .ci/run installs it"
elif not SYSLOG_NG.exists() or not HTTP_MODULES:
    pytest.skip(
        "Debian's syslog-ng-core and syslog-ng-mod-http are not installed", allow_module_level=True
    )

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "syslog-ng" / "usage-metrics.conf"
# What the shipped file names, moved into the test's directory.
LOG_FILE = '"/var/log/nginx/usage-metrics.log"'
SOCKET = '"/run/usage-metrics/syslog.sock"'
URL = '"http://127.0.0.1:8000/ingest"'
FILE_PATH = "source(s_usage_metrics_file);"
SYSLOG_PATH = "source(s_usage_metrics_syslog);"
DESTINATION = "dst.http;d_usage_metrics#0;"
REFUSED = "status_code='401'"  # syslog-ng's log line for a 401 answer
RETRYING = "Server disconnected while preparing messages for sending, trying again"


class Server:
    """`usage-metrics serve` on a SQLite file and a free port, started when the test says so."""

    def __init__(self, directory: Path) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, ingest_token: str = INGEST_TOKEN) -> None:
        kept = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
        env = {
            **kept,
            "USAGE_METRICS_DATABASE_URL": f"sqlite://{self._directory / 'metrics.sqlite3'}",
            "USAGE_METRICS_ADMIN_TOKEN": ADMIN_TOKEN,
            "USAGE_METRICS_INGEST_TOKEN": ingest_token,
            "USAGE_METRICS_SECRET_KEY": "syslog-ng-test-secret",
            "USAGE_METRICS_FOLD_INTERVAL": "0",  # counted in the request: the test reads at once
        }
        port = self.url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "app.cli", "serve", "--port", port]
        with (self._directory / "server.log").open("ab") as output:
            self._process = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
            )
        wait_until(self._is_up, "the server to answer")

    def _is_up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    try:
        yield running
    finally:
        running.stop()


@dataclass(frozen=True)
class Shipped:
    """What nginx logged and the counters of syslog-ng's http() destination once it was sent."""

    run: ProxyRun
    stats: dict[str, int]
    syslog_ng_log: str


def wait_until(
    condition: Callable[[], bool], what: str, details: Callable[[], str] = str, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what} {details()}"
        time.sleep(0.05)


def write_syslog_ng_config(prefix: Path, url: str, path: str, time_reopen: int | None) -> Path:
    """A main file (what Debian's syslog-ng.conf is) including the shipped file, paths moved."""
    text = SHIPPED.read_text()
    moves = {
        LOG_FILE: f'"{prefix / "usage-metrics.log"}"',
        SOCKET: f'"{prefix / "sock"}"',  # where write_config points nginx's syslog
        URL: f'"{url}/ingest"',
        FILE_PATH: path,
    }
    if os.geteuid() != 0:  # only root may hand the socket to www-data
        moves['group("www-data") '] = ""
    if time_reopen is not None:
        moves["time-reopen(10)"] = f"time-reopen({time_reopen})"
    for shipped, local in moves.items():
        assert text.count(shipped) == 1, f"{SHIPPED.name} has no `{shipped}`"
        text = text.replace(shipped, local)
    (prefix / "syslog-ng-usage-metrics.conf").write_text(text)
    main = prefix / "syslog-ng.conf"
    main.write_text(f'@version: 3.38\n@include "{prefix / "syslog-ng-usage-metrics.conf"}"\n')
    return main


def destination_stats(control: Path) -> dict[str, int]:
    """The http() destination's counters (written, dropped, batch_size_max, ...)."""
    answer = subprocess.run(
        [str(SYSLOG_NG_CTL), "stats", "-c", str(control)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    stats: dict[str, int] = {}
    for row in answer.stdout.splitlines():
        if row.startswith(DESTINATION):
            fields = row.split(";")
            stats[fields[-2]] = int(fields[-1])
    return stats


def ship(
    prefix: Path, server: Server, path: str, lines: int, *, outage: str | None = None
) -> Shipped:
    """nginx serves `send_requests`; syslog-ng sends `lines` of its log through `path`.

    `outage`: what syslog-ng logs while the server cannot take the lines; once it has, the
    server is (re)started as it should be, and syslog-ng tries again a second later.
    """
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), DataFairStandIn)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = _free_port()
    write_config(prefix, port, upstream.server_address[1])
    config = write_syslog_ng_config(prefix, server.url, path, None if outage is None else 1)
    control, log = prefix / "syslog-ng.ctl", prefix / "syslog-ng.log"
    command = [str(SYSLOG_NG), "-F", "--no-caps", "--stderr", "-f", str(config)]
    command += ["-R", str(prefix / "syslog-ng.persist"), "-p", str(prefix / "syslog-ng.pid")]
    command += ["-c", str(control)]
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            env={"PATH": os.environ.get("PATH", ""), "USAGE_METRICS_TOKEN": INGEST_TOKEN},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "starting up" in log.read_text(), "syslog-ng to start")
        if path == SYSLOG_PATH:  # nginx's datagrams are lost until the socket is bound
            wait_until((prefix / "sock").is_socket, "syslog-ng to bind its socket")
        day = datetime.now(UTC).date()
        with running_nginx(prefix, port):
            plain, gzipped = send_requests(port)
        if outage is not None:
            wait_until(lambda: outage in log.read_text(), f"syslog-ng to log {outage}")
            server.stop()
            server.start()
        wait_until(
            lambda: destination_stats(control).get("written") == lines,
            f"{lines} lines sent",
            lambda: f"{destination_stats(control)}\n{log.read_text()}",
        )
        time.sleep(0.5)  # a line sent twice would show in the counters by now
        stats = destination_stats(control)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()
    if datetime.now(UTC).date() != day:
        pytest.skip("midnight (UTC) passed while nginx was logging; the figures span two days")
    named_log = (prefix / "usage-metrics.log").read_text()
    run = ProxyRun(
        day=day,
        named_log=named_log,
        data_fair_log=(prefix / "metrics.log").read_text(),
        datagrams=[],
        downloaded_bytes=len(plain) + round(len(gzipped) * _gzip_ratio(named_log)),
    )
    return Shipped(run, stats, log.read_text())


def is_batch(size: int, lines: list[int]) -> bool:
    """Whether `size` is that of a body of 2 or more consecutive lines (of these sizes), whole,
    joined by newlines: what batching sends, and what syslog-ng counts as a batch's size."""
    return any(
        sum(lines[first:end]) + end - first - 1 == size
        for first in range(len(lines))
        for end in range(first + 2, len(lines) + 1)
    )


async def assert_server_figures(server: Server, run: ProxyRun) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        await assert_figures(client, run)


async def test_follows_the_named_json_log_file(server: Server, tmp_path: Path) -> None:
    server.start()
    shipped = ship(tmp_path, server, FILE_PATH, lines=10)
    lines = shipped.run.named_log.encode().splitlines()
    assert len(lines) == 10  # 8 counted, 2 ignored as not tracked (test_nginx.py)
    assert (shipped.stats["written"], shipped.stats["dropped"]) == (10, 0)
    sizes = [len(line) for line in lines]
    assert is_batch(shipped.stats["batch_size_max"], sizes), (shipped.stats, sizes)
    await assert_server_figures(server, shipped.run)


async def test_posts_the_data_fair_syslog_datagrams(server: Server, tmp_path: Path) -> None:
    server.start()
    shipped = ship(tmp_path, server, SYSLOG_PATH, lines=9)
    assert (shipped.stats["written"], shipped.stats["dropped"]) == (9, 0)
    # Each line keeps nginx's syslog header (`<190>Mmm dd hh:mm:ss df: `, 25 bytes), whose date
    # /ingest counts the request on; the file holds the same lines without it.
    lines = shipped.run.data_fair_log.encode().splitlines()
    sizes = [25 + len(line) for line in lines]
    assert is_batch(shipped.stats["batch_size_max"], sizes), (shipped.stats, sizes)
    await assert_server_figures(server, shipped.run)


async def test_keeps_the_lines_while_the_server_is_down(server: Server, tmp_path: Path) -> None:
    shipped = ship(tmp_path, server, FILE_PATH, lines=10, outage=RETRYING)
    assert (shipped.stats["written"], shipped.stats["dropped"]) == (10, 0)
    assert RETRYING in shipped.syslog_ng_log
    # syslog-ng's own log names no request: only its counters and the server's URL.
    assert "portal.example" not in shipped.syslog_ng_log
    await assert_server_figures(server, shipped.run)


async def test_keeps_the_lines_while_its_token_is_refused(server: Server, tmp_path: Path) -> None:
    server.start(ingest_token="another-ingest-token")
    shipped = ship(tmp_path, server, FILE_PATH, lines=10, outage=REFUSED)
    assert (shipped.stats["written"], shipped.stats["dropped"]) == (10, 0)
    assert INGEST_TOKEN not in shipped.syslog_ng_log
    await assert_server_figures(server, shipped.run)
