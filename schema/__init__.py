"""The Chorus GraphQL schema: types only, built into a `strawberry.Schema` here."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from schema.events import EVENT_TYPES
from schema.extensions import MaskUnexpectedErrors, RequireAuthentication, log_errors
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription

SDL_PATH = Path(__file__).with_name("schema.graphql")


class ChorusSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors, execution_context)


def build_schema(
    *, max_depth: int = 12, max_tokens: int = 2000, max_aliases: int = 30
) -> strawberry.Schema:
    return ChorusSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=EVENT_TYPES,
        extensions=[
            RequireAuthentication,
            partial(QueryDepthLimiter, max_depth=max_depth),
            partial(MaxTokensLimiter, max_token_count=max_tokens),
            partial(MaxAliasesLimiter, max_alias_count=max_aliases),
            # Clients send the same few documents again and again (a dashboard's page, a
            # script's poll): parse and validate each once.
            partial(ParserCache, maxsize=256),
            partial(ValidationCache, maxsize=256),
            MaskUnexpectedErrors,
        ],
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
