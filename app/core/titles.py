"""Titles (and owners' names) bounded and made safe for display, and folded for ordering and
search (pure).

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
# What a title or a name must not carry to a terminal, a spreadsheet or a page: C0 and C1
# controls and DEL (terminal escapes; NUL, which PostgreSQL text refuses) and the bidi controls
# that reorder what follows them (U+061C, U+200E-F, U+202A-E, U+2066-9). Line and tab breaks,
# and the Unicode line and paragraph separators, become a space so that words stay apart.
_SPACES = "\t\n\v\f\r\u2028\u2029"
_CONTROLS = [
    *map(chr, range(0x20)),
    *map(chr, range(0x7F, 0xA0)),
    "\u061c",
    "\u200e",
    "\u200f",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]
_SHOWN = str.maketrans({c: " " if c in _SPACES else None for c in [*_CONTROLS, *_SPACES]})


def fold(text: str) -> str:
    """`Œuvres d'Écoles` -> `oeuvres d'ecoles`; `Straße` -> `strasse`."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.translate(_LIGATURES)


def shown_text(text: str) -> str:
    """A title or an owner's name, which is only shown: control characters dropped (line
    breaks become spaces), cut at MAX_TITLE_LENGTH characters; never a reason to refuse a
    line."""
    # Every character to drop is one isprintable() refuses: most titles are returned as they are.
    if not text.isprintable():
        text = text.translate(_SHOWN)
    return text[:MAX_TITLE_LENGTH]
