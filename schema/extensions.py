"""Schema extensions: who may run an operation, what input and transport it needs, what each
error is called, and what an unexpected error shows.

Every error a client reads has an `extensions.code`:

- GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED: the document itself is wrong;
- BAD_USER_INPUT: a variable does not fit its type (an Int of 33 bits, a date of the year
  10000), as well as Chorus's own BadUserInput;
- the code of any other of Chorus's errors (models.errors);
- SERVICE_UNAVAILABLE for a database that cannot be reached, INTERNAL_SERVER_ERROR for
  anything else: both masked, with the request id under which the log has the traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionContext, StreamExecutionResult
from strawberry.types.graphql import OperationType

from models import limits
from models.errors import BadUserInput, ChorusError, Unauthenticated, is_outage, public_message
from models.users import missing_token_message

logger = logging.getLogger("chorus.graphql")

INTROSPECTION_FIELDS = frozenset({"__schema", "__type", "__typename"})


def root_fields(document: DocumentNode, operation_name: str | None = None) -> set[str]:
    """The fields an operation selects at its root, through its fragments, whatever they are
    called (all operations' when the one to run cannot be told)."""
    chosen = get_operation_ast(document, operation_name)
    operations = (
        [chosen]
        if chosen is not None
        else [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    )
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    pending: list[SelectionNode] = [
        selection for operation in operations for selection in operation.selection_set.selections
    ]
    spread: set[str] = set()
    fields: set[str] = set()
    while pending:
        selection = pending.pop()
        if isinstance(selection, FieldNode):
            fields.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            pending.extend(selection.selection_set.selections)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in spread and name in fragments:
                spread.add(name)
                pending.extend(fragments[name].selection_set.selections)
    return fields


def _is_introspection(execution_context: ExecutionContext) -> bool:
    document = execution_context.graphql_document
    if document is None:
        return False
    return root_fields(document, execution_context.operation_name) <= INTROSPECTION_FIELDS


class RequireAuthentication(SchemaExtension):
    """Every operation needs a valid token, except one that selects nothing but
    introspection (GraphiQL's schema view)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if getattr(context, "user", None) is None and not _is_introspection(self.execution_context):
            error = Unauthenticated(missing_token_message(getattr(context, "token_given", False)))
            self.execution_context.result = ExecutionResult(
                data=None, errors=[GraphQLError(error.message, original_error=error)]
            )
        yield


def _unreadable_variable(variables: dict[str, object] | None) -> str | None:
    """The first variable holding text that is not valid Unicode (a lone surrogate)."""
    for name, value in (variables or {}).items():
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, str) and not limits.is_unicode(item):
                return name
            if isinstance(item, dict):
                pending.extend(item.keys())
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
    return None


class RefuseUnusableRequests(SchemaExtension):
    """What no resolver should see: a subscription sent by HTTP (it needs the websocket,
    which can carry its events), and text no database can store."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        over_websocket = getattr(context, "over_websocket", False)
        if self.execution_context.operation_type is OperationType.SUBSCRIPTION and not (
            over_websocket
        ):
            raise InvalidOperationTypeError(OperationType.SUBSCRIPTION)
        name = _unreadable_variable(self.execution_context.variables)
        if name is not None:
            raise BadUserInput(f"Variable `${name}` holds text that is not valid Unicode.")
        yield


class CachedParser(ParserCache):
    """Strawberry's ParserCache, except for a document that does not parse: ParserCache
    raises its error before the other extensions can see it (so it would reach the client
    with no code, and anything that is not a syntax error unmasked); left to Strawberry's
    own parse, it is reported as an error result like any other."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except Exception:  # Strawberry parses a document that is not there, and reports why
            context.graphql_document = None
        yield


def _cause(error: GraphQLError) -> BaseException | None:
    """The exception behind a GraphQL error, through GraphQL errors wrapping each other."""
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return None if isinstance(original, GraphQLError) else original


def is_expected(error: GraphQLError) -> bool:
    """Errors made for users reach them as they are: Chorus's own, and GraphQL's about the
    document and its variables (raised by GraphQL itself, before any field resolved)."""
    cause = _cause(error)
    if isinstance(cause, ChorusError):
        return True
    return cause is None and not error.path


def _coded(error: GraphQLError, code: str) -> None:
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code}


class MaskUnexpectedErrors(MaskErrors):
    """Gives every error its code. An unexpected error reaches the client as a message a
    person can act on, with the request id; the log has its traceback under the same id."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not is_expected(error))

    def on_parse(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            _coded(error, "GRAPHQL_PARSE_FAILED")

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            _coded(error, "GRAPHQL_VALIDATION_FAILED")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            # What is left without a code is GraphQL's own word on a variable's value.
            _coded(error, "BAD_USER_INPUT")
        return processed

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
        cause = _cause(error) or error
        masked = super().anonymise_error(error)
        masked.message = public_message(cause, f"request id {request_id}")
        code = "SERVICE_UNAVAILABLE" if is_outage(cause) else "INTERNAL_SERVER_ERROR"
        masked.extensions = {"code": code, "requestId": request_id}
        return masked


def log_errors(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    request_id = getattr(getattr(execution_context, "context", None), "request_id", "unknown")
    for error in errors:
        if is_expected(error):
            logger.info("request %s: %s", request_id, error.message)
        elif is_outage(_cause(error) or error):
            logger.warning(
                "request %s: the database cannot be reached at %s: %s",
                request_id,
                error.path,
                _cause(error),
            )
        else:
            logger.error(
                "request %s: unexpected error at %s",
                request_id,
                error.path,
                exc_info=error.original_error,
            )
