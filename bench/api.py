"""API throughput: two GraphQL reads at 32 concurrent clients, each against a plain
Starlette route in the same process answering the very bytes the GraphQL query answered.
The ratio is what the GraphQL layer (parsing, validation, execution, resolvers, the
queries it sends) costs over serving the same response.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import httpx

from bench import loadgen, plain_app
from bench.databases import fresh_mariadb, migrated
from bench.history import HISTORY
from bench.procs import python_child, settle
from bench.profile import sampled
from bench.report import Bar, Section, median
from models.engine import create_engine
from tests.support import Account, make_account
from tests.support.factories import add_session
from tests.support.live import LiveServer, graphql_async

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


async def run(smoke: bool, *, profile: bool = False) -> Section:
    sizes = SMOKE if smoke else FULL
    section = Section("api", "4. API throughput (32 concurrent clients)")
    url = await migrated(fresh_mariadb("chorus_bench_api"))
    engine = create_engine(url)
    try:
        account = await make_account(engine, "bench")
    finally:
        await engine.dispose()
    server = LiveServer(url, log_level="WARNING")
    with python_child(plain_app.__name__, [str(server.port)], env=server.env) as (process, _):
        await _ready(server.url)
        session_id = await _seed(server, account, url)
        reads = {
            "trainingHistory(first: 20)": {"query": HISTORY, "variables": {}},
            "trainingSession + 20 examples": {"query": SESSION, "variables": {"id": session_id}},
        }
        bodies = {name: json.dumps(read).encode() for name, read in reads.items()}
        targets: list[Target] = []
        headers = {"Authorization": f"Bearer {account.token}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(headers=headers) as http:
            for index, (name, body) in enumerate(bodies.items()):
                answer = await http.post(f"{server.url}/graphql", content=body)
                assert "errors" not in answer.json(), answer.text
                await http.put(f"{server.url}/bench/plain/{index}", content=answer.content)
                targets.append(Target(name, f"{server.url}/graphql", body, f"api-{index}"))
                targets.append(Target(f"{name} plain", f"{server.url}/bench/plain/{index}", body))
                section.notes.append(f"`{name}` answers {len(answer.content):,} bytes.")
        loads: dict[str, list[Measured]] = {target.name: [] for target in targets}
        for target in targets:
            await asyncio.to_thread(_measure, process.pid, target, account.token, 1.0, False)
        for repeat in range(sizes.repeats):
            for target in targets:
                measured = await asyncio.to_thread(
                    _measure,
                    process.pid,
                    target,
                    account.token,
                    sizes.seconds,
                    profile and not repeat,
                )
                loads[target.name].append(measured)
    for name in reads:
        graphql, plain = loads[name], loads[f"{name} plain"]
        rate = median([m.load.requests_per_s for m in graphql])
        plain_rate = median([m.load.requests_per_s for m in plain])
        section.add(f"{name}: requests/s", rate, "/s")
        section.add(f"{name}: p99", median([m.load.p99_ms for m in graphql]), "ms")
        section.add(f"{name}: server CPU per request", median([m.cpu_ms for m in graphql]), "ms")
        section.add(f"{name}: plain route requests/s", plain_rate, "/s")
        section.add(f"{name}: plain route p99", median([m.load.p99_ms for m in plain]), "ms")
        section.add(
            f"{name}: plain route server CPU per request", median([m.cpu_ms for m in plain]), "ms"
        )
        section.add(f"{name}: GraphQL / plain throughput", rate / plain_rate, "x")
        section.add(
            f"{name}: failed requests", sum(m.load.errors for m in graphql + plain), "", Bar(0)
        )
    section.notes.insert(
        0,
        f"Load from `{loadgen.generator()}` in its own process: {CONNECTIONS} keep-alive "
        f"connections, {sizes.seconds:g} s per measurement, medians of {sizes.repeats} rounds "
        "that alternate GraphQL and plain, each started once the server is idle, after a 1 s "
        "warm-up of each. The server is one uvicorn process on MariaDB "
        "(`bench/plain_app.py`: Chorus's app with one added Starlette route serving the "
        "captured GraphQL response bytes); its CPU time per request is over the whole "
        "measurement.",
    )
    return section


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    body: bytes
    profile_name: str | None = None


@dataclass(frozen=True)
class Measured:
    load: loadgen.Load
    cpu_ms: float


def _measure(pid: int, target: Target, token: str, seconds: float, profile: bool) -> Measured:
    """Load on `target` once the server is idle, and the server's CPU time per request."""
    before = settle(pid)
    with sampled(pid, target.profile_name or "", enabled=profile and bool(target.profile_name)):
        load = loadgen.run(target.url, target.body, token, CONNECTIONS, seconds)
    used = settle(pid) - before
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
