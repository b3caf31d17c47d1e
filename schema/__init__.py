"""The Chorus GraphQL schema: types only, built into a `strawberry.Schema` here."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext
from strawberry.types import ExecutionResult as StrawberryResult

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
    return ChorusSchema(
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


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
