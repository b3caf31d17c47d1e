"""Scale-out: one session per `chorus worker`, with 1, 2 and 4 workers on this machine.

Each worker takes one session at a time (CHORUS_WORKER_SESSIONS=1) and each session belongs
to a user of its own, so N sessions started together run one on each of N workers. The
total examples per second shows how training grows with workers, and the machine's CPU busy
share where its cores end it: the workers share them with the fake provider, MariaDB,
Redis and the API process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bench import fake_provider
from bench.databases import scratch_database
from bench.procs import cpu_seconds, machine_cpu, python_child, settle
from bench.report import Section, median
from bench.trainer import TEACHERS, ideal_s, on_workers, sessions
from models.engine import create_engine
from tests.support import Account, make_account


@dataclass(frozen=True)
class Sizes:
    latency_s: float
    examples: int
    concurrency: int
    repeats: int
    workers: tuple[int, ...]


FULL = Sizes(latency_s=0.2, examples=1000, concurrency=50, repeats=3, workers=(1, 2, 4))
SMOKE = Sizes(latency_s=0.05, examples=20, concurrency=10, repeats=1, workers=(1, 2, 4))


@dataclass(frozen=True)
class Round:
    """N sessions started together, one per worker, until the last has ended."""

    workers: int
    examples: int
    succeeded: int
    wall_s: float
    machine_busy: float
    machine_stolen: float
    workers_cpu_s: float
    provider_cpu_s: float

    @property
    def examples_per_s(self) -> float:
        return self.examples / self.wall_s


async def rounds(
    url: str, provider_url: str, provider_pid: int, accounts: list[Account], sizes: Sizes, n: int
) -> list[Round]:
    """`sizes.repeats` rounds on a fresh API process and `n` workers, after a warm-up round
    of one wave per worker."""
    users = accounts[:n]
    with on_workers(url, provider_url, sizes.concurrency, n, worker_sessions=1) as fleet:
        api, pool = fleet.api, fleet.workers
        await sessions(api, url, users, min(sizes.concurrency, 10), pool)
        done = []
        for _ in range(sizes.repeats):
            workers_before = sum(cpu_seconds(worker.pid) for worker in pool)
            provider_before = cpu_seconds(provider_pid)
            machine_before = machine_cpu()
            ended = await sessions(api, url, users, sizes.examples, pool)
            machine = machine_cpu().since(machine_before)
            workers_cpu = sum([await asyncio.to_thread(settle, worker.pid) for worker in pool])
            done.append(
                Round(
                    workers=n,
                    examples=n * sizes.examples,
                    succeeded=sum(ended.succeeded),
                    wall_s=ended.wall_s,
                    machine_busy=machine.busy_share,
                    machine_stolen=machine.stolen_share,
                    workers_cpu_s=workers_cpu - workers_before,
                    provider_cpu_s=cpu_seconds(provider_pid) - provider_before,
                )
            )
        return done


async def run(smoke: bool) -> Section:
    sizes = SMOKE if smoke else FULL
    section = Section("scaleout", "7. Scale-out over workers (MariaDB)")
    results: dict[int, list[Round]] = {}
    async with scratch_database("mariadb", "chorus_bench_scaleout") as url:
        engine = create_engine(url)
        try:
            accounts = [
                await make_account(engine, f"bench{index}") for index in range(max(sizes.workers))
            ]
        finally:
            await engine.dispose()
        with python_child(fake_provider.__name__, [str(sizes.latency_s)]) as (
            provider,
            provider_url,
        ):
            for n in sizes.workers:
                results[n] = await rounds(url, provider_url, provider.pid, accounts, sizes, n)
    _add_figures(section, sizes, results)
    section.notes.append(
        f"Each session: N = {sizes.examples} examples, C = {sizes.concurrency} in flight, L = "
        f"{sizes.latency_s * 1000:g} ms, the trainer benchmark's {len(TEACHERS)} teachers over "
        "HTTP to one fake provider process, JURY voting, on MariaDB (several processes on one "
        "database is MariaDB's deployment). For each number of workers, a fresh `chorus "
        "serve` and that many `chorus worker` processes with CHORUS_WORKER_SESSIONS=1, sharing "
        "a queue of the run's own and the broadcast on Redis; after a warm-up round, "
        f"{sizes.repeats} round{'s' * (sizes.repeats != 1)} of one session per worker, each "
        "of a user of its own, started together; medians over the rounds. Examples/s is all "
        "the round's examples over the time from the first startTraining until the last "
        "session ended; the ratio is that over 1 worker's. Machine CPU busy is the share of "
        "all cores' time that was not idle over the same span (/proc/stat), and of which "
        "stolen the part in which this virtual machine's host ran something else on a core "
        "it had work for (its steal time): the workers share "
        "the cores with the fake provider, MariaDB, Redis, the API process and the "
        "benchmark's own polling, so where it nears 100% more workers cannot add examples/s. "
        "CPU per example is the workers' user + system time (from /proc, until they are idle "
        "again) over the round's examples, and the fake provider's over the same span; in "
        "cores, the workers' CPU time over the round's wall time. Ideal "
        "= ceil(N / C) x 2 x L, the same for every round since the sessions run side by side."
    )
    return section


def _add_figures(section: Section, sizes: Sizes, results: dict[int, list[Round]]) -> None:
    ideal = ideal_s(sizes.examples, sizes.concurrency, sizes.latency_s)
    base = median([r.examples_per_s for r in results[min(results)]])
    for n, done in results.items():
        label = f"{n} worker{'s' * (n != 1)}"
        pace = median([r.examples_per_s for r in done])
        section.add(f"{label}: examples/s", pace, "/s")
        section.add(f"{label}: examples/s over 1 worker's", pace / base, "x")
        section.add(f"{label}: machine CPU busy", median([r.machine_busy for r in done]) * 100, "%")
        section.add(
            f"{label}: of which stolen by the host",
            median([r.machine_stolen for r in done]) * 100,
            "%",
        )
        section.add(
            f"{label}: wall / ideal ({ideal:g} s)", median([r.wall_s for r in done]) / ideal, "x"
        )
        section.add(
            f"{label}: workers' CPU per example",
            median([r.workers_cpu_s * 1000 / r.examples for r in done]),
            "ms",
        )
        section.add(
            f"{label}: workers' CPU in cores",
            median([r.workers_cpu_s / r.wall_s for r in done]),
            "cores",
        )
        section.add(
            f"{label}: fake provider CPU per example",
            median([r.provider_cpu_s * 1000 / r.examples for r in done]),
            "ms",
        )
        section.add(
            f"{label}: examples succeeded",
            min(r.succeeded / r.examples for r in done) * 100,
            "%",
        )
