"""Strawberry's floor for the API benchmark's reads: the fields they select, and nothing else,
over objects held in memory, served by uvicorn as Chorus is. What Chorus costs over it is
what its own work costs (authentication, the database, its extensions and types); what the
floor costs is Strawberry's and graphql-core's, which any schema pays for the same document.

    python -m bench.floor_app PORT

prints `READY` once it serves. `PUT /floor/{read}` with Chorus's answer to a read (`history`
or `session`) makes the objects the floor answers that read with: the same values, so the
same bytes. The schema has the parser and validation caches Chorus has, so a document is
parsed and validated once here too.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from functools import partial
from typing import Any

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from schema.enums import Genre, SessionStatus
from server.cli import settle_heap


@strawberry.type
class ModelPerformance:
    model: str
    wins: int
    average_quality: float


@strawberry.type
class TeacherOutput:
    model: str
    latency_ms: int | None
    text_quality: float | None
    error: str | None


@strawberry.type
class Vote:
    voter: str
    candidate: str


@strawberry.type
class TrainingExample:
    index: int
    genre: Genre
    winner: str | None
    final_quality: float | None
    confidence: float | None
    outputs: list[TeacherOutput]
    votes: list[Vote]


@strawberry.type
class TrainingExampleEdge:
    node: TrainingExample


@strawberry.type
class TrainingExampleConnection:
    total_count: int
    edges: list[TrainingExampleEdge]


@strawberry.type
class TrainingSession:
    session_id: str
    started_at: datetime | None
    status: SessionStatus
    num_examples_successful: int | None
    average_quality: float | None
    best_performing_model: str | None
    model_performance: list[ModelPerformance]
    first_examples: strawberry.Private[TrainingExampleConnection | None]

    @strawberry.field
    def examples(
        self, first: int | None = None, after: str | None = None
    ) -> TrainingExampleConnection | None:
        return self.first_examples


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class TrainingSessionEdge:
    cursor: str
    node: TrainingSession


@strawberry.type
class TrainingSessionConnection:
    page_info: PageInfo
    edges: list[TrainingSessionEdge]


STORED: dict[str, Any] = {}


@strawberry.type
class Query:
    # Async, as a root field that reads a database is: one await per request, as in Chorus.
    @strawberry.field
    async def training_history(
        self, first: int | None = None, after: str | None = None
    ) -> TrainingSessionConnection:
        history: TrainingSessionConnection = STORED["history"]
        return history

    @strawberry.field
    async def training_session(self, session_id: str) -> TrainingSession | None:
        session: TrainingSession | None = STORED.get("session")
        return session


def _session(data: dict[str, Any]) -> TrainingSession:
    examples = data.get("examples")
    started_at = data.get("startedAt")
    return TrainingSession(
        session_id=data["sessionId"],
        started_at=datetime.fromisoformat(started_at) if started_at else None,
        status=SessionStatus[data["status"]],
        num_examples_successful=data.get("numExamplesSuccessful"),
        average_quality=data.get("averageQuality"),
        best_performing_model=data.get("bestPerformingModel"),
        model_performance=[
            ModelPerformance(
                model=entry["model"], wins=entry["wins"], average_quality=entry["averageQuality"]
            )
            for entry in data.get("modelPerformance", ())
        ],
        first_examples=None if examples is None else _examples(examples),
    )


def _examples(data: dict[str, Any]) -> TrainingExampleConnection:
    return TrainingExampleConnection(
        total_count=data["totalCount"],
        edges=[
            TrainingExampleEdge(
                node=TrainingExample(
                    index=node["index"],
                    genre=Genre[node["genre"]],
                    winner=node["winner"],
                    final_quality=node["finalQuality"],
                    confidence=node["confidence"],
                    outputs=[
                        TeacherOutput(
                            model=output["model"],
                            latency_ms=output["latencyMs"],
                            text_quality=output["textQuality"],
                            error=output["error"],
                        )
                        for output in node["outputs"]
                    ],
                    votes=[
                        Vote(voter=vote["voter"], candidate=vote["candidate"])
                        for vote in node["votes"]
                    ],
                )
            )
            for edge in data["edges"]
            for node in [edge["node"]]
        ],
    )


def _store(read: str, answer: dict[str, Any]) -> None:
    data = answer["data"]
    if read == "history":
        page = data["trainingHistory"]
        STORED[read] = TrainingSessionConnection(
            page_info=PageInfo(
                has_next_page=page["pageInfo"]["hasNextPage"],
                end_cursor=page["pageInfo"]["endCursor"],
            ),
            edges=[
                TrainingSessionEdge(cursor=edge["cursor"], node=_session(edge["node"]))
                for edge in page["edges"]
            ],
        )
    else:
        STORED[read] = _session(data["trainingSession"])


def create() -> Starlette:
    schema = strawberry.Schema(
        query=Query,
        extensions=[partial(ParserCache, maxsize=256), partial(ValidationCache, maxsize=256)],
    )

    async def store(request: Request) -> Response:
        _store(request.path_params["read"], json.loads(await request.body()))
        return Response(status_code=204)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        print("READY", flush=True)
        yield

    routes = [
        Route("/floor/{read}", store, methods=["PUT"]),
        Route("/graphql", GraphQL(schema, graphql_ide=None), methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    # The garbage collector tuned as in Chorus's API processes (server.cli).
    settle_heap()
    return app


if __name__ == "__main__":
    uvicorn.run(create(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
