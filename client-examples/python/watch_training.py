"""Start a Chorus training session, or follow one, and watch its progress live.

    python watch_training.py --examples 20 --genre FANTASY --genre MYSTERY --voting JURY
    python watch_training.py --session-id 3f2a...     # follow a session that already exists
    python watch_training.py --examples 5 --plain     # one line per event, for scripts

The session starts with the `startTraining` mutation over HTTP; its events arrive on the
`trainingProgressBatches` subscription over graphql-transport-ws, gathered into one message
every quarter of a second at most. Events are numbered 1, 2, 3... without gaps, and a batch
holds consecutive ones, so when the socket drops the script subscribes again with `afterSeq`
set to the last number it saw, and misses nothing. Exit status: 0 when the session ends
COMPLETED, 1 when it ends otherwise, 2 when it cannot be started or followed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from chorus_client import (
    ClientError,
    Server,
    add_server_arguments,
    explain,
    genre_name,
    is_transient,
    server_from,
)

Event = dict[str, Any]

START = """
mutation Start($input: StartTrainingInput!) {
  startTraining(input: $input) { sessionId status numExamplesRequested }
}
"""

PROGRESS = """
subscription Progress($sessionId: String!, $afterSeq: Int, $maxDelayMs: Int!) {
  trainingProgressBatches(sessionId: $sessionId, afterSeq: $afterSeq, maxDelayMs: $maxDelayMs) {
    firstSeq lastSeq
    events {
      __typename seq at
      ... on SessionStarted { numExamples teachers votingStrategy }
      ... on ExampleStarted { index genre prompt style }
      ... on TeacherResponded { index model ok latencyMs outputQuality: textQuality reason: error }
      ... on VoteCast { index voter candidate }
      ... on ExampleScored {
        index winner textQuality confidence finalQuality savedToDatabase storedInMemory
      }
      ... on ExampleFailed { index error }
      ... on SessionProgress { completed failed total etaSeconds }
      ... on FineTuningTriggered { examplesCollected job { id status numExamples } }
      ... on SessionFinished {
        status
        session {
          sessionId status numExamplesRequested numExamplesSuccessful numExamplesFailed
          averageQuality minQuality maxQuality bestPerformingModel storiesSavedCount
          totalTimeSeconds fineTuningTriggered error
          modelPerformance { model wins averageQuality }
        }
      }
    }
  }
}
"""
# The longest the server holds an event back to send it with the ones after it: the live view
# redraws once per batch, four times a second at most however fast the session runs.
MAX_DELAY_MS = 250

RECONNECT_ATTEMPTS = 8
STATUS_STYLES = {
    "COMPLETED": "bold green",
    "RUNNING": "bold cyan",
    "QUEUED": "yellow",
    "FAILED": "bold red",
    "CANCELLED": "bold yellow",
    "INTERRUPTED": "bold yellow",
}


@dataclass
class Watch:
    """What the events of one session have said so far."""

    session_id: str
    status: str = "WAITING"
    total: int | None = None
    completed: int = 0
    failed: int = 0
    eta_seconds: float | None = None
    teachers: list[str] = field(default_factory=list)
    voting: str | None = None
    genres: dict[int, str] = field(default_factory=dict)
    wins: Counter[str] = field(default_factory=Counter)
    won_quality: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    votes: deque[Event] = field(default_factory=lambda: deque(maxlen=8))
    winners: deque[Event] = field(default_factory=lambda: deque(maxlen=8))
    last_seq: int | None = None
    finished: Event | None = None
    events_received: int = 0
    batches_received: int = 0

    def apply_batch(self, batch: Event) -> list[Event]:
        """Apply the batch's events not seen before (a resumed stream may repeat some), which
        it returns."""
        seen = self.last_seq or 0
        new = [event for event in batch["events"] if event["seq"] > seen]
        for event in new:
            self.apply(event)
        self.batches_received += 1
        self.events_received += len(new)
        return new

    def apply(self, event: Event) -> None:
        self.last_seq = event["seq"]
        match event["__typename"]:
            case "SessionStarted":
                self.status = "RUNNING"
                self.total = event["numExamples"]
                self.teachers = event["teachers"]
                self.voting = event["votingStrategy"]
            case "ExampleStarted":
                self.genres[event["index"]] = event["genre"]
            case "VoteCast":
                self.votes.append(event)
            case "ExampleScored":
                self.wins[event["winner"]] += 1
                self.won_quality[event["winner"]] += event["finalQuality"]
                self.winners.append(event)
            case "SessionProgress":
                self.completed, self.failed = event["completed"], event["failed"]
                self.total, self.eta_seconds = event["total"], event["etaSeconds"]
            case "SessionFinished":
                self.status = event["status"]
                self.eta_seconds = None
                self.finished = event


class Display(Protocol):
    def events(self, events: list[Event]) -> None: ...

    def notice(self, message: str) -> None: ...


class PlainDisplay:
    """One line per event on stdout; notices on stderr."""

    def events(self, events: list[Event]) -> None:
        for event in events:
            print(f"{event['seq']:>4} {event['__typename']:<19} {describe(event)}")
        sys.stdout.flush()

    def notice(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)


class LiveDisplay:
    """A rich view of the session, redrawn once per batch; it appears with the first one."""

    def __init__(self, watch: Watch, console: Console) -> None:
        self.watch = watch
        self.live = Live(console=console, refresh_per_second=8)

    def events(self, events: list[Event]) -> None:
        if not events:
            return
        self.live.update(render(self.watch))
        if not self.live.is_started:
            self.live.start(refresh=True)

    def notice(self, message: str) -> None:
        self.live.console.print(Text(message, style="yellow"))

    def close(self) -> None:
        self.live.stop()


def describe(event: Event) -> str:
    """An event as one line of text."""
    example = f"example {event.get('index')}"
    match event["__typename"]:
        case "SessionStarted":
            teachers = ", ".join(event["teachers"])
            return f"{event['numExamples']} examples, {event['votingStrategy']} vote of {teachers}"
        case "ExampleStarted":
            style = f" ({event['style']})" if event["style"] else ""
            return f"{example}: {event['genre']}{style}: {event['prompt']}"
        case "TeacherResponded" if event["ok"]:
            quality = event["outputQuality"]
            scored = f", text quality {quality:.2f}" if quality is not None else ""
            return f"{example}: {event['model']} wrote in {event['latencyMs']} ms{scored}"
        case "TeacherResponded":
            failure = f"failed after {event['latencyMs']} ms: {event['reason']}"
            return f"{example}: {event['model']} {failure}"
        case "VoteCast":
            return f"{example}: {event['voter']} votes for {event['candidate']}"
        case "ExampleScored":
            return (
                f"{example}: {event['winner']} wins, final quality {event['finalQuality']:.2f}"
                f" (confidence {event['confidence']:.2f})"
            )
        case "ExampleFailed":
            return f"{example} failed: {event['error']}"
        case "SessionProgress":
            done = event["completed"] + event["failed"]
            return (
                f"{done}/{event['total']} done, {event['failed']} failed, "
                f"ETA {eta(event['etaSeconds'])}"
            )
        case "FineTuningTriggered":
            job = event["job"]
            return f"fine-tuning job {job['id']} {job['status']} on {job['numExamples']} examples"
        case "SessionFinished":
            return str(event["status"])
        case _:
            return ""


def wins(count: int) -> str:
    return "no wins" if count == 0 else f"{count} win" if count == 1 else f"{count} wins"


def eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def render(watch: Watch) -> RenderableType:
    done = watch.completed + watch.failed
    overview = Table.grid(padding=(0, 2))
    overview.add_column(style="bold")
    overview.add_column()
    overview.add_row("Status", Text(watch.status, style=STATUS_STYLES.get(watch.status, "")))
    overview.add_row("Examples", f"{done}/{watch.total or '?'} done, {watch.failed} failed")
    overview.add_row("", ProgressBar(total=watch.total, completed=done, width=48))
    overview.add_row("ETA", eta(watch.eta_seconds))
    voting = f" ({watch.voting} vote)" if watch.voting else ""
    overview.add_row("Teachers", (", ".join(watch.teachers) or "-") + voting)

    wins = Table(title="Wins per model", expand=True)
    wins.add_column("Model")
    wins.add_column("Wins", justify="right")
    wins.add_column("Avg quality", justify="right")
    for model, count in watch.wins.most_common():
        wins.add_row(model, str(count), f"{watch.won_quality[model] / count:.2f}")

    winners = Table(title="Last winners", expand=True)
    for column in ("Example", "Genre", "Winner", "Quality"):
        winners.add_column(column, justify="right" if column == "Quality" else "left")
    for scored in reversed(watch.winners):
        index = scored["index"]
        genre = watch.genres.get(index, "?")
        winners.add_row(str(index), genre, scored["winner"], f"{scored['finalQuality']:.2f}")

    votes = Table(title="Last votes")
    for column in ("Example", "Voter", "Votes for"):
        votes.add_column(column)
    for vote in reversed(watch.votes):
        votes.add_row(str(vote["index"]), vote["voter"], vote["candidate"])

    tables = Table.grid(expand=True, padding=(0, 1))
    tables.add_column(ratio=2)
    tables.add_column(ratio=3)
    tables.add_row(wins, winners)
    return Group(Panel(overview, title=f"Chorus session {watch.session_id}"), tables, votes)


def summary(session: Event) -> list[str]:
    """The finished session: wins per model, then a last line with its status."""
    lines = [
        f"  {entry['model']:<24} {wins(entry['wins']):>8}"
        + (f", average quality {entry['averageQuality']:.2f}" if entry["wins"] else "")
        for entry in sorted(session["modelPerformance"], key=lambda e: -e["wins"])
    ]
    quality = (
        f", average quality {session['averageQuality']:.2f} "
        f"({session['minQuality']:.2f} to {session['maxQuality']:.2f})"
        if session["averageQuality"] is not None
        else ""
    )
    seconds = session["totalTimeSeconds"]
    took = f" in {eta(seconds)}" if seconds is not None else ""
    lines.append(
        f"Session {session['sessionId']} {session['status']}{took}: "
        f"{session['numExamplesSuccessful']} of {session['numExamplesRequested']} examples "
        f"succeeded, {session['numExamplesFailed']} failed{quality}, "
        f"{session['storiesSavedCount']} stories saved"
        + (", fine-tuning triggered" if session["fineTuningTriggered"] else "")
    )
    return lines


def http_client(server: Server) -> Client:
    transport = HTTPXAsyncTransport(url=server.graphql_url, headers=server.headers, timeout=30)
    return Client(transport=transport, fetch_schema_from_transport=False)


def websocket_client(server: Server) -> Client:
    transport = WebsocketsTransport(
        url=server.websocket_url,
        init_payload=server.connection_params,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    return Client(transport=transport, fetch_schema_from_transport=False)


async def start_session(server: Server, fields: dict[str, Any], display: Display) -> str:
    async with http_client(server) as session:
        result = await session.execute(GraphQLRequest(START, variable_values={"input": fields}))
    started = result["startTraining"]
    queued = " (QUEUED: it starts when one of your running sessions ends)"
    display.notice(
        f"Started session {started['sessionId']} of {started['numExamplesRequested']} examples"
        + (queued if started["status"] == "QUEUED" else "")
    )
    return str(started["sessionId"])


async def follow(server: Server, watch: Watch, display: Display) -> None:
    """Feed the session's events to `watch` and `display`, a batch at a time, until
    SessionFinished."""
    connected = False
    failures = 0
    while True:
        try:
            async with websocket_client(server) as session:
                connected = True
                variables = {
                    "sessionId": watch.session_id,
                    "afterSeq": watch.last_seq,
                    "maxDelayMs": MAX_DELAY_MS,
                }
                async for result in session.subscribe(
                    GraphQLRequest(PROGRESS, variable_values=variables)
                ):
                    failures = 0
                    display.events(watch.apply_batch(result["trainingProgressBatches"]))
            if watch.finished is not None:
                display.notice(
                    f"{watch.events_received} events arrived in {watch.batches_received} batches"
                )
                return
            reason = "the server ended the stream before the session finished"
        except (TransportError, OSError, TimeoutError) as error:
            if not connected or not is_transient(error):
                raise
            cause = error.__cause__ or error
            reason = str(cause) or type(cause).__name__
        failures += 1
        if failures > RECONNECT_ATTEMPTS:
            raise ClientError(f"gave up after {RECONNECT_ATTEMPTS} attempts to reconnect: {reason}")
        delay = min(0.5 * 2 ** (failures - 1), 10.0)
        display.notice(
            f"Connection lost ({reason}); subscribing again after event {watch.last_seq or 0} "
            f"in {delay:g} s"
        )
        await asyncio.sleep(delay)


async def watch_session(args: argparse.Namespace, server: Server, plain: bool) -> int:
    console = Console()
    session_id: str | None = args.session_id
    try:
        if session_id is None:
            session_id = await start_session(server, start_input(args), PlainDisplay())
        watch = Watch(session_id)
        if plain:
            await follow(server, watch, PlainDisplay())
        else:
            display = LiveDisplay(watch, console)
            try:
                await follow(server, watch, display)
            finally:
                display.close()
    except (TransportError, OSError, TimeoutError) as error:
        raise explain(error, server) from error
    except asyncio.CancelledError:
        if session_id is not None:
            print(
                f"Stopped watching; session {session_id} goes on "
                "(stop it with the cancelTraining mutation).",
                file=sys.stderr,
            )
        raise

    assert watch.finished is not None
    session = watch.finished["session"]
    lines = summary(session)
    if plain:
        print("\n".join(lines), flush=True)
    else:
        console.print("\n".join(lines[:-1]), highlight=False)
        console.print(lines[-1], style=STATUS_STYLES.get(session["status"], ""), highlight=False)
    if session["status"] == "INTERRUPTED":
        print(f'Resume it with resumeTraining(sessionId: "{session_id}").', file=sys.stderr)
    elif session["error"]:
        print(f"Error: {session['error']}", file=sys.stderr)
    return 0 if session["status"] == "COMPLETED" else 1


def start_input(args: argparse.Namespace) -> dict[str, Any]:
    """The StartTrainingInput for the command line's options."""
    return {
        "numExamples": args.examples,
        "genres": args.genre,
        "voting": args.voting,
        "saveToDatabase": args.save_to_database,
        "storeInMemory": args.store_in_memory,
        "seed": args.seed,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_arguments(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--examples", type=int, metavar="N", help="start a session of N examples")
    what.add_argument("--session-id", help="follow an existing session instead")
    starting = parser.add_argument_group("starting a session")
    starting.add_argument(
        "--genre",
        action="append",
        type=genre_name,
        default=[],
        help="a genre such as FANTASY or science-fiction (repeat for more; none: all 25)",
    )
    starting.add_argument(
        "--voting",
        type=str.upper,
        choices=["JURY", "CONSENSUS", "QUALITY"],
        help="how the ensemble picks each example's winner (default: the server's)",
    )
    starting.add_argument("--save-to-database", action="store_true", help="save good stories")
    starting.add_argument("--store-in-memory", action="store_true", help="keep good examples")
    starting.add_argument("--seed", type=int, help="make the sampling reproducible")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="print one line per event (the default when stdout is not a terminal)",
    )
    args = parser.parse_args(argv)
    start_options = (args.genre, args.voting, args.save_to_database, args.store_in_memory)
    if args.session_id and (any(start_options) or args.seed is not None):
        parser.error(
            "--genre, --voting, --save-to-database, --store-in-memory and --seed "
            "apply only when starting a session with --examples"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        server = server_from(args)
        return asyncio.run(watch_session(args, server, plain=args.plain or not sys.stdout.isatty()))
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
