"""The typed records that cross the ingest pipeline's stages. Nothing here identifies a person."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import NamedTuple


class Operation(StrEnum):
    API = "api"
    DOWNLOAD = "download"
    APP = "app"


class UserGroup(StrEnum):
    OWNER = "OWNER"
    OWNER_API_KEY = "OWNER_API_KEY"
    EXTERNAL = "EXTERNAL"
    EXTERNAL_API_KEY = "EXTERNAL_API_KEY"
    ANONYMOUS = "ANONYMOUS"
    BOT = "BOT"


class Ignored(StrEnum):
    """Why a well-formed line is not usage we track (a closed set, reported per batch)."""

    NOT_TRACKED = "not_tracked"  # no tracked operation (or no route rule matched)
    NO_OWNER = "no_owner"
    NO_RESOURCE = "no_resource"
    UNKNOWN_OWNER = "unknown_owner"  # route-rule line for a dataset whose owner we never learned


# The kinds of account that own datasets in Data Fair; a line naming another has no owner.
OWNER_TYPES = ("user", "organization")


class Owner(NamedTuple):
    type: str
    id: str


# The owners a read is restricted to: one, several (their rows summed), or None: every owner.
OwnerFilter = Owner | tuple[Owner, ...] | None


class Resource(NamedTuple):
    type: str
    id: str
    title: str | None  # URI-decoded; None when the line does not carry one


class LogRecord(NamedTuple):
    """One parsed line: raw field strings (classification caches on them) and parsed headers.

    The credentials (id_token, api_key), user agent and address are read by classify() and the
    consumer's hash, and dropped there.
    """

    day: date
    host: str  # request host as logged (port and case are normalised when classifying); "" if none
    referer: str  # Referer, else Origin; "" when neither
    user_agent: str
    status: int
    bytes: int  # bytes sent x gzip ratio, rounded
    duration_ms: int
    owner: Owner | None
    owner_name: str | None  # X-Owner's name, cleaned as titles are; None when the line has none
    resource: Resource | None
    operation: Operation | None  # from X-Operation's track, or a route rule; None: not tracked
    id_token: str
    api_key: str
    # The client's address as logged ("" when the format has none): only ever reduced to a
    # consumer's network by classify.consumer_of(), hashed at once.
    remote_addr: str = ""


class UsageKey(NamedTuple):
    """The dimensions of one usage_daily row, in the table's key order."""

    owner_type: str
    owner_id: str
    day: date
    resource_type: str
    resource_id: str
    operation: str
    status_class: str
    user_group: str
    referer_domain: str  # "none" without Referer/Origin, "invalid" when it is not a URL
    referer_category: str
    referer_app: str  # "" unless the referer is a portal application page


class Profile(NamedTuple):
    """A UsageKey without its day and status class, plus the resource's title and owner's name.

    Most of a line (headers, credentials, referer) only ever yields a Profile, so the pipeline
    classifies each distinct combination once and then counts lines by (profile id, day, status).
    """

    owner_type: str
    owner_id: str
    resource_type: str
    resource_id: str
    operation: str
    user_group: str
    referer_domain: str
    referer_category: str
    referer_app: str
    title: str | None
    owner_name: str | None

    def key(self, day: date, status_class: str) -> UsageKey:
        return UsageKey(
            self.owner_type,
            self.owner_id,
            day,
            self.resource_type,
            self.resource_id,
            self.operation,
            status_class,
            self.user_group,
            self.referer_domain,
            self.referer_category,
            self.referer_app,
        )


class Rejected(StrEnum):
    """Why a line could not be read: a closed set, the code of answers, metrics and tests."""

    BAD_JSON = "bad_json"
    NOT_A_LINE = "not_a_line"
    WRONG_ITEM_COUNT = "wrong_item_count"
    UNKNOWN_FORMAT = "unknown_format"
    BAD_HEADER = "bad_header"
    BAD_STATUS = "bad_status"
    BAD_NUMBER = "bad_number"
    BAD_TIME = "bad_time"
    TOO_LONG = "too_long"
    BAD_FIELD = "bad_field"

    @property
    def message(self) -> str:
        """What the code means, for a person; a rejection's reason may say more."""
        return _REJECTION_MESSAGES[self]


_REJECTION_MESSAGES = {
    Rejected.BAD_JSON: "the line is not valid JSON",
    Rejected.NOT_A_LINE: "the value is not a log line (a string, an array or an object)",
    Rejected.WRONG_ITEM_COUNT: "a Data Fair log line has 14 or 15 items",
    Rejected.UNKNOWN_FORMAT: "the line is in no known format",
    Rejected.BAD_HEADER: "an upstream header (X-Owner, X-Resource, X-Operation) is no JSON object",
    Rejected.BAD_STATUS: "the status is not an HTTP status code",
    Rejected.BAD_NUMBER: "the bytes sent, gzip ratio or request time is not a number in range",
    Rejected.BAD_TIME: "the time is not a date and time we can read",
    Rejected.TOO_LONG: "an id, title or domain is too long",
    Rejected.BAD_FIELD: "a field has the wrong type or a NUL character",
}


class Rejection(NamedTuple):
    """A line we could not read: its 1-based physical line number, the code and why."""

    line: int
    code: Rejected
    reason: str


class FoldFailure(StrEnum):
    """Why a fold of the ingest ledger failed: the database was away (the rows wait), or a row
    cannot be folded (it is set aside). The code of the quarantine's rows, metrics and logs."""

    DATABASE_UNAVAILABLE = "database_unavailable"
    STATEMENT_REFUSED = "statement_refused"
    BAD_LEDGER_ROW = "bad_ledger_row"
    REFUSED_BY_DATABASE = "refused_by_database"
    UNEXPECTED_ERROR = "unexpected_error"

    @property
    def message(self) -> str:
        """What the code means, for a person (docs/ingest.md)."""
        return _FOLD_FAILURE_MESSAGES[self]

    @property
    def blames_row(self) -> bool:
        """True: a row folded alone that fails so is at fault, and would fail again."""
        return self not in _NO_ROW_AT_FAULT


_FOLD_FAILURE_MESSAGES = {
    FoldFailure.DATABASE_UNAVAILABLE: "the database could not be reached or could not take the "
    "write now (connection, shutdown, disk full, lock or memory limits)",
    FoldFailure.STATEMENT_REFUSED: "the database refused the statement itself (a missing table "
    "or column, a permission): every row would fail alike; the deployment needs a fix",
    FoldFailure.BAD_LEDGER_ROW: "the ledger row cannot be read (not JSON, an unknown version, "
    "a key that is not text or counters that are not integers from 0 up)",
    FoldFailure.REFUSED_BY_DATABASE: "the database refused the row's counters (a value out of "
    "range or a constraint)",
    FoldFailure.UNEXPECTED_ERROR: "an error the folder does not know of",
}
_NO_ROW_AT_FAULT = frozenset({FoldFailure.DATABASE_UNAVAILABLE, FoldFailure.STATEMENT_REFUSED})
