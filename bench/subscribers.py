"""Websocket subscribers to one session's live events, in a process of their own.

    python -m bench.subscribers WS_URL TOKEN SESSION_ID COUNT DEADLINE_S OUTPUT [FIELD]

opens COUNT graphql-transport-ws connections, each subscribed to the session through FIELD
(`trainingProgress`, one event a message, by default; or `trainingProgressBatches`, a batch a
message), prints `READY` once every subscription is sent, and reads until each has its
SessionFinished or the deadline passes. Each event's delivery latency is the receipt time of
the message that carried it less the event's `at` (one clock: the same machine), worked out
once the run is over; each distinct message is parsed once per process (`Reader`). The
latencies go to OUTPUT (doubles, seconds); a JSON summary goes to stdout, with each
subscription's wait from its subscribe to its first event. With `@PATH` for SESSION_ID it
prints `READY` once connected, and subscribes when told by SIGUSR1 that the session's id is
in PATH.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from array import array
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
from websockets import ClientConnection, ConnectionClosed, connect

from tests.support.live import TRANSPORT_WS, send_subscribe

EVENT = "__typename seq at"
DOCUMENTS = {
    "trainingProgress": f"""subscription($id: String!) {{
  trainingProgress(sessionId: $id) {{ {EVENT} }} }}""",
    "trainingProgressBatches": f"""subscription($id: String!) {{
  trainingProgressBatches(sessionId: $id, maxDelayMs: 100) {{
    firstSeq lastSeq events {{ {EVENT} }} }} }}""",
}
CONNECTING_AT_ONCE = 50
GO = signal.SIGUSR1


@dataclass
class Subscription:
    """What one subscriber saw: the last seq, how its stream ended (`open` while it has
    not), and when it subscribed and first got an event (perf_counter)."""

    last_seq: int = 0
    ended: str = "open"
    subscribed: float = 0.0
    first_event: float = 0.0


@dataclass
class Summary:
    received: int = 0
    messages: int = 0
    message_bytes: int = 0
    gaps: int = 0
    duplicates: int = 0
    first_received: float = 0.0
    last_received: float = 0.0
    ended: dict[str, int] = field(default_factory=dict)
    last_seqs_ended_early: list[int] = field(default_factory=list)
    last_seqs_open: list[int] = field(default_factory=list)
    first_event_waits: list[float] = field(default_factory=list)
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


@dataclass(frozen=True, slots=True)
class Message:
    """What a message says, read once for all the subscribers of this process that are sent
    the same bytes (each subscribes with the same document and id on its own connection)."""

    type: str
    # A `next` with data and no errors: its events' seqs, in order, and their `at` stamps.
    seqs: tuple[int, ...] = ()
    stamps: tuple[float, ...] = ()
    finished: bool = False
    # Whether the seqs follow on one from the next, as a batch's do.
    consecutive: bool = False
    text: str = ""


class Reader:
    """Reads messages by their bytes, each distinct one once. Parsing 30 KB batches and
    hundreds of `at` stamps again for every subscriber of a process took the client processes
    more CPU than the session and the API together on a two-core machine: the load generator,
    not Chorus, then set the pace."""

    def __init__(self, field_name: str) -> None:
        self.field_name = field_name
        self._read: dict[bytes, Message] = {}

    def __call__(self, raw: bytes) -> Message:
        message = self._read.get(raw)
        if message is None:
            if len(self._read) > 256:
                self._read.clear()
            message = self._read[raw] = self._parse(raw)
        return message

    def _parse(self, raw: bytes) -> Message:
        body = orjson.loads(raw)
        payload = body.get("payload")
        if body["type"] != "next" or not payload or payload.get("errors"):
            return Message(body["type"], text=raw.decode()[:500])
        data = payload["data"][self.field_name]
        events = data["events"] if self.field_name == "trainingProgressBatches" else [data]
        seqs = tuple(event["seq"] for event in events)
        return Message(
            "next",
            seqs=seqs,
            stamps=tuple(datetime.fromisoformat(event["at"]).timestamp() for event in events),
            finished=any(event["__typename"] == "SessionFinished" for event in events),
            consecutive=seqs == tuple(range(seqs[0], seqs[0] + len(seqs))),
        )


async def _read(
    ws: ClientConnection,
    read: Reader,
    mine: Subscription,
    summary: Summary,
    receipts: list[tuple[float, Message]],
) -> None:
    """Reads until the subscription's SessionFinished; each message's receipt time is kept
    with it, and its events' latencies worked out once the run is over."""
    try:
        while True:
            raw = await ws.recv(decode=False)
            received = time.time()
            message = read(raw)
            if message.type == "ping":
                await ws.send('{"type": "pong"}')
                continue
            if not message.seqs:
                mine.ended = message.type if message.type != "next" else "error"
                summary.error = summary.error or message.text
                return
            receipts.append((received, message))
            mine.first_event = mine.first_event or time.perf_counter()
            summary.messages += 1
            summary.message_bytes += len(raw)
            summary.first_received = min(summary.first_received or received, received)
            summary.last_received = max(summary.last_received, received)
            summary.received += len(message.seqs)
            if message.consecutive and message.seqs[0] == mine.last_seq + 1:
                mine.last_seq = message.seqs[-1]
            else:
                for seq in message.seqs:
                    if seq <= mine.last_seq:
                        summary.duplicates += 1
                        continue
                    summary.gaps += seq - mine.last_seq - 1
                    mine.last_seq = seq
            if message.finished:
                mine.ended = "finished"
                return
    except ConnectionClosed:
        mine.ended = "dropped"


def _told() -> asyncio.Event:
    told = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(GO, told.set)
    return told


async def main(
    url: str, token: str, session_id: str, count: int, deadline_s: float, field_name: str
) -> tuple[Summary, array[float]]:
    summary = Summary()
    read = Reader(field_name)
    receipts: list[tuple[float, Message]] = []
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    subscriptions = [Subscription() for _ in range(count)]

    async def connect(_: Subscription) -> ClientConnection:
        async with gate:
            return await _open(url, token)

    async def subscribe(ws: ClientConnection, mine: Subscription, session: str) -> None:
        mine.subscribed = time.perf_counter()
        await send_subscribe(ws, "1", DOCUMENTS[field_name], id=session)

    sockets = list(await asyncio.gather(*(connect(mine) for mine in subscriptions)))
    late = session_id.startswith("@")
    if late:
        # Connected; subscribed once the session's id is in that file, which GO says.
        told = _told()
        print("READY", flush=True)
        await told.wait()
        session_id = (await asyncio.to_thread(Path(session_id[1:]).read_text)).strip()
    await asyncio.gather(
        *(subscribe(ws, mine, session_id) for ws, mine in zip(sockets, subscriptions, strict=True))
    )
    if not late:
        print("READY", flush=True)
    try:
        async with asyncio.timeout(deadline_s):
            await asyncio.gather(
                *(
                    _read(ws, read, mine, summary, receipts)
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
        if mine.first_event:
            summary.first_event_waits.append(mine.first_event - mine.subscribed)
    latencies: array[float] = array("d")
    for received, message in receipts:
        latencies.extend(received - stamp for stamp in message.stamps)
    return summary, latencies


if __name__ == "__main__":
    url, token, session_id, count, deadline, output, *rest = sys.argv[1:]
    field_name = rest[0] if rest else "trainingProgress"
    summary, latencies = asyncio.run(
        main(url, token, session_id, int(count), float(deadline), field_name)
    )
    Path(output).write_bytes(latencies.tobytes())
    print(json.dumps(asdict(summary)), flush=True)
