"""Websocket subscribers to one session's trainingProgress, in a process of their own.

    python -m bench.subscribers WS_URL TOKEN SESSION_ID COUNT DEADLINE_S OUTPUT

opens COUNT graphql-transport-ws connections, each subscribed to the session, prints
`READY` once every subscription is sent, and reads until each has its SessionFinished or
the deadline passes. Each event's delivery latency is the receipt time less the event's
`at` (one clock: the same machine). The latencies go to OUTPUT (doubles, seconds); a JSON
summary goes to stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from array import array
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from websockets import ClientConnection, ConnectionClosed, connect

from tests.support.live import TRANSPORT_WS, send_subscribe

PROGRESS = """subscription($id: String!) {
  trainingProgress(sessionId: $id) { __typename seq at } }"""
CONNECTING_AT_ONCE = 50


@dataclass
class Subscription:
    """What one subscriber saw: the last seq, and how its stream ended (`open` while it
    has not)."""

    last_seq: int = 0
    ended: str = "open"


@dataclass
class Summary:
    received: int = 0
    gaps: int = 0
    duplicates: int = 0
    first_received: float = 0.0
    last_received: float = 0.0
    ended: dict[str, int] = field(default_factory=dict)
    last_seqs_ended_early: list[int] = field(default_factory=list)
    last_seqs_open: list[int] = field(default_factory=list)
    error: str = ""


async def _open(url: str, token: str) -> ClientConnection:
    """A connection like a browser's, except that it sends no keepalive pings: a server
    slow to answer them is what is measured, not a reason to hang up."""
    ws = await connect(url, subprotocols=[TRANSPORT_WS], ping_interval=None, max_queue=1024)
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await ws.send(json.dumps(init))
    ack = json.loads(await ws.recv())
    if ack["type"] != "connection_ack":
        raise RuntimeError(f"not acknowledged: {ack}")
    return ws


async def _read(
    ws: ClientConnection, mine: Subscription, summary: Summary, latencies: array[float]
) -> None:
    try:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "ping":
                await ws.send('{"type": "pong"}')
                continue
            payload = message.get("payload")
            if message["type"] != "next" or not payload or payload.get("errors"):
                mine.ended = message["type"] if message["type"] != "next" else "error"
                summary.error = summary.error or json.dumps(message)[:500]
                return
            received = time.time()
            event = payload["data"]["trainingProgress"]
            latencies.append(received - datetime.fromisoformat(event["at"]).timestamp())
            summary.received += 1
            summary.first_received = min(summary.first_received or received, received)
            summary.last_received = max(summary.last_received, received)
            seq = event["seq"]
            if seq <= mine.last_seq:
                summary.duplicates += 1
                continue
            summary.gaps += seq - mine.last_seq - 1
            mine.last_seq = seq
            if event["__typename"] == "SessionFinished":
                mine.ended = "finished"
                return
        mine.ended = "closed"
    except ConnectionClosed:
        mine.ended = "dropped"


async def main(
    url: str, token: str, session_id: str, count: int, deadline_s: float
) -> tuple[Summary, array[float]]:
    summary = Summary()
    latencies: array[float] = array("d")
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def subscribe() -> ClientConnection:
        async with gate:
            ws = await _open(url, token)
            await send_subscribe(ws, "1", PROGRESS, id=session_id)
            return ws

    sockets = list(await asyncio.gather(*(subscribe() for _ in range(count))))
    subscriptions = [Subscription() for _ in sockets]
    print("READY", flush=True)
    try:
        async with asyncio.timeout(deadline_s):
            await asyncio.gather(
                *(
                    _read(ws, mine, summary, latencies)
                    for ws, mine in zip(sockets, subscriptions, strict=True)
                )
            )
    except TimeoutError:
        pass
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    for mine in subscriptions:
        summary.ended[mine.ended] = summary.ended.get(mine.ended, 0) + 1
        if mine.ended == "open":
            summary.last_seqs_open.append(mine.last_seq)
        elif mine.ended != "finished":
            summary.last_seqs_ended_early.append(mine.last_seq)
    return summary, latencies


if __name__ == "__main__":
    url, token, session_id, count, deadline, output = sys.argv[1:]
    summary, latencies = asyncio.run(main(url, token, session_id, int(count), float(deadline)))
    Path(output).write_bytes(latencies.tobytes())
    print(json.dumps(asdict(summary)), flush=True)
