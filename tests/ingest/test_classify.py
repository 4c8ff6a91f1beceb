"""User groups, operations and ignored lines (docs/classification.md): Classifier and its rules."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.records import (
    Ignored,
    LogRecord,
    Operation,
    Owner,
    Resource,
    UsageKey,
    UserGroup,
)
from app.ingest.classify import (
    Classifier,
    Session,
    api_key_account,
    is_bot,
    session_of,
    status_class,
    user_group,
)
from app.ingest.formats import ParseContext, parse_entry
from app.ingest.route_rules import route_matcher
from tests.helpers import api_key, data_fair_line, id_token

DAY = date(2024, 1, 8)
CONTEXT = ParseContext(ZoneInfo("UTC"), datetime(2024, 1, 8, 12, tzinfo=UTC), route_matcher([]))
ALICE = Owner("user", "alice")
ORG1 = Owner("organization", "org1")
ROADS = Resource("datasets", "roads", "Roads")
RECORD = LogRecord(
    day=DAY,
    host="portal.example",
    referer="",
    user_agent="",
    status=200,
    bytes=1000,
    duration_ms=10,
    owner=ORG1,
    owner_name=None,
    resource=ROADS,
    operation=Operation.API,
    id_token="",
    api_key="",
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
CRAWLERS = {
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "gptbot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)",
    "claudebot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
    "+claudebot@anthropic.com)",
    "ahrefsbot": "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
}
HTTP_CLIENTS = [
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Wget/1.21",
    "python-httpx/0.28.1",
    "Java/17.0.2",
    "R (4.3.1 x86_64-pc-linux-gnu x86_64 linux-gnu)",
]
ALICE_SESSION = id_token({"id": "alice", "name": "Alice"})
BOB_IN_ORG1 = id_token({"id": "bob", "organizations": [{"id": "org2"}, {"id": "org1"}]})
BOB_IN_ORG2 = id_token({"id": "bob", "organizations": [{"id": "org2", "role": "admin"}]})
ALICE_KEY = api_key("u:alice:fake-random")
ORG1_KEY = api_key("o:org1:fake-random")
ORG1_DEP_KEY = api_key("o:org1:dep:fake-random")
BOB_KEY = api_key("u:bob:fake-random")
OPAQUE_KEY = "fake-opaque-api-key"


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("user_agent", "key", "token", "owner", "expected"),
    [
        pytest.param("", "", "", ORG1, UserGroup.ANONYMOUS, id="no-credentials"),
        pytest.param(CHROME, "", "", ORG1, UserGroup.ANONYMOUS, id="browser-no-credentials"),
        pytest.param("", "", ALICE_SESSION, ALICE, UserGroup.OWNER, id="owner-user-session"),
        pytest.param("", "", BOB_IN_ORG1, ORG1, UserGroup.OWNER, id="member-of-owner-org"),
        pytest.param("", "", BOB_IN_ORG2, ORG1, UserGroup.EXTERNAL, id="member-of-other-org"),
        pytest.param("", "", ALICE_SESSION, ORG1, UserGroup.EXTERNAL, id="non-member"),
        pytest.param("", "", BOB_IN_ORG1, ALICE, UserGroup.EXTERNAL, id="other-user"),
        pytest.param("", ALICE_KEY, "", ALICE, UserGroup.OWNER_API_KEY, id="owner-user-key"),
        pytest.param("", ORG1_KEY, "", ORG1, UserGroup.OWNER_API_KEY, id="owner-org-key"),
        pytest.param("", ORG1_DEP_KEY, "", ORG1, UserGroup.OWNER_API_KEY, id="owner-dep-key"),
        pytest.param("", BOB_KEY, "", ALICE, UserGroup.EXTERNAL_API_KEY, id="other-user-key"),
        pytest.param("", ORG1_KEY, "", Owner("user", "org1"), UserGroup.EXTERNAL_API_KEY,
                     id="same-id-other-type-key"),
        pytest.param("", ALICE_KEY, "", ORG1, UserGroup.EXTERNAL_API_KEY, id="user-key-org-data"),
        pytest.param("", OPAQUE_KEY, "", ORG1, UserGroup.EXTERNAL_API_KEY, id="opaque-key"),
        pytest.param("", OPAQUE_KEY, BOB_IN_ORG1, ORG1, UserGroup.EXTERNAL_API_KEY,
                     id="key-before-session"),
        pytest.param("", "", "not-a-token", ORG1, UserGroup.ANONYMOUS, id="token-one-part"),
        pytest.param("", "", "eyJhbGciOiJub25lIn0.%%%", ORG1, UserGroup.ANONYMOUS,
                     id="token-payload-not-base64"),
        pytest.param("", "", id_token({"email": "x@example.org"}), ORG1, UserGroup.ANONYMOUS,
                     id="token-payload-without-id"),
        pytest.param("", "", f"{_b64url('{}')}.{_b64url('[1, 2]')}", ORG1, UserGroup.ANONYMOUS,
                     id="token-payload-array"),
        pytest.param(CRAWLERS["googlebot"], ORG1_KEY, BOB_IN_ORG1, ORG1, UserGroup.BOT,
                     id="bot-before-key-and-session"),
        *[
            pytest.param(agent, "", "", ORG1, UserGroup.BOT, id=name)
            for name, agent in CRAWLERS.items()
        ],
        *[
            pytest.param(agent, "", "", ORG1, UserGroup.ANONYMOUS, id=f"{agent[:12]}-anonymous")
            for agent in HTTP_CLIENTS
        ],
        *[
            pytest.param(agent, ORG1_KEY, "", ORG1, UserGroup.OWNER_API_KEY,
                         id=f"{agent[:12]}-owner-key")
            for agent in HTTP_CLIENTS
        ],
        pytest.param("curl/8.5.0", BOB_KEY, "", ORG1, UserGroup.EXTERNAL_API_KEY,
                     id="curl-external-key"),
        pytest.param(CHROME, "", BOB_IN_ORG1, ORG1, UserGroup.OWNER, id="browser-member"),
    ],
)  # fmt: skip
def test_assigns_first_matching_user_group(
    user_agent: str, key: str, token: str, owner: Owner, expected: UserGroup
) -> None:
    assert user_group(user_agent, key, token, owner) == expected
    record = RECORD._replace(user_agent=user_agent, api_key=key, id_token=token, owner=owner)
    key_of_record = Classifier().classify(record)
    assert isinstance(key_of_record, UsageKey)
    assert key_of_record.user_group == expected


@pytest.mark.parametrize("active_account", ["", "org1", "bob"])
def test_counts_member_of_owner_org_as_owner_whatever_active_account(active_account: str) -> None:
    items = data_fair_line(id_token=BOB_IN_ORG1, id_token_org=active_account)
    items[9] = active_account  # X-Account
    outcome = Classifier().classify(parse_entry(items, CONTEXT))
    assert isinstance(outcome, UsageKey)
    assert outcome.user_group == UserGroup.OWNER


@pytest.mark.parametrize("user_agent", list(CRAWLERS.values()))
def test_detects_crawler_as_bot(user_agent: str) -> None:
    assert is_bot(user_agent) is True


@pytest.mark.parametrize("user_agent", [*HTTP_CLIENTS, CHROME])
def test_does_not_count_http_client_or_browser_as_bot(user_agent: str) -> None:
    assert is_bot(user_agent) is False


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(ALICE_KEY, ALICE, id="user"),
        pytest.param(ORG1_KEY, ORG1, id="organization"),
        pytest.param(ORG1_DEP_KEY, ORG1, id="organization-department"),
        pytest.param(api_key("u:alice"), None, id="no-random-part"),
        pytest.param(api_key("x:alice:fake"), None, id="unknown-kind"),
        pytest.param(api_key("u::fake"), None, id="empty-id"),
        pytest.param(OPAQUE_KEY, None, id="opaque"),
        pytest.param("u:alice:fake", None, id="not-base64"),
    ],
)
def test_reads_api_key_account(key: str, expected: Owner | None) -> None:
    assert api_key_account(key) == expected


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        pytest.param(ALICE_SESSION, Session("alice", frozenset()), id="user"),
        pytest.param(BOB_IN_ORG1, Session("bob", frozenset({"org1", "org2"})), id="member"),
        pytest.param(id_token({"id": "bob", "organizations": [{"name": "x"}, "org3"]}),
                     Session("bob", frozenset()), id="malformed-organizations"),
        pytest.param(id_token({"id": 7}), None, id="id-not-string"),
        pytest.param(id_token({"email": "x@example.org"}), None, id="no-id"),
        pytest.param("not-a-token", None, id="one-part"),
        pytest.param("", None, id="empty"),
    ],
)  # fmt: skip
def test_reads_session_from_id_token_payload(token: str, expected: Session | None) -> None:
    assert session_of(token) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [(100, "info"), (199, "info"), (200, "ok"), (299, "ok"), (304, "redirect"),
     (399, "redirect"), (404, "client_error"), (499, "client_error"), (500, "server_error"),
     (599, "server_error")],
)  # fmt: skip
def test_classes_status(status: int, expected: str) -> None:
    assert status_class(status) == expected


@pytest.mark.parametrize(
    ("track", "expected"),
    [
        ("readDataAPI", Operation.API),
        ("readDataFiles", Operation.DOWNLOAD),
        ("openApplication", Operation.APP),
    ],
)
def test_maps_tracked_operation(track: str, expected: Operation) -> None:
    outcome = Classifier().classify(parse_entry(data_fair_line(track=track), CONTEXT))
    assert isinstance(outcome, UsageKey)
    assert outcome.operation == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({"track": None}, Ignored.NOT_TRACKED, id="no-track"),
        pytest.param({"track": "readDataSchema"}, Ignored.NOT_TRACKED, id="untracked-track"),
        pytest.param({"resource": {}}, Ignored.NO_RESOURCE, id="no-resource"),
        pytest.param({"owner": None}, Ignored.NO_OWNER, id="no-owner"),
    ],
)
def test_ignores_line_that_is_not_tracked_usage(changes: dict[str, Any], expected: Ignored) -> None:
    assert Classifier().classify(parse_entry(data_fair_line(**changes), CONTEXT)) == expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            RECORD,
            UsageKey("organization", "org1", DAY, "datasets", "roads", "api", "ok", "ANONYMOUS",
                     "none", "none", ""),
            id="anonymous-api-call",
        ),
        pytest.param(
            RECORD._replace(owner=ALICE, status=404, operation=Operation.DOWNLOAD,
                            api_key=ALICE_KEY, referer="https://client.example/page?x=1"),
            UsageKey("user", "alice", DAY, "datasets", "roads", "download", "client_error",
                     "OWNER_API_KEY", "client.example", "external", ""),
            id="owner-key-download-from-external-site",
        ),
        pytest.param(
            RECORD._replace(resource=Resource("applications", "my-app", None),
                            operation=Operation.APP, id_token=BOB_IN_ORG1, status=304,
                            referer="https://portal.example/data-fair/app/my-app/x"),
            UsageKey("organization", "org1", DAY, "applications", "my-app", "app", "redirect",
                     "OWNER", "portal.example", "app", "my-app"),
            id="member-opens-app-on-portal",
        ),
        pytest.param(
            RECORD._replace(user_agent=CRAWLERS["gptbot"], status=500,
                            referer="https://portal.example/datasets/roads"),
            UsageKey("organization", "org1", DAY, "datasets", "roads", "api", "server_error",
                     "BOT", "portal.example", "portal", ""),
            id="bot-on-portal-page",
        ),
    ],
)  # fmt: skip
def test_classifies_record_into_full_usage_key(record: LogRecord, expected: UsageKey) -> None:
    assert Classifier().classify(record) == expected
