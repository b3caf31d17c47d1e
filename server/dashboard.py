"""The web dashboard at `/`: the built app when there is one, else how to build it; and the
GraphiQL page built with it, which `/graphql` serves to browsers."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chorus</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>Chorus</h1>
<p>The API is up: open <a href="/graphql">GraphiQL at /graphql</a> (until the dashboard is
built, that page loads GraphiQL from a CDN, so it needs internet).</p>
<p>The dashboard has not been built. It needs Node.js 20.19 or newer; then run
<code>make dashboard</code> (or <code>npm ci &amp;&amp; npm run build</code> in
<code>client-examples/dashboard/</code>) and reload this page.
<code>make serve</code> builds it by itself when Node.js is installed.</p>
<p>Expected the built files in <code>{where}</code>.</p>
</body></html>
"""


def is_built(directory: Path) -> bool:
    return (directory / "index.html").is_file()


def graphiql_page(directory: Path) -> Path | None:
    """GraphiQL built with the dashboard, its assets served with the dashboard's; None when there
    is none, and `/graphql` falls back to Strawberry's page (which loads GraphiQL from a CDN)."""
    page = directory / "graphiql.html"
    return page if is_built(directory) and page.is_file() else None


def dashboard_routes(directory: Path) -> list[BaseRoute]:
    if is_built(directory):
        return [Mount("/", app=StaticFiles(directory=directory, html=True), name="dashboard")]

    async def not_built(request: Request) -> Response:
        return HTMLResponse(NOT_BUILT.replace("{where}", str(directory)))

    return [Route("/", not_built)]
