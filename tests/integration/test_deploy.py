"""deploy/compose.yaml runs the topology the tests run, with Chorus's own settings: two API
processes and two workers sharing the queue and the broadcast on Redis, on MariaDB."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from server.cli import app
from server.settings import Settings, SettingsError, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS = {f"CHORUS_{name.upper()}" for name in Settings.model_fields}


def test_every_variable_compose_names_is_a_setting() -> None:
    for path in (DEPLOY / "compose.yaml", DEPLOY / "Dockerfile"):
        named = set(re.findall(r"\bCHORUS_[A-Z0-9_]+", path.read_text()))
        assert named <= SETTINGS, (path.name, named - SETTINGS)
    named = set(re.findall(r"\bCHORUS_[A-Z0-9_]+", (DEPLOY / "compose.yaml").read_text()))
    # The ones the tests of workers set for their processes.
    assert {
        "CHORUS_DATABASE_URL",
        "CHORUS_BROADCAST_URL",
        "CHORUS_QUEUE_URL",
        "CHORUS_QUEUE_NAME",
        "CHORUS_SESSION_LEASE_S",
        "CHORUS_MAX_TAKEOVERS",
        "CHORUS_WORKER_SESSIONS",
        "CHORUS_WORKER_SHUTDOWN_S",
    } <= named


def test_compose_runs_two_api_processes_and_two_workers() -> None:
    compose = (DEPLOY / "compose.yaml").read_text()
    commands = re.findall(r'command: \["([a-z]+)"', compose)
    known = set(typer.main.get_group(app).commands)
    assert set(commands) <= known
    assert sorted(commands) == ["migrate", "serve", "serve", "worker"]
    assert re.search(r'command: \["worker"\](?:.|\n)*?replicas: 2', compose)


def test_a_queue_on_redis_needs_the_broadcast_there_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(DEPLOY)  # no .env here
    monkeypatch.setenv("CHORUS_QUEUE_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("CHORUS_BROADCAST_URL", raising=False)
    with pytest.raises(SettingsError, match="CHORUS_BROADCAST_URL"):
        load_settings()
    monkeypatch.setenv("CHORUS_BROADCAST_URL", "redis://127.0.0.1:6379/0")
    assert not load_settings().embedded_worker
    monkeypatch.setenv("CHORUS_QUEUE_URL", "amqp://elsewhere")
    with pytest.raises(SettingsError, match="CHORUS_QUEUE_URL"):
        load_settings()


@pytest.mark.parametrize("value", ["-1", "20", "low"])
def test_the_api_priority_is_a_niceness_it_may_lower_itself_to(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.chdir(DEPLOY)  # no .env here
    monkeypatch.setenv("CHORUS_API_NICE", value)
    with pytest.raises(SettingsError, match="CHORUS_API_NICE"):
        load_settings()
    monkeypatch.setenv("CHORUS_API_NICE", "19")
    assert load_settings().api_nice == 19
