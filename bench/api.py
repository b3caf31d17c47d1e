"""API throughput: two GraphQL reads at 32 concurrent clients, each against a plain
Starlette route in the same process answering the very bytes the GraphQL query answered,
and against Strawberry's floor: the same document over a minimal Strawberry schema
answering from memory (bench/floor_app.py). The first ratio is what the GraphQL layer
(parsing, validation, execution, resolvers, the queries it sends) costs over serving the
same response; the second what Chorus costs over what Strawberry itself costs. Then the
same reads with two API processes.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass

import httpx

from bench import floor_app, loadgen, plain_app
from bench.databases import fresh_mariadb, migrated
from bench.history import HISTORY
from bench.procs import ROOT, cpu_seconds, family_cpu_seconds, python_child, settle
from bench.profile import sampled
from bench.report import Bar, Section, median
from models.engine import create_engine
from tests.support import Account, make_account
from tests.support.databases import REDIS_URL
from tests.support.factories import add_session
from tests.support.live import LiveServer, free_port, graphql_async

SESSION = """query($id: String!) { trainingSession(sessionId: $id) {
  sessionId status averageQuality bestPerformingModel modelPerformance { model wins averageQuality }
  examples(first: 20) { totalCount edges { node {
    index genre winner finalQuality confidence
    outputs { model latencyMs textQuality error } votes { voter candidate } } } } } }"""
START = """mutation($input: StartTrainingInput!) {
  startTraining(input: $input) { sessionId } }"""
STATUS = "query($id: String!) { trainingSession(sessionId: $id) { status } }"
CONNECTIONS = 32


@dataclass(frozen=True)
class Sizes:
    seconds: float
    repeats: int


FULL = Sizes(seconds=5, repeats=3)
SMOKE = Sizes(seconds=1, repeats=1)


async def _seed(server: LiveServer, account: Account, url: str) -> str:
    """Forty stored sessions for the history page, and one trained here with twenty
    examples of the seven offline teachers for the nested read; its id."""
    engine = create_engine(url)
    try:
        for _ in range(40):
            await add_session(engine, account.id)
    finally:
        await engine.dispose()
    body = await graphql_async(
        server, START, {"input": {"numExamples": 20, "seed": 3}}, token=account.token
    )
    session_id: str = body["data"]["startTraining"]["sessionId"]
    for _ in range(600):
        status = await graphql_async(server, STATUS, {"id": session_id}, token=account.token)
        if status["data"]["trainingSession"]["status"] == "COMPLETED":
            return session_id
        await asyncio.sleep(0.1)
    raise RuntimeError(f"session {session_id} did not complete")


def _database_name() -> str:
    """The benchmark's MariaDB database, named after the checkout so that checkouts sharing
    a server do not drop each other's."""
    checkout = re.sub(r"\W", "_", ROOT.name)[:40]
    return f"chorus_bench_api_{checkout}"


async def run(smoke: bool, *, profile: bool = False) -> Section:
    sizes = SMOKE if smoke else FULL
    section = Section("api", "4. API throughput (32 concurrent clients)")
    url = await migrated(fresh_mariadb(_database_name()))
    engine = create_engine(url)
    try:
        account = await make_account(engine, "bench")
    finally:
        await engine.dispose()
    server = LiveServer(url, log_level="WARNING")
    floor_port = free_port()
    with (
        python_child(plain_app.__name__, [str(server.port)], env=server.env) as (process, _),
        python_child(floor_app.__name__, [str(floor_port)], env=server.env) as (floor, _),
    ):
        await _ready(server.url)
        session_id = await _seed(server, account, url)
        reads = {
            "trainingHistory(first: 20)": ("history", {"query": HISTORY, "variables": {}}),
            "trainingSession + 20 examples": (
                "session",
                {"query": SESSION, "variables": {"id": session_id}},
            ),
        }
        floor_url = f"http://127.0.0.1:{floor_port}"
        targets: list[Target] = []
        bodies: dict[str, bytes] = {}
        headers = {"Authorization": f"Bearer {account.token}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(headers=headers) as http:
            for index, (name, (key, read)) in enumerate(reads.items()):
                body = bodies[name] = json.dumps(read).encode()
                answer = await http.post(f"{server.url}/graphql", content=body)
                assert "errors" not in answer.json(), answer.text
                await http.put(f"{server.url}/bench/plain/{index}", content=answer.content)
                await http.put(f"{floor_url}/floor/{key}", content=answer.content)
                floor_answer = await http.post(f"{floor_url}/graphql", content=body)
                assert floor_answer.json() == answer.json(), floor_answer.text
                pid = process.pid
                targets += [
                    Target(name, f"{server.url}/graphql", body, pid, f"api-{index}"),
                    Target(f"{name} plain", f"{server.url}/bench/plain/{index}", body, pid),
                    Target(f"{name} floor", f"{floor_url}/graphql", body, floor.pid),
                ]
                section.notes.append(f"`{name}` answers {len(answer.content):,} bytes.")
        loads = await _rounds(targets, account.token, sizes, profile)
    # The same app in two processes (`chorus serve --workers 2`, which shares live events
    # over Redis), on the database seeded above.
    pair = LiveServer(url, REDIS_URL, log_level="WARNING")
    pair.arguments = ["--workers", "2"]
    with pair:
        await _ready(pair.url)
        assert pair.process is not None
        pid = pair.process.pid
        paired = [
            Target(f"{name} 2 processes", f"{pair.url}/graphql", bodies[name], pid, tree=True)
            for name in reads
        ]
        loads |= await _rounds(paired, account.token, sizes, False)
    for name in reads:
        graphql, plain, floor_loads = loads[name], loads[f"{name} plain"], loads[f"{name} floor"]
        two = loads[f"{name} 2 processes"]
        rate = median([m.load.requests_per_s for m in graphql])
        plain_rate = median([m.load.requests_per_s for m in plain])
        cpu = median([m.cpu_ms for m in graphql])
        floor_cpu = median([m.cpu_ms for m in floor_loads])
        section.add(f"{name}: requests/s", rate, "/s")
        section.add(f"{name}: p99", median([m.load.p99_ms for m in graphql]), "ms")
        section.add(f"{name}: server CPU per request", cpu, "ms")
        section.add(f"{name}: plain route requests/s", plain_rate, "/s")
        section.add(f"{name}: plain route p99", median([m.load.p99_ms for m in plain]), "ms")
        section.add(
            f"{name}: plain route server CPU per request", median([m.cpu_ms for m in plain]), "ms"
        )
        section.add(f"{name}: GraphQL / plain throughput", rate / plain_rate, "x")
        section.add(
            f"{name}: Strawberry floor requests/s",
            median([m.load.requests_per_s for m in floor_loads]),
            "/s",
        )
        section.add(f"{name}: Strawberry floor server CPU per request", floor_cpu, "ms")
        section.add(f"{name}: server CPU over Strawberry's floor", cpu / floor_cpu, "x", Bar(1.3))
        section.add(
            f"{name}: requests/s, 2 API processes",
            median([m.load.requests_per_s for m in two]),
            "/s",
        )
        section.add(
            f"{name}: server CPU per request, 2 API processes",
            median([m.cpu_ms for m in two]),
            "ms",
        )
        section.add(
            f"{name}: failed requests",
            sum(m.load.errors for m in graphql + plain + floor_loads + two),
            "",
            Bar(0),
        )
    section.notes.insert(
        0,
        f"Load from `{loadgen.generator()}` in its own process: {CONNECTIONS} keep-alive "
        f"connections, {sizes.seconds:g} s per measurement, medians of {sizes.repeats} rounds "
        "that alternate GraphQL, plain and floor, each started once the server is idle, after "
        "a 1 s warm-up of each. The server is one uvicorn process on MariaDB "
        "(`bench/plain_app.py`: Chorus's app with one added Starlette route serving the "
        "captured GraphQL response bytes); its CPU time per request is over the whole "
        "measurement. Strawberry's floor (`bench/floor_app.py`) is another uvicorn process "
        "answering the same document with the same bytes from objects in memory, through a "
        "Strawberry schema of just the selected fields with the same parser and validation "
        "caches: the ratio over it is what Chorus's own work costs, its database included. "
        "With 2 API processes (`chorus serve --workers 2`) the CPU is that of both.",
    )
    return section


async def _rounds(
    targets: list[Target], token: str, sizes: Sizes, profile: bool
) -> dict[str, list[Measured]]:
    """A warm-up of each target, then `sizes.repeats` rounds measuring each in turn."""
    loads: dict[str, list[Measured]] = {target.name: [] for target in targets}
    for target in targets:
        await asyncio.to_thread(_measure, target, token, 1.0, False)
    for repeat in range(sizes.repeats):
        for target in targets:
            measured = await asyncio.to_thread(
                _measure, target, token, sizes.seconds, profile and not repeat
            )
            loads[target.name].append(measured)
    return loads


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    body: bytes
    # The server process, and whether the processes it started count too.
    pid: int
    profile_name: str | None = None
    tree: bool = False


@dataclass(frozen=True)
class Measured:
    load: loadgen.Load
    cpu_ms: float


def _measure(target: Target, token: str, seconds: float, profile: bool) -> Measured:
    """Load on `target` once the server is idle, and the server's CPU time per request."""
    pid = target.pid
    cpu = family_cpu_seconds if target.tree else cpu_seconds
    before = settle(pid, cpu=cpu)
    with sampled(pid, target.profile_name or "", enabled=profile and bool(target.profile_name)):
        load = loadgen.run(target.url, target.body, token, CONNECTIONS, seconds)
    used = settle(pid, cpu=cpu) - before
    return Measured(load, used * 1000 / max(load.requests_per_s * seconds, 1))


async def _ready(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{base_url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base_url} did not become ready")
