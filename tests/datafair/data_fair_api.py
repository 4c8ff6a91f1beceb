"""A stand-in for Data Fair's dataset list (`GET <base>/api/v1/datasets?owner=...`), a real HTTP
server on 127.0.0.1, honest or hostile per owner, and `usage-metrics owner-names` run against
it as a process."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio

from tests.server_processes import clean_env

BASE_PATH = "/data-fair"  # Data Fair behind the portal, as its base URL usually is
API_KEY = "test-data-fair-api-key"
FAILING = 500  # an owner mapped to this answers HTTP 500
# Hostile answers: a byte every half second for two minutes (a per-read timeout never trips),
# 200 000 nested arrays (400 KB), 2 MiB, a name in Latin-1 (not UTF-8, as JSON must be).
TRICKLE, NESTED, HUGE, LATIN_1 = "trickle", "nested", "huge", "latin-1"
TRICKLE_EVERY_S = 0.5


@dataclass(frozen=True)
class Asked:
    path: str
    query: dict[str, list[str]]
    api_key: str | None


@dataclass
class DataFairApi:
    """`owners` maps "type:id" to the owner object of its first dataset, or FAILING; an owner
    not in it has no dataset. Owners in `private` are shown only with API_KEY."""

    owners: dict[str, dict[str, Any] | int | str] = field(default_factory=dict)
    private: set[str] = field(default_factory=set)
    asked: list[Asked] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str, query: dict[str, list[str]], api_key: str | None) -> Any:
        self.asked.append(Asked(path, query, api_key))
        if path != f"{BASE_PATH}/api/v1/datasets":
            return 404
        owner = query.get("owner", [""])[0]
        found = self.owners.get(owner)
        if owner in self.private and api_key != API_KEY:
            found = None
        if found is None:
            return {"count": 0, "results": []}
        if isinstance(found, int | str):
            return found
        return {"count": 3, "results": [{"id": f"{owner.split(':')[1]}-data", "owner": found}]}


def _body(owner: str, hostile: str) -> bytes:
    if hostile == NESTED:
        return b'{"results": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    if hostile == HUGE:
        return b'{"results": [], "pad": "' + b"x" * (2 << 20) + b'"}'
    kind, _, ident = owner.partition(":")
    found = {"type": kind, "id": ident, "name": "Métropole"}
    return json.dumps({"results": [{"owner": found}]}, ensure_ascii=False).encode("latin-1")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        answer = self.server.api.answer(url.path, query, self.headers["x-apiKey"])
        if answer == TRICKLE:
            self._trickle()
            return
        if isinstance(answer, str):
            data = _body(query["owner"][0], answer)
            status = 200
        elif isinstance(answer, int):
            status, data = answer, b"{}"
        else:
            status, data = 200, json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _trickle(self) -> None:
        body = b'{"results": []}' + b" " * 1000
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for byte in body[:240]:  # two minutes at most
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(TRICKLE_EVERY_S)
        except OSError:
            pass  # the client gave up, as it should

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output stays the command's


class _Server(ThreadingHTTPServer):
    api: DataFairApi


@contextmanager
def data_fair_api() -> Iterator[DataFairApi]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.api = DataFairApi(url=f"http://127.0.0.1:{server.server_address[1]}{BASE_PATH}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass(frozen=True)
class Run:
    status: int
    out: str
    err: str


async def owner_names(database_url: str, cwd: Path, *args: str, **env: str) -> Run:
    """`usage-metrics owner-names ARGS` as a process on the database, API_KEY in DATA_FAIR_KEY;
    it must end within a minute (the stand-in's trickle holds an answer two)."""
    with anyio.fail_after(60):
        done = await anyio.run_process(
            owner_names_command(*args),
            env=owner_names_env(database_url, **env),
            cwd=cwd,
            check=False,
        )
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


def owner_names_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", "owner-names", *args]


def owner_names_env(database_url: str, **env: str) -> dict[str, str]:
    return clean_env(USAGE_METRICS_DATABASE_URL=database_url, DATA_FAIR_KEY=API_KEY, **env)
