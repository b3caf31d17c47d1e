"""Fine-tune exports: what one job's datasets cost the worker, early and late in a user's
history.

Each time a user's collected examples cross a multiple of 50, the worker that runs the
session writes a fine-tune job's datasets (trainer/finetune/dataset.py). A job writes its own
examples and lists the earlier jobs' files, so its cost should not grow with the history.
This writes, with the fine-tuner's own functions, the datasets of a user's job after a chain
of earlier jobs holding a short and a long history, side by side with the way they were
written before: each job a copy of the previous one's files with its own lines appended.
"""

from __future__ import annotations

import os
import shutil
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
from trainer.finetune.dataset import (
    DATASET,
    PREFERENCES,
    continuable,
    dataset_lines,
    write_datasets,
)

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


def _copying_write(
    directory: Path, chats: list[str], preferences: list[str], base: Path | None
) -> None:
    """How Chorus wrote a job's datasets before they were chained: the previous job's files
    copied whole (by the kernel), then the job's own lines appended, fsynced and renamed."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in ((DATASET, chats), (PREFERENCES, preferences)):
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
        os.close(handle)
        if base is not None:
            shutil.copyfile(base / name, temporary)
        with open(temporary, "ab") as out:
            out.write("".join(lines).encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, directory / name)


def _chained_write(
    directory: Path, chats: list[str], preferences: list[str], previous: PreparedJob | None
) -> None:
    """As the fine-tuner writes a job's datasets now (trainer/finetune/runner.py)."""
    base = continuable(previous, directory.parent)
    write_datasets(directory, chats, preferences, base.directory if base else None)


def _measure(history: int, jobs: int, chained: bool) -> Jobs:
    """Medians over `jobs` jobs, each continuing the user's previous one, after earlier jobs
    holding `history` examples, all written one way."""
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK, prefix="bench-datasets-") as root:
        directory = Path(root) / "fine-tune"
        previous: PreparedJob | None = None
        walls, cpus, sizes = [], [], []
        for job in range(history // PER_JOB + jobs):
            chats, preferences = dataset_lines(_examples(job * PER_JOB))
            here = directory / str(job + 1)
            wall, cpu = time.perf_counter(), time.process_time()
            if chained:
                _chained_write(here, chats, preferences, previous)
            else:
                base = previous.directory if previous else None
                _copying_write(here, chats, preferences, base)
            if job * PER_JOB >= history:
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                sizes.append(sum(path.stat().st_size for path in here.iterdir()))
            previous = PreparedJob(here, job, (job + 1) * PER_JOB)
    return Jobs(median(walls), median(cpus), int(median(sizes)))


async def run(smoke: bool) -> Section:
    sizes = SMOKE if smoke else FULL
    section = Section("datasets", "8. Fine-tune exports: one job, early and late in a history")
    measured = {
        (history, chained): _measure(history, sizes.jobs, chained)
        for history in sizes.histories
        for chained in (True, False)
    }
    for (history, chained), jobs in measured.items():
        way = "chained" if chained else "copied (before)"
        section.add(f"after {history:,} examples, {way}: wall per job", jobs.wall_s * 1000, "ms")
        section.add(f"after {history:,} examples, {way}: CPU per job", jobs.cpu_s * 1000, "ms")
        section.add(
            f"after {history:,} examples, {way}: bytes written per job", jobs.bytes_written, "B"
        )
    short, long = sizes.histories
    section.add(
        f"chained: wall per job after {long:,} / after {short:,}",
        measured[long, True].wall_s / measured[short, True].wall_s,
        "x",
    )
    section.add(
        f"copied (before): wall per job after {long:,} / after {short:,}",
        measured[long, False].wall_s / measured[short, False].wall_s,
        "x",
    )
    section.add(
        f"after {long:,} examples: wall per job, chained / copied",
        measured[long, True].wall_s / measured[long, False].wall_s,
        "x",
        Bar(0.1),
    )
    section.notes.append(
        f"A job of {PER_JOB} examples (the fake provider's stories, each with a rejected answer, "
        "so both files have a line per example) after earlier jobs of the same user holding "
        "the history's examples, all written the same way, on this machine's disk under "
        f"bench/.work; medians over {sizes.jobs} jobs after each history. Chained: with the "
        "fine-tuner's own functions, as it writes them now (`continuable` to choose what the "
        "job continues, `write_datasets`: the job's own lines and the list of the earlier "
        "jobs' directories). Copied: as it wrote them before, the previous job's files copied "
        "whole and the job's lines appended (kept here as the baseline). Every file is "
        "fsynced and renamed into place either way. Wall and CPU are this process's, the "
        "kernel's copying included. The chained job still does a little per earlier job: one "
        "listing of the jobs' directory and the list of parts it writes."
    )
    return section
