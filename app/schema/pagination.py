"""Opaque offset cursors and the checks on `first` and `after` shared by every connection."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from app.errors import BadUserInputError

MAX_FIRST = 100
_OFFSET = re.compile(r"0|[1-9]\d{0,9}")  # canonical, so that one position has one cursor


def encode_cursor(kind: str, index: int) -> str:
    """The cursor of the item at `index` (0-based) of a `kind` list ("datasets", "groups")."""
    return base64.urlsafe_b64encode(f"{kind}:{index}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    """The index a cursor of `kind` points at; anything this API did not give is bad input."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, index = text.partition(":")
    if prefix != kind or not _OFFSET.fullmatch(index) or encode_cursor(kind, int(index)) != cursor:
        raise BadUserInputError(
            f"after: {cursor[:60]!r} is not a cursor this API gave for {kind}; "
            "pass pageInfo.endCursor of the previous page"
        )
    return int(index)


@dataclass(frozen=True)
class Window:
    """Which items a page holds: `limit` items from `offset`."""

    kind: str
    offset: int
    limit: int

    def cursor(self, position: int) -> str:
        """The cursor of the page's item at `position` (0-based, within the page)."""
        return encode_cursor(self.kind, self.offset + position)


def window(kind: str, first: int | None, after: str | None, default: int) -> Window:
    """The page `first` and `after` ask for; `first: null` means the field's default."""
    first = default if first is None else first
    if not 0 <= first <= MAX_FIRST:
        raise BadUserInputError(
            f"first: {first} is out of range; ask for 0 to {MAX_FIRST} items per page "
            "and follow pageInfo.endCursor for more"
        )
    offset = decode_cursor(kind, after) + 1 if after is not None else 0
    return Window(kind, offset, first)
