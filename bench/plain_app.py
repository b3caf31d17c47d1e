"""The app the API benchmark serves: Chorus as `chorus serve` builds it, plus one plain
Starlette route that answers bytes stored in it, the baseline for the GraphQL layer's cost.

    python -m bench.plain_app PORT

with the usual CHORUS_* settings; prints `READY` once Chorus has started.
`PUT /bench/plain/{name}` stores a body, `POST /bench/plain/{name}` answers it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from server.cli import api_process_app
from server.settings import Settings


def create() -> Starlette:
    # As `chorus serve` makes an API process's app: its logging set up, its heap settled.
    chorus = api_process_app(Settings())
    stored: dict[str, bytes] = {}

    async def plain(request: Request) -> Response:
        name = request.path_params["name"]
        if request.method == "PUT":
            stored[name] = await request.body()
            return Response(status_code=204)
        return Response(stored[name], media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with chorus.router.lifespan_context(chorus):
            print("READY", flush=True)
            yield

    routes = [Route("/bench/plain/{name}", plain, methods=["PUT", "POST"]), Mount("/", chorus)]
    return Starlette(routes=routes, lifespan=lifespan)


if __name__ == "__main__":
    uvicorn.run(create(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
