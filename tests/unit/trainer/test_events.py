"""Session events as the log and the broadcast store them, and back: every type, no database."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import orjson
import pytest

from models.enums import EndReason, Genre, SessionStatus, VotingStrategy
from trainer import events
from trainer.events import (
    EVENT_TYPES,
    CollectingSink,
    Emitter,
    ExampleFailed,
    ExampleScored,
    ExampleStarted,
    FineTuningTriggered,
    NumberedEvent,
    SessionEvent,
    SessionFinished,
    SessionProgress,
    SessionResumed,
    SessionStarted,
    TeacherResponded,
    VoteCast,
    event_of,
    fields_of,
)
from trainer.live import decode, encode

AT = datetime(2026, 1, 20, 10, 30, 15, 123456, tzinfo=UTC)

# One or more of each type, with their stored fields; optional fields both set and empty.
SAMPLES: list[tuple[SessionEvent, dict[str, object]]] = [
    (
        SessionStarted(
            num_examples=3, teachers=("alpha", "beta"), voting_strategy=VotingStrategy.JURY
        ),
        {"num_examples": 3, "teachers": ["alpha", "beta"], "voting_strategy": "JURY"},
    ),
    (
        ExampleStarted(index=0, genre=Genre.SCIENCE_FICTION, prompt="A ship", style="terse"),
        {"index": 0, "genre": "SCIENCE_FICTION", "prompt": "A ship", "style": "terse"},
    ),
    (
        ExampleStarted(index=1, genre=Genre.HORROR, prompt="A cellar", style=None),
        {"index": 1, "genre": "HORROR", "prompt": "A cellar", "style": None},
    ),
    (
        TeacherResponded(
            index=0, model="alpha", ok=True, latency_ms=310, text_quality=7.25, error=None
        ),
        {
            "index": 0,
            "model": "alpha",
            "ok": True,
            "latency_ms": 310,
            "text_quality": 7.25,
            "error": None,
        },
    ),
    (
        TeacherResponded(
            index=0, model="beta", ok=False, latency_ms=12, text_quality=None, error="timeout"
        ),
        {
            "index": 0,
            "model": "beta",
            "ok": False,
            "latency_ms": 12,
            "text_quality": None,
            "error": "timeout",
        },
    ),
    (
        VoteCast(index=0, voter="beta", candidate="alpha"),
        {"index": 0, "voter": "beta", "candidate": "alpha"},
    ),
    (
        ExampleScored(
            index=0,
            winner="alpha",
            text_quality=7.25,
            confidence=0.5,
            final_quality=6.58,
            saved_to_database=False,
            stored_in_memory=True,
            text="The ship sailed on. «Ünïcode» survives.",
        ),
        {
            "index": 0,
            "winner": "alpha",
            "text_quality": 7.25,
            "confidence": 0.5,
            "final_quality": 6.58,
            "saved_to_database": False,
            "stored_in_memory": True,
            "text": "The ship sailed on. «Ünïcode» survives.",
        },
    ),
    (ExampleFailed(index=1, error="no valid output"), {"index": 1, "error": "no valid output"}),
    (
        SessionProgress(
            completed=1,
            failed=1,
            total=3,
            eta_seconds=4.5,
            prompt_tokens=900,
            completion_tokens=400,
            cost_usd=0.0012,
        ),
        {
            "completed": 1,
            "failed": 1,
            "total": 3,
            "eta_seconds": 4.5,
            "prompt_tokens": 900,
            "completion_tokens": 400,
            "cost_usd": 0.0012,
        },
    ),
    (
        SessionProgress(completed=0, failed=0, total=3, eta_seconds=None),
        {
            "completed": 0,
            "failed": 0,
            "total": 3,
            "eta_seconds": None,
            "prompt_tokens": None,
            "completion_tokens": None,
            "cost_usd": None,
        },
    ),
    (
        FineTuningTriggered(examples_collected=50, job_id=7),
        {"examples_collected": 50, "job_id": 7},
    ),
    (
        SessionResumed(takeovers=1, completed=12, total=40, reason="taken over"),
        {"takeovers": 1, "completed": 12, "total": 40, "reason": "taken over"},
    ),
    (
        SessionFinished(status=SessionStatus.INTERRUPTED),
        {"status": "INTERRUPTED", "end_reason": None},
    ),
    (
        SessionFinished(status=SessionStatus.COMPLETED, end_reason=EndReason.BUDGET_REACHED),
        {"status": "COMPLETED", "end_reason": "BUDGET_REACHED"},
    ),
]


def test_the_samples_cover_every_event_type() -> None:
    assert {type(event) for event, _ in SAMPLES} == set(EVENT_TYPES.values())


def test_every_event_class_is_registered_under_its_name() -> None:
    defined = {
        value
        for value in vars(events).values()
        if isinstance(value, type) and issubclass(value, SessionEvent) and value is not SessionEvent
    }
    assert set(EVENT_TYPES.values()) == defined
    assert all(name == kind.__name__ for name, kind in EVENT_TYPES.items())


@pytest.mark.parametrize(("event", "stored"), SAMPLES, ids=[type(e).__name__ for e, _ in SAMPLES])
def test_an_event_is_stored_as_its_fields_and_read_back(
    event: SessionEvent, stored: dict[str, object]
) -> None:
    assert fields_of(event) == stored
    assert list(fields_of(event)) == [field.name for field in dataclasses.fields(event)]
    # As the JSON column and the broadcast carry them.
    assert orjson.loads(orjson.dumps(fields_of(event))) == stored
    assert event_of(type(event).__name__, stored) == event
    assert event_of(type(event).__name__, orjson.loads(orjson.dumps(stored))) == event


def test_events_are_frozen_and_slotted() -> None:
    event = VoteCast(index=0, voter="beta", candidate="alpha")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.voter = "gamma"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")


def test_a_numbered_event_round_trips_through_the_log_and_the_broadcast() -> None:
    numbered = [
        NumberedEvent("s1", seq, AT, event) for seq, (event, _) in enumerate(SAMPLES, start=1)
    ]
    stored = [event.stored() for event in numbered]
    assert [(s.seq, s.type, s.at) for s in stored] == [
        (seq, type(event).__name__, AT) for seq, (event, _) in enumerate(SAMPLES, start=1)
    ]
    assert [NumberedEvent.from_stored("s1", s) for s in stored] == numbered
    assert decode("s1", encode(stored)) == numbered


def test_what_readers_derive_is_not_part_of_an_event() -> None:
    event = VoteCast(index=0, voter="beta", candidate="alpha")
    converted = NumberedEvent("s1", 4, AT, event)
    converted.derived["graphql"] = object()
    assert converted == NumberedEvent("s1", 4, AT, event)
    assert converted.is_last is False
    assert NumberedEvent("s1", 5, AT, SessionFinished(status=SessionStatus.COMPLETED)).is_last


def test_an_unknown_type_name_is_refused() -> None:
    with pytest.raises(KeyError):
        event_of("SessionExploded", {})


async def test_the_emitter_numbers_events_and_refuses_unregistered_ones() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Unregistered(SessionEvent):
        note: str

    sink = CollectingSink()
    emitter = Emitter("s1", sink, last_seq=2, clock=lambda: AT)
    await asyncio.gather(*(emitter.emit(event) for event, _ in SAMPLES[:3]))
    with pytest.raises(TypeError, match="Unregistered"):
        await emitter.emit(Unregistered(note="x"))
    assert [(e.session_id, e.seq, e.at) for e in sink.events] == [
        ("s1", 3, AT),
        ("s1", 4, AT),
        ("s1", 5, AT),
    ]
    assert [e.event for e in sink.events] == [event for event, _ in SAMPLES[:3]]
    assert emitter.last_seq == 5
