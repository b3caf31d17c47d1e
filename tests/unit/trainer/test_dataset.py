"""A fine-tune job's datasets on disk: parts written once, joined in order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from models.fine_tuning import PreparedJob
from trainer.finetune.dataset import (
    DATASET,
    PARTS,
    PREFERENCES,
    Part,
    continuable,
    dataset_files,
    read_dataset,
    write_datasets,
)


def test_a_job_lists_its_bases_parts_then_its_own(tmp_path: Path) -> None:
    first, second, third = (tmp_path / name for name in ("1", "2", "3"))
    write_datasets(first, ["a\n", "b\n"], ["p\n"], None)
    write_datasets(second, ["c\n"], [], first)
    write_datasets(third, ["d\n"], ["q\n"], second)

    assert json.loads((third / PARTS).read_text()) == ["1", "2", "3"]
    assert (third / DATASET).read_text() == "d\n"
    assert read_dataset(third, DATASET) == b"a\nb\nc\nd\n"
    assert read_dataset(third, PREFERENCES) == b"p\nq\n"


def test_a_job_written_already_is_left_as_it_is(tmp_path: Path) -> None:
    first, second = tmp_path / "1", tmp_path / "2"
    write_datasets(first, ["a\n"], [], None)
    write_datasets(second, ["b\n"], [], first)

    # Prepared again, as when its runner stopped before the provider had it, now whole.
    write_datasets(second, ["a\n", "b\n"], [], None)

    assert json.loads((second / PARTS).read_text()) == ["1", "2"]
    assert read_dataset(second, DATASET) == b"a\nb\n"


def test_a_directory_without_a_list_of_parts_is_whole(tmp_path: Path) -> None:
    older = tmp_path / "1"
    older.mkdir()
    (older / DATASET).write_text("a\nb\n")

    assert dataset_files(older, DATASET) == [Part(older / DATASET, 4)]
    assert dataset_files(older, PREFERENCES) is None
    assert dataset_files(tmp_path / "gone", DATASET) is None


def test_only_a_complete_job_in_the_same_directory_is_continued(tmp_path: Path) -> None:
    jobs, elsewhere = tmp_path / "fine-tune", tmp_path / "other" / "fine-tune"
    write_datasets(jobs / "1", ["a\n"], ["p\n"], None)
    write_datasets(elsewhere / "2", ["b\n"], ["q\n"], None)
    here, there = PreparedJob(jobs / "1", 10, 1), PreparedJob(elsewhere / "2", 20, 1)

    assert continuable(here, jobs) == here
    # Its parts are named relative to its own directory, which a job here cannot list.
    assert continuable(there, jobs) is None
    assert continuable(None, jobs) is None
    (jobs / "1" / PREFERENCES).unlink()
    assert continuable(here, jobs) is None


def test_a_chain_missing_an_earlier_directory_is_not_continued(tmp_path: Path) -> None:
    jobs = tmp_path / "fine-tune"
    write_datasets(jobs / "1", ["a\n"], [], None)
    write_datasets(jobs / "2", ["b\n"], [], jobs / "1")
    latest = PreparedJob(jobs / "2", 20, 2)
    assert continuable(latest, jobs) == latest

    shutil.rmtree(jobs / "1")

    assert continuable(latest, jobs) is None
    assert dataset_files(jobs / "2", DATASET) is None
