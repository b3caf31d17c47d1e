"""The object types of the API. They say nothing of storage: schema.convert builds them.

The lists nested in a session and in an example are read only when a query selects them.
How to read them is handed to each object by schema.convert (`SessionLists`,
`ExampleLists`): it converts rows to these types, so they cannot call on it themselves.
Their resolvers are plain functions answering a value, or an awaitable when the list was
not read with the page: a value costs no round through the event loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import strawberry
from graphql.pyutils import AwaitableOrValue
from strawberry.scalars import JSON

from resolvers.context import Info
from resolvers.paging import Counter
from schema.enums import (
    EndReason,
    ExampleStatus,
    FineTuneStatus,
    Genre,
    SessionStatus,
    VotingStrategy,
)
from schema.node import Node
from schema.pagination import PageInfo

NO_WINS = (
    "0.0 when it won none: no score rather than a score of zero (the contract makes the field "
    "non-null), which the dashboard and `chorus train` show as a dash."
)


@strawberry.type
class User(Node):
    user_id: int = strawberry.field(
        description="The numeric user id used by the REST endpoints and by history records."
    )
    name: str
    is_admin: bool


@strawberry.type
class Teacher:
    name: str = strawberry.field(description="Unique name of the teacher in this ensemble.")
    provider: str = strawberry.field(
        description="Wire protocol: openai, gemini, ollama, tgi, anthropic or offline."
    )
    model: str
    available: bool
    offline: bool = strawberry.field(
        description=(
            "Writes locally, without a language model, so that Chorus works with no network: "
            "its stories are stitched from templates, and their scores and votes are for "
            "demonstration only."
        )
    )
    max_concurrency: int
    average_latency_ms: float | None = strawberry.field(
        description="Mean latency of this teacher's calls in recent sessions (its share of "
        "the latest 2,000 recorded outputs); null when it has none among them."
    )
    input_price_per_mtok: float | None = strawberry.field(
        description="USD per million prompt tokens, from the teachers file; null: no price."
    )
    output_price_per_mtok: float | None = strawberry.field(
        description="USD per million completion tokens, from the teachers file; null: no price."
    )
    requests_per_minute: int | None = strawberry.field(
        description="The provider's limit its calls are paced to; null: none."
    )
    tokens_per_minute: int | None = strawberry.field(
        description="The provider's limit its calls are paced to; null: none."
    )


@strawberry.type
class GenreInfo:
    genre: Genre
    label: str
    prompts: list[str]


@strawberry.type
class ModelPerformance:
    model: str
    wins: int = strawberry.field(description="Examples this model's output won.")
    average_quality: float = strawberry.field(
        description=f"Mean final quality of the examples it won. {NO_WINS}"
    )
    total_quality: float = strawberry.field(
        description="Sum of final quality of the examples it won."
    )
    prompt_tokens: int | None = strawberry.field(
        description="Prompt tokens of the model's calls in the session (its stories and its "
        "judging, won or not); null when not counted (sessions recorded by an external "
        "trainer, or trained before tokens were counted)."
    )
    completion_tokens: int | None = strawberry.field(
        description="Completion tokens of the model's calls in the session; null when not counted."
    )
    cost_usd: float | None = strawberry.field(
        description="US dollars; null when not known (a teacher without a price, or "
        "tokens its provider did not report), never 0 for unknown."
    )


@strawberry.type
class GenreCount:
    genre: Genre
    count: int


@strawberry.type
class Vote:
    voter: str
    candidate: str


@strawberry.type
class TeacherOutput:
    model: str
    text: str | None
    latency_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    text_quality: float | None = strawberry.field(
        description="Text-quality score of this output, 0-10; null when it failed."
    )
    error: str | None = strawberry.field(
        description="Why this output failed or was excluded from the vote; null when it took part."
    )
    judge_prompt_tokens: int | None = strawberry.field(
        description="Prompt tokens of this teacher's judging call for the same example (JURY)."
    )
    judge_completion_tokens: int | None = strawberry.field(
        description="Completion tokens of this teacher's judging call for the same example."
    )
    cost_usd: float | None = strawberry.field(
        description="What this teacher's calls for the example cost, its story and its judging, "
        "in US dollars; null when not known."
    )
    truncated: bool = strawberry.field(
        default=False,
        description="The teacher's answer was longer than the server keeps "
        "(CHORUS_MAX_OUTPUT_CHARS); `text` is its beginning, and it was judged as that.",
    )


class ExampleLists(Protocol):
    def votes(self, info: Info, example_id: int) -> AwaitableOrValue[list[Vote]]: ...

    def outputs(self, info: Info, example_id: int) -> AwaitableOrValue[list[TeacherOutput]]: ...


@strawberry.type
class TrainingExample:
    db_id: strawberry.Private[int]
    lists: strawberry.Private[ExampleLists]
    index: int
    genre: Genre
    prompt: str
    style: str | None
    status: ExampleStatus
    winner: str | None
    text: str | None
    text_quality: float | None
    confidence: float | None
    final_quality: float | None
    saved_story_id: strawberry.ID | None
    stored_in_memory: bool
    error: str | None
    best_parameters: JSON | None = strawberry.field(
        description="The winning model, the ensemble's confidence, each model's score and the "
        "winner's generation parameters."
    )
    prompt_tokens: int | None = strawberry.field(
        description="Prompt tokens of every call of the example; null when not counted."
    )
    completion_tokens: int | None = strawberry.field(
        description="Completion tokens of every call of the example; null when not counted."
    )
    cost_usd: float | None = strawberry.field(
        description="US dollars; null when not known (a teacher without a price, or "
        "tokens its provider did not report), never 0 for unknown."
    )

    @strawberry.field(graphql_type=list[Vote])
    def votes(self, info: Info) -> AwaitableOrValue[list[Vote]]:
        return self.lists.votes(info, self.db_id)

    @strawberry.field(graphql_type=list[TeacherOutput])
    def outputs(self, info: Info) -> AwaitableOrValue[list[TeacherOutput]]:
        return self.lists.outputs(info, self.db_id)


@strawberry.type
class TrainingExampleEdge:
    node: TrainingExample
    cursor: str


@strawberry.type
class TrainingExampleConnection:
    edges: list[TrainingExampleEdge]
    page_info: PageInfo
    total_count: int


class SessionLists(Protocol):
    def model_performance(
        self, info: Info, history_id: int
    ) -> AwaitableOrValue[list[ModelPerformance]]: ...

    def genre_distribution(
        self, info: Info, history_id: int
    ) -> AwaitableOrValue[list[GenreCount]]: ...

    def examples(
        self, info: Info, history_id: int, first: int | None, after: str | None
    ) -> AwaitableOrValue[TrainingExampleConnection]: ...


@strawberry.type(
    description="One training session: the full record of the original training_history table "
    "and more."
)
class TrainingSession(Node):
    db_id: strawberry.Private[int]
    lists: strawberry.Private[SessionLists]
    session_id: str = strawberry.field(description="Non-sequential unique id (uuid4 hex).")
    user_id: int
    status: SessionStatus
    num_examples_requested: int
    num_examples_successful: int
    num_examples_failed: int
    genres_selected: list[Genre]
    stored_in_memory: bool
    saved_to_database: bool
    stories_saved_count: int
    average_quality: float | None
    min_quality: float | None
    max_quality: float | None
    best_performing_model: str | None
    voting_strategy: VotingStrategy
    teachers: list[str]
    total_time_seconds: int | None
    training_examples_before: int
    training_examples_after: int | None
    fine_tuning_triggered: bool
    fine_tuning_examples: int = strawberry.field(
        description="Examples this session added toward fine-tuning (final quality >= 7.0)."
    )
    started_at: datetime
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    seed: int | None
    error: str | None = strawberry.field(description="Why the session failed, when it did.")
    prompt_tokens: int | None = strawberry.field(
        description="Prompt tokens of every call of the session, as the providers reported "
        "them; null when not counted (recorded by an external trainer, or trained before "
        "tokens were counted)."
    )
    completion_tokens: int | None = strawberry.field(
        description="Completion tokens of every call of the session; null when not counted."
    )
    cost_usd: float | None = strawberry.field(
        description="US dollars; null when not known (a teacher without a price, or "
        "tokens its provider did not report), never 0 for unknown."
    )
    max_cost_usd: float | None = strawberry.field(
        description="The session's budget: it starts no example whose projected cost would pass it."
    )
    end_reason: EndReason | None = strawberry.field(
        description="Why it took no more examples; null while it runs, and when it was "
        "cancelled, interrupted or failed with an error."
    )

    @strawberry.field(graphql_type=list[ModelPerformance])
    def model_performance(self, info: Info) -> AwaitableOrValue[list[ModelPerformance]]:
        return self.lists.model_performance(info, self.db_id)

    @strawberry.field(graphql_type=list[GenreCount])
    def genre_distribution(self, info: Info) -> AwaitableOrValue[list[GenreCount]]:
        return self.lists.genre_distribution(info, self.db_id)

    @strawberry.field(graphql_type=TrainingExampleConnection)
    def examples(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> AwaitableOrValue[TrainingExampleConnection]:
        return self.lists.examples(info, self.db_id, first, after)


@strawberry.type
class TrainingSessionEdge:
    node: TrainingSession
    cursor: str


@strawberry.type
class TrainingSessionConnection:
    edges: list[TrainingSessionEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="Sessions matching the filter, on every page together.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class TrainingStats:
    total_sessions: int
    total_examples_generated: int
    total_stories_saved: int
    average_quality: float | None
    total_training_time_seconds: int
    fine_tuning_sessions_count: int
    fine_tuning_examples: int = strawberry.field(
        description="Examples collected toward fine-tuning (final quality >= 7.0), all sessions."
    )
    until_next_fine_tuning: int = strawberry.field(
        description="Examples still needed until the next fine-tuning run (threshold 50)."
    )
    fine_tuning_threshold: int = strawberry.field(
        description="Examples collected per fine-tuning run."
    )
    prompt_tokens: int = strawberry.field(
        description="Prompt tokens of every session whose tokens were counted."
    )
    completion_tokens: int = strawberry.field(
        description="Completion tokens of every session whose tokens were counted."
    )
    cost_usd: float | None = strawberry.field(
        description="What the sessions whose cost is known cost, in US dollars; null when "
        "none's is. Compare sessionsWithKnownCost with totalSessions."
    )
    sessions_with_known_cost: int = strawberry.field(
        description="Sessions whose cost is known: trained here with every teacher priced."
    )


@strawberry.type
class ModelLeaderboardEntry:
    model: str
    wins: int
    average_quality: float = strawberry.field(
        description=f"Mean final quality of the examples it won, over every session. {NO_WINS}"
    )
    sessions: int


@strawberry.type
class QualityPoint:
    day: datetime
    sessions: int
    average_quality: float | None
    prompt_tokens: int = strawberry.field(
        description="Tokens of the day's sessions whose tokens were counted."
    )
    completion_tokens: int
    cost_usd: float | None = strawberry.field(
        description="What the day's sessions whose cost is known cost; null when none's is."
    )


@strawberry.type(
    description="What a session would take before it starts. Tokens and cost are at most: "
    "every story as long as max_tokens allows, judged whole."
)
class TrainingEstimate:
    seconds: float = strawberry.field(
        description="From the teachers' observed latencies and their rate limits."
    )
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = strawberry.field(
        description="US dollars at most; null when a teacher has no price."
    )
    cost_per_example_usd: float | None


@strawberry.type
class Story(Node):
    title: str
    genre: Genre
    content: str
    quality: float
    model: str
    auto_generated: bool
    session_id: str | None
    created_at: datetime


@strawberry.type
class StoryEdge:
    node: Story
    cursor: str


@strawberry.type
class StoryConnection:
    edges: list[StoryEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class FineTuneJob(Node):
    job_id: int = strawberry.field(description="The job's number, as the REST downloads use it.")
    status: FineTuneStatus
    backend: str
    num_examples: int = strawberry.field(
        description="Examples in the job's dataset: the user's collected examples stored here "
        "when it was triggered (sessions recorded by an external trainer count toward the "
        "threshold but bring no texts)."
    )
    triggered_by_session_id: str | None
    dataset_url: str | None = strawberry.field(
        description="Where the JSONL dataset of this job can be downloaded (chat-messages format)."
    )
    preference_dataset_url: str | None = strawberry.field(
        description="The preference pairs (chosen/rejected) of the same examples, as JSONL."
    )
    external_job_id: str | None
    fine_tuned_model: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


@strawberry.type(description="An example kept in the viewer's memory store, as a search found it.")
class MemoryEntry:
    id: strawberry.ID
    genre: Genre
    text: str
    quality: float = strawberry.field(description="The example's final quality, 0-10.")
    created_at: datetime
    session_id: str | None = strawberry.field(
        description="The training session that produced it; null once its example is deleted."
    )
    score: float = strawberry.field(
        description="Relevance to the search text: higher is better, comparable only within "
        "one search."
    )
