"""Data Fair's names for our dimensions, both ways (docs/coming-from-data-fair.md).

Our user groups, operations, status classes and consumer categories each map to one of Data
Fair's values. Going back is one-to-many where Data Fair knew less than we do: its `other`
category covers our none, invalid, external, portal (and the imported `other`).
"""

from __future__ import annotations

from app.core.records import Operation, UserGroup

OPERATION_TRACKS = {
    Operation.API.value: "readDataAPI",
    Operation.DOWNLOAD.value: "readDataFiles",
    Operation.APP.value: "openApplication",
}
OPERATION_BY_TRACK = {track: operation for operation, track in OPERATION_TRACKS.items()}

STATUS_CLASSES = {
    "info": "info",
    "ok": "ok",
    "redirect": "redirect",
    "client_error": "clientError",
    "server_error": "serverError",
}
STATUS_BY_CLASS = {df: ours for ours, df in STATUS_CLASSES.items()}

# Data Fair had no robots: they were counted with the others (mostly `anonymous`). We keep them
# apart under a value of their own, which a caller may filter on like any other.
BOT_CLASS = "bot"
USER_CLASSES = {
    UserGroup.OWNER.value: "owner",
    UserGroup.OWNER_API_KEY.value: "ownerAPIKey",
    UserGroup.EXTERNAL.value: "external",
    UserGroup.EXTERNAL_API_KEY.value: "externalAPIKey",
    UserGroup.ANONYMOUS.value: "anonymous",
    UserGroup.BOT.value: BOT_CLASS,
}
# Data Fair's legacy processing classes were calls made as an account by its processings; they
# now call with an API key of that account, counted ownerAPIKey / externalAPIKey: so are these.
LEGACY_USER_CLASSES = {
    "ownerProcessing": UserGroup.OWNER_API_KEY.value,
    "externalProcessing": UserGroup.EXTERNAL_API_KEY.value,
}
GROUP_BY_CLASS = {
    **{df: ours for ours, df in USER_CLASSES.items()},
    **LEGACY_USER_CLASSES,
}

OTHER_CATEGORY = "other"
# The categories Data Fair names; each of our others is its `other`.
SHARED_CATEGORIES = ("backoffice", "embed", "app", "mcp")
REFERER_CATEGORIES = (*SHARED_CATEGORIES, OTHER_CATEGORY)
# Ours that Data Fair calls `other` ("other" itself: an imported document's).
OTHER_CATEGORIES = ("none", "invalid", "external", "portal", "ip", OTHER_CATEGORY)


def referer_category(ours: str) -> str:
    return ours if ours in SHARED_CATEGORIES else OTHER_CATEGORY


def our_categories(category: str) -> tuple[str, ...]:
    """Our stored categories that Data Fair's `category` covers."""
    return OTHER_CATEGORIES if category == OTHER_CATEGORY else (category,)
