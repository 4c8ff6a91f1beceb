"""Titles (and owners' names) bounded for display, and folded for ordering and search (pure).

French titles sort and match as a reader expects: "École" beside "ecole", before "Zone", and
"ecoles", "écoles" and "ÉCOLES" all find "Écoles". Both databases compare the folded text
byte by byte, so they order and match alike (docs/storage.md).
"""

from __future__ import annotations

import unicodedata

from app.core.limits import MAX_TITLE_LENGTH

# Letters that no Unicode decomposition splits (casefold already turns ß into ss).
# The typographic apostrophe (U+2019) of French titles counts as the ASCII one.
_LIGATURES = str.maketrans(
    {"œ": "oe", "æ": "ae", "ø": "o", "đ": "d", "ł": "l", "\N{RIGHT SINGLE QUOTATION MARK}": "'"}
)


def fold(text: str) -> str:
    """`Œuvres d'Écoles` -> `oeuvres d'ecoles`; `Straße` -> `strasse`."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.translate(_LIGATURES)


def shown_text(text: str) -> str:
    """A title or an owner's name, which is only shown: NUL characters (which PostgreSQL text
    refuses) dropped, cut at MAX_TITLE_LENGTH characters; never a reason to refuse a line."""
    return text.replace("\x00", "")[:MAX_TITLE_LENGTH]
