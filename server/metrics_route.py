"""`GET /metrics` on the API's own port, for admins (401 without a token, 403 for anyone
else, in the REST error shape); server/metrics.py says what a scrape reads."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from models.errors import ChorusError, Forbidden
from server.failures import error_response
from server.logs import bind_request
from server.metrics import PATH, exposition
from server.services import services_of
from trainer import log_context


async def metrics_endpoint(request: Request) -> Response:
    services = services_of(request)
    bind_request(request, user_id=None)
    try:
        user = await services.auth.require_user(request.headers)
        log_context.user_id.set(user.id)
        if not user.is_admin:
            raise Forbidden(
                "The metrics are for admins (`chorus users create NAME --admin`), or for a "
                "scraper on CHORUS_METRICS_PORT."
            )
    except ChorusError as error:
        return error_response(request.url.path, error)
    body, content_type = await exposition(services.db, request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type})


def route() -> Route:
    return Route(PATH, metrics_endpoint)
