"""What a running session tells its watchers, in order, each event with a gap-free `seq`.

Each kind of event is a frozen dataclass here, and everything else is derived from these
classes: the names and fields the event log stores (`fields_of`, `event_of`), the broadcast's
messages (`trainer.live`) and the GraphQL event types (`schema.events`). A session's
`Emitter` numbers its events; a `NumberedEvent` is one event of one session with its `seq`.
"""

from __future__ import annotations

import asyncio
import enum
import operator
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from models.base import utcnow
from models.enums import EndReason, Genre, SessionStatus, VotingStrategy
from models.events import StoredEvent


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """Something that happened in a session; the subclasses below are every kind there is."""


@dataclass(frozen=True, slots=True)
class SessionStarted(SessionEvent):
    num_examples: int
    teachers: tuple[str, ...]
    voting_strategy: VotingStrategy


@dataclass(frozen=True, slots=True)
class ExampleStarted(SessionEvent):
    index: int
    genre: Genre
    prompt: str
    style: str | None


@dataclass(frozen=True, slots=True)
class TeacherResponded(SessionEvent):
    """One per teacher per example: `error` says why its story did not take part."""

    index: int
    model: str
    ok: bool
    latency_ms: int
    text_quality: float | None
    error: str | None


@dataclass(frozen=True, slots=True)
class VoteCast(SessionEvent):
    index: int
    voter: str
    candidate: str


@dataclass(frozen=True, slots=True)
class ExampleScored(SessionEvent):
    index: int
    winner: str
    text_quality: float
    confidence: float
    final_quality: float
    saved_to_database: bool
    stored_in_memory: bool
    text: str


@dataclass(frozen=True, slots=True)
class ExampleFailed(SessionEvent):
    index: int
    error: str


@dataclass(frozen=True, slots=True)
class SessionProgress(SessionEvent):
    """After each example: how many are done, the estimated seconds left, and what the
    examples done so far used (a cost of None: not known; see trainer/spend.py)."""

    completed: int
    failed: int
    total: int
    eta_seconds: float | None
    # None in events logged before they were counted.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class FineTuningTriggered(SessionEvent):
    examples_collected: int
    job_id: int


@dataclass(frozen=True, slots=True)
class SessionResumed(SessionEvent):
    """A worker goes on with the session after another stopped running it: its lease ran
    out (`takeovers` counts those), or it was handed back on shutdown. Examples already
    recorded stay; the ones that were in flight run again."""

    takeovers: int
    completed: int
    total: int
    reason: str


@dataclass(frozen=True, slots=True)
class SessionFinished(SessionEvent):
    """The last event of a session's run; a resumed session runs on after an INTERRUPTED.
    `end_reason` says why it took no more examples, when nothing stopped it from outside."""

    status: SessionStatus
    end_reason: EndReason | None = None


EVENT_TYPES: Mapping[str, type[SessionEvent]] = {
    kind.__name__: kind
    for kind in (
        SessionStarted,
        ExampleStarted,
        TeacherResponded,
        VoteCast,
        ExampleScored,
        ExampleFailed,
        SessionProgress,
        FineTuningTriggered,
        SessionResumed,
        SessionFinished,
    )
}

# Stored fields are JSON: an enum is stored by its name, a tuple as a list, and the plain
# values as they are.
_Convert = Callable[[Any], Any]
_PLAIN = (int, float, str, bool)


@dataclass(frozen=True, slots=True)
class _Layout:
    """How one event type is stored, worked out once from its dataclass fields."""

    names: tuple[str, ...]
    to_stored: tuple[tuple[str, _Convert], ...]
    from_stored: tuple[tuple[str, _Convert], ...]


def _optional(convert: _Convert) -> _Convert:
    return lambda value: None if value is None else convert(value)


def _conversions(hint: Any) -> tuple[_Convert, _Convert] | None:
    """How a field of type `hint` is stored and read back; None when it is stored as it is."""
    arguments = typing.get_args(hint)
    if hint in _PLAIN:
        return None
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return operator.attrgetter("name"), hint.__getitem__
    if typing.get_origin(hint) is tuple and arguments[1:] == (...,) and arguments[0] in _PLAIN:
        return list, tuple
    if isinstance(hint, types.UnionType) and len(arguments) == 2 and arguments[1] is type(None):
        inner = _conversions(arguments[0])
        return None if inner is None else (_optional(inner[0]), _optional(inner[1]))
    raise TypeError(f"an event field of type {hint} cannot be stored")


def _layout_of(kind: type[SessionEvent]) -> _Layout:
    hints = typing.get_type_hints(kind)
    names = tuple(f.name for f in fields(kind))
    converted = [
        (name, conversions) for name in names if (conversions := _conversions(hints[name]))
    ]
    return _Layout(
        names,
        tuple((name, to_stored) for name, (to_stored, _) in converted),
        tuple((name, from_stored) for name, (_, from_stored) in converted),
    )


_LAYOUTS: dict[type[SessionEvent], _Layout] = {
    kind: _layout_of(kind) for kind in EVENT_TYPES.values()
}


def fields_of(event: SessionEvent) -> dict[str, Any]:
    """The event's fields as stored: JSON-ready, keyed by field name."""
    layout = _LAYOUTS[type(event)]
    stored = {name: getattr(event, name) for name in layout.names}
    for name, convert in layout.to_stored:
        stored[name] = convert(stored[name])
    return stored


def event_of(type_name: str, stored: Mapping[str, Any]) -> SessionEvent:
    """The event of the given type with the stored fields: the inverse of `fields_of`."""
    kind = EVENT_TYPES[type_name]
    layout = _LAYOUTS[kind]
    if not layout.from_stored:
        return kind(**stored)
    values = dict(stored)
    for name, convert in layout.from_stored:
        # A field added since the event was logged is not there, and keeps its default.
        if name in values:
            values[name] = convert(values[name])
    return kind(**values)


@dataclass(frozen=True, slots=True, weakref_slot=True)
class NumberedEvent:
    """One event of a session with its place in the session's stream."""

    session_id: str
    seq: int
    at: datetime
    event: SessionEvent
    # What readers derive from the event (its GraphQL object), made once for all who hold
    # this object rather than once each; not part of the event's value.
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_last(self) -> bool:
        return type(self.event) is SessionFinished

    def stored(self) -> StoredEvent:
        return StoredEvent(self.seq, type(self.event).__name__, self.at, fields_of(self.event))

    @classmethod
    def from_stored(cls, session_id: str, stored: StoredEvent) -> NumberedEvent:
        return cls(session_id, stored.seq, stored.at, event_of(stored.type, stored.payload))


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events of one session with consecutive seqs, delivered together. A batch the live hub
    makes is one object for every subscriber in the process that is given it whole, so what
    readers derive from it (`derived`) is made once for all of them."""

    events: tuple[NumberedEvent, ...]
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def first_seq(self) -> int:
        return self.events[0].seq

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq

    def follows_on(self) -> bool:
        """Whether the seqs run on without a gap and only the last event may end the
        stream; worked out once per batch object."""
        known: bool | None = self.derived.get("follows_on")
        if known is None:
            events = self.events
            seqs = [event.seq for event in events]
            known = self.derived["follows_on"] = seqs == list(
                range(self.first_seq, self.first_seq + len(events))
            ) and not any(event.is_last for event in events[:-1])
        return known


class EventSink(Protocol):
    """Where a session's events go: the event log, the broadcast, a test's list."""

    async def emit(self, event: NumberedEvent) -> None: ...


class Emitter:
    """Numbers a session's events and hands them to the sink in that order.

    Examples run concurrently; the lock makes numbering and delivery one step, so that the
    sink sees seq 1, 2, 3 ... with no gap and no reordering.
    """

    def __init__(
        self,
        session_id: str,
        sink: EventSink,
        *,
        last_seq: int = 0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session_id = session_id
        self.last_seq = last_seq
        self._sink = sink
        self._clock = clock
        self._lock = asyncio.Lock()

    async def emit(self, event: SessionEvent) -> NumberedEvent:
        if type(event) not in _LAYOUTS:
            # Caught here, where it is made, rather than when the log writer stores it.
            raise TypeError(f"{type(event).__name__} is not in trainer.events.EVENT_TYPES")
        async with self._lock:
            numbered = NumberedEvent(self.session_id, self.last_seq + 1, self._clock(), event)
            await self._sink.emit(numbered)
            self.last_seq = numbered.seq
            return numbered


class CollectingSink:
    """Keeps every event in memory: for the command line's progress and for tests."""

    def __init__(self) -> None:
        self.events: list[NumberedEvent] = []

    async def emit(self, event: NumberedEvent) -> None:
        self.events.append(event)
