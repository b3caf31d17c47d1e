"""The trainer's work besides the teacher calls, in a process of its own: what the CPU bar
is about (validity, scoring, voting, persistence, events, fine-tuning exports).

    python -m bench.session_alone TEACHERS_FILE DATABASE_URL EXAMPLES CONCURRENCY LATENCY_S REPEATS

runs a warm-up session and then REPEATS sessions of EXAMPLES examples, CONCURRENCY in
flight, with JURY voting, through Chorus's own session runner, event log, recorder and
fine-tuner, on the migrated database at DATABASE_URL. The teachers of TEACHERS_FILE answer
in this process after LATENCY_S, with the stories and verdicts the fake provider gives, so
no HTTP is made. It runs on uvloop with the heap settled as `chorus serve` does, and
prints one JSON line: each session's CPU seconds and wall time.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from models.enums import SessionStatus, VotingStrategy
from server.cli import settle_heap
from server.services import Services
from server.settings import Settings
from tests.support import make_account
from tests.support.fake_provider import story
from trainer.plan import make_plan
from trainer.session import RunnerOptions
from trainer.teachers.base import (
    Generation,
    GenerationRequest,
    JudgeRequest,
    Teacher,
    TeacherConfig,
    Verdict,
)
from trainer.teachers.ensemble import load_teacher_configs
from trainer.training import train


class InProcessTeacher:
    """A teacher that answers after `latency_s` as the fake provider would, without HTTP."""

    offline = False
    available = True

    def __init__(self, config: TeacherConfig, latency_s: float) -> None:
        self.config = config
        self._latency_s = latency_s

    @property
    def name(self) -> str:
        return self.config.name

    async def generate(self, request: GenerationRequest) -> Generation:
        await asyncio.sleep(self._latency_s)
        text = story(self.config.model, request.prompt)
        return Generation(text, round(self._latency_s * 1000), 60, len(text.split()), "stop")

    async def judge(self, request: JudgeRequest) -> Verdict:
        await asyncio.sleep(self._latency_s)
        longest = max(request.candidates, key=lambda candidate: len(candidate.text))
        return Verdict(longest.label)

    async def aclose(self) -> None:
        return None


async def measure(
    teachers_file: Path, url: str, examples: int, concurrency: int, latency_s: float, repeats: int
) -> dict[str, list[float]]:
    teachers: dict[str, Teacher] = {
        config.name: InProcessTeacher(config, latency_s)
        for config in load_teacher_configs(teachers_file, os.environ)
    }
    options = RunnerOptions(max_concurrent_examples=concurrency)
    figures: dict[str, list[float]] = {"cpu_s": [], "wall_s": []}
    with tempfile.TemporaryDirectory(prefix="chorus-bench-") as data_dir:
        settings = Settings(
            database_url=url, teachers_file=teachers_file, data_dir=Path(data_dir), _env_file=None
        )
        async with Services.open(settings, serving=False) as services:
            account = await make_account(services.engine, "bench")
            for run in range(repeats + 1):
                plan = make_plan(
                    list(teachers.values()),
                    num_examples=min(concurrency, 10) if run == 0 else examples,
                    voting=VotingStrategy.JURY,
                    seed=run,
                )
                cpu, wall = time.process_time(), time.perf_counter()
                history = await train(
                    services.db,
                    account.id,
                    plan,
                    teachers,
                    options=options,
                    fine_tuner=services.fine_tuner,
                )
                await services.fine_tuner.wait_idle()
                if history.status is not SessionStatus.COMPLETED:
                    raise RuntimeError(f"session ended {history.status.name}: {history.error}")
                if run:  # the first is the warm-up
                    figures["cpu_s"].append(time.process_time() - cpu)
                    figures["wall_s"].append(time.perf_counter() - wall)
    return figures


def main(argv: list[str]) -> None:
    teachers_file, url, examples, concurrency, latency_s, repeats = argv
    settle_heap()
    sizes = int(examples), int(concurrency), float(latency_s), int(repeats)
    figures = uvloop.run(measure(Path(teachers_file), url, *sizes))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
