"""Finding 7: slow clients. 20 connections sending unfinished heads, and bodies trickling into
/graphql (no token needed), stayed open 90 s: uvicorn bounds neither. Now the Procfile's server
(`usage-metrics serve`) cuts a head or a body past its deadline with a 408, and answers 503 past
USAGE_METRICS_MAX_CONNECTIONS open connections.

The deadlines here are 1 and 2 s; each test asserts that the cut happens, bounded by a minute that
only a server without the deadline reaches, never how soon: the machine may be busy.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.config import load_settings
from app.errors import ConfigError
from tests.helpers import INGEST_TOKEN, dataset, line_on, ndjson
from tests.server_processes import api_calls, procfile_server, wait_until

CUT_WITHIN_S = 60.0  # a bound for a broken deadline only; the cuts take 1 or 2 s
HEAD_TIMEOUT = {
    "error": "REQUEST_TIMEOUT",
    "detail": "the request head did not arrive within 1 s (the server's "
    "USAGE_METRICS_HEADER_TIMEOUT)",
}
BODY_TIMEOUT = {
    "error": "REQUEST_TIMEOUT",
    "detail": "the request body did not arrive within 2 s of its head (the server's "
    "USAGE_METRICS_BODY_TIMEOUT)",
}
UNFINISHED_HEAD = b"POST /graphql HTTP/1.1\r\nHost: x\r\n"
TYPENAME = b'{"query": "{ __typename }"}'


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Procfile's server with a 1 s head deadline and a 2 s body deadline."""
    settings = {
        "USAGE_METRICS_HEADER_TIMEOUT": "1",
        "USAGE_METRICS_BODY_TIMEOUT": "2",
        "USAGE_METRICS_FOLD_INTERVAL": "0",  # a batch counts in its request
    }
    with procfile_server(tmp_path_factory.mktemp("quick"), **settings) as base:
        yield base


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Procfile's server with a 1 s head deadline, a minute for bodies, 3 connections."""
    settings = {
        "USAGE_METRICS_HEADER_TIMEOUT": "1",
        "USAGE_METRICS_BODY_TIMEOUT": "60",
        "USAGE_METRICS_MAX_CONNECTIONS": "3",
    }
    with procfile_server(tmp_path_factory.mktemp("patient"), **settings) as base:
        yield base


def test_unfinished_heads_are_cut_while_healthz_answers(quick: str) -> None:
    sockets = [_connect(quick) for _ in range(20)]
    try:
        for sock in sockets:
            sock.sendall(UNFINISHED_HEAD)  # the attack: and nothing more
        assert httpx.get(f"{quick}/healthz", timeout=CUT_WITHIN_S).status_code == 200
        deadline = time.monotonic() + CUT_WITHIN_S
        answers = [_until_closed(sock, deadline) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    # Each closed by the server, with a 408; or without a word if it had not read the bytes yet
    # when the deadline passed (a busy machine).
    refusals = [_refusal(answer) for answer in answers if answer]
    assert refusals == [(408, HEAD_TIMEOUT)] * len(refusals)


def test_a_kept_alive_connections_next_head_is_cut(quick: str) -> None:
    with _connect(quick) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += sock.recv(65536)
        # The next head starts after the answer: uvicorn's keep-alive timeout stops at its
        # first byte, and nothing bounded the rest.
        sock.sendall(UNFINISHED_HEAD)
        answer = _until_closed(sock, time.monotonic() + CUT_WITHIN_S)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert _refusal(answer) == (408, HEAD_TIMEOUT)


def test_a_trickling_body_is_cut_with_a_408(quick: str) -> None:
    head = b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with _connect(quick) as sock:
        answer = _trickle(sock, head, b" " * 1000, piece=3)
    assert _refusal(answer) == (408, BODY_TIMEOUT)


def test_a_body_trickling_on_after_an_early_answer_is_cut(quick: str) -> None:
    # /ingest answers 401 before reading the body; the client goes on trickling it, which kept
    # stopping uvicorn's keep-alive timeout.
    head = b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
    with _connect(quick) as sock:
        answer = _trickle(sock, head, b"x" * 1000, piece=3, past_an_answer=True)
    assert answer.startswith(b"HTTP/1.1 401 Unauthorized\r\n")


def test_a_batch_cut_off_counts_nothing(quick: str) -> None:
    batch = ndjson(*[line_on("2024-01-09", resource=dataset("slow-batch")) for _ in range(30)])
    head = (
        b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
        b"Authorization: Bearer " + INGEST_TOKEN.encode() + b"\r\n"
    )
    with _connect(quick) as sock:
        answer = _trickle(sock, head, batch, piece=50)
    assert _refusal(answer) == (408, BODY_TIMEOUT)
    assert api_calls(quick, "slow-batch") == 0
    whole = httpx.post(
        f"{quick}/ingest",
        content=batch,
        headers={"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/x-ndjson"},
        timeout=CUT_WITHIN_S,
    )
    assert whole.json()["accepted"] == 30
    assert api_calls(quick, "slow-batch") == 30


def test_a_body_sent_in_two_parts_gets_its_answer(patient: str) -> None:
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(TYPENAME)
    )
    with _connect(patient) as sock:
        sock.sendall(head + TYPENAME[:10])
        time.sleep(1.5)  # longer than the head's deadline: it stopped once the head was whole
        sock.sendall(TYPENAME[10:])
        answer = _until_closed(sock, time.monotonic() + CUT_WITHIN_S)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"data": {"__typename": "Query"}}


def test_past_the_connection_limit_a_request_gets_503(patient: str) -> None:
    assert _healthz(patient) == 200
    # uvicorn counts the asking connection too: two held open, and the probe's is the third.
    holders = _held_requests(patient, 2)
    try:
        wait_until(lambda: _healthz(patient) == 503, "a 503 past the limit", CUT_WITHIN_S)
    finally:
        for sock in holders:
            sock.close()
    wait_until(lambda: _healthz(patient) == 200, "the connections to free", CUT_WITHIN_S)


def test_the_deadlines_come_from_the_environment() -> None:
    settings = load_settings(
        {"USAGE_METRICS_HEADER_TIMEOUT": "2.5", "USAGE_METRICS_BODY_TIMEOUT": "120"}
    )
    assert (settings.header_timeout_s, settings.body_timeout_s) == (2.5, 120.0)
    assert (load_settings({}).header_timeout_s, load_settings({}).body_timeout_s) == (10.0, 60.0)
    for value in ("0", "-1", "soon", "3601", "nan"):
        with pytest.raises(ConfigError, match=f"USAGE_METRICS_BODY_TIMEOUT='{value}'"):
            load_settings({"USAGE_METRICS_BODY_TIMEOUT": value})


def _connect(base: str) -> socket.socket:
    url = httpx.URL(base)
    assert url.port is not None
    return socket.create_connection((url.host, url.port), timeout=CUT_WITHIN_S)


def _healthz(base: str) -> int:
    return httpx.get(f"{base}/healthz", timeout=CUT_WITHIN_S).status_code


def _held_requests(base: str, count: int) -> list[socket.socket]:
    """`count` connections whose requests the app is serving, waiting for their bodies."""
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n"
    )
    deadline = time.monotonic() + CUT_WITHIN_S
    while True:
        holders = [_connect(base) for _ in range(count)]
        for sock in holders:
            sock.sendall(head)
        # uvicorn says "continue" once the app asks for the body: then the request is in. A
        # 503 instead means the server had not yet seen an earlier connection close: again.
        if all(sock.recv(1024).startswith(b"HTTP/1.1 100 ") for sock in holders):
            return holders
        for sock in holders:
            sock.close()
        assert time.monotonic() < deadline, f"no {count} requests in within {CUT_WITHIN_S:g} s"


def _until_closed(sock: socket.socket, deadline: float) -> bytes:
    """All the server sends until it closes the connection, which it must do by `deadline`."""
    received = b""
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        except TimeoutError:
            pytest.fail(f"the server still held the connection after {CUT_WITHIN_S:g} s")
        if not chunk:
            return received
        received += chunk


def _trickle(
    sock: socket.socket, head: bytes, body: bytes, piece: int, past_an_answer: bool = False
) -> bytes:
    """Sends `head` and then `body` a `piece` every 0.3 s until the server answers (or, past an
    answer, closes); what it sent, once it closed the connection. The whole body would take
    longer than CUT_WITHIN_S."""
    assert len(body) / piece * 0.3 > CUT_WITHIN_S
    deadline = time.monotonic() + CUT_WITHIN_S
    sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body))
    for start in range(0, len(body), piece):
        if past_an_answer:
            time.sleep(0.3)
        elif select.select([sock], [], [], 0.3)[0]:
            break
        if time.monotonic() > deadline:
            break
        try:
            sock.sendall(body[start : start + piece])
        except (BrokenPipeError, ConnectionResetError):
            break  # closed between two pieces: its answer, if any, waits to be read
    return _until_closed(sock, deadline)


def _refusal(answer: bytes) -> tuple[int, Any]:
    """An answer's status and its JSON body."""
    assert answer, "the server closed the connection without an answer"
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)
