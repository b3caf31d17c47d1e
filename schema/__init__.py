"""The Chorus GraphQL schema: types only, built into a `strawberry.Schema` here."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLObjectType
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import ExecutionContext
from strawberry.types import ExecutionResult as StrawberryResult
from strawberry.types.field import StrawberryField

from schema.events import GRAPHQL_TYPES
from schema.execution import SharedEventExecutor, SharedResultRunner
from schema.extensions import (
    CachedParser,
    MaskUnexpectedErrors,
    RefuseUnusableRequests,
    RequireAuthentication,
    log_errors,
)
from schema.mutation import Mutation
from schema.query import Query
from schema.scalars import SCALAR_OVERRIDES
from schema.subscription import Subscription

SDL_PATH = Path(__file__).with_name("schema.graphql")


class ChorusSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors, execution_context)

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return SharedResultRunner(execution_context, extensions)

    async def _handle_execution_result(
        self,
        context: ExecutionContext,
        result: Any,
        extensions_runner: SchemaExtensionsRunner,
        *,
        skip_process_errors: bool = False,
    ) -> StrawberryResult:
        # A subscription event's result that many subscribers share (schema.execution) is
        # handed on as it is, the same object for all of them.
        if isinstance(extensions_runner, SharedResultRunner):
            shared = extensions_runner.shared(result)
            if shared is not None:
                context.result = shared
                return shared
        return await super()._handle_execution_result(
            context, result, extensions_runner, skip_process_errors=skip_process_errors
        )


def build_schema(
    *, max_depth: int = 12, max_tokens: int = 2000, max_aliases: int = 30
) -> strawberry.Schema:
    # The limiters make their validation rules as classes when constructed; made once here,
    # the rules are the same objects on every request, so ValidationCache's key (which
    # includes the rules) repeats and each document is validated once, not once a request.
    limits = [
        QueryDepthLimiter(max_depth=max_depth),
        MaxAliasesLimiter(max_alias_count=max_aliases),
    ]
    limit_rules = [rule for limiter in limits for rule in limiter.validation_rules]
    schema = ChorusSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=list(GRAPHQL_TYPES.values()),
        scalar_overrides=SCALAR_OVERRIDES,
        extensions=[
            RequireAuthentication,
            RefuseUnusableRequests,
            partial(AddValidationRules, limit_rules),
            partial(MaxTokensLimiter, max_token_count=max_tokens),
            # Clients send the same few documents again and again (a dashboard's page, a
            # script's poll): parse and validate each once.
            partial(CachedParser, maxsize=256),
            partial(ValidationCache, maxsize=256),
            MaskUnexpectedErrors,
        ],
        # A thousand subscribers to one session: each event executed once, not a thousand times.
        execution_context_class=SharedEventExecutor,
    )
    read_plain_attributes(schema)
    return schema


def _attribute(name: str) -> Callable[..., Any]:
    def resolve(source: Any, info: Any, **_: Any) -> Any:
        return getattr(source, name)

    return resolve


def read_plain_attributes(schema: strawberry.Schema) -> None:
    """Fields with no resolver of their own read their attribute in one call.

    Strawberry gives such a field a resolver that calls the field's `get_result`, which
    calls the default resolver, which calls getattr: three calls for every field of every
    object of a page (a history page has hundreds). graphql-core calls this one instead.
    A field with a resolver, an extension or an exception handler keeps Strawberry's.
    """
    if schema.config.default_resolver is not getattr:
        return
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field in graphql_type.fields.values():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if (
                isinstance(definition, StrawberryField)
                and definition.is_basic_field
                and not definition.is_subscription
                and getattr(field.resolve, "_is_default", False)
            ):
                field.resolve = _attribute(definition.python_name)


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
