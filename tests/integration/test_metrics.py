"""`/metrics`: who may read it, and what it says during and after a real session against the
fake provider, checked against the session's record in the database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from models.engine import session_factory
from models.enums import SessionStatus
from models.tables import TeacherOutput, TrainingExample, TrainingHistory
from server.app import create_app
from server.metrics import forget_dead_processes
from server.settings import Settings
from tests.support import Account, eventually, graphql_data, make_account
from tests.support.fake_provider import FakeProvider, error, rate_limited, run_fake_provider
from tests.support.metrics import Scrape
from tests.support.workers import every_session_ended
from trainer import metrics

TEACHERS = ("ada", "bo", "cy")
KEY_ENV = "CHORUS_TEST_METRICS_KEY"
START = """mutation($input: StartTrainingInput!) {
  startTraining(input: $input) { sessionId status } }"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    async with run_fake_provider() as fake:
        yield fake


def teachers_file(path: Path, fake: FakeProvider) -> Path:
    path.write_text(
        "".join(
            f'[[teachers]]\nname = "{name}"\nprovider = "openai"\nmodel = "{name}-model"\n'
            f'base_url = "{fake.base_url("openai")}"\napi_key_env = "{KEY_ENV}"\n'
            "input_price_per_mtok = 400\noutput_price_per_mtok = 600\n\n"
            for name in TEACHERS
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def fake_app(
    engine: AsyncEngine,
    settings: Settings,
    fake: FakeProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Starlette]:
    monkeypatch.setenv(KEY_ENV, "k")
    configured = settings.model_copy(
        update={
            "teachers_file": teachers_file(tmp_path / "teachers.toml", fake),
            "max_concurrent_examples": 2,
        }
    )
    application = create_app(configured)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def fake_client(fake_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://chorus.test") as http:
        yield http


async def scrape(client: httpx.AsyncClient, admin: Account) -> Scrape:
    response = await client.get("/metrics", headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape.parse(response.text)


async def test_metrics_are_for_admins_only(engine: AsyncEngine, client: httpx.AsyncClient) -> None:
    alice = await make_account(engine, "alice")
    root = await make_account(engine, "root", admin=True)

    anonymous = await client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["error"] == "UNAUTHENTICATED"
    unknown = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "UNAUTHENTICATED"
    user = await client.get("/metrics", headers=alice.headers)
    assert user.status_code == 403
    assert user.json()["error"] == "FORBIDDEN"
    assert "admin" in user.json()["message"]
    assert "chorus_" not in user.text

    metrics = await scrape(client, root)
    assert metrics.has("chorus_http_requests_total")
    # The refusals above are requests like any other.
    for status, count in (("401", 2), ("403", 1)):
        assert metrics.value("chorus_http_requests_total", route="/metrics", status=status) >= count


async def test_a_scrape_during_and_after_a_session_agrees_with_its_record(
    engine: AsyncEngine,
    fake_app: Starlette,
    fake_client: httpx.AsyncClient,
    fake: FakeProvider,
    settings: Settings,
) -> None:
    client = fake_client
    alice = await make_account(engine, "alice")
    root = await make_account(engine, "root", admin=True)
    for name in TEACHERS:
        fake.faults.set_latency(f"{name}-model", 0.05)
    # ada's first call is tried twice more; cy's first story is refused, finally.
    fake.faults.plan("ada-model", rate_limited(retry_after_ms=10), rate_limited(retry_after_ms=10))
    fake.faults.plan("cy-model", error(400, "This prompt is not allowed"))
    before = await scrape(client, root)

    data = await graphql_data(
        client, START, {"input": {"numExamples": 6, "voting": "JURY"}}, account=alice
    )
    session_id = data["startTraining"]["sessionId"]

    async def running() -> bool:
        async with session_factory(engine)() as db:
            status = await db.scalar(
                select(TrainingHistory.status).where(TrainingHistory.session_id == session_id)
            )
        return status is SessionStatus.RUNNING

    await eventually(running)
    during = await scrape(client, root)
    assert during.value("chorus_sessions", status="RUNNING") == 1
    async with session_factory(engine)() as db:
        history = await db.scalar(
            select(TrainingHistory).where(TrainingHistory.session_id == session_id)
        )
        assert history is not None
        recorded_so_far = history.num_examples_successful + history.num_examples_failed
    assert during.since(before, "chorus_examples_total") <= recorded_so_far

    await every_session_ended(engine)
    after = await scrape(client, root)

    async with session_factory(engine)() as db:
        history = await db.scalar(
            select(TrainingHistory).where(TrainingHistory.session_id == session_id)
        )
        assert history is not None
        outputs = (
            await db.scalars(
                select(TeacherOutput)
                .join(TrainingExample, TrainingExample.id == TeacherOutput.example_id)
                .where(TrainingExample.history_id == history.id)
            )
        ).all()

    assert history.status.name == "COMPLETED"
    assert after.value("chorus_sessions", status="RUNNING") == 0
    assert after.since(before, "chorus_sessions_ended_total", status="COMPLETED") == 1
    assert after.since(before, "chorus_examples_total", status="SUCCEEDED") == (
        history.num_examples_successful
    )
    assert after.since(before, "chorus_examples_total", status="FAILED") == (
        history.num_examples_failed
    )

    calls = "chorus_teacher_call_duration_seconds_count"
    for name in TEACHERS:
        own = [output for output in outputs if output.model == name]
        assert len(own) == 6
        # One writing call per output, and one judging call per output that judged.
        assert after.since(before, calls, teacher=name, call="write") == len(own)
        judged = [output for output in own if output.judge_prompt_tokens is not None]
        assert after.since(before, calls, teacher=name, call="judge") == len(judged)
        prompt = sum((o.prompt_tokens or 0) + (o.judge_prompt_tokens or 0) for o in own)
        completion = sum((o.completion_tokens or 0) + (o.judge_completion_tokens or 0) for o in own)
        assert prompt > 0
        assert completion > 0
        tokens = "chorus_teacher_tokens_total"
        assert after.since(before, tokens, teacher=name, kind="prompt") == prompt
        assert after.since(before, tokens, teacher=name, kind="completion") == completion
        assert after.since(before, "chorus_teacher_cost_usd_total", teacher=name) == (
            pytest.approx(sum(float(o.cost_usd or 0) for o in own), abs=1e-9)
        )
    refused = [o for o in outputs if o.model == "cy" and o.error and "HTTP 400" in o.error]
    assert len(refused) == 1
    assert after.since(before, calls, teacher="cy", call="write", outcome="refused") == 1
    assert after.since(before, calls, teacher="ada", outcome="rate_limited") == 0
    retries = "chorus_teacher_retries_total"
    assert after.since(before, retries, teacher="ada", cause="rate_limited") == 2
    assert after.since(before, retries, teacher="bo") == 0

    requests = "chorus_http_requests_total"
    assert after.since(before, requests, method="POST", route="/graphql", status="200") == 1
    # `before` and `during`; a scrape is counted once it is answered.
    assert after.since(before, requests, method="GET", route="/metrics", status="200") == 2
    assert after.value("chorus_db_pool_size_connections") == settings.db_pool_size
    assert after.value("chorus_db_pool_checked_out_connections") == 0


async def test_routes_are_counted_by_template_not_by_path(
    engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    root = await make_account(engine, "root", admin=True)
    before = await scrape(client, root)
    for user_id in (1, 2, 3):
        await client.get(f"/api/training-history/user/{user_id}/stats", headers=root.headers)
    await client.get("/api/training-history/user/x/stats", headers=root.headers)
    await client.get("/no/such/path")
    await client.get("/healthz")
    after = await scrape(client, root)

    requests = "chorus_http_requests_total"
    template = "/api/training-history/user/{user_id}/stats"
    assert after.since(before, requests, route=template, status="200") == 3
    # A path no route takes is one series, whatever the path; so is /api's.
    assert after.since(before, requests, route="/api/{path}", status="404") == 1
    assert after.since(before, requests, route="unmatched", status="404") == 1
    assert after.since(before, requests, method="GET", route="/healthz", status="200") == 1
    assert not any(
        "/1/" in labels.get("route", "") or "x" in labels.get("route", "").split("/")
        for _, labels, _ in after.samples
    )


async def test_a_scrape_reads_the_queue_and_shows_each_worker(
    engine: AsyncEngine, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    root = await make_account(engine, "root", admin=True)

    async def depth() -> int:
        return 3

    async def unreachable() -> int:
        raise ConnectionError("the queue is down")

    metrics.set_worker_sessions(2)
    metrics.watch_queue_depth(depth)
    try:
        scraped = await scrape(client, root)
        assert scraped.value("chorus_session_queue_depth") == 3
        assert scraped.value("chorus_worker_sessions") == 2
        # A reading that fails is left out, and the rest is served.
        metrics.watch_queue_depth(unreachable)
        scraped = await scrape(client, root)
        assert not scraped.has("chorus_session_queue_depth")
        assert scraped.has("chorus_sessions")
        assert "chorus_session_queue_depth could not be read" in caplog.text
    finally:
        metrics.watch_queue_depth(None)
        metrics.set_worker_sessions(0)
    assert not (await scrape(client, root)).has("chorus_session_queue_depth")


def dead_pid() -> int:
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(process.stdout)


def test_a_starting_process_forgets_dead_processes_counts_only_when_none_lives(
    tmp_path: Path,
) -> None:
    dead, living = dead_pid(), os.getppid()
    files = [f"counter_{dead}.db", f"gauge_livesum_{dead}.db", f"counter_{living}.db"]
    for name in files:
        (tmp_path / name).write_bytes(b"")

    # Another process lives: the dead one's gauge goes, its counts stay in the totals.
    forget_dead_processes(tmp_path, starting=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"counter_{living}.db"]
    )
    # None lives but this one: the totals start afresh.
    (tmp_path / f"counter_{living}.db").rename(tmp_path / f"counter_{os.getpid()}.db")
    forget_dead_processes(tmp_path, starting=True)
    assert [path.name for path in tmp_path.iterdir()] == [f"counter_{os.getpid()}.db"]
