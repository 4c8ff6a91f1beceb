"""The errors we expect and can explain, each with its HTTP status and machine-readable code.

UsageMetricsError
├── ConfigError                  a bad USAGE_METRICS_* value; stops start-up
├── MigrationError               a database whose schema cannot be migrated; stops start-up
├── BadRequestError         400  malformed request (bad gzip, not the declared JSON, bad key)
├── BadUserInputError       400  an argument we cannot use (a bad period, an unknown cursor)
├── UnauthenticatedError    401  no token or an unknown one
├── ForbiddenError          403  a token without the scope the action needs
├── RequestTimeoutError     408  a request head or body slower than its deadline (slow clients)
├── IdempotencyConflictError 409 the same Idempotency-Key is still being processed
├── PayloadTooLargeError    413  the (decompressed) body passes the size limit
├── UnsupportedMediaTypeError 415 a Content-Type or Content-Encoding we do not read
├── IdempotencyMismatchError 422 an Idempotency-Key reused with another body
├── DatabaseUnavailableError 503 the database cannot be reached or refused the write
├── FolderStalledError      503  every fold of the ingest ledger has failed for a while (/readyz)
└── PortalKeysUnavailableError 503 the portal's JWKS cannot be fetched to check a session
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class UsageMetricsError(Exception):
    """An error we expected and can explain to the caller."""

    status_code = 400
    code = "BAD_USER_INPUT"
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, str]:
        # graphql-core copies this dict onto the GraphQL error it builds from us.
        return {"code": self.code}


class ConfigError(UsageMetricsError):
    """A configuration value that cannot be used; the message names the variable."""

    status_code = 500
    code = "CONFIG_ERROR"


class MigrationError(UsageMetricsError):
    """The database's schema cannot be brought up to date; the message says what differs."""

    status_code = 500
    code = "MIGRATION_ERROR"


class BadRequestError(UsageMetricsError):
    status_code = 400
    code = "BAD_REQUEST"


class BadUserInputError(UsageMetricsError):
    status_code = 400
    code = "BAD_USER_INPUT"


class UnauthenticatedError(UsageMetricsError):
    status_code = 401
    code = "UNAUTHENTICATED"
    headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": "Bearer"}


class ForbiddenError(UsageMetricsError):
    status_code = 403
    code = "FORBIDDEN"


class RequestTimeoutError(UsageMetricsError):
    """A client took longer than its deadline to send the request head or body; answered by the
    server's protocol (app/web/slow_clients.py), which then closes the connection."""

    status_code = 408
    code = "REQUEST_TIMEOUT"
    headers: ClassVar[Mapping[str, str]] = {"Connection": "close"}


class IdempotencyConflictError(UsageMetricsError):
    status_code = 409
    code = "IDEMPOTENCY_KEY_IN_USE"
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "5"}


class PayloadTooLargeError(UsageMetricsError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaTypeError(UsageMetricsError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class IdempotencyMismatchError(UsageMetricsError):
    status_code = 422
    code = "IDEMPOTENCY_KEY_REUSED"


class DatabaseUnavailableError(UsageMetricsError):
    status_code = 503
    code = "DATABASE_UNAVAILABLE"
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "10"}


class FolderStalledError(UsageMetricsError):
    """/readyz: the server takes batches, but none has reached the figures for a while."""

    status_code = 503
    code = "FOLDER_STALLED"
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "10"}


class PortalKeysUnavailableError(UsageMetricsError):
    """The portal's keys (USAGE_METRICS_JWKS_URL) could not be fetched: the session may be fine."""

    status_code = 503
    code = "PORTAL_KEYS_UNAVAILABLE"
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "10"}
