"""An OpenAPI description of the REST routes, served at `/api/openapi.json`: their paths,
parameters and bodies, the bodies' schemas taken from the pydantic models that read them.

Clients can generate code from it, and the fuzz tests generate requests from it and check
that none, valid or not, makes a route fail.
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from models import limits
from server.autotrain import AutoTrainRequest
from server.rest import (
    MAX_PAGE_NUMBER,
    MAX_PAGE_SIZE,
    STATS_FIELDS,
    TrainingHistoryBody,
    answer_name,
)
from trainer.finetune import DATASET, PREFERENCES
from trainer.plan import MAX_EXAMPLES

_REF = "#/components/schemas/{model}"


_COUNT = {"minimum": 0, "maximum": limits.INT_MAX}
_QUALITY = {"minimum": 0, "maximum": limits.MAX_QUALITY}
_NAME = {"minLength": 1, "maxLength": limits.NAME_MAX_CHARS}
# What the routes check beyond the models' types (models.limits, trainer.plan).
_RANGES: dict[str, dict[str, dict[str, Any]]] = {
    "TrainingHistoryBody": {
        "userId": {"minimum": 1, "maximum": limits.ID_MAX},
        "sessionId": _NAME,
        "numExamplesRequested": {**_COUNT, "minimum": 1},
        **dict.fromkeys(
            (
                "numExamplesSuccessful",
                "numExamplesFailed",
                "storiesSavedCount",
                "totalTimeSeconds",
                "trainingExamplesBefore",
                "trainingExamplesAfter",
            ),
            _COUNT,
        ),
        **dict.fromkeys(("averageQuality", "minQuality", "maxQuality"), _QUALITY),
        "bestPerformingModel": _NAME,
        "modelPerformanceJson": {"maxLength": limits.JSON_FIELD_MAX_BYTES},
        "genreDistributionJson": {"maxLength": limits.JSON_FIELD_MAX_BYTES},
    },
    "AutoTrainRequest": {
        "user_id": {"minimum": 1, "maximum": limits.ID_MAX},
        "num_examples": {"minimum": 1, "maximum": MAX_EXAMPLES},
        "seed": _COUNT,
    },
}


def _schema_of(model: Any, schemas: dict[str, Any], *, by_alias: bool) -> dict[str, str]:
    """`model`'s JSON schema, with the ranges the routes check, kept in `schemas` with the
    ones it refers to; a reference to it."""
    schema = model.model_json_schema(by_alias=by_alias, ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    for name, bounds in _RANGES.get(model.__name__, {}).items():
        field = schema["properties"][name]
        for branch in field.get("anyOf", [field]):
            if branch.get("type") != "null":
                branch.update(bounds)
    schemas[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
    }


_ERRORS = {
    "400": _error("The request names what is wrong in `field`; nothing was written."),
    "401": _error("No token, or one that is unknown or revoked."),
    "403": _error("Another user's data, asked for by someone who is not an admin."),
    "404": _error("No such thing, or not yours."),
    "503": _error("The database cannot be reached right now; try again shortly."),
}


def _answer(description: str, schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}},
        **_ERRORS,
    }


def _integer(name: str, where: str, low: int, high: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": {"type": "integer", "minimum": low, "maximum": high, **extra},
    }


def _text(name: str, where: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": {"type": "string"}}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


@functools.cache
def openapi() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "BAD_USER_INPUT, NOT_FOUND, ..."},
                "message": {"type": "string", "description": "What to fix."},
                "field": {"type": "string", "description": "The field that is wrong."},
                "requestId": {"type": "string", "description": "Where the log has more."},
            },
        },
        "Session": {
            "type": "object",
            "description": "A session in the original record's shape, then Chorus's fields.",
        },
        "Stats": {
            "type": "object",
            "properties": {answer_name(field): {"type": "number"} for field in STATS_FIELDS},
        },
    }
    body = _schema_of(TrainingHistoryBody, schemas, by_alias=True)
    auto_train = _schema_of(AutoTrainRequest, schemas, by_alias=False)
    session = {"$ref": _REF.format(model="Session")}
    page = {"type": "object"}
    sessions = {"type": "array", "items": session}
    user = _integer("userId", "path", 1, limits.ID_MAX)
    job = _integer("jobId", "path", 1, limits.ID_MAX)
    by_user = "/api/training-history/user/{userId}"
    paths: dict[str, Any] = {
        "/api/training-history": {
            "post": {
                "summary": "Record a session run by an external trainer.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                },
                "responses": {
                    **_answer("The saved record.", session, "201"),
                    "409": _error("A session with this sessionId is recorded already."),
                },
            }
        },
        by_user: {
            "get": {
                "summary": "Every session of the user, newest first.",
                "parameters": [user],
                "responses": _answer("The sessions.", sessions),
            }
        },
        by_user + "/paginated": {
            "get": {
                "summary": "A numbered page of the user's sessions, newest first.",
                "parameters": [
                    user,
                    _integer("page", "query", 0, MAX_PAGE_NUMBER, default=0),
                    _integer("size", "query", 1, MAX_PAGE_SIZE, default=10),
                ],
                "responses": _answer("content, totalElements, totalPages, number, size", page),
            }
        },
        by_user + "/stats": {
            "get": {
                "summary": "The user's totals.",
                "parameters": [user],
                "responses": _answer("The totals.", {"$ref": _REF.format(model="Stats")}),
            }
        },
        by_user + "/recent": {
            "get": {
                "summary": "The user's last sessions by completion time.",
                "parameters": [user, _integer("limit", "query", 1, MAX_PAGE_SIZE, default=5)],
                "responses": _answer("The sessions.", sessions),
            }
        },
        "/api/training-history/session/{sessionId}": {
            "get": {
                "summary": "One session.",
                "parameters": [
                    {
                        "name": "sessionId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": _answer("The session.", session),
            }
        },
        **{
            f"/api/fine-tune-jobs/{{jobId}}/{filename}": {
                "get": {
                    "summary": f"A fine-tuning job's {filename}, as JSON Lines.",
                    "parameters": [job],
                    "responses": {
                        "200": {
                            "description": "The file.",
                            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                        },
                        **_ERRORS,
                    },
                }
            }
            for filename in (DATASET, PREFERENCES)
        },
        "/auto-train": {
            "post": {
                "summary": f"Run a session of 1 to {MAX_EXAMPLES} examples to its end.",
                "requestBody": _json_body(auto_train),
                "responses": _answer("The session's results.", {"type": "object"}),
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Chorus REST API",
            "version": "1",
            "description": "The training-history service's REST API and /auto-train. "
            "Everything else is in the GraphQL schema at /graphql.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def route() -> Route:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(openapi())

    return Route("/openapi.json", endpoint)
