"""Schema extensions: who may run an operation, and what an unexpected error shows."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types import ExecutionContext, StreamExecutionResult

from models.errors import ChorusError, Unauthenticated
from models.users import missing_token_message

logger = logging.getLogger("chorus.graphql")


def _is_introspection(execution_context: ExecutionContext) -> bool:
    document = execution_context.graphql_document
    if document is None:
        return False
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                name = getattr(selection, "name", None)
                if name is None or not name.value.startswith("__"):
                    return False
    return True


class RequireAuthentication(SchemaExtension):
    """Every operation needs a valid token, except introspection (GraphiQL's schema view)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if getattr(context, "user", None) is None and not _is_introspection(self.execution_context):
            error = Unauthenticated(missing_token_message(getattr(context, "token_given", False)))
            self.execution_context.result = ExecutionResult(
                data=None, errors=[GraphQLError(error.message, original_error=error)]
            )
        yield


def is_expected(error: GraphQLError) -> bool:
    """Errors made for users reach them as they are: Chorus's own, and GraphQL's errors about
    the document and its variables (which have no path: nothing was resolved yet)."""
    original = error.original_error
    return original is None or isinstance(original, ChorusError) or not error.path


class MaskUnexpectedErrors(MaskErrors):
    """An unexpected error reaches the client as a generic message with the request id; the
    log has its traceback under the same id."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not is_expected(error))

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        # MaskErrors asks a runtime-checkable Protocol whether a result has errors, about
        # 10 us on Python 3.11, and a subscriber gets a result for every event: a result
        # without errors has nothing to mask.
        if (
            getattr(result, "errors", None)
            or getattr(result, "incremental", None)
            or getattr(result, "completed", None)
        ):
            yield from super().on_stream_result(result)
        else:
            yield

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", "unknown")
        masked = super().anonymise_error(error)
        masked.message = f"Internal server error (request id {request_id})."
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
        return masked


def log_errors(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    request_id = getattr(getattr(execution_context, "context", None), "request_id", "unknown")
    for error in errors:
        if is_expected(error):
            logger.info("request %s: %s", request_id, error.message)
        else:
            logger.error(
                "request %s: unexpected error at %s",
                request_id,
                error.path,
                exc_info=error.original_error,
            )
