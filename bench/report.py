"""Figures, their bars, the machine they were measured on, and how they are shown: a rich
table on the terminal and `bench/RESULTS.md`."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis
from rich.console import Console
from rich.table import Table

from tests.support.databases import REDIS_URL, mariadb_admin

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class Bar:
    """The value a figure must stay at or under (or, with `at_least`, reach)."""

    limit: float
    at_least: bool = False

    def met(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit

    def __str__(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.limit:g}"


@dataclass(frozen=True)
class Figure:
    name: str
    value: float | None
    unit: str = ""
    bar: Bar | None = None

    @property
    def verdict(self) -> str:
        if self.bar is None or self.value is None:
            return ""
        return "pass" if self.bar.met(self.value) else "MISS"

    @property
    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        magnitude = abs(self.value)
        digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
        return f"{self.value:,.{digits}f} {self.unit}".strip()


@dataclass
class Section:
    """One benchmark's figures and what a reader needs to read them."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float | None, unit: str = "", bar: Bar | None = None) -> None:
        self.figures.append(Figure(name, value, unit, bar))

    def produced_numbers(self) -> bool:
        return bool(self.figures) and all(figure.value is not None for figure in self.figures)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@innodb_buffer_pool_size")
        mariadb, pool = cursor.fetchone() or ("?", 0)
    # redis-py 7 (which SAQ needs) types a client's answers as maybe awaitable.
    server = cast("dict[str, Any]", redis.Redis.from_url(REDIS_URL).info("server"))
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "RAM": f"{memory_kb / 1024**2:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "MariaDB": f"{mariadb} (innodb_buffer_pool_size {int(pool) // 2**20} MiB)",
        "Redis": str(server.get("redis_version", "?")),
    }


def print_table(sections: Sequence[Section], console: Console) -> None:
    table = Table(title="Chorus benchmarks", show_lines=False)
    for column in ("Benchmark", "Figure", "Value", "Bar", "Result"):
        table.add_column(column, justify="right" if column == "Value" else "left")
    for section in sections:
        for index, figure in enumerate(section.figures):
            style = {"pass": "green", "MISS": "bold red"}.get(figure.verdict, "")
            table.add_row(
                section.name if index == 0 else "",
                figure.name,
                figure.shown,
                str(figure.bar or ""),
                f"[{style}]{figure.verdict}[/]" if style else "",
                end_section=index == len(section.figures) - 1,
            )
    console.print(table)


def write_results(sections: Sequence[Section], command: str, path: Path = RESULTS) -> None:
    lines = [
        "# Chorus benchmark results",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}`.",
        "",
        *(f"- {key}: {value}" for key, value in machine().items()),
        "",
        "Timings on a shared machine move from run to run; the figures to compare are the",
        "ratios, each measured side by side within this one run, and medians over repeats.",
    ]
    for section in sections:
        lines += ["", f"## {section.title}", "", "| Figure | Value | Bar | Result |"]
        lines.append("| --- | ---: | --- | --- |")
        for figure in section.figures:
            bar = str(figure.bar or "").replace("<", "&lt;").replace(">", "&gt;")
            lines.append(f"| {figure.name} | {figure.shown} | {bar} | {figure.verdict} |")
        for note in section.notes:
            lines += ["", note]
    path.write_text("\n".join(lines) + "\n")
