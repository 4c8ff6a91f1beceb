"""Settings from the environment (docs/configuration.md): the only module that reads os.environ."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from app.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite://usage-metrics.sqlite3"
# Names the settings file a command reads, as a systemd unit's EnvironmentFile= (or --env-file).
ENV_FILE_VARIABLE = "USAGE_METRICS_ENV_FILE"
DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024
DEFAULT_IDEMPOTENCY_DAYS = 30
DEFAULT_MAX_DOMAINS_PER_DAY = 200
DEFAULT_FOLD_INTERVAL_S = 1.0
# Reports and alerts (docs/reports-and-alerts.md): how often each server looks for what is due.
DEFAULT_NOTIFY_INTERVAL_S = 300.0
SMTP_SCHEMES = ("smtp", "smtps")
# A replica further behind than this is skipped for the primary (docs/deploy.md#past-one-machine):
# the dashboard's "updated" line stays within half a minute.
DEFAULT_MAX_REPLICA_LAG_S = 30.0
# The URL schemes tortoise opens with asyncpg: the only engine with replicas here.
POSTGRES_SCHEMES = ("postgres", "postgresql", "asyncpg")
# Limits of docs/security.md (issue 15): what an attacker could otherwise make unbounded.
# A portal's page of 100 datasets with a 30-day daily series and a 10-entry breakdown costs
# about 22 600 (app/schema/cost.py); the dashboard's queries far less.
DEFAULT_GRAPHQL_MAX_COST = 30_000
DEFAULT_GRAPHQL_MAX_ANSWER_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_APPS_PER_DAY = 100
DEFAULT_MAX_CONNECTIONS = 500
# A request head is a few hundred bytes; a 16 MiB batch from the proxy's LAN takes about a
# second, and 60 s still lets one through at 2.2 Mbit/s.
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 60.0
LOG_FORMATS = ("text", "json")  # the first is the default
# How long a consumer epoch's key lives (docs/security.md#distinct-consumers); the first is the
# default.
CONSUMER_EPOCHS = ("month", "day", "year")
DEFAULT_CONSUMERS_MIN = 5
LOG_LEVELS = ("INFO", "DEBUG", "WARNING", "ERROR", "CRITICAL")
# An origin as browsers send it in `Origin`: scheme, host, and a port only when not the default.
_ORIGIN = re.compile(r"(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?/?")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# A settings file's NAME=VALUE line, read as systemd's EnvironmentFile= reads it: spaces around
# the name and the value dropped; a value that opens with a quote ends with it (in double quotes,
# a backslash before " \ $ ` is dropped); any other value runs to the end of the line, quotes and
# a `#` included, a backslash escaping the next character.
_ENV_ASSIGNMENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*")
_WHOLE_QUOTED = re.compile(r"'([^']*)'|\"((?:[^\"\\]|\\.)*)\"")
_ESCAPE = re.compile(r"\\(.)")
_DOUBLE_QUOTED_ESCAPE = re.compile(r'\\([\\"$`])')


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with; secrets stay out of repr (logs, tracebacks)."""

    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL standbys of the primary that the read side uses in turn (GraphQL, the
    # dashboard, exports, Data Fair's API); writes, sign-in checks and the fold stay on the
    # primary. Their URLs may hold passwords.
    read_database_urls: tuple[str, ...] = field(default=(), repr=False)
    max_replica_lag_s: float = DEFAULT_MAX_REPLICA_LAG_S
    admin_token: str | None = field(default=None, repr=False)
    ingest_token: str | None = field(default=None, repr=False)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    secret_key_is_random: bool = False  # then admin sessions end when the server restarts
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    portal_hosts: frozenset[str] = frozenset()
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    public_url: str | None = None
    route_rules_path: Path | None = None
    # How long a replayed Idempotency-Key waits for the first request on PostgreSQL before 409.
    idempotency_wait_ms: int = 30_000
    # A failed admin sign-in is answered after this delay, whatever was wrong (not from the env:
    # tests shorten it).
    failed_sign_in_delay_s: float = 1.0
    # After this many failed sign-ins from one client address, the address is barred (429)
    # for the back-off, doubled at each further failure up to its cap (not from the env: tests
    # shorten them).
    sign_in_free_failures: int = 5
    sign_in_backoff_s: float = 30.0
    sign_in_backoff_max_s: float = 900.0
    admin_session_hours: int = 12
    # The dashboard's today (its presets end on it); None: today in `timezone`.
    # USAGE_METRICS_TODAY fixes it, so that a demonstration or a test keeps its days when the
    # date changes while it runs.
    today: date | None = None
    # Portal sessions (app/auth/portal_sessions.py): the portal's RS256 public key (PEM text) or
    # the URL of its JWKS; neither: a portal's JWT is refused like any unknown token.
    jwt_public_key: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    jwt_issuer: str | None = None  # checked when set (Data Fair's sessions carry no `iss`)
    jwt_audience: str | None = None  # checked when set (nor `aud`)
    # Least time between two fetches of the JWKS forced by an unknown `kid`, so that forged
    # tokens cannot make us hammer the portal. Not from the env: tests shorten it.
    jwks_refetch_interval_s: float = 30.0
    # Retention (app/storage/retention.py): Idempotency-Keys are forgotten after `idempotency_days`;
    # daily rows and summaries older than `keep_days` are purged (None: kept forever).
    idempotency_days: int = DEFAULT_IDEMPOTENCY_DAYS
    keep_days: int | None = None
    # Distinct calling domains a dataset keeps per day; later new ones count as `other`.
    max_domains_per_day: int = DEFAULT_MAX_DOMAINS_PER_DAY
    # How often the server applies the retention by itself (not from the env: tests shorten it).
    purge_interval_s: float = 86_400.0
    # GET /metrics accepts this token besides admin tokens: a scraper needs no admin rights.
    metrics_token: str | None = field(default=None, repr=False)
    log_format: str = "text"  # or "json": one JSON object per line
    log_level: str = "INFO"
    # Origins whose pages may call /graphql with credentials (cookies, Authorization); any other
    # origin may still read what needs none (the public `analytics` field). docs/graphql.md
    cors_origins: frozenset[str] = frozenset()
    # The dashboard (docs/dashboard.md): the portal's base URL, so that a dataset's page links
    # to the dataset on the portal (<url>/datasets/<id>); None: no link.
    portal_url: str | None = None
    # Data Fair's base URL (https://portal.example/data-fair), where `usage-metrics owner-names`
    # asks for the owners' names that its X-Owner header does not carry; None: give --data-fair.
    data_fair_url: str | None = None
    # Seconds between two folds of the ingest ledger into the tables (app/ingest/fold.py); 0:
    # each batch is counted in its request, as before the ledger.
    fold_interval_s: float = DEFAULT_FOLD_INTERVAL_S
    # Limits against attacks (docs/security.md). A GraphQL query costing more than
    # `graphql_max_cost` field values is refused before it runs; an answer longer than
    # `graphql_max_answer_bytes` is replaced by an error.
    graphql_max_cost: int = DEFAULT_GRAPHQL_MAX_COST
    graphql_max_answer_bytes: int = DEFAULT_GRAPHQL_MAX_ANSWER_BYTES
    # Distinct referer apps a dataset keeps per day; later new ones count as `other`.
    max_apps_per_day: int = DEFAULT_MAX_APPS_PER_DAY
    # Peers whose X-Forwarded-For is believed (addresses or networks); none by default.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    # Slow clients (`serve`, app/web/slow_clients.py): past `max_connections` open connections a
    # request gets 503 at once; a request head must be whole within `header_timeout_s` of the
    # connection or its first byte, a body within `body_timeout_s` of its head.
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    # Distinct consumers (docs/security.md#distinct-consumers): the life of a hashing key, and the
    # count under which an answer says null ("< 5"); 0 shows every count.
    consumer_epoch: str = CONSUMER_EPOCHS[0]
    consumers_min: int = DEFAULT_CONSUMERS_MIN
    # Reports and alerts (docs/reports-and-alerts.md). The SMTP URL may hold a password.
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "usage-metrics@localhost"
    # Seconds between two looks for due reports and alerts in each server; 0: none (cron runs
    # `usage-metrics reports send` and `alerts check`).
    notify_interval_s: float = DEFAULT_NOTIFY_INTERVAL_S
    # Webhooks to loopback or private addresses are refused unless this is set (docs/security.md).
    webhook_allow_private: bool = False
    # Pauses between the tries of one sending (not from the env: tests shorten them).
    notify_retry_delays_s: tuple[float, ...] = (2.0, 10.0)
    # How long a command waits for the server holding the sending lease (not from the env).
    notify_lease_wait_s: float = 120.0


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build Settings from USAGE_METRICS_* variables; a bad value raises ConfigError naming it."""
    env = {k: v for k, v in environ.items() if k.startswith("USAGE_METRICS_") and v != ""}
    secret_key = env.get("USAGE_METRICS_SECRET_KEY")
    rules = env.get("USAGE_METRICS_ROUTE_RULES")
    jwt_public_key, jwks_url = _portal_keys(env)
    database_url = env.get("USAGE_METRICS_DATABASE_URL", DEFAULT_DATABASE_URL)
    return Settings(
        database_url=database_url,
        read_database_urls=_read_urls(env.get("USAGE_METRICS_READ_DATABASE_URL", ""), database_url),
        max_replica_lag_s=_seconds(
            "USAGE_METRICS_MAX_REPLICA_LAG",
            env.get("USAGE_METRICS_MAX_REPLICA_LAG"),
            DEFAULT_MAX_REPLICA_LAG_S,
        ),
        admin_token=env.get("USAGE_METRICS_ADMIN_TOKEN"),
        ingest_token=env.get("USAGE_METRICS_INGEST_TOKEN"),
        secret_key=secret_key or secrets.token_urlsafe(32),
        secret_key_is_random=secret_key is None,
        timezone=_time_zone(env.get("USAGE_METRICS_TIMEZONE", "UTC")),
        today=_iso_day("USAGE_METRICS_TODAY", env.get("USAGE_METRICS_TODAY")),
        portal_hosts=_host_names(env.get("USAGE_METRICS_PORTAL_HOSTS", "")),
        max_batch_bytes=_positive_int(
            "USAGE_METRICS_MAX_BATCH_BYTES",
            env.get("USAGE_METRICS_MAX_BATCH_BYTES", str(DEFAULT_MAX_BATCH_BYTES)),
        ),
        public_url=env.get("USAGE_METRICS_PUBLIC_URL", "").rstrip("/") or None,
        route_rules_path=_existing_file("USAGE_METRICS_ROUTE_RULES", rules) if rules else None,
        idempotency_days=_count(
            "USAGE_METRICS_IDEMPOTENCY_DAYS", env.get("USAGE_METRICS_IDEMPOTENCY_DAYS"), "days"
        )
        or DEFAULT_IDEMPOTENCY_DAYS,
        keep_days=_count("USAGE_METRICS_KEEP_DAYS", env.get("USAGE_METRICS_KEEP_DAYS"), "days"),
        max_domains_per_day=_count(
            "USAGE_METRICS_MAX_DOMAINS_PER_DAY",
            env.get("USAGE_METRICS_MAX_DOMAINS_PER_DAY"),
            "domains",
        )
        or DEFAULT_MAX_DOMAINS_PER_DAY,
        jwt_public_key=jwt_public_key,
        jwks_url=jwks_url,
        jwt_issuer=env.get("USAGE_METRICS_JWT_ISSUER"),
        jwt_audience=env.get("USAGE_METRICS_JWT_AUDIENCE"),
        metrics_token=env.get("USAGE_METRICS_METRICS_TOKEN"),
        log_format=_one_of(
            "USAGE_METRICS_LOG_FORMAT", env.get("USAGE_METRICS_LOG_FORMAT"), LOG_FORMATS
        ),
        log_level=_one_of(
            "USAGE_METRICS_LOG_LEVEL", env.get("USAGE_METRICS_LOG_LEVEL"), LOG_LEVELS
        ),
        cors_origins=_origins(env.get("USAGE_METRICS_CORS_ORIGINS", "")),
        portal_url=_http_url("USAGE_METRICS_PORTAL_URL", env.get("USAGE_METRICS_PORTAL_URL")),
        data_fair_url=_http_url(
            "USAGE_METRICS_DATA_FAIR_URL", env.get("USAGE_METRICS_DATA_FAIR_URL")
        ),
        fold_interval_s=_seconds(
            "USAGE_METRICS_FOLD_INTERVAL",
            env.get("USAGE_METRICS_FOLD_INTERVAL"),
            DEFAULT_FOLD_INTERVAL_S,
        ),
        consumer_epoch=_one_of(
            "USAGE_METRICS_CONSUMER_EPOCH", env.get("USAGE_METRICS_CONSUMER_EPOCH"), CONSUMER_EPOCHS
        ),
        consumers_min=_whole(
            "USAGE_METRICS_CONSUMERS_MIN", env.get("USAGE_METRICS_CONSUMERS_MIN"), "consumers"
        ),
        **_limits(env),
        **_notify(env),
    )


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a settings file, as a systemd unit naming it in EnvironmentFile= gets
    them (docs/configuration.md#settings-files). A line we would read otherwise than systemd
    raises ConfigError naming its number, never its text (it may hold a secret)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ConfigError(f"cannot read the settings file {path}: {reason}") from exc
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and line.lstrip()[0] not in "#;":
            name, value = _env_assignment(line, f"{path}, line {number}")
            values[name] = value
    return values


def _env_assignment(line: str, where: str) -> tuple[str, str]:
    match = _ENV_ASSIGNMENT.fullmatch(line)
    if match is None:
        raise ConfigError(f"{where}: not NAME=VALUE (systemd would ignore it)")
    name, value = match.groups()
    quoted = _WHOLE_QUOTED.fullmatch(value)
    if quoted is not None:
        single, double = quoted.groups()
        return name, single if single is not None else _DOUBLE_QUOTED_ESCAPE.sub(r"\1", double)
    if value[:1] in ("'", '"') or value.endswith("\\"):
        # A quote left open, pieces joined after it, or a line continued: systemd reads on into
        # the next lines; one line per variable says the same to everyone.
        raise ConfigError(
            f"{where}: the value of {name} does not end on its line, or has text after its "
            "closing quote: quote the whole value, on one line"
        )
    return name, _ESCAPE.sub(r"\1", value)


def with_env_file(environ: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """`environ` completed by a settings file's `values`: a variable the environment sets (to
    something) wins, so that `NAME=value usage-metrics ...` still changes one setting."""
    return {**environ, **{name: v for name, v in values.items() if not environ.get(name)}}


def _read_urls(value: str, database_url: str) -> tuple[str, ...]:
    """The replicas' URLs, comma-separated, in the order they take turns. A message names a URL
    by its rank, never by its text (it may hold a password)."""
    urls = tuple(part.strip() for part in value.split(",") if part.strip())
    for rank, url in enumerate(urls, start=1):
        if not _is_postgres(url):
            raise ConfigError(
                f"USAGE_METRICS_READ_DATABASE_URL: URL {rank} is not postgres://user:password@"
                "host:5432/db (a read replica is a PostgreSQL standby; write a comma in a "
                "password as %2C)"
            )
    if urls and not _is_postgres(database_url):
        raise ConfigError(
            "USAGE_METRICS_READ_DATABASE_URL is set but USAGE_METRICS_DATABASE_URL is not "
            "PostgreSQL: read replicas are PostgreSQL standbys of the primary"
        )
    return urls


def _is_postgres(url: str) -> bool:
    scheme, separator, _ = url.partition("://")
    return bool(separator) and scheme.lower() in POSTGRES_SCHEMES


def _http_url(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not value.lower().startswith(("http://", "https://")) or value[-3:] == "://":
        raise ConfigError(f"{name}={value!r} is not an http(s) URL (https://portal.example)")
    return value.rstrip("/")


def _limits(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings of docs/security.md's limits, unset ones at their defaults."""

    def count(name: str, unit: str, default: int) -> int:
        variable = f"USAGE_METRICS_{name}"
        return _count(variable, env.get(variable), unit) or default

    return {
        "graphql_max_cost": count("GRAPHQL_MAX_COST", "field values", DEFAULT_GRAPHQL_MAX_COST),
        "graphql_max_answer_bytes": count(
            "GRAPHQL_MAX_ANSWER_BYTES", "bytes", DEFAULT_GRAPHQL_MAX_ANSWER_BYTES
        ),
        "max_apps_per_day": count("MAX_APPS_PER_DAY", "apps", DEFAULT_MAX_APPS_PER_DAY),
        "trusted_proxies": _networks(
            "USAGE_METRICS_TRUSTED_PROXIES", env.get("USAGE_METRICS_TRUSTED_PROXIES", "")
        ),
        "max_connections": count("MAX_CONNECTIONS", "connections", DEFAULT_MAX_CONNECTIONS),
        "header_timeout_s": _timeout(
            "USAGE_METRICS_HEADER_TIMEOUT",
            env.get("USAGE_METRICS_HEADER_TIMEOUT"),
            DEFAULT_HEADER_TIMEOUT_S,
        ),
        "body_timeout_s": _timeout(
            "USAGE_METRICS_BODY_TIMEOUT",
            env.get("USAGE_METRICS_BODY_TIMEOUT"),
            DEFAULT_BODY_TIMEOUT_S,
        ),
    }


def _notify(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings of reports and alerts (docs/configuration.md#reports-and-alerts)."""
    smtp_url = env.get("USAGE_METRICS_SMTP_URL")
    if smtp_url is not None and smtp_url.partition("://")[0].lower() not in SMTP_SCHEMES:
        # Never quoted: it may hold a password.
        raise ConfigError(
            "USAGE_METRICS_SMTP_URL is not smtp://user:password@host:port or smtps://... "
            "(add ?starttls=1 for STARTTLS)"
        )
    allow = env.get("USAGE_METRICS_WEBHOOK_ALLOW_PRIVATE", "0")
    if allow not in ("0", "1"):
        raise ConfigError(f"USAGE_METRICS_WEBHOOK_ALLOW_PRIVATE={allow!r} is not 0 or 1")
    found: dict[str, Any] = {
        "smtp_url": smtp_url,
        "notify_interval_s": _seconds(
            "USAGE_METRICS_NOTIFY_INTERVAL",
            env.get("USAGE_METRICS_NOTIFY_INTERVAL"),
            DEFAULT_NOTIFY_INTERVAL_S,
        ),
        "webhook_allow_private": allow == "1",
    }
    mail_from = env.get("USAGE_METRICS_MAIL_FROM")
    if mail_from is not None:
        if "@" not in mail_from or any(c in mail_from for c in "\r\n"):
            raise ConfigError(f"USAGE_METRICS_MAIL_FROM={mail_from!r} is not an address")
        found["mail_from"] = mail_from
    return found


def _networks(name: str, value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """ "127.0.0.1, 10.0.0.0/8" -> networks; a bad one stops start-up naming it."""
    networks = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            networks.append(ip_network(part, strict=False))
        except ValueError as exc:
            raise ConfigError(
                f"{name}: {part!r} is not an IP address or network (like 10.0.0.0/8)"
            ) from exc
    return tuple(networks)


def _iso_day(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or len(value) != 10:  # 3.11 also reads 20241201: one spelling only
        raise ConfigError(f"{name}={value!r} is not a day (YYYY-MM-DD)")
    return day


def _time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"USAGE_METRICS_TIMEZONE={name!r} is not a time zone") from exc


def _host_names(value: str) -> frozenset[str]:
    # "portal.example, www.portal.example:443" -> host names, lower case, no port
    hosts = (part.strip().lower().rsplit(":", 1)[0] for part in value.split(","))
    return frozenset(host for host in hosts if host)


def _origins(value: str) -> frozenset[str]:
    """Comma-separated origins, spelled as a browser's Origin header spells them: lower case,
    no trailing slash, no default port."""
    found = set()
    for part in (part.strip() for part in value.split(",")):
        if not part:
            continue
        match = _ORIGIN.fullmatch(part.lower())
        if match is None:
            raise ConfigError(
                f"USAGE_METRICS_CORS_ORIGINS: {part!r} is not an origin; write "
                "scheme://host[:port] "
                "without a path, e.g. https://portal.example (any origin already reads the public "
                "analytics field: list only the portals that send credentials)"
            )
        scheme, host, port = match.groups()
        default = port is None or port == _DEFAULT_PORTS[scheme]
        found.add(f"{scheme}://{host}" if default else f"{scheme}://{host}:{port}")
    return frozenset(found)


def _positive_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ConfigError(f"{name}={value!r} is not a positive whole number of bytes")
    return number


def _count(name: str, value: str | None, unit: str) -> int | None:
    """A whole number from 1, or None when the variable is unset."""
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) == 0:
        raise ConfigError(f"{name}={value!r} is not a whole number of {unit} from 1")
    return int(value)


def _whole(name: str, value: str | None, unit: str) -> int:
    """A whole number from 0 (DEFAULT_CONSUMERS_MIN when unset)."""
    if value is None:
        return DEFAULT_CONSUMERS_MIN
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise ConfigError(f"{name}={value!r} is not a whole number of {unit} from 0")
    return int(value)


def _seconds(name: str, value: str | None, default: float) -> float:
    """A number of seconds from 0 to an hour (fractions allowed); `default` when unset."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:  # also refuses nan and inf
        raise ConfigError(f"{name}={value!r} is not a number of seconds from 0 to 3600")
    return seconds


def _timeout(name: str, value: str | None, default: float) -> float:
    """Seconds above 0 and at most an hour (fractions allowed); `default` when unset."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:  # 0 would be no deadline; also refuses nan and inf
        raise ConfigError(f"{name}={value!r} is not a number of seconds above 0, at most 3600")
    return seconds


def _one_of(name: str, value: str | None, choices: tuple[str, ...]) -> str:
    """`value` as spelled in `choices`, whatever its case; the first choice when unset."""
    if value is None:
        return choices[0]
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")


def _existing_file(name: str, value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{name}={value!r} is not a readable file")
    return path


def _portal_keys(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The portal's PEM public key and JWKS URL: at most one of them."""
    pem = env.get("USAGE_METRICS_JWT_PUBLIC_KEY")
    jwks_url = env.get("USAGE_METRICS_JWKS_URL")
    if pem is not None and jwks_url is not None:
        raise ConfigError(
            "USAGE_METRICS_JWT_PUBLIC_KEY and USAGE_METRICS_JWKS_URL are both set: "
            "set one (the JWKS URL follows the portal's key rotations)"
        )
    if jwks_url is not None and not jwks_url.lower().startswith(("http://", "https://")):
        raise ConfigError(f"USAGE_METRICS_JWKS_URL={jwks_url!r} is not an http(s) URL")
    return (_rsa_public_key_pem(pem) if pem is not None else None), jwks_url


def _rsa_public_key_pem(value: str) -> str:
    """The PEM text itself, or read from the file the value names; an RSA public key either way."""
    name = "USAGE_METRICS_JWT_PUBLIC_KEY"
    pem = value
    if not value.lstrip().startswith("-----BEGIN"):
        try:
            pem = Path(value).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{name}={value!r} is neither a PEM public key nor a readable file holding one"
            ) from exc
    try:
        key = load_pem_public_key(pem.encode("utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{name} is not a PEM public key (-----BEGIN PUBLIC KEY-----)") from exc
    if not isinstance(key, RSAPublicKey):
        raise ConfigError(f"{name} is not an RSA key: portal sessions are signed with RS256")
    return pem
