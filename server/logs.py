"""Logging for the server process: readable lines, or one JSON object a line for a log
collector (`CHORUS_LOG_FORMAT=json`), each naming the request, user and session it is about."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from starlette.requests import HTTPConnection

from server.failures import request_id_of
from server.settings import LogFormat
from trainer import log_context

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time, level, logger and message, the ids of what it is
    about where they are known, and its exception's traceback as a field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **log_context.current(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    handler = logging.StreamHandler()
    json_lines = log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def bind_request(connection: HTTPConnection, user_id: int | None) -> str:
    """The request's id (the one `CatchAll` gave it) and user, for every line it logs."""
    request_id = request_id_of(connection)
    log_context.request_id.set(request_id)
    log_context.user_id.set(user_id)
    return request_id
