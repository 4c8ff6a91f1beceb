"""IP literals in every spelling a browser reads as one, and hosts ending in a number."""

from __future__ import annotations

import pytest

from app.core.hosts import ends_in_a_number, is_ip_literal


@pytest.mark.parametrize(
    "host",
    [
        "198.51.100.23", "198.51.100.23.", "0.0.0.0", "255.255.255.255",  # noqa: S104
        "2001:db8::1", "[2001:db8::1]", "[2001:DB8::1]", "::1", "::ffff:198.51.100.23",
        "fe80::1%eth0",
        # The URL standard's IPv4 forms: what a browser would send to 198.51.100.23 or 127.0.0.1.
        "3325256727", "0xc6336417", "0xC6.0x33.0x64.0x17", "198.51.25623", "198.3368727",
        "0306.063.0144.027", "127.1", "0x7f.1", "0x",
    ],
)  # fmt: skip
def test_reads_an_ip_address_in_every_spelling(host: str) -> None:
    assert is_ip_literal(host)


@pytest.mark.parametrize(
    "host",
    [
        "", "portal.example", "ip", "café.example", "1.2.3.4.5", "256.1.1.1", "198.51.100.256",
        "4294967296", "08.1.1.1", "0x1g.1.1.1", "1..2.3", "2001:db8::1::2", "[2001:db8::1",
        "2001:db8::1]", "example.com:8080", "\u0661\u0662.\u0661.\u0661.\u0661", "1" * 5000,
    ],
)  # fmt: skip
def test_takes_nothing_else_for_an_address(host: str) -> None:
    assert not is_ip_literal(host)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("portal.example", False), ("example.0x1", True), ("1.2.3.4.5", True),
        ("example.123.", True), ("123.example", False), ("example.08", True), ("", False),
        ("example.0x1g", False),
    ],
)  # fmt: skip
def test_tells_a_host_ending_in_a_number(host: str, expected: bool) -> None:
    assert ends_in_a_number(host) is expected
