"""Fine-tune exports: what one job's datasets cost the worker, early and late in a user's
history.

Each time a user's collected examples cross a multiple of 50, the worker that runs the
session writes a fine-tune job's datasets (trainer/finetune/dataset.py). A job writes its own
examples and lists the earlier jobs' files, so its cost should not grow with the history.
This writes, with the fine-tuner's own functions, the datasets of a user's job after a chain
of earlier jobs holding HISTORY examples, for a short and a long history side by side.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from bench.procs import WORK
from bench.report import Bar, Section, median
from models.enums import Genre
from models.fine_tuning import CollectedExample, PreparedJob
from tests.support.fake_provider import story
from trainer.finetune.dataset import continuable, dataset_lines, write_datasets

PER_JOB = 50


@dataclass(frozen=True)
class Sizes:
    histories: tuple[int, int]
    jobs: int


FULL = Sizes(histories=(500, 20_000), jobs=15)
SMOKE = Sizes(histories=(100, 500), jobs=3)


@dataclass(frozen=True)
class Jobs:
    wall_s: float
    cpu_s: float
    bytes_written: int


def _examples(first: int) -> list[CollectedExample]:
    """A job's worth of examples as the fake provider writes them, with a rejected answer."""
    # The rows the database gives are tuples of these; `dataset_lines` only unpacks them.
    return [
        cast(
            CollectedExample,
            (
                Genre.FANTASY,
                f"prompt {index}",
                "as a fable",
                story("bench-gemini-pro", f"prompt {index}"),
                story("bench-llama-8b", f"prompt {index}"),
            ),
        )
        for index in range(first, first + PER_JOB)
    ]


def _measure(history: int, jobs: int) -> Jobs:
    """Medians over `jobs` jobs, each continuing the user's previous one, after a chain of
    earlier jobs holding `history` examples."""
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK, prefix="bench-datasets-") as root:
        directory = Path(root) / "fine-tune"
        previous: PreparedJob | None = None
        walls, cpus, sizes = [], [], []
        for job in range(history // PER_JOB + jobs):
            chats, preferences = dataset_lines(_examples(job * PER_JOB))
            wall, cpu = time.perf_counter(), time.process_time()
            base = continuable(previous, directory)
            here = directory / str(job + 1)
            write_datasets(here, chats, preferences, base.directory if base else None)
            if job * PER_JOB >= history:
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                sizes.append(sum(path.stat().st_size for path in here.iterdir()))
            previous = PreparedJob(here, job, (job + 1) * PER_JOB)
    return Jobs(median(walls), median(cpus), int(median(sizes)))


async def run(smoke: bool) -> Section:
    sizes = SMOKE if smoke else FULL
    section = Section("datasets", "8. Fine-tune exports: one job, early and late in a history")
    short, long = (_measure(history, sizes.jobs) for history in sizes.histories)
    for history, jobs in zip(sizes.histories, (short, long), strict=True):
        section.add(f"after {history:,} examples: wall per job", jobs.wall_s * 1000, "ms")
        section.add(f"after {history:,} examples: CPU per job", jobs.cpu_s * 1000, "ms")
        section.add(f"after {history:,} examples: bytes written per job", jobs.bytes_written, "B")
    section.add(
        f"wall per job after {sizes.histories[1]:,} / after {sizes.histories[0]:,}",
        long.wall_s / short.wall_s,
        "x",
        Bar(1.5),
    )
    section.notes.append(
        f"A job of {PER_JOB} examples (the fake provider's stories, each with a rejected answer, "
        "so both files have a line per example), written with the fine-tuner's own functions "
        "(`continuable` to choose what it continues, `write_datasets`, each file fsynced and "
        "renamed into place) after a chain of earlier jobs of the same user holding the "
        "history's examples, written the same way; medians over "
        f"{sizes.jobs} jobs after each history, on this machine's disk under bench/.work. "
        "Wall and CPU are this process's, the kernel's copying included. Before a job listed "
        "the earlier jobs' files, it copied them: at 20,000 examples 152 ms and 90 MB a job "
        'against 6.6 ms at 500 (bench/README.md, "Ninth round").'
    )
    return section
