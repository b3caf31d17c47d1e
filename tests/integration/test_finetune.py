"""The fine-tuner: the datasets it writes, the provider's job it follows, and the downloads."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from models.engine import session_factory
from models.enums import ExampleStatus, FineTuneStatus, Genre
from models.tables import FineTuneJob, TeacherOutput, TrainingExample
from tests.support import eventually, make_account
from tests.support.factories import T0, add_session
from tests.support.fake_provider import FILES_MODEL, FakeProvider, Fault, error, server_error
from trainer.catalog import Sample
from trainer.example import writing_request
from trainer.finetune import FineTuner, read_dataset

BASE_MODEL = "gpt-4o-mini-2024-07-18"
JOB_CREATED = T0 + timedelta(hours=1)
TINY_POLL_S = 0.01

MakeFineTuner = Callable[..., FineTuner]


@dataclass(frozen=True)
class Output:
    """A teacher's output as stored; only one without an `error` is valid."""

    model: str
    text: str | None
    quality: float | None
    error: str | None = None


def valid(model: str, quality: float) -> Output:
    return Output(model, f"{model} story", quality)


def invalid(model: str) -> Output:
    """A story the validity checks set aside: it has a text but no score."""
    return Output(model, "Too short.", None, "invalid: too short")


def failed(model: str) -> Output:
    return Output(model, None, None, "HTTP 500: overloaded")


async def add_example(
    engine: AsyncEngine,
    history_id: int,
    index: int,
    final_quality: float,
    outputs: tuple[Output, ...],
    *,
    genre: Genre = Genre.FANTASY,
    style: str | None = "as a fable",
    created_at: datetime = T0,
) -> None:
    """A scored example whose winner is its first output, with every output stored."""
    winner = outputs[0]
    async with session_factory(engine)() as db:
        example = TrainingExample(
            history_id=history_id,
            index=index,
            genre=genre,
            prompt=f"prompt {index}",
            style=style,
            status=ExampleStatus.SUCCEEDED,
            winner=winner.model,
            text=f"winning story {index}",
            text_quality=winner.quality,
            confidence=0.8,
            final_quality=final_quality,
            created_at=created_at,
        )
        db.add(example)
        await db.flush()
        db.add_all(
            TeacherOutput(
                example_id=example.id,
                model=output.model,
                text=output.text,
                latency_ms=100,
                text_quality=output.quality,
                error=output.error,
            )
            for output in outputs
        )
        await db.commit()


async def add_job(engine: AsyncEngine, user_id: int, backend: str, **values: Any) -> int:
    async with session_factory(engine)() as db:
        job = FineTuneJob(
            **{
                "user_id": user_id,
                "status": FineTuneStatus.QUEUED,
                "backend": backend,
                "num_examples": 50,
                "created_at": JOB_CREATED,
                **values,
            }
        )
        db.add(job)
        await db.commit()
        return job.id


async def job_row(engine: AsyncEngine, job_id: int) -> FineTuneJob:
    async with session_factory(engine)() as db:
        job = await db.get(FineTuneJob, job_id)
        assert job is not None
        return job


def asked(index: int, genre: Genre = Genre.FANTASY, style: str = "as a fable") -> list[Any]:
    request = writing_request(Sample(genre, f"prompt {index}", style), seed=0)
    return [
        {"role": "system", "content": request.system},
        {"role": "user", "content": request.prompt},
    ]


def answer(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def read_lines(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def whole(directory: Path, name: str) -> list[Any]:
    """The lines of the job's dataset `name`, every part of it."""
    return [json.loads(line) for line in read_dataset(directory, name).decode().splitlines()]


async def prepare(fine_tuner: FineTuner, *jobs: int) -> None:
    """Each job prepared in turn, as the recorder submits them."""
    for job in jobs:
        fine_tuner.submit(job)
        await fine_tuner.wait_idle()


def parts_of(directory: Path) -> list[str]:
    listed: list[str] = json.loads((directory / "parts.json").read_text())
    return listed


async def collected_user(engine: AsyncEngine, name: str = "alice") -> int:
    """A user whose examples exercise every rule of the datasets."""
    user = await make_account(engine, name)
    history = await add_session(engine, user.id)
    minute = timedelta(minutes=1)
    # The lowest valid output other than the winner is the rejected one.
    await add_example(
        engine,
        history.id,
        0,
        8.2,
        (valid("alpha", 8.5), valid("beta", 6.0), valid("gamma", 4.0)),
        created_at=T0,
    )
    # Below the threshold: in neither file.
    await add_example(
        engine, history.id, 1, 6.9, (valid("alpha", 7.0), valid("beta", 5.0)), created_at=T0
    )
    # An invalid output is never the rejected one, though it has no score at all.
    await add_example(
        engine,
        history.id,
        2,
        7.0,
        (valid("gamma", 7.5), invalid("alpha"), valid("beta", 6.5)),
        genre=Genre.HORROR,
        style=None,
        created_at=T0 + minute,
    )
    # No valid second output: in the dataset, not in the preferences.
    await add_example(
        engine,
        history.id,
        3,
        9.0,
        (valid("beta", 9.2), failed("alpha")),
        created_at=JOB_CREATED,
    )
    # After the job was created: not part of it.
    await add_example(
        engine,
        history.id,
        4,
        9.5,
        (valid("alpha", 9.0), valid("beta", 3.0)),
        created_at=JOB_CREATED + minute,
    )
    return user.id


EXPECTED_DATASET = [
    {"messages": [*asked(0), *answer("winning story 0")]},
    {"messages": [*asked(2, Genre.HORROR, ""), *answer("winning story 2")]},
    {"messages": [*asked(3), *answer("winning story 3")]},
]
EXPECTED_PREFERENCES = [
    {"prompt": asked(0), "chosen": answer("winning story 0"), "rejected": answer("gamma story")},
    {
        "prompt": asked(2, Genre.HORROR, ""),
        "chosen": answer("winning story 2"),
        "rejected": answer("beta story"),
    },
]


@pytest.fixture
async def make_fine_tuner(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[MakeFineTuner]:
    """Fine-tuners over the test database, each closed at the end of the test."""
    made: list[FineTuner] = []

    def make(**options: Any) -> FineTuner:
        fine_tuner = FineTuner(session_factory(engine), data_dir=tmp_path, **options)
        made.append(fine_tuner)
        return fine_tuner

    yield make
    for fine_tuner in made:
        await fine_tuner.aclose()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def openai_tuner(fake: FakeProvider, make_fine_tuner: MakeFineTuner) -> Iterator[MakeFineTuner]:
    """Fine-tuners of the fake's OpenAI API, polling it without delay."""
    fake.reset()

    def make(**options: Any) -> FineTuner:
        defaults = {
            "base_url": fake.base_url("openai"),
            "api_key": "sk-test",
            "base_model": BASE_MODEL,
            "poll_interval_s": TINY_POLL_S,
        }
        return make_fine_tuner(**(defaults | options))

    yield make
    fake.reset()


async def test_export_writes_both_datasets(
    engine: AsyncEngine, make_fine_tuner: MakeFineTuner, tmp_path: Path
) -> None:
    user_id = await collected_user(engine)
    await collected_user(engine, "bob")
    job_id = await add_job(engine, user_id, "export")
    fine_tuner = make_fine_tuner()

    await prepare(fine_tuner, job_id)

    job = await job_row(engine, job_id)
    directory = tmp_path / "fine-tune" / str(job_id)
    assert job.status is FineTuneStatus.SUCCEEDED
    assert job.finished_at is not None
    assert job.error is None
    assert job.dataset_path == str(directory)
    assert job.num_examples == len(EXPECTED_DATASET)
    assert read_lines(directory / "dataset.jsonl") == EXPECTED_DATASET
    assert read_lines(directory / "preferences.jsonl") == EXPECTED_PREFERENCES
    assert sorted(path.name for path in directory.iterdir()) == [
        "dataset.jsonl",
        "parts.json",
        "preferences.jsonl",
    ]
    assert parts_of(directory) == [str(job_id)]  # exported whole: its own files are all of it


async def example_id(engine: AsyncEngine, prompt: str) -> int:
    async with session_factory(engine)() as db:
        found = await db.scalar(select(TrainingExample.id).where(TrainingExample.prompt == prompt))
    assert found is not None
    return found


async def two_jobs(engine: AsyncEngine) -> tuple[int, int]:
    """Alice's job up to example 3, then, after two more examples, one up to example 6."""
    user_id = await collected_user(engine)
    first = await add_job(
        engine, user_id, "export", last_example_id=await example_id(engine, "prompt 3")
    )
    later = JOB_CREATED + timedelta(hours=1)
    history = await add_session(engine, user_id)
    await add_example(
        engine, history.id, 5, 7.5, (valid("alpha", 7.5), valid("beta", 5.5)), created_at=later
    )
    await add_example(engine, history.id, 6, 6.0, (valid("alpha", 6.0),), created_at=later)
    return first, await export_job_up_to(engine, user_id, 6, later)


async def export_job_up_to(
    engine: AsyncEngine, user_id: int, index: int, created_at: datetime
) -> int:
    """An export job of the user's examples up to the one of prompt `index`."""
    last = await example_id(engine, f"prompt {index}")
    return await add_job(engine, user_id, "export", last_example_id=last, created_at=created_at)


SECOND_DATASET = [
    *EXPECTED_DATASET,
    {"messages": [*asked(4), *answer("winning story 4")]},
    {"messages": [*asked(5), *answer("winning story 5")]},
]
SECOND_PREFERENCES = [
    *EXPECTED_PREFERENCES,
    {"prompt": asked(4), "chosen": answer("winning story 4"), "rejected": answer("beta story")},
    {"prompt": asked(5), "chosen": answer("winning story 5"), "rejected": answer("beta story")},
]


async def test_a_job_starts_from_the_previous_jobs_datasets(
    engine: AsyncEngine, make_fine_tuner: MakeFineTuner, tmp_path: Path
) -> None:
    first, second = await two_jobs(engine)
    fine_tuner = make_fine_tuner()
    await prepare(fine_tuner, first)
    # Stored examples never change; one that did shows the second job did not read it again.
    async with session_factory(engine)() as db:
        await db.execute(
            update(TrainingExample)
            .where(TrainingExample.prompt == "prompt 0")
            .values(text="read again")
        )
        await db.commit()
    await prepare(fine_tuner, second)

    earlier, directory = (tmp_path / "fine-tune" / str(job) for job in (first, second))
    assert whole(earlier, "dataset.jsonl") == EXPECTED_DATASET
    assert whole(directory, "dataset.jsonl") == SECOND_DATASET
    assert whole(directory, "preferences.jsonl") == SECOND_PREFERENCES
    # The second job wrote only its own examples, and lists the first's files before them.
    own_chats = SECOND_DATASET[len(EXPECTED_DATASET) :]
    own_preferences = SECOND_PREFERENCES[len(EXPECTED_PREFERENCES) :]
    assert read_lines(directory / "dataset.jsonl") == own_chats
    assert read_lines(directory / "preferences.jsonl") == own_preferences
    assert parts_of(directory) == [str(first), str(second)]
    job = await job_row(engine, second)
    assert (job.status, job.num_examples) == (FineTuneStatus.SUCCEEDED, len(SECOND_DATASET))


async def test_a_job_continues_a_directory_written_whole_before_parts_were_listed(
    engine: AsyncEngine, make_fine_tuner: MakeFineTuner, tmp_path: Path
) -> None:
    first, second = await two_jobs(engine)
    fine_tuner = make_fine_tuner()
    await prepare(fine_tuner, first)
    earlier = tmp_path / "fine-tune" / str(first)
    (earlier / "parts.json").unlink()  # as Chorus wrote every job's directory before

    await prepare(fine_tuner, second)

    directory = tmp_path / "fine-tune" / str(second)
    assert parts_of(directory) == [str(first), str(second)]
    assert whole(directory, "dataset.jsonl") == SECOND_DATASET
    assert whole(directory, "preferences.jsonl") == SECOND_PREFERENCES


async def test_a_job_whose_predecessors_files_are_gone_is_exported_whole(
    engine: AsyncEngine, make_fine_tuner: MakeFineTuner, tmp_path: Path
) -> None:
    first, second = await two_jobs(engine)
    fine_tuner = make_fine_tuner()
    await prepare(fine_tuner, first)
    (tmp_path / "fine-tune" / str(first) / "preferences.jsonl").unlink()

    await prepare(fine_tuner, second)

    directory = tmp_path / "fine-tune" / str(second)
    assert parts_of(directory) == [str(second)]
    assert read_lines(directory / "dataset.jsonl") == SECOND_DATASET
    assert read_lines(directory / "preferences.jsonl") == SECOND_PREFERENCES
    assert (await job_row(engine, second)).num_examples == len(SECOND_DATASET)


async def test_a_job_whose_chain_lost_an_earlier_directory_is_exported_whole(
    engine: AsyncEngine, make_fine_tuner: MakeFineTuner, tmp_path: Path
) -> None:
    first, second = await two_jobs(engine)
    user_id = (await job_row(engine, first)).user_id
    history = await add_session(engine, user_id)
    later = JOB_CREATED + timedelta(hours=2)
    await add_example(engine, history.id, 7, 9.0, (valid("alpha", 9.0),), created_at=later)
    third = await export_job_up_to(engine, user_id, 7, later)
    fine_tuner = make_fine_tuner()
    await prepare(fine_tuner, first, second)
    shutil.rmtree(tmp_path / "fine-tune" / str(first))

    await prepare(fine_tuner, third)

    directory = tmp_path / "fine-tune" / str(third)
    assert parts_of(directory) == [str(third)]
    expected = [*SECOND_DATASET, {"messages": [*asked(7), *answer("winning story 7")]}]
    assert read_lines(directory / "dataset.jsonl") == expected
    assert (await job_row(engine, third)).num_examples == len(expected)


async def test_a_job_is_prepared_once(engine: AsyncEngine, make_fine_tuner: MakeFineTuner) -> None:
    user_id = await collected_user(engine)
    job_id = await add_job(engine, user_id, "export")
    fine_tuner = make_fine_tuner()
    await prepare(fine_tuner, job_id)
    finished = (await job_row(engine, job_id)).finished_at

    fine_tuner.submit(job_id)
    fine_tuner.submit(job_id + 1)
    await fine_tuner.wait_idle()

    assert (await job_row(engine, job_id)).finished_at == finished


async def test_openai_job_is_followed_to_its_model(
    engine: AsyncEngine, fake: FakeProvider, openai_tuner: MakeFineTuner, tmp_path: Path
) -> None:
    user_id = await collected_user(engine)
    job_id = await add_job(engine, user_id, "openai")
    fine_tuner = openai_tuner()

    await prepare(fine_tuner, job_id)

    dataset = read_dataset(tmp_path / "fine-tune" / str(job_id), "dataset.jsonl")
    assert fake.fine_tuning.files == {"file-1": dataset}
    upload, create, *polls = fake.requests
    assert upload.json == {"purpose": "fine-tune", "filename": "dataset.jsonl"}
    assert upload.headers["authorization"] == "Bearer sk-test"
    assert create.json == {"training_file": "file-1", "model": BASE_MODEL, "suffix": "chorus"}
    assert [poll.path for poll in polls] == ["/v1/fine_tuning/jobs/ftjob-1"] * 3
    job = await job_row(engine, job_id)
    assert job.status is FineTuneStatus.SUCCEEDED
    assert job.external_job_id == "ftjob-1"
    assert job.fine_tuned_model == f"ft:{BASE_MODEL}:fake-org:chorus:ftjob-1"
    assert job.num_examples == len(EXPECTED_DATASET)
    assert job.finished_at is not None
    assert job.error is None


async def test_openai_job_failure_keeps_the_providers_reason(
    engine: AsyncEngine, fake: FakeProvider, openai_tuner: MakeFineTuner
) -> None:
    fake.fine_tuning.failure = "Training file has 3 examples; at least 10 are required."
    job_id = await add_job(engine, await collected_user(engine), "openai")
    fine_tuner = openai_tuner()

    await prepare(fine_tuner, job_id)

    job = await job_row(engine, job_id)
    assert job.status is FineTuneStatus.FAILED
    assert job.error == "Training file has 3 examples; at least 10 are required."
    assert job.external_job_id == "ftjob-1"
    assert job.fine_tuned_model is None
    assert job.finished_at is not None


@pytest.mark.parametrize(
    ("model", "fault", "reason"),
    [
        (BASE_MODEL, server_error(500), "HTTP 500: The server had an error"),
        (BASE_MODEL, error(401, "Invalid API Key", code="invalid_api_key"), "HTTP 401: Invalid"),
        (FILES_MODEL, server_error(503), "HTTP 503: The server had an error"),
    ],
)
async def test_an_http_error_while_creating_fails_the_job(
    engine: AsyncEngine,
    fake: FakeProvider,
    openai_tuner: MakeFineTuner,
    model: str,
    fault: Fault,
    reason: str,
) -> None:
    fake.faults.plan(model, fault)
    job_id = await add_job(engine, await collected_user(engine), "openai")
    fine_tuner = openai_tuner()

    await prepare(fine_tuner, job_id)

    job = await job_row(engine, job_id)
    assert job.status is FineTuneStatus.FAILED
    assert job.error is not None
    assert job.error.startswith(f"creating the provider's job failed: {reason}")
    assert job.external_job_id is None
    assert job.dataset_path is not None
    assert job.finished_at is not None


async def test_an_unreachable_provider_fails_the_job(
    engine: AsyncEngine, openai_tuner: MakeFineTuner
) -> None:
    job_id = await add_job(engine, await collected_user(engine), "openai")
    fine_tuner = openai_tuner(base_url="http://127.0.0.1:9/v1")

    await prepare(fine_tuner, job_id)

    job = await job_row(engine, job_id)
    assert job.status is FineTuneStatus.FAILED
    assert job.error is not None
    assert job.error.startswith("creating the provider's job failed: cannot reach")


async def test_a_transient_polling_error_is_retried(
    engine: AsyncEngine, fake: FakeProvider, openai_tuner: MakeFineTuner
) -> None:
    fake.faults.plan("ftjob-1", server_error(503), server_error(502))
    job_id = await add_job(engine, await collected_user(engine), "openai")
    fine_tuner = openai_tuner()

    await prepare(fine_tuner, job_id)

    assert (await job_row(engine, job_id)).status is FineTuneStatus.SUCCEEDED
    assert len(fake.requests_for("ftjob-1")) == 5


async def test_a_job_the_provider_does_not_know_fails_on_resume(
    engine: AsyncEngine, openai_tuner: MakeFineTuner
) -> None:
    alice = await make_account(engine, "alice")
    job_id = await add_job(
        engine,
        alice.id,
        "openai",
        status=FineTuneStatus.RUNNING,
        external_job_id="ftjob-404",
    )
    fine_tuner = openai_tuner()

    await fine_tuner.resume()
    await fine_tuner.wait_idle()

    job = await job_row(engine, job_id)
    assert job.status is FineTuneStatus.FAILED
    assert job.error == (
        "following the provider's job ftjob-404 failed: "
        "HTTP 404: No fine-tuning job found with id ftjob-404."
    )


async def test_aclose_while_polling_leaves_the_job_to_resume(
    engine: AsyncEngine, openai_tuner: MakeFineTuner
) -> None:
    job_id = await add_job(engine, await collected_user(engine), "openai")
    fine_tuner = openai_tuner(poll_interval_s=60.0)
    fine_tuner.submit(job_id)

    async def polled_once() -> bool:
        job = await job_row(engine, job_id)
        return job.external_job_id is not None and job.status is FineTuneStatus.QUEUED

    await eventually(polled_once)
    await fine_tuner.aclose()

    assert not [task for task in asyncio.all_tasks() if task.get_name().startswith("fine-tune")]
    await fine_tuner.wait_idle()
    with pytest.raises(RuntimeError, match="after the fine-tuner closed"):
        fine_tuner.submit(job_id)
    job = await job_row(engine, job_id)
    assert (job.status, job.external_job_id, job.finished_at) == (
        FineTuneStatus.QUEUED,
        "ftjob-1",
        None,
    )

    resumed = openai_tuner()
    await resumed.resume()
    await resumed.wait_idle()
    job = await job_row(engine, job_id)
    assert job.status is FineTuneStatus.SUCCEEDED
    assert job.fine_tuned_model == f"ft:{BASE_MODEL}:fake-org:chorus:ftjob-1"


async def test_aclose_before_the_provider_has_the_job_hands_it_back(
    engine: AsyncEngine, fake: FakeProvider, openai_tuner: MakeFineTuner
) -> None:
    fake.faults.set_latency(FILES_MODEL, 30.0)
    job_id = await add_job(engine, await collected_user(engine), "openai")
    fine_tuner = openai_tuner()
    fine_tuner.submit(job_id)

    async def uploading() -> bool:
        return len(fake.requests) == 1

    await eventually(uploading)
    async with asyncio.timeout(5):
        await fine_tuner.aclose()

    job = await job_row(engine, job_id)
    assert (job.external_job_id, job.finished_at, job.lease_until) == (None, None, None)

    # The next runner to look prepares it again, whole, and the provider gets one job.
    fake.faults.set_latency(FILES_MODEL, 0.0)
    taker = openai_tuner()
    await taker.resume()
    await taker.wait_idle()
    job = await job_row(engine, job_id)
    assert job.status is FineTuneStatus.SUCCEEDED
    assert job.error is None
    assert (list(fake.fine_tuning.jobs), job.external_job_id) == (["ftjob-1"], "ftjob-1")


async def test_a_job_whose_runner_stopped_renewing_is_followed_on_by_another(
    engine: AsyncEngine, openai_tuner: MakeFineTuner
) -> None:
    job_id = await add_job(engine, await collected_user(engine), "openai")
    # Never started, so it never renews its lease: a runner that hung or lost the database.
    stalled = openai_tuner(poll_interval_s=60.0, lease_s=1.0)
    stalled.submit(job_id)

    async def at_the_provider() -> bool:
        return (await job_row(engine, job_id)).external_job_id is not None

    await eventually(at_the_provider)
    taker = openai_tuner()
    await taker.resume()
    assert (await job_row(engine, job_id)).lease_owner == stalled.owner

    await asyncio.sleep(1.2)
    await taker.resume()
    await taker.wait_idle()
    job = await job_row(engine, job_id)
    assert (job.status, job.lease_owner) == (FineTuneStatus.SUCCEEDED, taker.owner)
    assert job.fine_tuned_model == f"ft:{BASE_MODEL}:fake-org:chorus:ftjob-1"


async def test_a_started_runner_renews_its_leases_and_takes_up_abandoned_jobs(
    engine: AsyncEngine, make_fine_tuner: MakeFineTuner
) -> None:
    user_id = await collected_user(engine)
    runner = make_fine_tuner(lease_s=0.6)
    await runner.start()
    # A job a dead runner was preparing when it died: its lease runs out a moment later.
    dead = datetime.now(UTC) + timedelta(seconds=0.5)
    job_id = await add_job(
        engine,
        user_id,
        "export",
        status=FineTuneStatus.VALIDATING_FILES,
        lease_owner="dead-runner",
        lease_until=dead,
    )

    async def taken_up() -> bool:
        return (await job_row(engine, job_id)).status is FineTuneStatus.SUCCEEDED

    await eventually(taken_up)
    assert (await job_row(engine, job_id)).lease_owner == runner.owner


async def test_the_lease_keeper_outlives_an_error_that_is_not_an_outage(
    engine: AsyncEngine, make_fine_tuner: MakeFineTuner, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = await collected_user(engine)
    runner = make_fine_tuner(lease_s=0.3)
    await runner.start()
    # A table gone from under the runner fails its renewals with an error no retry mends.
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE fine_tune_jobs RENAME TO fine_tune_jobs_away"))

    async def failed() -> bool:
        return any("taking up jobs failed" in record.getMessage() for record in caplog.records)

    try:
        await eventually(failed)
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                text("ALTER TABLE fine_tune_jobs_away RENAME TO fine_tune_jobs")
            )
    dead = await add_job(
        engine,
        user_id,
        "export",
        status=FineTuneStatus.VALIDATING_FILES,
        lease_owner="dead-runner",
        lease_until=datetime.now(UTC) - timedelta(seconds=1),
    )

    async def taken_up() -> bool:
        return (await job_row(engine, dead)).status is FineTuneStatus.SUCCEEDED

    await eventually(taken_up)


async def test_resume_prepares_queued_jobs_and_leaves_the_rest_alone(
    engine: AsyncEngine, openai_tuner: MakeFineTuner, fake: FakeProvider
) -> None:
    user_id = (await make_account(engine, "alice")).id
    finished = await add_job(
        engine, user_id, "openai", status=FineTuneStatus.SUCCEEDED, external_job_id="ftjob-9"
    )
    # Being prepared by a live runner elsewhere: its lease holds.
    elsewhere = await add_job(
        engine,
        user_id,
        "openai",
        status=FineTuneStatus.VALIDATING_FILES,
        lease_owner="elsewhere",
        lease_until=datetime.now(UTC) + timedelta(minutes=1),
    )
    exported = await add_job(engine, user_id, "export", status=FineTuneStatus.SUCCEEDED)
    never_prepared = await add_job(engine, user_id, "export")
    # Cut short when its runner died: its lease ran out.
    cut_short = await add_job(
        engine,
        user_id,
        "export",
        status=FineTuneStatus.VALIDATING_FILES,
        lease_owner="dead",
        lease_until=datetime.now(UTC) - timedelta(seconds=1),
    )
    fine_tuner = openai_tuner()

    await fine_tuner.resume()
    await fine_tuner.wait_idle()

    assert fake.requests == []
    for job_id in (finished, elsewhere, exported):
        assert (await job_row(engine, job_id)).finished_at is None
    assert (await job_row(engine, elsewhere)).lease_owner == "elsewhere"
    # Triggered by a session, then the server stopped before preparing it; and the other,
    # prepared again whole.
    for job_id in (never_prepared, cut_short):
        prepared = await job_row(engine, job_id)
        assert prepared.status is FineTuneStatus.SUCCEEDED
        assert prepared.dataset_path is not None
        assert prepared.lease_owner == fine_tuner.owner


async def prepared_job(app: Starlette, engine: AsyncEngine, user_id: int) -> int:
    """An export job of `user_id`'s examples, prepared by the app's own fine-tuner."""
    job_id = await add_job(engine, user_id, "export")
    fine_tuner = app.state.services.fine_tuner
    await prepare(fine_tuner, job_id)
    return job_id


@pytest.mark.parametrize("filename", ["dataset.jsonl", "preferences.jsonl"])
async def test_the_owner_downloads_a_dataset(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine, filename: str
) -> None:
    alice = await make_account(engine, "alice")
    history = await add_session(engine, alice.id)
    await add_example(engine, history.id, 0, 8.0, (valid("alpha", 8.0), valid("beta", 5.0)))
    job_id = await prepared_job(app, engine, alice.id)
    job = await job_row(engine, job_id)
    assert job.dataset_path is not None

    response = await client.get(f"/api/fine-tune-jobs/{job_id}/{filename}", headers=alice.headers)

    assert response.status_code == 200, response.text
    assert response.content == read_dataset(Path(job.dataset_path), filename)
    assert response.headers["content-type"] == "application/x-ndjson"
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="fine-tune-job-{job_id}-{filename}"'


async def test_a_continued_jobs_download_joins_its_parts(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first, second = await two_jobs(engine)
    root = await make_account(engine, "root", admin=True)
    fine_tuner = app.state.services.fine_tuner
    await prepare(fine_tuner, first, second)
    url = f"/api/fine-tune-jobs/{second}/dataset.jsonl"

    response = await client.get(url, headers=root.headers)

    assert response.status_code == 200, response.text
    assert [json.loads(line) for line in response.text.splitlines()] == SECOND_DATASET
    assert response.headers["content-length"] == str(len(response.content))
    first_directory = (await job_row(engine, first)).dataset_path
    assert first_directory is not None
    (Path(first_directory) / "dataset.jsonl").unlink()
    incomplete = await client.get(url, headers=root.headers)
    assert incomplete.status_code == 404
    assert incomplete.json()["error"] == "NOT_FOUND"
    assert "were removed" in incomplete.json()["message"]
    assert "CHORUS_DATA_DIR" in incomplete.json()["message"]


async def test_downloads_are_for_the_owner_and_admins(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    root = await make_account(engine, "root", admin=True)
    job_id = await prepared_job(app, engine, alice.id)
    unprepared = await add_job(engine, alice.id, "export")
    url = f"/api/fine-tune-jobs/{job_id}/dataset.jsonl"

    assert (await client.get(url, headers=root.headers)).status_code == 200
    hidden = await client.get(url, headers=bob.headers)
    assert hidden.status_code == 404
    assert hidden.json()["error"] == "NOT_FOUND"
    anonymous = await client.get(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    unknown = f"/api/fine-tune-jobs/{job_id + 100}/dataset.jsonl"
    assert (await client.get(unknown, headers=alice.headers)).status_code == 404
    not_yet = await client.get(
        f"/api/fine-tune-jobs/{unprepared}/preferences.jsonl", headers=alice.headers
    )
    assert not_yet.status_code == 404
    assert "no dataset yet" in not_yet.json()["message"]
