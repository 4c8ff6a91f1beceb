"""Why a document of a mongoexport is not counted: a closed set, reported per file
(docs/coming-from-data-fair.md#2-import-the-history)."""

from __future__ import annotations

from enum import StrEnum


class Skipped(StrEnum):
    """Why a document is not imported: a closed set, reported per file."""

    BAD_JSON = "bad_json"
    TOO_LONG = "too_long"
    TOO_DEEP = "too_deep"
    NOT_A_DOCUMENT = "not_a_document"
    BAD_VALUE = "bad_value"
    BAD_OWNER = "bad_owner"
    BAD_DAY = "bad_day"
    BAD_RESOURCE = "bad_resource"
    UNKNOWN_TRACK = "unknown_track"
    UNKNOWN_STATUS = "unknown_status"
    UNKNOWN_USER_CLASS = "unknown_user_class"
    UNKNOWN_CATEGORY = "unknown_category"
    BAD_REFERER_APP = "bad_referer_app"
    BAD_COUNTER = "bad_counter"
    OTHER_EXPORT = "other_export"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Skipped.BAD_JSON: "not valid JSON (in an array, one that never ends takes the rest with it)",
    Skipped.TOO_LONG: "longer than 1 MiB",
    Skipped.TOO_DEEP: "nested more than 16 levels deep",
    Skipped.NOT_A_DOCUMENT: "not a JSON object",
    Skipped.BAD_VALUE: "an Extended JSON number ($numberLong, ...) that cannot be read",
    Skipped.BAD_OWNER: "owner is not {type: user|organization, id} with an id of 1-200 characters",
    Skipped.BAD_DAY: "day is not a day from 1970 to 2999 (YYYY-MM-DD, or a $date)",
    Skipped.BAD_RESOURCE: "resource is not {type, id, title?} with ids of 1-200 characters",
    Skipped.UNKNOWN_TRACK: "operationTrack is not readDataAPI, readDataFiles or openApplication",
    Skipped.UNKNOWN_STATUS: "statusClass is not info, ok, redirect, clientError or serverError",
    Skipped.UNKNOWN_USER_CLASS: "userClass is not one of Data Fair's",
    Skipped.UNKNOWN_CATEGORY: "refererCategory is not backoffice, embed, app, mcp or other",
    Skipped.BAD_REFERER_APP: "refererApp is not a string",
    Skipped.BAD_COUNTER: "nbRequests, bytes or duration (in ms) is not a number from 0 to 2^48",
    Skipped.OTHER_EXPORT: (
        "imported before among other documents (an export of another order, or of a collection "
        "changed since): not counted again"
    ),
}
