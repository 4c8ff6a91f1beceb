"""No IP, email, token, user id, user agent or request path reaches a table or the server's log."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from app.auth.tokens import create_token
from tests.helpers import (
    ADMIN_TOKEN,
    INGEST_TOKEN,
    TABLES,
    api_key,
    combined_line,
    data_fair_line,
    id_token,
    named_line,
    ndjson,
    table_rows,
)

pytestmark = pytest.mark.anyio

USER_ID = "u-alice-42"
EMAIL = "alice@example.org"
SESSION = id_token(
    {"id": USER_ID, "email": EMAIL, "name": "Alice Example", "organizations": [{"id": "org9"}]}
)
API_KEY_SECRET = "k3y-s3cr3t-r4nd"
API_KEY = api_key(f"u:{USER_ID}:{API_KEY_SECRET}")
BEARER = "secret-token-123"
REFERER = f"https://reuse.example/page?access_token={BEARER}&email={EMAIL}"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) PrivacyProbe/1.0"
REMOTE_USER = "remote-bob-7"
PATH = "/data-fair/api/v1/datasets/roads/lines"
QUERY = "select=secret-column&q=needle-in-query"
ROADS = {"type": "datasets", "id": "roads", "title": "Roads"}
# E-mail addresses where a host name or an app id belongs (an attack review stored them).
EMAIL_REFERERS = (
    "https://portal.example/data-fair/embed/dataset/roads?referer=canary.embed@victim.example",
    "https://portal.example/data-fair/app/canary.app@victim.example",
)
# What the personal lines carry that must never be stored or logged (a value, or a part of one).
PERSONAL_VALUES = (
    "192.0.2.",
    EMAIL,
    "alice",
    USER_ID,
    SESSION,
    SESSION.split(".")[1][:40],
    API_KEY,
    API_KEY_SECRET,
    BEARER,
    "access_token",
    REMOTE_USER,
    USER_AGENT,
    "PrivacyProbe",
    PATH,
    "/lines",
    QUERY,
    "needle-in-query",
    "canary",
    "victim.example",
)


def personal_lines() -> list[str]:
    named = {
        **named_line(
            uri=f"{PATH}?{QUERY}",
            referer=REFERER,
            user_agent=USER_AGENT,
            id_token=SESSION,
            api_key=API_KEY,
        ),
        "remote_addr": "192.0.2.33",  # unknown keys are read past
        "x_forwarded_for": "192.0.2.44, 192.0.2.45",
    }
    return [
        json.dumps(data_fair_line(referer=REFERER, id_token=SESSION, resource=ROADS)),
        json.dumps(data_fair_line(referer=REFERER, api_key=API_KEY, id_token_org=SESSION)),
        json.dumps(named),
        combined_line(
            f"{PATH}?{QUERY}",
            remote_addr="192.0.2.10",
            remote_user=REMOTE_USER,
            referer=REFERER,
            user_agent=USER_AGENT,
        ),
        "<190>Jan  8 10:00:00 192.0.2.9 nginx: " + json.dumps(data_fair_line(referer=REFERER)),
        *(json.dumps(data_fair_line(referer=referer)) for referer in EMAIL_REFERERS),
        f"GET {PATH}?access_token={BEARER} from 192.0.2.77 by {EMAIL}",  # rejected
        '["192.0.2.78", "' + EMAIL + '", ' + json.dumps(SESSION),  # rejected: broken JSON
    ]


def vector_event(line: str) -> dict[str, str]:
    """A Vector `file` source event: the raw line plus the shipper's own fields."""
    return {"message": line, "host": "192.0.2.5", "file": "/var/log/nginx/access.log"}


async def database_text() -> str:
    texts: list[str] = []
    for table in TABLES:
        for row in await table_rows(table):
            texts.extend(f"{column}={value}" for column, value in row.items())
    return "\n".join(texts)


async def test_keeps_no_personal_data_in_tables_or_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = await create_token("ingest", "privacy-shipper")
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "text/plain",
        "Idempotency-Key": "privacy-batch-1",
    }
    body = "\n".join(personal_lines()).encode()
    # The statements' logger too: a command run in this process (configure_logging) left it at
    # WARNING.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, "tortoise.db_client"):
        first = await client.post("/ingest", content=body, headers=headers)
        replay = await client.post("/ingest", content=body, headers=headers)
        vector = await client.post(
            "/ingest",
            content=ndjson(*(vector_event(line) for line in personal_lines()[2:5])),
            headers={**headers, "Content-Type": "application/x-ndjson", "Idempotency-Key": "v-1"},
        )
    answer = first.json()
    assert (answer["accepted"], answer["ignored"]) == (7, 0)
    assert [r["line"] for r in answer["rejected"]] == [8, 9]
    assert replay.json()["duplicate"] is True
    assert vector.json()["accepted"] == 3

    stored = await database_text()
    assert "INSERT INTO usage_facts" in caplog.text  # the SQL log was captured with its values
    forbidden = [
        *PERSONAL_VALUES,
        token,
        token.removeprefix("um_"),
        ADMIN_TOKEN,
        INGEST_TOKEN,
    ]
    answers = first.text + vector.text
    for where, text in (("tables", stored), ("log", caplog.text), ("answers", answers)):
        found = [value for value in forbidden if value.lower() in text.lower()]
        assert found == [], f"{where} keeps {found}"
    assert "reuse.example" in stored  # the calling domain is what is kept of the referer
