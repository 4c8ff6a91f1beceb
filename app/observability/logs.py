"""The server's log: plain text or JSON lines on stderr, for our loggers and uvicorn's alike.

What is logged is chosen not to carry an IP, a token, a user id or a raw line
(docs/security.md); this module only shapes it. uvicorn's access log, which prints client
addresses, stays off.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Extra fields a log call may pass (`extra={...}`) that a JSON line carries: counts and
# durations only. Anything else passed as extra is left out.
SAFE_FIELDS = ("route", "status", "result", "accepted", "ignored", "rejected", "seconds", "error")
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi")
_DRIVER_LOGGERS = ("aiosqlite", "asyncpg", "tortoise.db_client")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in SAFE_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(log_format: str, level: str) -> None:
    """Send every logger's records to stderr in `log_format` (text | json) from `level` on.

    Replaces the handlers uvicorn installs (its loggers then propagate to ours), so that a JSON
    log holds JSON lines only. Like logging.basicConfig, it does nothing when the root logger
    has handlers already: a host that set logging up (a test runner, an application that
    embeds ours) keeps its own.
    """
    # The access log prints each client's address and query string: never, whatever the flags.
    logging.getLogger("uvicorn.access").disabled = True
    # The database drivers log each statement with its bound values at DEBUG (token sha256s,
    # Idempotency-Keys): warnings only, at every level and whoever set logging up.
    for name in _DRIVER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # a Python warning is a log record too, not a bare line
    # httpx logs each request of ship, import and syslog at INFO: their own lines say more.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # tortoise says "shutdown" after every command at INFO, and at DEBUG logs each statement with
    # its values (ids, Idempotency-Keys, token hashes): its warnings and errors are enough.
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
