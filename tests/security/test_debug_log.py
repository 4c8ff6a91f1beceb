"""Finding 9: at USAGE_METRICS_LOG_LEVEL=DEBUG the database driver's logger printed every
statement with its bound values: token sha256s and Idempotency-Keys. Reproduced on a real
server, as the review ran it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.helpers import ADMIN_TOKEN, NDJSON, line_on, ndjson
from tests.server_processes import free_port, server_log, start_server, stop_server, wait_until

pytestmark = pytest.mark.anyio

KEY = "canary-idempotency-key-5f3a"


def test_the_debug_log_holds_no_bound_values(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "server.log"
    url = f"sqlite://{tmp_path / 'metrics.sqlite3'}"
    process = start_server(url, port, log, USAGE_METRICS_LOG_LEVEL="DEBUG")
    base = f"http://127.0.0.1:{port}"
    try:

        def is_up() -> bool:
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return process.poll() is not None

        wait_until(is_up, "the server to answer")
        headers = {**NDJSON, "Idempotency-Key": KEY}
        answer = httpx.post(
            f"{base}/ingest", content=ndjson(line_on("2024-01-08")), headers=headers
        )
        assert answer.status_code == 200, answer.text
        usage = httpx.post(
            f"{base}/graphql",
            json={"query": "{ datasets { totalCount } }"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert usage.status_code == 200
    finally:
        stop_server(process)
    text = server_log(log)
    assert " DEBUG " in text or '"DEBUG"' in text  # the level was on
    assert KEY not in text
    assert hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest() not in text
