"""`chorus train`: a session run in this process, with a live progress bar, recorded like one
started through the API."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from models.enums import EndReason, Genre, VotingStrategy
from models.history import ModelStats, model_stats_for
from models.tables import TrainingHistory
from models.users import user_by_name
from server.services import Services
from server.settings import Settings
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


def summary_lines(history: TrainingHistory) -> list[str]:
    """The session's outcome in short lines, which a narrow terminal does not break mid-phrase."""
    average = "-" if history.average_quality is None else f"{history.average_quality:.2f}"
    stories = history.stories_saved_count
    lines = [
        f"Session {history.session_id}: {history.status.name}",
        f"{history.num_examples_successful}/{history.num_examples_requested} examples, "
        f"average quality {average}",
        f"{stories} {'story' if stories == 1 else 'stories'} saved",
    ]
    if history.end_reason is EndReason.BUDGET_REACHED:
        lines.append(
            f"Stopped at the budget of {usd(history.max_cost_usd)}: the next example would "
            f"have passed it. Spent {usd(history.cost_usd)}."
        )
    return lines


def summary_table(stats: list[ModelStats]) -> Table:
    table = Table(title="Model performance")
    table.add_column("Model", no_wrap=True)
    table.add_column("Wins", justify="right")
    table.add_column("Avg quality", justify="right")
    table.add_column("Total quality", justify="right")
    table.add_column("Tokens", justify="right")
    table.add_column("Cost", justify="right")
    for row in stats:
        average = f"{row.total_quality / row.wins:.2f}" if row.wins else "-"
        tokens = (
            "-"
            if row.prompt_tokens is None or row.completion_tokens is None
            else str(row.prompt_tokens + row.completion_tokens)
        )
        table.add_row(
            row.model, str(row.wins), average, f"{row.total_quality:.2f}", tokens, usd(row.cost_usd)
        )
    return table


def usd(amount: float | None) -> str:
    """Dollars to the cent, or to four significant digits under a cent; "-" when unknown."""
    if amount is None:
        return "-"
    return f"${amount:.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.4g}"


async def run_training(
    settings: Settings,
    user: str,
    examples: int,
    genres: list[Genre],
    teachers: list[str] | None,
    voting: VotingStrategy,
    seed: int | None,
    save_to_database: bool,
    store_in_memory: bool,
    max_cost_usd: float | None,
    console: Console,
    out: Console,
) -> TrainingHistory:
    async with Services.open(settings, serving=False) as services:
        plan = make_plan(
            services.teachers,
            num_examples=examples,
            genres=genres,
            teachers=teachers,
            voting=voting,
            seed=seed,
            store_in_memory=store_in_memory,
            save_to_database=save_to_database,
            max_cost_usd=max_cost_usd,
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
        for line in summary_lines(history):
            out.print(line, highlight=False)
        out.print(summary_table(stats))
        return history
