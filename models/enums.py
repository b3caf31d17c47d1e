"""The domain's enumerations, shared by storage, the trainer and the GraphQL schema."""

from __future__ import annotations

import enum


class Genre(enum.Enum):
    ADVENTURE = "ADVENTURE"
    BIOGRAPHY = "BIOGRAPHY"
    COMEDY = "COMEDY"
    CONTEMPORARY = "CONTEMPORARY"
    CRIME = "CRIME"
    DRAMA = "DRAMA"
    DYSTOPIAN = "DYSTOPIAN"
    EPIC = "EPIC"
    FAIRY_TALE = "FAIRY_TALE"
    FANTASY = "FANTASY"
    HISTORICAL_FICTION = "HISTORICAL_FICTION"
    HORROR = "HORROR"
    LITERARY_FICTION = "LITERARY_FICTION"
    MEMOIR = "MEMOIR"
    MYSTERY = "MYSTERY"
    MYTHOLOGY = "MYTHOLOGY"
    PARANORMAL = "PARANORMAL"
    POETRY = "POETRY"
    ROMANCE = "ROMANCE"
    SCIENCE_FICTION = "SCIENCE_FICTION"
    SHORT_STORY = "SHORT_STORY"
    THRILLER = "THRILLER"
    URBAN_FANTASY = "URBAN_FANTASY"
    WESTERN = "WESTERN"
    YOUNG_ADULT = "YOUNG_ADULT"


class SessionStatus(enum.Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"

    @property
    def is_final(self) -> bool:
        return self not in (SessionStatus.QUEUED, SessionStatus.RUNNING)


class EndReason(enum.Enum):
    """Why a session stopped taking examples, when it was not stopped from outside."""

    ALL_EXAMPLES_RUN = "ALL_EXAMPLES_RUN"
    BUDGET_REACHED = "BUDGET_REACHED"


class ExampleStatus(enum.Enum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class VotingStrategy(enum.Enum):
    JURY = "JURY"
    CONSENSUS = "CONSENSUS"
    QUALITY = "QUALITY"


class FineTuneStatus(enum.Enum):
    VALIDATING_FILES = "VALIDATING_FILES"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in (FineTuneStatus.SUCCEEDED, FineTuneStatus.FAILED, FineTuneStatus.CANCELLED)


class HistoryOrder(enum.Enum):
    STARTED_AT_DESC = "STARTED_AT_DESC"
    STARTED_AT_ASC = "STARTED_AT_ASC"
    AVERAGE_QUALITY_DESC = "AVERAGE_QUALITY_DESC"
