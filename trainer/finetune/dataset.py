"""A fine-tune job's datasets on disk: the JSONL lines of its examples, appended to the
previous job's files, each file replaced whole so that a reader never sees a part."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from models.fine_tuning import CollectedExample, PreparedJob
from trainer.catalog import Sample
from trainer.example import writing_request

DATASET = "dataset.jsonl"
PREFERENCES = "preferences.jsonl"

Message = dict[str, str]


def still_on_disk(job: PreparedJob | None) -> PreparedJob | None:
    """`job`, if both its datasets are still there to start from."""
    if job is None or not all((job.directory / name).is_file() for name in (DATASET, PREFERENCES)):
        return None  # removed since: the new job is exported whole
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
    """The datasets: `base`'s files, when given, followed by the new lines."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in ((DATASET, chats), (PREFERENCES, preferences)):
        _write_atomically(directory / name, lines, start=base / name if base else None)


def _write_atomically(path: Path, lines: list[str], *, start: Path | None = None) -> None:
    """Readers see the old file or the whole new one, never a part. `start`'s content, when
    given, comes first."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        if start is not None:
            # The kernel copies it (sendfile), not Python: a dataset grows with every job.
            shutil.copyfile(start, temporary)
        with open(temporary, "ab") as out:
            out.write("".join(lines).encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
