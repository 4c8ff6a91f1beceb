"""deploy/nginx/*.conf in a real nginx in front of a Data Fair stand-in, its logs through /ingest.

Needs Debian's nginx (apt-get install nginx); skipped without it, except in CI. nginx runs as
this user's child process with its own prefix, on a free loopback port: a system nginx, if
any, is neither needed nor touched.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import TEXT, api_key, graphql_data, id_token

NGINX = Path("/usr/sbin/nginx")
# CI installs it (.ci/run): there a missing nginx is a failure, not a reason to skip.
if os.environ.get("CI") == "true":
    assert NGINX.exists(), "CI needs Debian's nginx: .ci/run installs it"
elif not NGINX.exists():
    pytest.skip("Debian's nginx is not installed", allow_module_level=True)

pytestmark = pytest.mark.anyio

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
# Where the shipped files' access_log directives write, moved into the test's prefix.
NAMED_LOG = "access_log /var/log/nginx/usage-metrics.log "
DATA_FAIR_LOG = "access_log /var/log/nginx/metrics.log "
SYSLOG_SOCKET = "access_log syslog:server=unix:/run/usage-metrics/syslog.sock,"

HOST = "portal.example"
DATASET = "/data-fair/api/v1/datasets/roads"
TITLE = "Routes départementales"
OWNER = {"type": "organization", "id": "org1"}
RESOURCE = {"type": "datasets", "id": "roads", "title": quote(TITLE)}  # Data Fair URI-encodes it
API_CALL = {"class": "read", "id": "readLines", "track": "readDataAPI"}
DOWNLOAD = {"class": "read", "id": "downloadOriginalData", "track": "readDataFiles"}
DESCRIPTION = {"class": "read", "id": "readDescription"}  # logged by nginx, not tracked
CSV = "".join(f"{n},road {n},{n * 7}\n" for n in range(3000)).encode()
MEMBER = id_token({"id": "carol", "organizations": [{"id": "org1"}]})
OUTSIDER = id_token({"id": "dave", "organizations": [{"id": "org9"}]})
# nginx's syslog header: facility local7, severity info; the date in nginx's zone (TZ=UTC here).
SYSLOG_HEADER = re.compile(r"<190>(?P<date>[A-Z][a-z]{2} [ \d]\d) \d\d:\d\d:\d\d df: \[")
NOT_TRACKED = {"not_tracked": 1, "no_owner": 0, "no_resource": 0, "unknown_owner": 0}

USAGE = """query($period: PeriodInput!) {
  usage(period: $period) {
    previousPeriod { start end }
    apiCalls { current previous change }
    downloads { current previous change }
    downloadedBytes { current previous change }
    appOpens { current }
    byGroup: breakdown(by: USER_GROUP) { totalCount edges { node { ...figures } } }
    byDomain: breakdown(by: DOMAIN) { totalCount edges { node { ...figures } } }
  }
  dataset(id: "roads") { title owner { type id } }
}
fragment figures on UsageGroup { key apiCalls { current previous } downloads { current } }"""


class DataFairStandIn(BaseHTTPRequestHandler):
    """Answers as Data Fair does: its tracking headers on dataset routes, none elsewhere."""

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == f"{DATASET}/lines":
            status = 500 if query == "fail" else 200
            self._answer(status, "application/json", b'{"total":1,"results":[{"id":1}]}', API_CALL)
        elif path == f"{DATASET}/raw":
            self._answer(200, "text/csv", CSV, DOWNLOAD)
        elif path == DATASET:
            self._answer(200, "application/json", b'{"id":"roads"}', DESCRIPTION)
        else:
            self._answer(200, "text/plain", b"ok", None)

    def _answer(
        self, status: int, content_type: str, body: bytes, operation: dict[str, str] | None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if operation is not None:
            self.send_header("X-Owner", _header(OWNER))
            self.send_header("X-Resource", _header(RESOURCE))
            self.send_header("X-Operation", _header(operation))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


def _header(value: dict[str, str]) -> str:
    return json.dumps(value, separators=(",", ":"))  # as JSON.stringify writes it


@dataclass(frozen=True)
class ProxyRun:
    """What nginx logged for the requests of `send_requests`, and what the figures must be."""

    day: date
    named_log: str
    data_fair_log: str
    datagrams: list[str]
    downloaded_bytes: int


class DatagramSink:
    """A unix datagram socket read in a thread (Linux may queue as few as 10 unread datagrams)."""

    def __init__(self, path: Path) -> None:
        self.received: list[bytes] = []
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                self.received.append(self._socket.recv(65536))
            except TimeoutError:
                if self._stop.is_set():
                    return

    def close(self) -> list[bytes]:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()
        return self.received


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(prefix: Path, port: int, upstream: int) -> None:
    """nginx.conf for `prefix`, including the shipped files with their paths moved into it."""
    moves = {
        "usage-metrics.conf": {NAMED_LOG: f"access_log {prefix / 'usage-metrics.log'} "},
        "data-fair.conf": {
            DATA_FAIR_LOG: f"access_log {prefix / 'metrics.log'} ",
            SYSLOG_SOCKET: f"access_log syslog:server=unix:{prefix / 'sock'},",
        },
    }
    for name, paths in moves.items():
        text = (DEPLOY / name).read_text()
        for shipped, local in paths.items():
            assert text.count(shipped) == 1, f"{name} has no `{shipped}...`"
            text = text.replace(shipped, local)
        (prefix / name).write_text(text)
    # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's tmp dirs.
    user = "user root;" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(f"""{user}
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} notice;
events {{ worker_connections 64; }}
http {{
{temp_paths}
    include {prefix / "usage-metrics.conf"};
    include {prefix / "data-fair.conf"};
    server {{
        listen 127.0.0.1:{port};
        server_name {HOST};
        gzip on;
        gzip_types text/csv;
        gzip_min_length 1000;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
        }}
    }}
}}
""")


@contextmanager
def running_nginx(prefix: Path, port: int) -> Iterator[None]:
    """nginx in the foreground; stopped gracefully, so every log line is written on exit."""
    command = [str(NGINX), "-p", f"{prefix}/", "-e", str(prefix / "error.log")]
    command += ["-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]
    # nginx keeps TZ from its environment: the syslog date must be a UTC one, as the app reads it.
    process = subprocess.Popen(
        command, env={"TZ": "UTC"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not start:\n{(prefix / 'error.log').read_text()}")
                time.sleep(0.05)
        yield
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fetch_raw(port: int, path: str, headers: dict[str, str]) -> bytes:
    """A GET on its own connection; the answer as received, head and body: nginx's $bytes_sent."""
    head = [f"GET {path} HTTP/1.1", f"Host: {HOST}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def send_requests(port: int) -> tuple[bytes, bytes]:
    """Requests as a portal's visitors send them; the two downloads' answers as received."""
    calls: list[tuple[str, dict[str, str], int]] = [
        (f"{DATASET}/lines", {}, 200),  # ANONYMOUS, none
        (f"{DATASET}/lines", {"Referer": "https://client.example/map"}, 200),
        (  # a member of the owner organisation on the portal: OWNER, portal.example
            f"{DATASET}/lines",
            {"Cookie": f"id_token={MEMBER}; id_token_org=org1", "Referer": f"https://{HOST}/"},
            200,
        ),
        (f"{DATASET}/lines", {"X-Apikey": api_key("o:org1:r4nd")}, 200),  # OWNER_API_KEY
        (  # EXTERNAL_API_KEY; no Referer, so the domain comes from Origin
            f"{DATASET}/lines",
            {"X-Apikey": api_key("u:bob:r4nd"), "Origin": "https://other.example"},
            200,
        ),
        (  # stored, never counted: EXTERNAL and broken.example are in no figure
            f"{DATASET}/lines?fail",
            {"Cookie": f"id_token={OUTSIDER}", "Referer": "https://broken.example/"},
            500,
        ),
        (DATASET, {}, 200),  # X-Operation without a track: logged, ignored
        ("/data-fair/api/v1/ping", {}, 200),  # no X-Operation: in the named log only
    ]
    # httpx asks for gzip by default; only the gzip download below may be compressed.
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Host": HOST, "Accept-Encoding": "identity"}
    ) as http:
        for path, headers, status in calls:
            assert http.get(path, headers=headers).status_code == status, path
    plain = fetch_raw(port, f"{DATASET}/raw", {"Referer": "https://client.example/map"})
    gzipped = fetch_raw(
        port, f"{DATASET}/raw", {"Cookie": f"id_token={MEMBER}", "Accept-Encoding": "gzip"}
    )
    return plain, gzipped


@pytest.fixture(scope="module")
def proxy_run(tmp_path_factory: pytest.TempPathFactory) -> ProxyRun:
    prefix = tmp_path_factory.mktemp("nginx")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), DataFairStandIn)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = _free_port()
    write_config(prefix, port, upstream.server_address[1])
    sink = DatagramSink(prefix / "sock")  # bound before nginx starts, as a receiver would be
    try:
        day = datetime.now(UTC).date()
        with running_nginx(prefix, port):
            plain, gzipped = send_requests(port)
    finally:
        datagrams = sink.close()
        upstream.shutdown()
        upstream.server_close()
    if datetime.now(UTC).date() != day:
        pytest.skip("midnight (UTC) passed while nginx was logging; the figures span two days")
    assert b"\r\nContent-Encoding: gzip\r\n" in gzipped and len(gzipped) < len(CSV) / 2
    assert b"Content-Encoding" not in plain and len(plain) > len(CSV)
    named_log = (prefix / "usage-metrics.log").read_text()
    return ProxyRun(
        day=day,
        named_log=named_log,
        data_fair_log=(prefix / "metrics.log").read_text(),
        datagrams=[datagram.decode() for datagram in datagrams],
        downloaded_bytes=len(plain) + round(len(gzipped) * _gzip_ratio(named_log)),
    )


def _gzip_ratio(named_log: str) -> float:
    # nginx computes the ratio (uncompressed / compressed body); the app multiplies it by the
    # bytes on the wire. Only the gzip download has one.
    ratios = [entry["gzip_ratio"] for entry in map(json.loads, named_log.splitlines())]
    found = [float(ratio) for ratio in ratios if ratio]
    assert len(found) == 1, ratios
    return found[0]


def trend(current: int) -> dict[str, Any]:
    return {"current": current, "previous": 0, "change": None}


def group(key: str, api_calls: int, downloads: int) -> dict[str, Any]:
    return {
        "key": key,
        "apiCalls": {"current": api_calls, "previous": 0},
        "downloads": {"current": downloads},
    }


async def ingest_text(client: httpx.AsyncClient, lines: list[str]) -> dict[str, Any]:
    response = await client.post("/ingest", content="\n".join(lines).encode(), headers=TEXT)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def assert_figures(client: httpx.AsyncClient, run: ProxyRun) -> None:
    """The figures of the requests of `send_requests`, on the day nginx served them."""
    today = run.day.isoformat()
    data = await graphql_data(client, USAGE, period={"start": today, "end": today})
    yesterday = (run.day - timedelta(days=1)).isoformat()
    by_use = [
        group("ANONYMOUS", 2, 1),
        group("OWNER", 1, 1),
        group("EXTERNAL_API_KEY", 1, 0),
        group("OWNER_API_KEY", 1, 0),
    ]
    by_domain = [
        group("none", 2, 1),
        group("client.example", 1, 1),
        group("other.example", 1, 0),
        group(HOST, 1, 0),
    ]
    assert data == {
        "usage": {
            "previousPeriod": {"start": yesterday, "end": yesterday},
            "apiCalls": trend(5),
            "downloads": trend(2),
            "downloadedBytes": trend(run.downloaded_bytes),
            "appOpens": {"current": 0},
            "byGroup": {"totalCount": 4, "edges": [{"node": node} for node in by_use]},
            "byDomain": {"totalCount": 4, "edges": [{"node": node} for node in by_domain]},
        },
        "dataset": {"title": TITLE, "owner": {"type": "ORGANIZATION", "id": "org1"}},
    }


def _same_day(run: ProxyRun) -> None:
    # Lines without a time (the Data Fair file) count on the day they are received.
    if datetime.now(UTC).date() != run.day:
        pytest.skip("midnight (UTC) passed since nginx logged the requests")


async def test_counts_the_named_json_log(client: httpx.AsyncClient, proxy_run: ProxyRun) -> None:
    _same_day(proxy_run)
    lines = proxy_run.named_log.splitlines()
    assert len(lines) == 10
    assert await ingest_text(client, lines) == {
        "accepted": 8,
        "ignored": 2,  # the untracked description and the path without X-Operation
        "ignored_by_reason": {**NOT_TRACKED, "not_tracked": 2},
        "rejected": [],
        "rejected_count": 0,
        "duplicate": False,
    }
    await assert_figures(client, proxy_run)


async def test_counts_the_data_fair_log_file(
    client: httpx.AsyncClient, proxy_run: ProxyRun
) -> None:
    _same_day(proxy_run)
    lines = proxy_run.data_fair_log.splitlines()
    assert len(lines) == 9  # `if=$upstream_http_x_operation` left out the path without it
    assert all(line.startswith(f'["{HOST}",') for line in lines)
    assert await ingest_text(client, lines) == {
        "accepted": 8,
        "ignored": 1,
        "ignored_by_reason": NOT_TRACKED,
        "rejected": [],
        "rejected_count": 0,
        "duplicate": False,
    }
    await assert_figures(client, proxy_run)


async def test_counts_the_data_fair_syslog_datagrams(
    client: httpx.AsyncClient, proxy_run: ProxyRun
) -> None:
    _same_day(proxy_run)
    datagrams = proxy_run.datagrams
    assert len(datagrams) == 9
    syslog_date = f"{proxy_run.day:%b} {proxy_run.day.day:>2}"
    for datagram in datagrams:
        header = SYSLOG_HEADER.match(datagram)
        assert header is not None and header["date"] == syslog_date, datagram
        assert "\n" not in datagram
    # One datagram, one line: the same body a syslog receiver would post.
    assert await ingest_text(client, datagrams) == {
        "accepted": 8,
        "ignored": 1,
        "ignored_by_reason": NOT_TRACKED,
        "rejected": [],
        "rejected_count": 0,
        "duplicate": False,
    }
    await assert_figures(client, proxy_run)
