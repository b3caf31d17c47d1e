"""The floor under fan-out: the `websockets` library broadcasting frames to many connections
from one process, with no GraphQL and no broadcast backend above it.

    python -m bench.raw_frames PORT SUBSCRIBERS EVENTS RATE FRAME_BYTES

serves graphql-transport-ws on 127.0.0.1:PORT just far enough for `bench.subscribers` (an
acknowledged `connection_init`, one `subscribe`), prints `READY`, and on SIGUSR1 sends EVENTS
`next` messages, RATE a second, each to every subscription with `websockets.broadcast`, the
last a SessionFinished. Each message is the one Chorus sends for `trainingProgress { __typename
seq at }`, padded with JSON whitespace to FRAME_BYTES, the mean size Chorus's were. Like
`chorus serve`, it runs on uvloop with per-message compression off. It serves until stopped.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

from tests.support.live import TRANSPORT_WS

# The parent sends it once its CPU reading is taken.
GO = signal.SIGUSR1


def frame(seq: int, typename: str, size: int) -> str:
    event = {"__typename": typename, "seq": seq, "at": datetime.now(UTC).isoformat()}
    message = json.dumps(
        {"id": "1", "type": "next", "payload": {"data": {"trainingProgress": event}}},
        separators=(",", ":"),
    )
    return message + " " * (size - len(message))


async def main(port: int, subscribers: int, events: int, rate: float, size: int) -> None:
    subscribed: set[ServerConnection] = set()
    go = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(GO, go.set)

    async def handler(ws: ServerConnection) -> None:
        json.loads(await ws.recv())  # connection_init
        await ws.send('{"type":"connection_ack"}')
        json.loads(await ws.recv())  # subscribe
        subscribed.add(ws)
        await ws.wait_closed()
        subscribed.discard(ws)

    async with serve(handler, "127.0.0.1", port, subprotocols=[TRANSPORT_WS], compression=None):
        print("READY", flush=True)
        await go.wait()
        if len(subscribed) < subscribers:
            print(f"only {len(subscribed)} of {subscribers} subscribed", file=sys.stderr)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for seq in range(1, events + 1):
            await asyncio.sleep(max(0.0, start + (seq - 1) / rate - loop.time()))
            typename = "SessionFinished" if seq == events else "TeacherResponded"
            broadcast(subscribed, frame(seq, typename, size))
        await asyncio.Future()


if __name__ == "__main__":
    port, count, events, rate, size = sys.argv[1:]
    uvloop.run(main(int(port), int(count), int(events), float(rate), int(size)))
