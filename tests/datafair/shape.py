"""A small JSON Schema check (type, enum, pattern, properties, required, additionalProperties,
patternProperties, items): enough for the reference's answer schemas, without a dependency."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
}


def schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return found


def violations(value: Any, rules: dict[str, Any], path: str = "$") -> list[str]:
    """Where `value` breaks `rules`; [] when it conforms."""
    kind = rules.get("type")
    if kind is not None and (not isinstance(value, _TYPES[kind]) or isinstance(value, bool)):
        return [f"{path}: {type(value).__name__}, not {kind}"]
    found: list[str] = []
    if "enum" in rules and value not in rules["enum"]:
        found.append(f"{path}: {value!r} not in {rules['enum']}")
    if "pattern" in rules and not re.search(rules["pattern"], value):
        found.append(f"{path}: {value!r} does not match {rules['pattern']}")
    if isinstance(value, dict):
        found += _object(value, rules, path)
    if isinstance(value, list) and "items" in rules:
        for i, item in enumerate(value):
            found += violations(item, rules["items"], f"{path}[{i}]")
    return found


def _object(value: dict[str, Any], rules: dict[str, Any], path: str) -> list[str]:
    found = [f"{path}: no {name!r}" for name in rules.get("required", ()) if name not in value]
    properties = rules.get("properties", {})
    patterns = rules.get("patternProperties", {})
    for name, item in value.items():
        if name in properties:
            found += violations(item, properties[name], f"{path}.{name}")
            continue
        matching = [p for p in patterns if re.search(p, name)]
        for pattern in matching:
            found += violations(item, patterns[pattern], f"{path}.{name}")
        if not matching and rules.get("additionalProperties") is False:
            found.append(f"{path}: unexpected {name!r}")
    return found
