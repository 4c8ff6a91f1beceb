"""LogRecord -> UsageKey | Ignored (docs/classification.md). Pure; every costly rule is cached on
raw strings.

This is where personal data ends: the credentials, user agent and referer URL are reduced here to
a user group, a calling domain and a category, and nothing else of them goes further; a line's
consumer (`consumer_of`) is text that the pipeline hashes under the epoch's key at once and
forgets (docs/security.md#distinct-consumers).
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import crawleruseragents
import idna
import orjson

from app.core.hosts import (
    INVALID_DOMAIN,
    IP_DOMAIN,
    NO_DOMAIN,
    RESERVED_DOMAINS,
    ends_in_a_number,
    host_name,
    is_ip_literal,
    readable_domain,
)
from app.core.limits import MAX_DOMAIN_LENGTH, MAX_ID_LENGTH
from app.core.records import Ignored, LogRecord, Owner, Profile, UsageKey, UserGroup

if TYPE_CHECKING:
    from user_agents.parsers import UserAgent

# HTTP libraries and command-line clients are API users, not robots, whatever the crawler lists
# say (crawler-user-agents lists curl and python-requests; user-agents calls Java a bot).
_HTTP_CLIENTS = (
    "curl wget python-requests python-httpx python-urllib python aiohttp httpie libcurl r-curl "
    "httr java apache-httpclient okhttp go-http-client node-fetch node axios undici got "
    "postmanruntime insomnia libwww-perl lwp-request ruby faraday guzzlehttp php dart reqwest "
    "restsharp windowspowershell qgis gdal arcgis microsoft.data.mashup"
)
_HTTP_CLIENT = re.compile(
    r"^(?:r \(|(?:" + "|".join(map(re.escape, _HTTP_CLIENTS.split())) + r")(?=[/\s(;]|$))",
    re.IGNORECASE,
)
# IPv4 as nginx writes it (an octet past 255 is garbage that counts as its own consumer).
_DOTTED_QUAD = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
# A label of a host name as DNS and browsers take it (underscores too, which browsers accept).
_ASCII_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
# Data Fair's ids (nanoid and slugs): an app id with anything else is forged, and may be an
# e-mail address; it counts as INVALID_APP.
_APP_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}")
INVALID_APP = "invalid"
OTHER_APP = "other"  # where the app cap (domain_cap.py) counts a dataset's apps past its limit
# Our own values, never counted towards the app cap; a path spelling one counts as invalid.
RESERVED_APPS = frozenset({"", INVALID_APP, OTHER_APP})
_STATUS_CLASSES = ((200, "info"), (300, "ok"), (400, "redirect"), (500, "client_error"))


class RefererInfo(NamedTuple):
    domain: str
    category: str
    app: str


NO_REFERER = RefererInfo(NO_DOMAIN, "none", "")
INVALID_REFERER = RefererInfo(INVALID_DOMAIN, "invalid", "")


class Session(NamedTuple):
    user_id: str
    organization_ids: frozenset[str]


class Profiles:
    """Interned profiles (a line's classification is an index into `items`), and the caches
    that map raw field strings to those indexes. Replaced whole, never cleared in place, so a
    batch that awaits between its stages keeps indexes that mean what they meant."""

    def __init__(self) -> None:
        self.items: list[Profile] = []
        self._ids: dict[Profile, int] = {}
        self.signatures: dict[Hashable, int | Ignored] = {}
        self.routes: dict[Hashable, int | Ignored] = {}

    def __len__(self) -> int:
        return len(self.items)

    def intern(self, profile: Profile) -> int:
        found = self._ids.get(profile)
        if found is None:
            found = self._ids[profile] = len(self.items)
            self.items.append(profile)
        return found


class Classifier:
    """Classifies records for one configuration; its caches live as long as it does."""

    def __init__(self, portal_hosts: frozenset[str] = frozenset()) -> None:
        self.portal_hosts = portal_hosts
        self.referer_info = functools.lru_cache(maxsize=16384)(self._referer_info)
        self.profiles = Profiles()
        _load_agents()  # now, not in the event loop at the first line parsed

    def forget(self) -> None:
        """Start a new generation of profiles; batches in flight keep the one they started with."""
        self.profiles = Profiles()

    def profile_id(self, record: LogRecord, profiles: Profiles) -> int | Ignored:
        """Classify a record and intern what does not depend on its day and status."""
        outcome = self.classify(record)
        if isinstance(outcome, Ignored):
            return outcome
        assert record.resource is not None
        return profiles.intern(
            Profile(
                outcome.owner_type,
                outcome.owner_id,
                outcome.resource_type,
                outcome.resource_id,
                outcome.operation,
                outcome.user_group,
                outcome.referer_domain,
                outcome.referer_category,
                outcome.referer_app,
                record.resource.title,
                record.owner_name,
            )
        )

    def classify(self, record: LogRecord) -> UsageKey | Ignored:
        operation, resource, owner = record.operation, record.resource, record.owner
        if operation is None:
            return Ignored.NOT_TRACKED
        if resource is None:
            return Ignored.NO_RESOURCE
        if owner is None:
            return Ignored.NO_OWNER
        referer = self.referer_info(record.referer, record.host)
        return UsageKey(
            owner.type,
            owner.id,
            record.day,
            resource.type,
            resource.id,
            operation,
            status_class(record.status),
            user_group(record.user_agent, record.api_key, record.id_token, owner),
            referer.domain,
            referer.category,
            referer.app,
        )

    def _referer_info(self, referer: str, host: str) -> RefererInfo:
        """Calling domain (with the embed `referer` override), consumer category and app."""
        if not referer:
            return NO_REFERER
        try:
            url = urlsplit(referer)
            hostname = url.hostname
        except ValueError:
            return INVALID_REFERER
        # Browsers never send a user name or password in a Referer (RFC 9110, 10.1.3): one
        # that has them was written by hand, and may hold an e-mail address.
        if not url.scheme or not hostname or "@" in url.netloc:
            return INVALID_REFERER
        domain = readable_domain(_override_domain(url.query) or hostname)
        if is_ip_literal(domain):
            domain = IP_DOMAIN  # counted, never kept: an address may be a person's
        elif domain in RESERVED_DOMAINS or not is_host_name(domain):
            return INVALID_REFERER
        request_host = host_name(host)
        if hostname != request_host and hostname not in self.portal_hosts:
            # The category follows the referer's own host, as for the embed override.
            return RefererInfo(domain, "ip" if is_ip_literal(hostname) else "external", "")
        path = url.path
        if path == "/mcp" or path.startswith("/mcp/"):
            return RefererInfo(domain, "mcp", "")
        if path.startswith("/data-fair/embed"):
            return RefererInfo(domain, "embed", "")
        if path.startswith("/data-fair/app/"):
            app = path[len("/data-fair/app/") :].split("/", 1)[0]
            if not _APP_ID.fullmatch(app) or app in RESERVED_APPS:
                app = INVALID_APP
            return RefererInfo(domain, "app", app)
        if path.startswith("/data-fair/"):
            return RefererInfo(domain, "backoffice", "")
        return RefererInfo(domain, "portal", "")


@functools.lru_cache(maxsize=16384)
def is_host_name(domain: str) -> bool:
    """A host name by IDNA 2008 (UTS 46) rules: nothing else is stored as a calling domain (no
    address, no `@`, no `user:password`, no NUL, nothing past 253). A host ending in a number
    is an IPv4 address to a browser, or no host at all (is_ip_literal() takes the addresses)."""
    if not domain or len(domain) > MAX_DOMAIN_LENGTH or ":" in domain:
        return False
    name = domain[:-1] if domain.endswith(".") else domain
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            return False
    elif "xn--" in name:
        return False  # readable_domain could not decode it: not valid punycode
    labels = name.split(".")
    return all(_ASCII_LABEL.fullmatch(label) for label in labels) and not ends_in_a_number(name)


def status_class(status: int) -> str:
    for limit, name in _STATUS_CLASSES:
        if status < limit:
            return name
    return "server_error"


STATUS_CLASS = {code: status_class(code) for code in range(100, 1000)}


def user_group(user_agent: str, api_key: str, id_token: str, owner: Owner) -> UserGroup:
    """The first rule that applies: bot, API key, session, anonymous (docs/classification.md)."""
    if user_agent and is_bot(user_agent):
        return UserGroup.BOT
    if api_key:
        return (
            UserGroup.OWNER_API_KEY
            if api_key_account(api_key) == owner
            else UserGroup.EXTERNAL_API_KEY
        )
    session = session_of(id_token) if id_token else None
    if session is None:
        return UserGroup.ANONYMOUS
    if owner.type == "user" and owner.id == session.user_id:
        return UserGroup.OWNER
    # A member counts as the owner organisation whatever account is active in the portal.
    if owner.type == "organization" and owner.id in session.organization_ids:
        return UserGroup.OWNER
    return UserGroup.EXTERNAL


@functools.lru_cache(maxsize=8192)
def is_bot(user_agent: str) -> bool:
    if _HTTP_CLIENT.match(user_agent):
        return False
    return bool(_agent(user_agent).is_bot) or crawleruseragents.is_crawler(user_agent)


@functools.lru_cache(maxsize=8192)
def _agent(user_agent: str) -> UserAgent:
    # Parsing a user agent is the costliest rule (~0.5 ms), and a batch repeats a few agents:
    # parsed once for is_bot() and agent_family() both.
    return _load_agents()(user_agent)


@functools.cache
def _load_agents() -> Callable[[str], UserAgent]:
    """user_agents' parser, imported by the first Classifier: its expressions take ~0.3 s to
    load, which the commands that classify no line (import-data-fair, migrate, tokens) would
    pay at every start."""
    import user_agents

    parse: Callable[[str], UserAgent] = user_agents.parse
    return parse


@functools.lru_cache(maxsize=8192)
def agent_family(user_agent: str) -> str:
    """The browser or client and its major version ("Firefox 120", "curl 8"): what tells apart
    people behind one address without following a device (no minor version, no platform)."""
    if not user_agent:
        return ""
    browser = _agent(user_agent).browser
    return f"{browser.family} {browser.version[0] if browser.version else ''}"


def client_network(remote_addr: str) -> str:
    """The client's network, /24 for IPv4 and /48 for IPv6 (an IPv4-mapped address as IPv4);
    "" when the text is no address (`unix:`, garbage)."""
    # nginx writes IPv4 in dotted decimal: cut at the last dot, without parsing it (a line of
    # a new address would cost `ipaddress` ~30 µs).
    if _DOTTED_QUAD.fullmatch(remote_addr):
        return remote_addr[: remote_addr.rfind(".")] + ".0/24"
    return _other_network(remote_addr)


@functools.lru_cache(maxsize=16384)
def _other_network(remote_addr: str) -> str:
    try:
        address = ipaddress.ip_address(remote_addr.strip())
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            return str(ipaddress.IPv6Network((address, 48), strict=False))
        address = address.ipv4_mapped
    return str(ipaddress.IPv4Network((address, 24), strict=False))


@functools.lru_cache(maxsize=8192)
def account_consumer(id_token: str, api_key: str) -> str:
    """The account behind a line's credentials: the session's user, else the API key's account
    (an organisation's key: the organisation), else the unreadable key itself; "" for none."""
    if id_token:
        session = session_of(id_token)
        if session is not None:
            return "user:" + session.user_id
    if api_key:
        account = api_key_account(api_key)
        return f"{account.type}:{account.id}" if account is not None else "key:" + api_key
    return ""


def consumer_of(id_token: str, api_key: str, remote_addr: str, user_agent: str) -> str:
    """A line's consumer as text, hashed at once and never kept: its account, else its client's
    network with its agent's family and major version; "" when the line says neither (a Data
    Fair array without credentials, docs/ingest.md). "-" is nginx's empty value."""
    id_token = "" if id_token == "-" else id_token  # noqa: S105 (nginx's empty value)
    api_key = "" if api_key == "-" else api_key
    if id_token or api_key:
        account = account_consumer(id_token, api_key)
        if account:
            return account
    network = client_network(remote_addr) if remote_addr else ""
    return f"net:{network} {agent_family(user_agent)}" if network else ""


@functools.lru_cache(maxsize=8192)
def api_key_account(api_key: str) -> Owner | None:
    """Data Fair keys are base64url of `u:<userId>:<rand>` or `o:<orgId>[:<dept>]:<rand>`."""
    decoded = _base64url_text(api_key)
    parts = decoded.split(":") if decoded else []
    if len(parts) < 3 or not parts[1]:
        return None
    kind = {"u": "user", "o": "organization"}.get(parts[0])
    return Owner(kind, parts[1]) if kind else None


@functools.lru_cache(maxsize=8192)
def session_of(id_token: str) -> Session | None:
    """The session's user and organisations from the id_token payload (header.payload, unsigned)."""
    parts = id_token.split(".")
    payload = _json_object(_base64url_text(parts[1])) if len(parts) >= 2 else None
    if payload is None:
        return None
    user_id = payload.get("id")
    if not isinstance(user_id, str) or not user_id:
        return None
    organizations = payload.get("organizations")
    ids = (
        frozenset(
            org["id"]
            for org in organizations
            if isinstance(org, dict) and isinstance(org.get("id"), str)
        )
        if isinstance(organizations, list)
        else frozenset()
    )
    return Session(user_id, ids)


def _override_domain(query: str) -> str:
    # Embedded apps and views report the site that embeds them in ?referer=...
    if "referer=" not in query:
        return ""
    values = parse_qs(query).get("referer")
    value = values[0].strip() if values else ""
    if "://" in value:
        try:
            url = urlsplit(value)
            # A user name or password in it: written by hand, maybe an e-mail address.
            return INVALID_DOMAIN if "@" in url.netloc else url.hostname or ""
        except ValueError:
            return ""
    return host_name(value.split("/", 1)[0])


def _base64url_text(value: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
