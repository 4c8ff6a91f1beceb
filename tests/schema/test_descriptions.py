"""The schema documents itself: introspection finds a description on every type, field,
argument, input field and enum value, and the closed sets are enums."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import graphql

pytestmark = pytest.mark.anyio

INTROSPECTION = """{
  __schema {
    types {
      name kind description
      fields { name description args { name description } }
      inputFields { name description }
      enumValues { name description }
    }
  }
}"""


def _undocumented(types: list[dict[str, Any]]) -> tuple[list[str], int]:
    """The names of what has no description, and how many things were looked at."""
    missing: list[str] = []
    seen = 0

    def check(name: str, item: dict[str, Any]) -> None:
        nonlocal seen
        seen += 1
        if not (item.get("description") or "").strip():
            missing.append(name)

    for kind in types:
        if kind["name"].startswith("__"):
            continue  # GraphQL's own introspection types
        check(kind["name"], kind)
        for field in kind["fields"] or ():
            check(f"{kind['name']}.{field['name']}", field)
            for arg in field["args"]:
                check(f"{kind['name']}.{field['name']}({arg['name']})", arg)
        for field in kind["inputFields"] or ():
            check(f"{kind['name']}.{field['name']}", field)
        for value in kind["enumValues"] or ():
            check(f"{kind['name']}.{value['name']}", value)
    return missing, seen


async def test_every_type_field_argument_and_enum_value_has_a_description(
    client: httpx.AsyncClient,
) -> None:
    answer = await graphql(client, INTROSPECTION, token=None)
    types = answer["data"]["__schema"]["types"]
    missing, seen = _undocumented(types)
    assert missing == []
    assert seen > 140  # the walk reached every part of the schema (148 things today)


def test_the_walk_finds_what_lacks_a_description() -> None:
    types: list[dict[str, Any]] = [
        {
            "name": "Usage",
            "description": "Usage.",
            "fields": [{"name": "daily", "description": None, "args": [{"name": "x"}]}],
            "inputFields": None,
            "enumValues": None,
        },
        {"name": "Order", "description": " ", "fields": None, "inputFields": None,
         "enumValues": [{"name": "ASC", "description": ""}]},
    ]  # fmt: skip
    assert _undocumented(types) == (["Usage.daily", "Usage.daily(x)", "Order", "Order.ASC"], 5)


async def test_closed_sets_are_enums(client: httpx.AsyncClient) -> None:
    query = """{
      owner: __type(name: "Owner") { fields { name type { kind ofType { name kind } } } }
      input: __type(name: "OwnerInput") { inputFields { name type { ofType { name kind } } } }
      group: __type(name: "UsageGroup") { fields { name type { name kind } } }
    }"""
    data = (await graphql(client, query, token=None))["data"]
    owner_type = next(f for f in data["owner"]["fields"] if f["name"] == "type")
    assert owner_type["type"]["ofType"] == {"name": "OwnerType", "kind": "ENUM"}
    input_type = next(f for f in data["input"]["inputFields"] if f["name"] == "type")
    assert input_type["type"]["ofType"] == {"name": "OwnerType", "kind": "ENUM"}
    typed = {f["name"]: f["type"] for f in data["group"]["fields"]}
    assert typed["userGroup"] == {"name": "UserGroup", "kind": "ENUM"}
    assert typed["category"] == {"name": "RefererCategory", "kind": "ENUM"}
