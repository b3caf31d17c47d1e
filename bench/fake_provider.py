"""The fake provider's chat protocols in a process of its own, lean enough to stay out of the way.

    python -m bench.fake_provider LATENCY_S

prints `READY <url>` once it listens, answers every chat request after LATENCY_S, and runs
until it is terminated.

The providers a benchmark stands in for run on other machines; their CPU is not Chorus's.
On a two-core machine every core the stand-in uses is taken from what is measured, so this
one answers with the test fake's own wire formats (`tests.support.fake_provider`: the same
paths, auth checks, stories, verdicts and JSON bodies) but without its framework: HTTP/1.1
keep-alive parsed by httptools on uvloop, no faults, nothing kept. Each call costs it about
two fifths of the CPU it costs the test fake (bench/README.md, "Seventh round").
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import time
from typing import Any, cast

import httptools
import orjson
import uvloop
from starlette.datastructures import Headers
from starlette.routing import compile_path

from tests.support.fake_provider import CHAT_PATHS, Call, Dialect, normal_answer

_ROUTES: list[tuple[re.Pattern[str], Dialect]] = [
    (compile_path(path)[0], dialect) for path, dialect in CHAT_PATHS.items()
]


class _Exchange(asyncio.Protocol):
    """One client connection: requests in, each answered LATENCY_S after it arrived."""

    def __init__(self, latency_s: float) -> None:
        self._latency_s = latency_s
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._close()

    # httptools' callbacks
    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        request = (self._url, self._headers, b"".join(self._body), time.perf_counter_ns())
        self._url, self._headers, self._body = b"", [], []
        keep_alive = self._parser.should_keep_alive()
        self._loop.call_later(self._latency_s, self._answer, *request, keep_alive)

    def _answer(
        self,
        url: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        started_ns: int,
        keep_alive: bool,
    ) -> None:
        if self._transport is None:
            return
        status, payload = _respond(
            httptools.parse_url(url).path.decode(), headers, body, started_ns
        )
        content = orjson.dumps(payload)
        self._transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (status, b"OK" if status == 200 else b"Error", len(content), content)
        )
        if not keep_alive:
            self._close()

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _respond(
    path: str, headers: list[tuple[bytes, bytes]], body: bytes, started_ns: int
) -> tuple[int, Any]:
    for pattern, dialect in _ROUTES:
        matched = pattern.match(path)
        if matched is None:
            continue
        denied = dialect.denied(Headers(raw=headers))
        if denied is not None:
            return denied.status_code, orjson.loads(denied.body)
        request = orjson.loads(body)
        model = dialect.model(matched.groupdict(), request)
        call = Call(model, dialect.prompt(request), request, started_ns)
        return 200, normal_answer(dialect, call)
    return 404, {"error": f"no such endpoint: {path}"}


async def serve(latency_s: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Exchange(latency_s), sock=sock, backlog=1024)
    print(f"READY http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    await server.serve_forever()


def main(argv: list[str]) -> None:
    [latency] = argv
    uvloop.run(serve(float(latency)))


if __name__ == "__main__":
    main(sys.argv[1:])
