"""A fine-tune job's datasets on disk, kept as a chain of parts so that no job copies another's.

A job's directory holds the JSONL lines of its own examples only, in `dataset.jsonl` and
`preferences.jsonl`, and `parts.json`: the directories, oldest first and its own last, whose
files, joined in that order, make its datasets. A job that continues the previous one lists
that job's parts and then its own; one exported whole (the user's first, or one whose
predecessor's files are gone) lists itself alone, as does a directory with no `parts.json`.
Each file is written once and replaced whole, so a reader never sees a part of one; a job
costs the disk and the worker its own examples, however long the user's history.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from models.fine_tuning import CollectedExample, PreparedJob
from trainer.catalog import Sample
from trainer.example import writing_request

DATASET = "dataset.jsonl"
PREFERENCES = "preferences.jsonl"
PARTS = "parts.json"

Message = dict[str, str]


def _part_names(directory: Path) -> list[str]:
    """The directories beside `directory` whose files, joined in order, make the datasets of
    its job, by name: a long chain is read cheaply."""
    try:
        names: list[str] = json.loads((directory / PARTS).read_text())
    except FileNotFoundError:
        return [directory.name]
    return names


class Part(NamedTuple):
    path: Path
    size: int  # bytes; a part is written once and never changed


def dataset_files(directory: Path, name: str) -> list[Part] | None:
    """The files that, joined in order, make the job's dataset `name`, each with its size;
    None when one is gone."""
    try:
        paths = [directory.parent / part / name for part in _part_names(directory)]
        found = [(path, path.stat()) for path in paths]
    except (OSError, ValueError):
        return None  # a file, the job's own directory, or its list of parts is gone or unreadable
    if not all(stat.S_ISREG(status.st_mode) for _, status in found):
        return None
    return [Part(path, status.st_size) for path, status in found]


def read_dataset(directory: Path, name: str) -> bytes:
    """The whole dataset `name` of `directory`'s job."""
    parts = dataset_files(directory, name)
    if parts is None:
        raise FileNotFoundError(f"a part of {directory / name} is gone")
    return b"".join(part.path.read_bytes() for part in parts)


def continuable(job: PreparedJob | None, jobs_directory: Path) -> PreparedJob | None:
    """`job`, if a job under `jobs_directory` can continue it: it is there too, with both its
    files, and every directory it lists is still there. One listing of the directory answers
    for the whole chain, so the check costs next to nothing however long the history."""
    if job is None or job.directory.parent != jobs_directory:
        return None
    try:
        chain = _part_names(job.directory)
        present = set(os.listdir(jobs_directory))
    except (OSError, ValueError):
        return None
    if not present.issuperset(chain):
        return None  # an earlier job's directory was removed: the new job is exported whole
    if not all((job.directory / name).is_file() for name in (DATASET, PREFERENCES)):
        return None
    return job


def dataset_lines(examples: Sequence[CollectedExample]) -> tuple[list[str], list[str]]:
    """The lines of `dataset.jsonl` and of `preferences.jsonl`, each ending in a newline."""
    chats: list[str] = []
    preferences: list[str] = []
    for genre, prompt, style, text, rejected in examples:
        # The seed only reaches the teachers; the messages are the same for any seed.
        request = writing_request(Sample(genre, prompt, style or ""), seed=0)
        asked: list[Message] = [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.prompt},
        ]
        chosen: list[Message] = [{"role": "assistant", "content": text}]
        chats.append(_json_line({"messages": [*asked, *chosen]}))
        if rejected is not None:
            answer: list[Message] = [{"role": "assistant", "content": rejected}]
            preferences.append(_json_line({"prompt": asked, "chosen": chosen, "rejected": answer}))
    return chats, preferences


def _json_line(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) + "\n"


def write_datasets(
    directory: Path, chats: list[str], preferences: list[str], base: Path | None
) -> None:
    """The job's own lines, and its parts: `base`'s, when given, then its own. A job written
    already (prepared again after its runner stopped) is left as it is: a later job may list
    its files, whose content and length must not change."""
    if (directory / PARTS).is_file() and all(
        dataset_files(directory, name) is not None for name in (DATASET, PREFERENCES)
    ):
        return
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in ((DATASET, chats), (PREFERENCES, preferences)):
        _write_atomically(directory / name, "".join(lines))
    chain = [*(_part_names(base) if base is not None else []), directory.name]
    _write_atomically(directory / PARTS, json.dumps(chain))


def _write_atomically(path: Path, content: str) -> None:
    """Readers see the old file or the whole new one, never a part."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(handle, "wb") as out:
            out.write(content.encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
