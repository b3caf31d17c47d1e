"""`chorus serve` keeps an idle keep-alive connection open longer than clients keep theirs
(httpx and Node close theirs after 5 s), so that a client reusing its connection never sends
a request into one the server is closing at that moment."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.live import LiveServer

CLIENT_KEEP_ALIVE_S = 5.0
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: chorus.test\r\n\r\n"


async def answer(reader: asyncio.StreamReader) -> bytes:
    """One response's status line, its headers read and its body skipped."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return head.split(b"\r\n", 1)[0]


async def test_an_idle_connection_outlives_a_clients_keep_alive(tmp_path: Path) -> None:
    with LiveServer(f"sqlite+aiosqlite:///{tmp_path / 'chorus.db'}") as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(HEALTH)
            assert await answer(reader) == b"HTTP/1.1 200 OK"
            # Idle for as long as a client keeps its connection, and a little more.
            await asyncio.sleep(CLIENT_KEEP_ALIVE_S + 1)
            writer.write(HEALTH)
            assert await answer(reader) == b"HTTP/1.1 200 OK"
        finally:
            writer.close()
