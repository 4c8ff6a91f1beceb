"""Both languages name the same things."""

from __future__ import annotations

from app.core.records import UserGroup
from app.dashboard.labels import CATALOGUE, group_label
from app.schema.enums import RefererCategory, raw


def test_english_and_french_have_the_same_labels() -> None:
    assert set(CATALOGUE["en"]) == set(CATALOGUE["fr"])
    for lang in ("en", "fr"):
        for key, text in CATALOGUE[lang].items():
            assert text.strip(), key


def test_every_user_group_and_category_has_a_name() -> None:
    for group in UserGroup:
        assert group_label("fr", "user_group", group.value) != group.value
    for category in RefererCategory:
        for lang in ("en", "fr"):
            assert group_label(lang, "referer_category", raw(category)) != raw(category)
    assert group_label("en", "referer_domain", "none") == "(no referer)"
    assert group_label("fr", "referer_domain", "ip") == "(adresse IP)"
    assert group_label("fr", "referer_domain", "client.example") == "client.example"
