"""The GraphQL schema, its limits, and the masking of every error we did not expect."""

from __future__ import annotations

from graphql import ASTValidationRule, GraphQLError
from strawberry import Schema
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from app.errors import UsageMetricsError
from app.observability.graphql_timing import GraphQLTiming
from app.schema.codes import ErrorCodes, tag_syntax_errors
from app.schema.cost import PacedExecution, QueryCost
from app.schema.http import UsageGraphQL
from app.schema.operations import OneOperation
from app.schema.queries import Query
from app.schema.scalars import SCALARS
from app.schema.selections import NoEmptySelections, tolerating_empty_selections

MAX_DEPTH = 10
MAX_ALIASES = 20
# Parsing stops past this many tokens, so that validation (up to quadratic in a selection's
# fields) never sees a huge query. Our largest useful queries have a few hundred.
MAX_TOKENS = 5000
# Bounded caches: a public endpoint must not grow memory with each new query text.
CACHED_QUERIES = 256
# The limiters' rule classes, built once: the validation cache is keyed by the rules, and the
# limiter extensions build new classes for every request, which would make every lookup miss.
LIMITS: tuple[type[ASTValidationRule], ...] = (
    NoEmptySelections,
    *map(tolerating_empty_selections, QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules),
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


def is_unexpected(error: GraphQLError) -> bool:
    """Neither ours nor GraphQL's own (validation, coercion): mask it, log its traceback."""
    original = error.original_error
    # graphql-core wraps a bad variable's coercion error in another GraphQLError: unwrap it.
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    # Query validation errors have no original error and must reach the client unchanged.
    return original is not None and not isinstance(original, (UsageMetricsError, GraphQLError))


class UsageSchema(Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Runs before MaskErrors: the server log keeps the traceback of what the client sees as
        # "Unexpected error."; our own errors are the caller's to fix, not worth a traceback.
        tag_syntax_errors(errors)
        super().process_errors([e for e in errors if is_unexpected(e)], execution_context)


schema = UsageSchema(
    query=Query,
    config=StrawberryConfig(scalar_map=SCALARS),
    # Lists complete in stretches that leave the event loop to other requests (cost.py).
    execution_context_class=PacedExecution,
    extensions=[
        lambda: MaxTokensLimiter(MAX_TOKENS),
        lambda: AddValidationRules(list(LIMITS)),
        lambda: ParserCache(maxsize=CACHED_QUERIES),
        OneOperation,
        lambda: ValidationCache(maxsize=CACHED_QUERIES),
        QueryCost,  # before execution: a query over USAGE_METRICS_GRAPHQL_MAX_COST never runs
        ErrorCodes,
        lambda: MaskErrors(should_mask_error=is_unexpected),
        # Last, so that it leaves first: it sees the errors before MaskErrors hides their cause.
        GraphQLTiming,
    ],
)


def graphql_app() -> UsageGraphQL:
    """The ASGI app mounted at /graphql; GET from a browser serves GraphiQL."""
    return UsageGraphQL(schema, graphql_ide="graphiql")
