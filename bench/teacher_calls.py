"""The trainer's teacher calls alone, in a process of their own: the HTTP share of its CPU.

    python -m bench.teacher_calls TEACHERS_FILE EXAMPLES CONCURRENCY

makes the calls a JURY session of EXAMPLES examples makes, with CONCURRENCY examples in
flight, through the teachers Chorus builds from TEACHERS_FILE: every teacher writes the
story, then every teacher judges the others' stories. Nothing is checked, scored, voted,
recorded or published. It runs on uvloop with the heap settled, as `chorus serve` does, and
prints one JSON line:
its CPU seconds over the calls, their wall time and how many calls failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import string
import sys
import time
from pathlib import Path

import uvloop

from server.cli import settle_heap
from trainer.catalog import Sampler
from trainer.example import writing_request
from trainer.teachers.base import Candidate, JudgeRequest, Teacher, TeacherError
from trainer.teachers.ensemble import build_ensemble, load_teacher_configs


async def _example(teachers: list[Teacher], seed: int, failures: list[int]) -> None:
    request = writing_request(Sampler(seed=seed).next(), seed)
    written = await asyncio.gather(
        *(teacher.generate(request) for teacher in teachers), return_exceptions=True
    )
    stories = [story.text for story in written if not isinstance(story, BaseException)]
    failures[0] += len(written) - len(stories)
    hearing = JudgeRequest(
        prompt=request.prompt,
        candidates=tuple(
            Candidate(label, text)
            for label, text in zip(string.ascii_uppercase, stories[1:], strict=False)
        ),
        seed=seed,
    )
    verdicts = await asyncio.gather(*(teacher.judge(hearing) for teacher in teachers))
    failures[0] += sum(1 for verdict in verdicts if verdict is None)


async def measure(teachers_file: Path, examples: int, concurrency: int) -> dict[str, float]:
    teachers = build_ensemble(load_teacher_configs(teachers_file, os.environ), env=os.environ)
    slots = asyncio.Semaphore(concurrency)
    failures = [0]

    async def one(seed: int) -> None:
        async with slots:
            try:
                await _example(teachers, seed, failures)
            except TeacherError:
                failures[0] += 1

    try:
        await asyncio.gather(*(one(seed) for seed in range(concurrency)))  # warm connections
        failures[0] = 0
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(seed) for seed in range(examples)))
        return {
            "cpu_s": time.process_time() - cpu,
            "wall_s": time.perf_counter() - wall,
            "failed_calls": failures[0],
        }
    finally:
        for teacher in teachers:
            await teacher.aclose()


def main(argv: list[str]) -> None:
    teachers_file, examples, concurrency = argv
    settle_heap()
    figures = uvloop.run(measure(Path(teachers_file), int(examples), int(concurrency)))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
