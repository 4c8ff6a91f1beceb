"""Host names and calling domains: one spelling for each, and the values we reserve."""

from __future__ import annotations

from ipaddress import IPv6Address

NO_DOMAIN = "none"  # the line had neither Referer nor Origin
INVALID_DOMAIN = "invalid"  # it had one, but no host name we can count
# The host was an IP address: counted under this key, never kept (docs/security.md).
IP_DOMAIN = "ip"
# Where the domain cap (app/ingest/domain_cap.py) counts a dataset's domains past its limit.
OTHER_DOMAIN = "other"
# Our own values: a host spelled like one of them (http://other/, ?referer=none) would be
# counted with them, so it counts as invalid instead.
RESERVED_DOMAINS = frozenset({NO_DOMAIN, INVALID_DOMAIN, OTHER_DOMAIN, IP_DOMAIN})
_HEX_DIGITS = frozenset("0123456789abcdef")
# A part longer than this is out of any IPv4 range; not converted (Python refuses to convert a
# decimal string past 4 300 digits, and it need not be).
_LONGEST_PART = 40


def host_name(host: str) -> str:
    """`Portal.Example:443` -> `portal.example` (IPv6 literals keep their brackets' content)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_ip_literal(host: str) -> bool:
    """Whether a host is an IP address in any spelling a browser reads as one: IPv6 with or
    without brackets (a zone id too), and IPv4 as the URL standard parses it, which takes
    `0x7f.1`, `2130706433` and `0177.0.0.1` besides `127.0.0.1` (WHATWG URL, IPv4 parser)."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            IPv6Address(host)
        except ValueError:
            return False
        return True
    return _ipv4_value(host) is not None


def ends_in_a_number(host: str) -> bool:
    """Whether the URL standard takes `host` for an IPv4 address, valid or not: its last label
    is a number (`1.2.3.4.5`, `example.0x1`); such a host is never a domain name."""
    labels = host.lower().split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    last = labels[-1]
    return (last.isascii() and last.isdigit()) or _ipv4_number(last) is not None


def _ipv4_value(host: str) -> int | None:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()  # `127.0.0.1.` is `127.0.0.1`
    if len(parts) > 4:
        return None
    numbers = [_ipv4_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    *head, last = [number for number in numbers if number is not None]
    if any(number > 255 for number in head) or last >= 256 ** (5 - len(parts)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number * 256 ** (3 - index)
    return value


def _ipv4_number(part: str) -> int | None:
    """One part of an IPv4 host as the URL standard reads it: decimal, 0x hex or 0 octal."""
    if not part or not part.isascii():
        return None
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
        if not digits:
            return 0
        valid = set(digits.lower()) <= _HEX_DIGITS
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
        valid = set(digits) <= set("01234567")
    else:
        digits, base = part, 10
        valid = digits.isdigit()
    if not valid:
        return None
    return int(digits, base) if len(digits) <= _LONGEST_PART else 1 << 128


def readable_domain(domain: str) -> str:
    """An internationalised domain in one form, the readable one: a browser may send
    `xn--caf-dma.example` where another sends `café.example`; both count as `café.example`."""
    if "xn--" not in domain:
        return domain
    try:
        return domain.encode("ascii").decode("idna").lower()
    except UnicodeError:
        return domain  # not valid punycode: kept as it came
