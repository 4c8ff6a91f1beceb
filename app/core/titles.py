"""Titles folded for ordering and search: accents, case and ligatures ignored (pure).

French titles sort and match as a reader expects: "École" beside "ecole", before "Zone", and
"ecoles", "écoles" and "ÉCOLES" all find "Écoles". Both databases compare the folded text
byte by byte, so they order and match alike (docs/storage.md).
"""

from __future__ import annotations

import unicodedata

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
