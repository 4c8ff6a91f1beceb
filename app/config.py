"""Settings read from the environment (DESIGN §2): the only module that reads os.environ."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite://usage-metrics.sqlite3"
DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with; secrets stay out of repr (logs, tracebacks)."""

    database_url: str = DEFAULT_DATABASE_URL
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
    admin_session_hours: int = 12
    # The dashboard's today (its presets end the day before); None: today in `timezone`. Not
    # from the env: tests fix it.
    today: date | None = None


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build Settings from USAGE_METRICS_* variables; a bad value raises ConfigError naming it."""
    env = {k: v for k, v in environ.items() if k.startswith("USAGE_METRICS_") and v != ""}
    secret_key = env.get("USAGE_METRICS_SECRET_KEY")
    rules = env.get("USAGE_METRICS_ROUTE_RULES")
    return Settings(
        database_url=env.get("USAGE_METRICS_DATABASE_URL", DEFAULT_DATABASE_URL),
        admin_token=env.get("USAGE_METRICS_ADMIN_TOKEN"),
        ingest_token=env.get("USAGE_METRICS_INGEST_TOKEN"),
        secret_key=secret_key or secrets.token_urlsafe(32),
        secret_key_is_random=secret_key is None,
        timezone=_time_zone(env.get("USAGE_METRICS_TIMEZONE", "UTC")),
        portal_hosts=_host_names(env.get("USAGE_METRICS_PORTAL_HOSTS", "")),
        max_batch_bytes=_positive_int(
            "USAGE_METRICS_MAX_BATCH_BYTES",
            env.get("USAGE_METRICS_MAX_BATCH_BYTES", str(DEFAULT_MAX_BATCH_BYTES)),
        ),
        public_url=env.get("USAGE_METRICS_PUBLIC_URL", "").rstrip("/") or None,
        route_rules_path=_existing_file("USAGE_METRICS_ROUTE_RULES", rules) if rules else None,
    )


def _time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"USAGE_METRICS_TIMEZONE={name!r} is not a time zone") from exc


def _host_names(value: str) -> frozenset[str]:
    # "portal.example, www.portal.example:443" -> host names, lower case, no port
    hosts = (part.strip().lower().rsplit(":", 1)[0] for part in value.split(","))
    return frozenset(host for host in hosts if host)


def _positive_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ConfigError(f"{name}={value!r} is not a positive whole number of bytes")
    return number


def _existing_file(name: str, value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{name}={value!r} is not a readable file")
    return path
