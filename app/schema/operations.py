"""Which operation of a document runs: the one operationName names, or the only one there is.

Strawberry ran the first of several operations when operationName was missing, and answered an
unknown operationName with a bare HTTP 400; GraphQL over HTTP wants a GraphQL error for both.
The codes are Apollo's, which clients know.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
_SHOWN = 60  # characters of a caller's operation name repeated in a message


class OneOperation(SchemaExtension):
    """After parsing, refuses a document whose operation to run is not known for sure.

    Raised from the parsing hook, the error becomes the answer's only error, before validation.
    """

    def on_parse(self) -> Iterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is None:  # it did not parse: that error is the answer
            return
        names = [
            d.name.value if d.name else None
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        ]
        # ExecutionContext.operation_name falls back to the first operation's name: the name the
        # request gave is kept only in this attribute.
        wanted = self.execution_context._provided_operation_name
        message = _problem(names, wanted)
        if message is not None:
            raise GraphQLError(message, extensions={"code": OPERATION_RESOLUTION_FAILURE})


def _problem(names: list[str | None], wanted: str | None) -> str | None:
    listed = ", ".join(name or "(anonymous)" for name in names)
    if not names:
        return "the document holds no operation: write one, e.g. query { analytics { provider } }"
    if wanted is None:
        if len(names) == 1:
            return None
        return (
            f"the document holds {len(names)} operations ({listed[:300]}): "
            "name the one to run in operationName"
        )
    if wanted in names:
        return None
    return (
        f"operationName {wanted[:_SHOWN]!r} names no operation of the document; "
        f"it holds: {listed[:300]}"
    )
