"""Empty selection sets (`{ }`): refused with a readable error, and kept from the depth limit.

graphql-core 3.3 parses and validates `{ datasets { } }` without a word, and Strawberry's depth
limiter then fails on it (max() of no fields), which the client saw as "Unexpected error.".
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    GraphQLError,
    SelectionSetNode,
    ValidationRule,
)
from graphql.validation import ASTValidationContext


class NoEmptySelections(ValidationRule):
    def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> None:
        if not node.selections:
            self.report_error(
                GraphQLError("a selection set is empty: name at least one field inside { }", node)
            )


def tolerating_empty_selections(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    """`rule`, which counts depths in its constructor, minus its failure on `{ }`."""

    class Tolerant(rule):  # type: ignore[misc, valid-type]
        def __init__(self, context: ASTValidationContext) -> None:
            try:
                super().__init__(context)
            except ValueError:  # NoEmptySelections reports this document
                ASTValidationRule.__init__(self, context)

    return Tolerant
