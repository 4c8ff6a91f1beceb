"""The owner picker of an admin's dashboard (or a portal session's of several owners): a portal of
thousands of owners keeps a small page and a usable picker by listing a bounded number of them
and finding the others by their name or id (docs/dashboard.md#the-owner-picker)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from app.core.records import OWNER_TYPES, Owner, OwnerFilter
from app.core.titles import fold
from app.dashboard import formatting
from app.reports import NamedOwner

Translate = Callable[..., str]
# Options listed at once: ~95 bytes each, so 3 000 owners made a 270 KB picker (issue 24); a
# hundred names are still a list one scrolls, and a search finds any other.
OWNER_CHOICES = 100
MAX_SEARCH_LENGTH = 200  # an owner's id is at most 200 characters (docs/ingest.md)
SEARCH_PARAMETER = "owner_search"


class OwnerChoice(NamedTuple):
    owner: Owner
    label: str  # as the page names it
    folded: str  # its name (else its id) folded: what a search and the order compare


@dataclass(frozen=True)
class OwnerOption:
    value: str  # "<type>:<id>"
    label: str
    selected: bool


@dataclass(frozen=True)
class OwnerPicker:
    options: list[OwnerOption]  # at most OWNER_CHOICES, and the selected owner
    search: str  # what the reader looks for ("": nothing)
    note: str  # what the list holds when it is not every owner; "" when it is


def owner_label(owner: Owner, name: str | None, t: Translate) -> str:
    """How the page names an owner: its name, else its id, then its kind ("Métropole de Lyon
    (organisation)", "metropole-lyon (organisation)" until a line named it). Plain text: the
    templates escape it, as every name from a log line."""
    shown = name or owner.id
    return t(f"owner_{owner.type}", name=shown) if owner.type in OWNER_TYPES else shown


def owner_choices(owners: list[NamedOwner], t: Translate) -> list[OwnerChoice]:
    """Every owner one may pick: by name (accents and case ignored; the id for an owner
    without one), then kind and id."""
    found = [
        OwnerChoice(o.owner, owner_label(o.owner, o.name, t), fold(o.name or o.owner.id))
        for o in owners
    ]
    found.sort(key=lambda c: (c.folded, c.owner.type, c.owner.id))
    return found


def owner_picker(
    choices: list[OwnerChoice],
    selected: OwnerFilter,
    search: str,
    t: Translate,
    lang: formatting.Lang,
) -> OwnerPicker:
    """The first OWNER_CHOICES owners (by name) whose name or id holds `search` (accents and
    case ignored; every owner without one), the selected one always among them; the note says
    how many there are when the list does not hold them all, so none is left out silently."""
    search = search.strip()[:MAX_SEARCH_LENGTH]
    wanted = fold(search)
    # Ids are slugs: case-folded, not decomposed (3 000 owners in ~2 ms, not ~20).
    matching = choices
    if wanted:
        matching = [c for c in choices if wanted in c.folded or wanted in c.owner.id.casefold()]
    listed = matching[:OWNER_CHOICES]
    if isinstance(selected, Owner) and all(c.owner != selected for c in listed):
        listed = [c for c in choices if c.owner == selected] + listed
    options = [
        OwnerOption(f"{c.owner.type}:{c.owner.id}", c.label, c.owner == selected) for c in listed
    ]
    return OwnerPicker(options, search, _note(len(matching), len(choices), search, t, lang))


def _note(matched: int, total: int, search: str, t: Translate, lang: formatting.Lang) -> str:
    shown, every = formatting.count(OWNER_CHOICES, lang), formatting.count(total, lang)
    if not search:
        return "" if total <= OWNER_CHOICES else t("owners_listed", shown=shown, total=every)
    if matched == 0:
        return t("owners_none", search=search)
    found = formatting.count(matched, lang)
    if matched <= OWNER_CHOICES:
        return t("owners_found", n=found, total=every, search=search)
    return t("owners_found_many", shown=shown, n=found, total=every, search=search)
