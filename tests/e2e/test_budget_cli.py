"""`chorus train --max-cost`, run as a separate process against teachers on the fake
provider: the session stops at its budget and says so."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.engine import create_engine, session_factory
from models.enums import EndReason, SessionStatus, VotingStrategy
from models.history import all_history
from models.users import user_by_name
from tests.support.databases import BACKENDS, drop_database, fresh_database_url
from tests.support.fake_provider import FakeProvider
from trainer.estimate import example_spend
from trainer.teachers.ensemble import build_ensemble, load_teacher_configs

PRICED = """
[[teachers]]
name = "{name}"
provider = "openai"
model = "{name}-model"
base_url = "{base_url}"
api_key_env = "FAKE_KEY"
input_price_per_mtok = 400
output_price_per_mtok = 600
"""


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    yield url
    drop_database(url)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


def chorus(url: str, teachers_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CHORUS_DATABASE_URL": url,
        "CHORUS_TEACHERS_FILE": str(teachers_file),
        "FAKE_KEY": "k",
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_train_stops_at_its_budget(database: str, fake: FakeProvider, tmp_path: Path) -> None:
    teachers_file = tmp_path / "teachers.toml"
    teachers_file.write_text(
        "".join(PRICED.format(name=name, base_url=fake.base_url("openai")) for name in "ab"),
        encoding="utf-8",
    )
    configs = load_teacher_configs(teachers_file, {})
    one_example = example_spend(
        build_ensemble(configs, env={"FAKE_KEY": "k"}), VotingStrategy.JURY
    ).cost_usd
    assert one_example is not None
    assert chorus(database, teachers_file, "migrate").returncode == 0
    assert chorus(database, teachers_file, "users", "create", "alice").returncode == 0

    budget = f"{one_example * 1.5:.6f}"
    result = chorus(
        database,
        teachers_file,
        "train",
        "--user",
        "alice",
        "--examples",
        "40",
        "--max-cost",
        budget,
    )
    assert result.returncode == 0, result.stderr
    assert "Stopped at the budget of $" in result.stdout
    assert "Cost" in result.stdout

    async def stored() -> list[tuple[SessionStatus, EndReason | None, int, float | None]]:
        engine = create_engine(database)
        try:
            async with session_factory(engine)() as db:
                alice = await user_by_name(db, "alice")
                return [
                    (h.status, h.end_reason, h.num_examples_successful, h.cost_usd)
                    for h in await all_history(db, alice.id)
                ]
        finally:
            await engine.dispose()

    [(status, end_reason, successful, cost)] = asyncio.run(stored())
    assert status is SessionStatus.COMPLETED
    assert end_reason is EndReason.BUDGET_REACHED
    assert 1 <= successful < 40
    # Examples in flight are projected at the average so far, so the spent may pass the
    # budget by what they cost above it: never by one whole example at its most.
    assert cost is not None
    assert cost < float(budget) + one_example


def test_train_refuses_a_budget_without_prices(database: str, tmp_path: Path) -> None:
    teachers_file = tmp_path / "teachers.toml"
    teachers_file.write_text(
        '[[teachers]]\nname = "free"\nprovider = "openai"\nmodel = "m"\n'
        'base_url = "http://127.0.0.1:9/v1"\napi_key_env = "FAKE_KEY"\n',
        encoding="utf-8",
    )
    assert chorus(database, teachers_file, "migrate").returncode == 0
    assert chorus(database, teachers_file, "users", "create", "alice").returncode == 0
    result = chorus(database, teachers_file, "train", "--user", "alice", "--max-cost", "1")
    assert result.returncode != 0
    assert "needs every teacher's price, and free has none" in result.stderr
