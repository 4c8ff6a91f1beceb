"""Route rules: which dataset and operation a request path means, for logs without upstream headers.

Rules are tried in order; the first whose method and path pattern match wins. The pattern's named
group `dataset` (or `resource`) gives the resource id. The owner is not in the path: it is looked
up in the resources table (learned from earlier lines, or registered with `usage-metrics
resources add`).
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.records import Operation
from app.errors import ConfigError

_DATASET = r"(?:/data-fair)?/api/v1/datasets/(?P<dataset>[^/?#]+)"
_API_ENDPOINTS = (
    "lines|values|values_agg|metric_agg|simple_metrics_agg|geo_agg|words_agg|min|max"
    "|revisions|records|exports"
)


@dataclass(frozen=True)
class RouteRule:
    method: str  # "GET", or "*" for any method
    pattern: re.Pattern[str]
    operation: Operation
    resource_type: str = "datasets"


@dataclass(frozen=True)
class Route:
    resource_type: str
    resource_id: str
    operation: Operation


DEFAULT_RULES: tuple[RouteRule, ...] = (
    RouteRule("GET", re.compile(rf"{_DATASET}/(?:{_API_ENDPOINTS})(?:/|$)"), Operation.API),
    RouteRule("GET", re.compile(rf"{_DATASET}/lines/[^/]+(?:/|$)"), Operation.API),
    RouteRule(
        "GET",
        re.compile(
            rf"{_DATASET}/(?:full|raw|convert|data-files/|attachments/|metadata-attachments/)"
        ),
        Operation.DOWNLOAD,
    ),
    RouteRule(
        "GET",
        re.compile(r"(?:/data-fair)?/app/(?P<resource>[^/?#]+)/?$"),
        Operation.APP,
        "applications",
    ),
)


def load_rules(path: Path) -> tuple[RouteRule, ...]:
    """Read `[[rule]]` tables (method, path, operation, resource_type) from a TOML file."""
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8")).get("rule", [])
        return tuple(_rule(table) for table in tables)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, re.error) as exc:
        raise ConfigError(f"USAGE_METRICS_ROUTE_RULES={str(path)!r}: {exc}") from exc


def _rule(table: dict[str, str]) -> RouteRule:
    pattern = re.compile(table["path"])
    if not {"dataset", "resource"} & set(pattern.groupindex):
        raise ValueError(f"the path pattern {table['path']!r} has no (?P<dataset>...) group")
    return RouteRule(
        method=table.get("method", "GET").upper(),
        pattern=pattern,
        operation=Operation(table["operation"]),
        resource_type=table.get("resource_type", "datasets"),
    )


def route_matcher(rules: Sequence[RouteRule]) -> Callable[[str, str], Route | None]:
    """A cached (method, path) -> Route | None for these rules."""

    @functools.lru_cache(maxsize=16384)
    def match(method: str, path: str) -> Route | None:
        for rule in rules:
            if rule.method not in ("*", method):
                continue
            found = rule.pattern.match(path)
            if found:
                groups = found.groupdict()
                resource_id = groups.get("dataset") or groups.get("resource")
                if resource_id:
                    return Route(rule.resource_type, resource_id, rule.operation)
        return None

    return match
