"""Fine-tuning on what a user collected: the job's datasets, then the provider's job.

When a user's count of examples with final quality >= 7.0 crosses a multiple of 50, the
recorder inserts a QUEUED `fine_tune_jobs` row and hands its id to `FineTuner.submit`. The
datasets hold every such example of the user's up to the batch that triggered the job (its
`last_example_id`), in example order, under `data_dir/fine-tune/<job id>/`. A job continues
the user's previous job: its directory holds the examples since, and the list of the earlier
directories whose files come first (`dataset.py`); `read_dataset` joins them.

- `dataset.jsonl`: `{"messages": [system, user, assistant]}` per example, the chat format of
  OpenAI's fine-tuning API; the assistant answer is the winning story.
- `preferences.jsonl`: `{"prompt": [system, user], "chosen": [assistant], "rejected":
  [assistant]}`, the conversational preference format TRL's `DPOTrainer` accepts. The rejected
  answer is the lowest-scored valid output other than the winner; an example without one is
  left out.

`runner` holds the job runner (`FineTuner`), `provider` the OpenAI-compatible fine-tuning
API it calls, `dataset` the writing of the files; the jobs' rows and the datasets' examples
are read and written through models/fine_tuning.py.
"""

from trainer.finetune.dataset import DATASET, PREFERENCES, Part, dataset_files, read_dataset
from trainer.finetune.provider import (
    DEFAULT_BASE_MODEL,
    DEFAULT_BASE_URL,
    MODEL_SUFFIX,
    ProviderError,
)
from trainer.finetune.runner import EXPORT, OPENAI, FineTuner

__all__ = [
    "DATASET",
    "DEFAULT_BASE_MODEL",
    "DEFAULT_BASE_URL",
    "EXPORT",
    "MODEL_SUFFIX",
    "OPENAI",
    "PREFERENCES",
    "FineTuner",
    "Part",
    "ProviderError",
    "dataset_files",
    "read_dataset",
]
