"""The events of a session's live stream as GraphQL types, each with its `seq` within the
session.

Every event type is made here from its dataclass in `trainer.events`: same name, its fields
in camelCase, and the TrainingEvent interface's `seq`, `sessionId` and `at`. What GraphQL
adds is here too: the descriptions, and the fields that are not the event's data but lead
from it (FineTuningTriggered's `job`, SessionFinished's `session`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from typing import Any

import strawberry

import schema.enums  # noqa: F401  (the domain's enums, registered with Strawberry)
from resolvers import progress
from resolvers.context import Info
from schema import convert, types
from trainer import events
from trainer.events import EventBatch, NumberedEvent, SessionEvent


@strawberry.interface(
    description="Every event carries a sequence number, 1, 2, 3 ... without gaps within its "
    "session.",
)
class TrainingEvent:
    seq: int
    session_id: str
    at: datetime
    # This event's results, executed once per operation and variables and then sent to every
    # subscriber that asked the same (schema.execution).
    rendered: strawberry.Private[dict[Hashable, Any]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )


# `root` is the GraphQL event, of a type made below.
async def _job(root: Any, info: Info) -> types.FineTuneJob:
    return convert.fine_tune_job(await progress.fine_tune_job(info, root.job_id))


async def _session(root: Any, info: Info) -> types.TrainingSession:
    return convert.session(await progress.finished_session(info, root.session_id))


DESCRIPTIONS: Mapping[type[SessionEvent], str] = {
    events.TeacherResponded: "One per teacher per example: the story it wrote, or why it "
    "failed. Judging shows as VoteCast.",
    events.SessionResumed: "Another worker goes on with the session: the one running it "
    "stopped (`takeovers` counts lost leases) or handed it back. Recorded examples stay; those "
    "in flight start again.",
    events.SessionFinished: "The last event of a session's stream; the subscription completes "
    "after it.",
}
FIELD_DESCRIPTIONS: Mapping[tuple[type[SessionEvent], str], str] = {
    (events.ExampleScored, "text"): "The winning story.",
}
# Fields that lead from an event to what it is about, and the data fields they stand for,
# which GraphQL does not show.
LEADS: Mapping[type[SessionEvent], Mapping[str, Callable[..., Any]]] = {
    events.FineTuningTriggered: {"job": _job},
    events.SessionFinished: {"session": _session},
}
HIDDEN: set[tuple[type[SessionEvent], str]] = {(events.FineTuningTriggered, "job_id")}
# Strawberry's marker of a field GraphQL does not show, for types known here only at run time.
_private: Any = strawberry.Private


def _shown_as(hint: Any) -> Any:
    """The type a GraphQL field shows for a dataclass field: a list for a tuple."""
    if typing.get_origin(hint) is tuple:
        return list[typing.get_args(hint)[0]]  # type: ignore[misc]
    return hint


def _graphql_type(kind: type[SessionEvent]) -> type[TrainingEvent]:
    hints = typing.get_type_hints(kind)
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__module__": __name__, "__annotations__": annotations}
    for field in dataclasses.fields(kind):
        if (kind, field.name) in HIDDEN:
            annotations[field.name] = _private[hints[field.name]]
            continue
        annotations[field.name] = _shown_as(hints[field.name])
        description = FIELD_DESCRIPTIONS.get((kind, field.name))
        if description is not None:
            namespace[field.name] = strawberry.field(description=description)
    for name, resolver in LEADS.get(kind, {}).items():
        namespace[name] = strawberry.field(resolver=resolver)
    made = type(kind.__name__, (TrainingEvent,), namespace)
    return strawberry.type(made, description=DESCRIPTIONS.get(kind))


GRAPHQL_TYPES: dict[type[SessionEvent], type[TrainingEvent]] = {
    kind: _graphql_type(kind) for kind in events.EVENT_TYPES.values()
}
_FIELD_NAMES = {
    kind: tuple(field.name for field in dataclasses.fields(kind))
    for kind in events.EVENT_TYPES.values()
}


def to_graphql(numbered: NumberedEvent) -> TrainingEvent:
    """The GraphQL event of `numbered`, made once per event object. A live event is one
    object for every subscriber in the process, so they all get one GraphQL event, whose
    results are then executed once (schema.execution)."""
    converted: TrainingEvent | None = numbered.derived.get("graphql")
    if converted is None:
        event = numbered.event
        kind = type(event)
        graphql_type: Callable[..., TrainingEvent] = GRAPHQL_TYPES[kind]
        converted = numbered.derived["graphql"] = graphql_type(
            seq=numbered.seq,
            session_id=numbered.session_id,
            at=numbered.at,
            **{name: getattr(event, name) for name in _FIELD_NAMES[kind]},
        )
    return converted


@strawberry.type(
    description="Events of one session with consecutive seqs, firstSeq to lastSeq, in order."
)
class TrainingEventBatch:
    first_seq: int
    last_seq: int
    events: list[TrainingEvent]
    # As TrainingEvent's: this batch's results, executed once per operation and variables.
    rendered: strawberry.Private[dict[Hashable, Any]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )


def batch_to_graphql(batch: EventBatch) -> TrainingEventBatch:
    """The GraphQL batch of `batch`, made once per batch object (a live batch is one object
    for every subscriber in the process that asked for the same batching)."""
    converted: TrainingEventBatch | None = batch.derived.get("graphql")
    if converted is None:
        converted = batch.derived["graphql"] = TrainingEventBatch(
            first_seq=batch.first_seq,
            last_seq=batch.last_seq,
            events=[to_graphql(event) for event in batch.events],
        )
    return converted
