"""The server's log: JSON lines only, and none carries an IP, a token, a user id or a raw line.

The scan runs a real `usage-metrics serve` with USAGE_METRICS_LOG_FORMAT=json at DEBUG level,
sends it everything that could leak, and reads back every line it wrote.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from app.auth.tokens import hash_token
from app.observability.logs import JsonFormatter
from tests.helpers import csrf_token, ndjson
from tests.ingest.test_privacy import (
    API_KEY,
    API_KEY_SECRET,
    BEARER,
    EMAIL,
    PATH,
    PERSONAL_VALUES,
    QUERY,
    SESSION,
    USER_AGENT,
    USER_ID,
    personal_lines,
    vector_event,
)

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "log-scan-admin-token-0c5d"
INGEST_TOKEN = "log-scan-ingest-token-b19e"
METRICS_TOKEN = "log-scan-metrics-token-4a42"
WRONG_TOKEN = "um_log-scan-wrong-token-e8f1"
SIGN_IN_GUESS = "um_log-scan-guessed-token-73d9"
CLIENT_IP = "192.0.2.99"  # the proxy's X-Forwarded-For: what uvicorn takes as the client
FORBIDDEN = [
    *PERSONAL_VALUES,
    ADMIN_TOKEN,
    INGEST_TOKEN,
    METRICS_TOKEN,
    WRONG_TOKEN,
    SIGN_IN_GUESS,
    # Tokens the server knows are matched in memory: not even their hashes reach the SQL log.
    *(hash_token(token) for token in (ADMIN_TOKEN, INGEST_TOKEN, METRICS_TOKEN)),
]


def test_formats_a_record_as_one_json_object_with_safe_fields_only() -> None:
    record = logging.LogRecord(
        "app.ingest.endpoint", logging.INFO, __file__, 1, "batch %s", ("counted",), None
    )
    record.__dict__.update(accepted=3, seconds=0.012, client="192.0.2.1", token="secret")
    entry = json.loads(JsonFormatter().format(record))
    assert set(entry) == {"time", "level", "logger", "message", "accepted", "seconds"}
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "INFO", "app.ingest.endpoint", "batch counted",
    )  # fmt: skip
    assert (entry["accepted"], entry["seconds"]) == (3, 0.012)
    assert entry["time"].endswith("+00:00")


def test_keeps_an_exception_inside_its_json_line() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: broken")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


SERVE = [sys.executable, "-m", "app.cli", "serve", "--port"]
# uvicorn run on app.main:app directly, without --no-access-log: the access log must stay off
# all the same.
UVICORN = [sys.executable, "-m", "uvicorn", "app.main:app", "--port"]


@contextmanager
def _json_server(
    tmp_path: Path, command: list[str] = SERVE, level: str = "debug"
) -> Iterator[tuple[str, Path]]:
    """A server logging JSON from `level` on; its base URL and the file of its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    env.update(
        USAGE_METRICS_DATABASE_URL=f"sqlite://{tmp_path / 'metrics.sqlite3'}",
        USAGE_METRICS_FOLD_INTERVAL="0",
        USAGE_METRICS_ADMIN_TOKEN=ADMIN_TOKEN,
        USAGE_METRICS_INGEST_TOKEN=INGEST_TOKEN,
        USAGE_METRICS_METRICS_TOKEN=METRICS_TOKEN,
        USAGE_METRICS_SECRET_KEY="log-scan-secret-key",
        USAGE_METRICS_LOG_FORMAT="json",
        USAGE_METRICS_LOG_LEVEL=level,
    )
    port = _free_port()
    output = tmp_path / "server.log"
    command = [*command, str(port)]
    with output.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=sink, stderr=sink)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, process)
            yield base, output
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server stopped"
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer /healthz within 30 s")


def _send_everything(http: httpx.Client) -> None:
    """Batches full of personal data, bad lines, bad tokens, GraphQL errors, a failed sign-in."""
    text = {"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "text/plain"}
    body = "\n".join(personal_lines()).encode()
    for key in ("scan-1", "scan-1"):  # the second is a replay
        answer = http.post("/ingest", content=body, headers={**text, "Idempotency-Key": key})
        assert answer.status_code == 200, answer.text
    events = ndjson(*(vector_event(line) for line in personal_lines()))
    nd = {**text, "Content-Type": "application/x-ndjson"}
    assert http.post("/ingest", content=events, headers=nd).status_code == 200
    wrong = {**text, "Authorization": f"Bearer {WRONG_TOKEN}"}
    assert http.post("/ingest", content=body, headers=wrong).status_code == 401
    basic = {**text, "Authorization": f"Basic {API_KEY}"}
    assert (
        http.post(f"/ingest?access_token={BEARER}", content=body, headers=basic).status_code == 401
    )
    assert (
        http.post("/ingest", content=body, headers={**text, "Content-Type": EMAIL}).status_code
        == 415
    )
    query = (
        "query($day: Date!) { usage(period: {start: $day, end: $day}) { apiCalls { current } } }"
    )
    graphql = [
        ({"query": query, "variables": {"day": EMAIL}}, ADMIN_TOKEN),  # a bad variable
        ({"query": "{ datasets { totalCount } }"}, WRONG_TOKEN),  # unauthenticated
        ({"query": f'{{ dataset(id: "{SESSION}") {{ id }} }}'}, INGEST_TOKEN),  # forbidden
        ({"query": f"{{ {API_KEY_SECRET} }}"}, ADMIN_TOKEN),  # no such field
    ]
    for payload, token in graphql:
        answer = http.post("/graphql", json=payload, headers={"Authorization": f"Bearer {token}"})
        assert answer.json()["errors"], answer.text
    form = http.get("/admin/login")
    failed = http.post(
        "/admin/login", data={"token": SIGN_IN_GUESS, "csrf_token": csrf_token(form.text)}
    )
    assert failed.status_code == 401
    assert http.get(f"/dashboard/datasets/{USER_ID}?email={EMAIL}").status_code == 303
    assert http.get(f"{PATH}?{QUERY}").status_code == 404
    metrics = http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200
    assert (
        http.get("/metrics", headers={"Authorization": f"Bearer {WRONG_TOKEN}"}).status_code == 401
    )
    assert http.get("/readyz").status_code == 200


def _json_entries(output: Path) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(output.read_text(encoding="utf-8").splitlines(), start=1):
        entry = json.loads(line)  # every line, uvicorn's too, is JSON
        assert {"time", "level", "logger", "message"} <= set(entry), f"line {number}: {line}"
        entries.append(entry)
    return entries


def test_uvicorn_run_directly_logs_json_lines_without_access_log(tmp_path: Path) -> None:
    with _json_server(tmp_path, UVICORN, level="info") as (base, output):
        headers = {"X-Forwarded-For": CLIENT_IP}
        assert httpx.get(f"{base}{PATH}?{QUERY}", headers=headers).status_code == 404
    entries = _json_entries(output)
    messages = [(e["level"], e["logger"], e["message"]) for e in entries]
    assert ("INFO", "uvicorn.error", "Application startup complete.") in messages
    assert not [m for m in messages if m[0] == "DEBUG"]
    assert not [m for m in messages if m[1] == "uvicorn.access"]
    assert CLIENT_IP not in output.read_text(encoding="utf-8")


def test_server_log_is_json_lines_without_personal_data(tmp_path: Path) -> None:
    with _json_server(tmp_path) as (base, output):
        headers = {"X-Forwarded-For": CLIENT_IP, "User-Agent": USER_AGENT}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            _send_everything(http)
    text = output.read_text(encoding="utf-8")
    entries = _json_entries(output)
    messages = [(e["logger"], e["message"]) for e in entries]
    assert ("uvicorn.error", "Application startup complete.") in messages
    assert any(m.startswith("Finished server process") for _, m in messages)  # after SIGTERM
    # DEBUG was on (the privacy lines now carry two e-mail referers: 7 counted): our count of
    # each batch was logged, the ORM's statements (with their values)
    # were not.
    assert not any(logger.startswith("tortoise") for logger, _ in messages)
    counted = [e for e in entries if e["message"] == "batch counted"]
    assert [(e["accepted"], e["rejected"]) for e in counted] == [(7, 2), (7, 2)]
    found = [value for value in FORBIDDEN if value.lower() in text.lower()]
    assert found == [], f"the server log keeps {found}"
