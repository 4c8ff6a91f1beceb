"""Host names and calling domains: one spelling for each, and the values we reserve."""

from __future__ import annotations

NO_DOMAIN = "none"  # the line had neither Referer nor Origin
INVALID_DOMAIN = "invalid"  # it had one, but no host name we can count
# Where the domain cap (app/ingest/domain_cap.py) counts a dataset's domains past its limit.
OTHER_DOMAIN = "other"
# Our own values: a host spelled like one of them (http://other/, ?referer=none) would be
# counted with them, so it counts as invalid instead.
RESERVED_DOMAINS = frozenset({NO_DOMAIN, INVALID_DOMAIN, OTHER_DOMAIN})


def host_name(host: str) -> str:
    """`Portal.Example:443` -> `portal.example` (IPv6 literals keep their brackets' content)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def readable_domain(domain: str) -> str:
    """An internationalised domain in one form, the readable one: a browser may send
    `xn--caf-dma.example` where another sends `café.example`; both count as `café.example`."""
    if "xn--" not in domain:
        return domain
    try:
        return domain.encode("ascii").decode("idna").lower()
    except UnicodeError:
        return domain  # not valid punycode: kept as it came
