"""`python -m bench [trainer|history|fanout|api|batches|readers|scaleout|datasets ...] [--smoke]
[--profile]`

Runs the benchmarks named (all of them when none is), prints their figures and, unless in
smoke mode or when only some ran, writes bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from rich.console import Console

from bench import api, datasets, fanout, history, profile, readers, scaleout, trainer
from bench.databases import unreachable
from bench.procs import WORK, raise_open_files_limit
from bench.report import Section, print_table, write_results

Benchmark = Callable[[bool, bool], Awaitable[Section]]

BENCHMARKS: dict[str, Benchmark] = {
    "trainer": lambda smoke, sample: trainer.run(smoke, profile=sample),
    "history": lambda smoke, sample: history.run(smoke),
    "fanout": lambda smoke, sample: fanout.run(smoke, profile=sample),
    "api": lambda smoke, sample: api.run(smoke, profile=sample),
    "batches": lambda smoke, sample: fanout.run_batches(smoke, profile=sample),
    "readers": lambda smoke, sample: readers.run(smoke, profile=sample),
    "scaleout": lambda smoke, sample: scaleout.run(smoke),
    "datasets": lambda smoke, sample: datasets.run(smoke),
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", metavar="BENCHMARK", help=", ".join(BENCHMARKS))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; judge no bar")
    parser.add_argument(
        "--profile", action="store_true", help="sample the server with py-spy while measuring"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    return args


async def run_all(names: list[str], smoke: bool, sample: bool, console: Console) -> list[Section]:
    sections = []
    for name in names:
        started = time.perf_counter()
        console.log(f"{name}: running")
        sections.append(await BENCHMARKS[name](smoke, sample))
        console.log(f"{name}: done in {time.perf_counter() - started:.0f} s")
    return sections


def main(argv: list[str]) -> int:
    args = parse(argv)
    names = list(dict.fromkeys(args.only)) or list(BENCHMARKS)
    console = Console() if sys.stdout.isatty() else Console(width=150)
    problem = unreachable()
    if problem is not None:
        console.print(f"[red]{problem}[/]")
        return 2
    raise_open_files_limit()
    if args.profile:
        for old in (WORK / "profiles").glob("*.txt"):
            old.unlink()
    sections = asyncio.run(run_all(names, args.smoke, args.profile, console))
    print_table(sections, console)
    if args.profile:
        for path in sorted((WORK / "profiles").glob("*.txt")):
            console.print(profile.read(path).top())
    missing = [section.name for section in sections if not section.produced_numbers()]
    if missing:
        console.print(f"[red]no figures from: {', '.join(missing)}[/]")
        return 1
    if not args.smoke and names == list(BENCHMARKS):
        write_results(sections, "make bench" if not argv else " ".join(["python -m bench", *argv]))
        console.print("wrote bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
