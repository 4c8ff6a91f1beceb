"""`extensions.code` for GraphQL's own errors: a query that does not parse, validate or coerce.

Our errors carry their code already (errors.py); graphql-core's carry none, so a client could
not tell a typo in its query from a server fault. The codes are Apollo's, which clients know.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
# graphql-core gives up on a query with too many errors, or too many fields to compare, and
# says only this.
_ABORTED = "Validation aborted."
ABORTED_MESSAGE = (
    "the query is too large to validate (too many errors, fields or fragments): "
    "send a smaller query"
)


def tag_syntax_errors(errors: Iterable[GraphQLError]) -> None:
    """Parse errors: ParserCache raises them out of every extension hook, so the schema's
    process_errors, which sees every error, tags them."""
    _tag((e for e in errors if isinstance(e, GraphQLSyntaxError)), PARSE_FAILED)


class ErrorCodes(SchemaExtension):
    """Tags the errors of validation and execution that have no code yet; unexpected ones
    (a resolver's crash) stay untagged, to be masked."""

    def on_validate(self) -> Iterator[None]:
        yield
        _tag(self.execution_context.pre_execution_errors or (), VALIDATION_FAILED)

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or ()
        # Without an original error (or only graphql-core's own), an execution error is a
        # variable value that does not fit its type: `$first: "ten"` for an Int.
        _tag([e for e in errors if _is_graphqls_own(e)], BAD_USER_INPUT)


def _is_graphqls_own(error: GraphQLError) -> bool:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original is None or isinstance(original, GraphQLError)


def _tag(errors: Iterable[GraphQLError], code: str) -> None:
    for error in errors:
        extensions = error.extensions or {}
        if "code" not in extensions:
            error.extensions = {**extensions, "code": code}
        if error.message.endswith(_ABORTED):
            error.message = ABORTED_MESSAGE
