"""`chorus train`: a session run in this process, with a live progress bar, recorded like one
started through the API."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from models.enums import Genre, VotingStrategy
from models.history import model_stats_for
from models.tables import SessionModelStats, TrainingHistory
from models.users import user_by_name
from server.services import Services
from server.settings import load_settings
from trainer.events import ExampleFailed, ExampleScored, NumberedEvent
from trainer.plan import make_plan
from trainer.session import RunnerOptions
from trainer.training import train


class ProgressDisplay:
    """Shows examples done, the ETA and the running average quality as events arrive."""

    def __init__(self, progress: Progress, total: int) -> None:
        self._progress = progress
        self._task = progress.add_task("training", total=total, quality="-")
        self._quality_sum = 0.0
        self._scored = 0

    async def emit(self, event: NumberedEvent) -> None:
        match event.event:
            case ExampleScored(final_quality=quality):
                self._quality_sum += quality
                self._scored += 1
                average = self._quality_sum / self._scored
                self._progress.update(self._task, advance=1, quality=f"{average:.2f}")
            case ExampleFailed():
                self._progress.update(self._task, advance=1)


def summary_table(history: TrainingHistory, stats: list[SessionModelStats]) -> Table:
    table = Table(
        title=(
            f"Session {history.session_id}: {history.status.name}, "
            f"{history.num_examples_successful}/{history.num_examples_requested} examples, "
            f"average quality {history.average_quality}, "
            f"{history.stories_saved_count} stories saved"
        )
    )
    table.add_column("Model")
    table.add_column("Wins", justify="right")
    table.add_column("Avg quality", justify="right")
    table.add_column("Total quality", justify="right")
    for row in stats:
        average = f"{row.total_quality / row.wins:.2f}" if row.wins else "-"
        table.add_row(row.model, str(row.wins), average, f"{row.total_quality:.2f}")
    return table


async def run_training(
    user: str,
    examples: int,
    genres: list[Genre],
    teachers: list[str] | None,
    voting: VotingStrategy,
    seed: int | None,
    save_to_database: bool,
    store_in_memory: bool,
    console: Console,
    out: Console,
) -> TrainingHistory:
    async with Services.open(load_settings(), serving=False) as services:
        settings = services.settings
        plan = make_plan(
            services.teachers,
            num_examples=examples,
            genres=genres,
            teachers=teachers,
            voting=voting,
            seed=seed,
            store_in_memory=store_in_memory,
            save_to_database=save_to_database,
        )
        async with services.db() as db:
            owner = await user_by_name(db, user)
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("avg quality {task.fields[quality]}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            display = ProgressDisplay(progress, plan.num_examples)
            history = await train(
                services.db,
                owner.id,
                plan,
                {teacher.name: teacher for teacher in services.teachers},
                lambda _: display,
                options=RunnerOptions(
                    settings.max_concurrent_examples,
                    settings.fine_tune_backend,
                    max_output_chars=settings.max_output_chars,
                ),
                fine_tuner=services.fine_tuner,
            )
        await services.fine_tuner.wait_idle()
        async with services.db() as db:
            stats = (await model_stats_for(db, [history.id])).get(history.id, [])
        out.print(summary_table(history, stats))
        return history
