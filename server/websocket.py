"""GraphQL over websockets: reading messages, and answering the ones that cannot be used.

Both protocols are Strawberry's, with what a client is told made explicit: a message that
cannot be read closes the connection with 4400 (graphql-transport-ws; the legacy graphql-ws
ignores it, or answers a malformed `start` with an `error`); a token that is missing,
unknown or unusable with 4403; a database that cannot be reached to check it with 1013 (try
again later). The legacy protocol sends its `connection_error` before it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator
from typing import Any, cast

import orjson
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.schema.schema import StreamResult
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage
from strawberry.types.execution import ExecutionResult, PreExecutionError

from models import limits
from resolvers.context import Context
from schema.execution import RenderedData, compact_json


class Rejected(Exception):
    """A websocket that may not go on: closed with `code`, and on the legacy protocol told
    `message` in a `connection_error` first."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def decode_message(text: str) -> object:
    """A websocket message, read as a request body is (`limits.parse_json`), except that a
    lone surrogate escape is let through: the token check and the variables check refuse it
    with their own answers (4403, BAD_USER_INPUT), not as a message that cannot be read."""
    if len(text) > limits.BODY_MAX_BYTES:
        raise json.JSONDecodeError("the message is too large", "", 0)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as error:
            raise json.JSONDecodeError(str(error), "", 0) from None
    if limits.depth_of(value) > limits.MAX_JSON_DEPTH:
        raise json.JSONDecodeError("the message nests too deeply", "", 0)
    return value


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


class ChorusWebSocketAdapter(ASGIWebSocketAdapter):
    """Reads messages with `decode_message`; sends text already encoded (`send_text`)."""

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send({"type": "websocket.send", "text": text})
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                try:
                    yield decode_message(await self.ws.receive_text())
                except json.JSONDecodeError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
        except KeyError as error:
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass


def _well_formed_operation(message: dict[str, Any]) -> bool:
    """Whether a subscribe (or legacy start) message has an id and a payload of the shapes
    GraphQL over websockets gives them."""
    payload = message.get("payload")
    return (
        isinstance(message.get("id"), str)
        and isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("variables") or {}, dict)
        and isinstance(payload.get("operationName") or "", str)
        and isinstance(payload.get("extensions") or {}, dict)
    )


class PingingTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Sends the protocol's `ping` on a connection that has been quiet for a while.

    Strawberry answers pings but never sends them, and mobile networks and proxies drop
    sockets that carry nothing; a ping keeps them open and shows the client is alive.
    """

    ping_interval_s = 15.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_sent = time.monotonic()
        self._pinger: asyncio.Task[None] | None = None

    async def send_message(self, message: Message) -> None:
        self._last_sent = time.monotonic()
        await super().send_message(message)

    async def handle_message(self, message: Message) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.handle_invalid_message("A message is an object with a `type`.")
        elif message["type"] == "subscribe" and not _well_formed_operation(dict(message)):
            await self.handle_invalid_message(
                "A subscribe message has an `id` and a `payload` with a `query`."
            )
        else:
            await super().handle_message(message)

    async def _send_result_stream(
        self, operation: Operation[Context, None], result_source: StreamResult
    ) -> None:
        """Strawberry's loop over a subscription's results, with a short way for a result
        shared by many subscribers (schema.execution): its payload is already JSON, and the
        `next` message is that spliced after this operation's own id, written to the socket
        as it is. Every other result goes Strawberry's way."""
        prefix = '{"id":' + compact_json(operation.id) + ',"type":"next","payload":'
        send_text = cast(ChorusWebSocketAdapter, self.websocket).send_text
        first = True
        async for result in result_source:
            data = getattr(result, "data", None)
            if (
                isinstance(data, RenderedData)
                and isinstance(result, ExecutionResult)
                and not result.errors
                and not result.extensions
            ):
                if operation.completed:
                    return
                self._last_sent = time.monotonic()
                await send_text(prefix + data.payload() + "}")
            elif first and isinstance(result, PreExecutionError):
                await self._handle_pre_execution_error(operation, result)
                return
            elif not isinstance(result, ExecutionResult):
                await self._reject_incremental_delivery(operation)
                return
            else:
                await operation.send_next(result)
            first = False

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Rejected as rejection:
            await self.websocket.close(code=rejection.code, reason=rejection.reason)
            return
        if self.connection_acknowledged and self._pinger is None:
            self._pinger = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        while True:
            quiet = time.monotonic() - self._last_sent
            if quiet >= self.ping_interval_s:
                await self.send_message({"type": "ping"})
                quiet = 0.0
            await asyncio.sleep(self.ping_interval_s - quiet)

    async def shutdown(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pinger
        await super().shutdown()


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol: a rejected connection gets its `connection_error`
    and is closed with the rejection's code; a malformed operation gets an `error`."""

    async def handle_message(self, message: OperationMessage) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return  # the protocol ignores what it cannot read
        if message["type"] in ("start", "stop") and not isinstance(message.get("id"), str):
            return
        if message["type"] == "start" and not _well_formed_operation(dict(message)):
            await self.send_message(
                {
                    "type": "error",
                    "id": message["id"],
                    "payload": {"message": "A start message has a `payload` with a `query`."},
                }
            )
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Rejected as rejection:
            await self.send_message(
                {"type": "connection_error", "payload": {"message": rejection.message}}
            )
            await self.websocket.close(code=rejection.code, reason=rejection.reason)
