"""A Strawberry extension that times each GraphQL operation into the app's metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.errors import DatabaseUnavailableError
from app.observability.metrics import Metrics
from app.storage.database import DATABASE_ERRORS


class GraphQLTiming(SchemaExtension):
    """Observes usage_metrics_graphql_seconds; counts the database errors an operation met."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            metrics = self._metrics()
            if metrics is not None:
                metrics.observe_graphql(self._operation_type(), time.perf_counter() - started)
                if self._met_database_error():
                    metrics.count_database_error()

    def _metrics(self) -> Metrics | None:
        # The schema is shared by every app of the process; the metrics are the request's app's.
        request = getattr(self.execution_context.context, "request", None)
        state = getattr(getattr(request, "app", None), "state", None)
        return getattr(state, "metrics", None)

    def _operation_type(self) -> str:
        try:
            return self.execution_context.operation_type.value
        except Exception:  # no document, or an operation name it does not have
            return "invalid"

    def _met_database_error(self) -> bool:
        context = self.execution_context
        errors: list[GraphQLError] = list(context.pre_execution_errors or [])
        if context.result is not None:
            errors.extend(context.result.errors or [])
        return any(
            isinstance(error.original_error, (DatabaseUnavailableError, *DATABASE_ERRORS))
            for error in errors
        )
