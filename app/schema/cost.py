"""What a query may cost, checked before it runs, and an execution that shares the event loop.

docs/security.md: every list multiplies what is selected inside it (`datasets(first)`, the days
of a period for `daily`, `breakdown(first)`), and aliases add up at every level, so nesting them
multiplies. A query whose cost passes USAGE_METRICS_GRAPHQL_MAX_COST is refused with
QUERY_TOO_COSTLY before any resolver runs. What is allowed still completes tens of thousands
of values: graphql-core completes them in one go once the DataLoaders answer, so the execution
here breathes (lets the loop serve other requests) between stretches of at most BREATH_S.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    value_from_ast_untyped,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.core.periods import MAX_PERIOD_DAYS
from app.schema.pagination import MAX_FIRST

QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
ANSWER_TOO_LARGE = "ANSWER_TOO_LARGE"
# The list fields whose length is the days of the period of the closest field above them that
# takes a `period` (a Usage's `daily`); every field with a `first` argument is a page of that
# many items.
DAY_LISTS = frozenset({"daily"})
# `series(interval:)` lists the period's days, ISO weeks or months; a week or a month the period
# cuts at either end adds one. At most this many buckets in a period of n days:
_BUCKETS: dict[str, Callable[[int], int]] = {
    "DAY": lambda days: days,
    "WEEK": lambda days: days // 7 + 2,
    "MONTH": lambda days: days // 28 + 2,
}
# Work between two breaths: well under the 50 ms docs/security.md promises to other requests.
BREATH_S = 0.01
_ITEMS_PER_CHECK = 16  # list items completed between two looks at the clock


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    """The number of field values the operation may produce: each field counts once per item of
    every list it sits in. 0 for a document without that operation (execution says why)."""
    operation = _operation(document, operation_name)
    if operation is None or schema.query_type is None:
        return 0
    values = {**_variable_defaults(operation), **(variables or {})}
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(values, fragments)
    root = schema.query_type if operation.operation.value == "query" else None
    if root is None:
        return 0
    return walk.selections(root, operation.selection_set, days=1)


class _Walk:
    def __init__(
        self, variables: Mapping[str, Any], fragments: Mapping[str, FragmentDefinitionNode]
    ) -> None:
        self._variables = variables
        self._fragments = fragments

    def selections(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode | None, days: int
    ) -> int:
        total = 0
        for node in self._fields(parent, selection_set):
            field = parent.fields.get(node.name.value)
            if field is None:  # __typename, introspection: one value each
                total += 1
                continue
            days_below = self._period_days(node, field) or days
            child = _object_type(field.type)
            size = self._size(node, field, days_below)
            inner = self.selections(child, node.selection_set, days_below) if child else 0
            total += 1 + size * inner if child else size
        return total

    def _fields(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode | None
    ) -> Iterator[FieldNode]:
        # Fragments are expanded where they are spread: each spread costs again, as it runs
        # again. Validation (before this) has refused fragment cycles and unknown fragments.
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from self._fields(parent, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self._fragments.get(selection.name.value)
                if fragment is not None:
                    yield from self._fields(parent, fragment.selection_set)

    def _size(self, node: FieldNode, field: GraphQLField, days: int) -> int:
        """How many times what the field selects is produced: a page's `first` (a connection
        or a list), a period's days for a day list, else once."""
        if "first" in field.args:
            first = self._argument(node, "first")
            if not isinstance(first, int) or isinstance(first, bool):
                first = field.args["first"].default_value
            # Out of range, the resolver refuses it with its own message: no more than a page.
            return min(max(first, 0), MAX_FIRST) if isinstance(first, int) else MAX_FIRST
        if node.name.value == "series" and _is_list(field.type):
            buckets = _BUCKETS.get(str(self._argument(node, "interval")), _BUCKETS["DAY"])
            return min(buckets(days), days)
        return days if node.name.value in DAY_LISTS and _is_list(field.type) else 1

    def _period_days(self, node: FieldNode, field: GraphQLField) -> int | None:
        if "period" not in field.args:
            return None
        period = self._argument(node, "period")
        if not isinstance(period, Mapping):
            return None
        try:
            start = date.fromisoformat(str(period.get("start")))
            end = date.fromisoformat(str(period.get("end")))
        except ValueError:
            return 1  # the resolver refuses it
        return min(max((end - start).days + 1, 1), MAX_PERIOD_DAYS)

    def _argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return _value(argument.value, self._variables)
        return None


def _value(node: ValueNode, variables: Mapping[str, Any]) -> Any:
    try:
        return value_from_ast_untyped(node, dict(variables))
    except (TypeError, ValueError):
        return None


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def _variable_defaults(operation: OperationDefinitionNode) -> dict[str, Any]:
    return {
        d.variable.name.value: _value(d.default_value, {})
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }


def _unwrapped(type_: GraphQLOutputType) -> GraphQLOutputType:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _is_list(type_: GraphQLOutputType) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _object_type(type_: GraphQLOutputType) -> GraphQLObjectType | None:
    # Our schema has no interfaces or unions: an object type or a leaf.
    inner = _unwrapped(type_)
    return inner if isinstance(inner, GraphQLObjectType) else None


class QueryCost(SchemaExtension):
    """Refuses, before execution, an operation that costs more than the app's limit."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            limit: int = context.context.settings.graphql_max_cost
            cost = query_cost(
                context.schema._schema, document, context.operation_name, context.variables
            )
            if cost > limit:
                # A result set here is what Strawberry returns instead of executing.
                context.result = GraphQLExecutionResult(data=None, errors=[too_costly(cost, limit)])
        yield


def too_costly(cost: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"this query costs {cost}, over the limit of {limit}: every list multiplies what is "
        "selected inside it (datasets first x days of the period for daily x breakdown first, "
        "and each alias again); ask for fewer datasets, a shorter period or fewer aliases "
        "(docs/security.md)",
        extensions={"code": QUERY_TOO_COSTLY, "cost": cost, "limit": limit},
    )


class Pacer:
    """Lets the tasks of one execution run at most `breath_s` in a row, then queues them: the
    first waiting task runs at the next turn of the event loop, after the loop has served the
    sockets (a /healthz probe, other requests), and the next one at the turn after."""

    def __init__(
        self, breath_s: float = BREATH_S, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._breath_s = breath_s
        self._clock = clock
        self._started: float | None = None  # when the running stretch began, if we know
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def breathe(self) -> None:
        """Return at once while the stretch is short and nobody waits; else wait for a turn."""
        started = self._started
        if started is not None and not self._waiting and self._clock() - started < self._breath_s:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiting.append(waiter)
        if len(self._waiting) == 1:
            loop.call_soon(self._release)
        self._started = None
        await waiter

    def _release(self) -> None:
        # One waiter per turn: call_soon runs at the next turn, after the loop's poll of sockets.
        waiter = self._waiting.popleft()
        self._started = self._clock()
        if not waiter.done():  # a cancelled request's task
            waiter.set_result(None)
        if self._waiting:
            asyncio.get_running_loop().call_soon(self._release)

    async def paced(self, items: Iterable[Any]) -> AsyncIterator[Any]:
        """`items`, breathing before the first and every few after."""
        for number, item in enumerate(items):
            if number % _ITEMS_PER_CHECK == 0:
                await self.breathe()
            yield item


class PacedExecution(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's execution, with every list of objects completed through a Pacer: lists
    are where an answer grows (a page of datasets, their days, their breakdowns)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pacer = Pacer()

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        if isinstance(result, list | tuple) and result and _object_type(return_type.of_type):
            result = self.pacer.paced(result)
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )


def answer_json(data: object, max_bytes: int) -> bytes:
    """The answer as JSON; past `max_bytes`, an ANSWER_TOO_LARGE error in its place."""
    try:
        encoded = orjson.dumps(data)
    except TypeError:  # an integer past 64 bits: json writes any
        encoded = json.dumps(data, separators=(",", ":")).encode()
    if len(encoded) <= max_bytes:
        return encoded
    message = (
        f"the answer is {len(encoded)} bytes, over the limit of {max_bytes}: ask for fewer "
        "datasets, days or fields, or page through them (docs/security.md)"
    )
    error = {"message": message, "extensions": {"code": ANSWER_TOO_LARGE}}
    return orjson.dumps({"data": None, "errors": [error]})
