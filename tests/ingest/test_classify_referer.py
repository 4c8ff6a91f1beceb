"""Calling domain, consumer category and portal app (docs/classification.md), from the Referer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.core.records import LogRecord, Operation, Owner, Resource, UsageKey
from app.ingest.classify import Classifier
from app.ingest.formats import ParseContext, parse_entry, parse_line
from app.ingest.route_rules import DEFAULT_RULES, route_matcher

CONTEXT = ParseContext(
    ZoneInfo("UTC"), datetime(2024, 1, 8, 12, tzinfo=UTC), route_matcher(DEFAULT_RULES)
)
ORG1 = Owner("organization", "org1")
RECORD = LogRecord(
    day=date(2024, 1, 8),
    host="portal.example",
    referer="",
    user_agent="",
    status=200,
    bytes=1000,
    duration_ms=10,
    owner=ORG1,
    owner_name=None,
    resource=Resource("datasets", "roads", "Roads"),
    operation=Operation.API,
    id_token="",
    api_key="",
)
PORTAL = "https://portal.example"
EMBED = f"{PORTAL}/data-fair/embed/dataset/roads/table"
NONE = ("none", "none", "")
INVALID = ("invalid", "invalid", "")
IP = ("ip", "ip", "")


def _referer_of(record: LogRecord, portal_hosts: frozenset[str] = frozenset()) -> tuple[str, ...]:
    key = Classifier(portal_hosts).classify(record)
    assert isinstance(key, UsageKey)
    return (key.referer_domain, key.referer_category, key.referer_app)


@pytest.mark.parametrize(
    ("referer", "expected"),
    [
        pytest.param("", NONE, id="no-referer"),
        pytest.param("https://blog.example/post?id=3&utm_source=x",
                     ("blog.example", "external", ""), id="external-with-query"),
        pytest.param("https://Blog.Example:8443/post", ("blog.example", "external", ""),
                     id="external-case-and-port"),
        pytest.param("https://client.example", ("client.example", "external", ""),
                     id="external-origin-no-path"),
        pytest.param("https://café.example/carte", ("café.example", "external", ""),
                     id="international-domain"),
        pytest.param("https://XN--CAF-DMA.example/carte", ("café.example", "external", ""),
                     id="international-domain-in-punycode"),
        pytest.param("https://xn--zz.example/", INVALID, id="bad-punycode-invalid"),
        pytest.param(f"{EMBED}?referer=client.example", ("client.example", "embed", ""),
                     id="embed-referer-host"),
        pytest.param(f"{EMBED}?referer=https://client.example:8443/page",
                     ("client.example", "embed", ""), id="embed-referer-url"),
        pytest.param(f"{EMBED}?referer=https%3A%2F%2Fclient.example%3A8443%2Fpage",
                     ("client.example", "embed", ""), id="embed-referer-url-encoded"),
        pytest.param(f"{EMBED}?size=20&referer=Client.Example:8443",
                     ("client.example", "embed", ""), id="embed-referer-host-case-and-port"),
        pytest.param(EMBED, ("portal.example", "embed", ""), id="embed-without-override"),
        pytest.param(f"{PORTAL}/data-fair/app/my-app/x", ("portal.example", "app", "my-app"),
                     id="portal-app"),
        pytest.param(f"{PORTAL}/data-fair/app/my-app?referer=client.example",
                     ("client.example", "app", "my-app"), id="embedded-portal-app"),
        pytest.param(f"{PORTAL}/data-fair/datasets", ("portal.example", "backoffice", ""),
                     id="backoffice"),
        pytest.param(f"{PORTAL}/mcp", ("portal.example", "mcp", ""), id="mcp"),
        pytest.param(f"{PORTAL}/datasets/roads", ("portal.example", "portal", ""), id="portal"),
        pytest.param(f"{PORTAL}/", ("portal.example", "portal", ""), id="portal-home"),
        pytest.param("https://client.example/data-fair/app/x", ("client.example", "external", ""),
                     id="external-with-portal-like-path"),
        pytest.param("https://client.example/mcp", ("client.example", "external", ""),
                     id="external-mcp-path"),
        pytest.param("not a url", INVALID, id="not-a-url"),
        pytest.param("//portal.example/datasets", INVALID, id="no-scheme"),
        pytest.param("http://[2001:db8::1", INVALID, id="unclosed-ipv6"),
        pytest.param("http://198.51.100.23/", IP, id="ipv4"),
        pytest.param("http://[2001:db8::1]:8080/page", IP, id="ipv6-with-port"),
        pytest.param("http://0xc6336417/", IP, id="ipv4-as-one-hex-number"),
        pytest.param("http://198.51.100.23.:80/", IP, id="ipv4-trailing-dot"),
        pytest.param(f"{EMBED}?referer=198.51.100.23", ("ip", "embed", ""), id="embed-ipv4"),
        pytest.param(f"{EMBED}?referer=http://[2001:db8::1]:8080/x", ("ip", "embed", ""),
                     id="embed-ipv6-url"),
        pytest.param(f"{EMBED}?referer=[2001:db8::1]:8080", ("ip", "embed", ""),
                     id="embed-ipv6-host"),
        pytest.param("https://client.example/map?referer=198.51.100.23",
                     ("ip", "external", ""), id="external-page-naming-an-address"),
        pytest.param("http://198.51.100.23/map?referer=client.example",
                     ("client.example", "ip", ""), id="address-page-naming-a-domain"),
        pytest.param("http://1.2.3.4.5/", INVALID, id="five-numbers"),
        pytest.param("http://example.0x1/", INVALID, id="ends-in-a-number"),
        pytest.param("http://ip/", INVALID, id="host-spelled-like-the-ip-key"),
        pytest.param(f"{EMBED}?referer=ip", INVALID, id="embed-spelled-like-the-ip-key"),
    ],
)  # fmt: skip
def test_reads_calling_domain_category_and_app(referer: str, expected: tuple[str, ...]) -> None:
    assert _referer_of(RECORD._replace(referer=referer)) == expected


@pytest.mark.parametrize(
    ("host", "referer", "portal_hosts", "expected"),
    [
        pytest.param("portal.example", "https://www.portal.example/datasets/roads",
                     frozenset({"www.portal.example"}), ("www.portal.example", "portal", ""),
                     id="portal-host-alias"),
        pytest.param("portal.example", "https://www.portal.example/data-fair/app/a1",
                     frozenset({"www.portal.example"}), ("www.portal.example", "app", "a1"),
                     id="portal-host-alias-app"),
        pytest.param("Portal.Example:443", f"{PORTAL}/datasets/roads", frozenset(),
                     ("portal.example", "portal", ""), id="request-host-case-and-port"),
        pytest.param("portal.example", "https://PORTAL.example:443/data-fair/datasets",
                     frozenset(), ("portal.example", "backoffice", ""),
                     id="referer-host-case-and-port"),
        pytest.param("", f"{PORTAL}/datasets/roads", frozenset(),
                     ("portal.example", "external", ""), id="no-request-host"),
        pytest.param("", f"{PORTAL}/datasets/roads", frozenset({"portal.example"}),
                     ("portal.example", "portal", ""), id="no-request-host-portal-host"),
        pytest.param("other.example", f"{PORTAL}/datasets/roads", frozenset(),
                     ("portal.example", "external", ""), id="other-request-host"),
        pytest.param("198.51.100.23", "http://198.51.100.23/data-fair/app/a1", frozenset(),
                     ("ip", "app", "a1"), id="portal-reached-by-its-address"),
        pytest.param("portal.example", "http://[2001:db8::1]/datasets/roads",
                     frozenset({"2001:db8::1"}), ("ip", "portal", ""),
                     id="portal-address-in-portal-hosts"),
    ],
)  # fmt: skip
def test_compares_referer_host_with_request_and_portal_hosts(
    host: str, referer: str, portal_hosts: frozenset[str], expected: tuple[str, ...]
) -> None:
    assert _referer_of(RECORD._replace(host=host, referer=referer), portal_hosts) == expected


@pytest.mark.parametrize(
    ("referer", "origin", "expected"),
    [
        pytest.param("", "https://client.example", ("client.example", "external", ""),
                     id="origin-only"),
        pytest.param("", f"{PORTAL}", ("portal.example", "portal", ""), id="portal-origin"),
        pytest.param("https://blog.example/a", "https://client.example",
                     ("blog.example", "external", ""), id="referer-wins"),
        pytest.param("", "", NONE, id="neither"),
    ],
)  # fmt: skip
def test_falls_back_to_origin_in_named_format(
    referer: str, origin: str, expected: tuple[str, ...]
) -> None:
    fields = {
        "host": "portal.example",
        "status": 200,
        "referer": referer,
        "origin": origin,
        "owner": {"type": "organization", "id": "org1"},
        "resource": {"type": "datasets", "id": "roads"},
        "operation": {"track": "readDataAPI"},
    }
    assert _referer_of(parse_entry(fields, CONTEXT)) == expected


@pytest.mark.parametrize(
    ("referer", "portal_hosts", "expected"),
    [
        pytest.param(f"{PORTAL}/datasets/roads", frozenset(), ("portal.example", "external", ""),
                     id="portal-page-without-host"),
        pytest.param(f"{PORTAL}/datasets/roads", frozenset({"portal.example"}),
                     ("portal.example", "portal", ""), id="portal-page-in-portal-hosts"),
        pytest.param("-", frozenset(), NONE, id="dash-is-no-referer"),
    ],
)  # fmt: skip
def test_categorises_combined_line_without_host(
    referer: str, portal_hosts: frozenset[str], expected: tuple[str, ...]
) -> None:
    line = (
        '192.0.2.10 - - [08/Jan/2024:10:00:00 +0000] "GET /data-fair/api/v1/datasets/roads/lines '
        f'HTTP/1.1" 200 512 "{referer}" "curl/8.5.0"'
    )
    record = parse_line(line, CONTEXT)._replace(owner=ORG1)  # route-rule owners are looked up later
    assert _referer_of(record, portal_hosts) == expected
