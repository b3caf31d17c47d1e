"""History at depth: a MariaDB database of a million sessions over a thousand users, one of
whom holds a fifth of them, read through `chorus serve` at shallow and deep pages.

The rows are generated inside MariaDB (its SEQUENCE engine), once: the database
`chorus_bench_history` is reused while its `bench_loaded` marker says it holds the sizes
asked for. Every run still migrates it to the current schema.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bench.databases import fresh_mariadb, mariadb_url, migrated
from bench.report import Bar, Section, median
from models import history
from models.engine import create_engine, session_factory
from models.enums import HistoryOrder
from models.keyset import PageArgs
from models.tables import TrainingHistory, User
from models.users import create_token
from tests.support.databases import mariadb_admin
from tests.support.live import LiveServer

HEAVY_USER = 1
PAGE = 20
MODELS = ("bench-alpha", "bench-beta", "bench-gamma")
CHUNK = 100_000
ORDERING = history.HISTORY_ORDERINGS[HistoryOrder.STARTED_AT_DESC]

HISTORY = """query($after: String) {
  trainingHistory(first: 20, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      sessionId startedAt status numExamplesSuccessful averageQuality bestPerformingModel
      modelPerformance { model wins averageQuality } } } } }"""
STATS = """{ trainingStats { totalSessions totalExamplesGenerated totalStoriesSaved
  averageQuality totalTrainingTimeSeconds fineTuningSessionsCount untilNextFineTuning } }"""
LEADERBOARD = "{ modelLeaderboard { model wins averageQuality sessions } }"
TREND = "query($days: Int!) { qualityTrend(days: $days) { day sessions averageQuality } }"


@dataclass(frozen=True)
class Sizes:
    sessions: int
    users: int
    repeats: int

    @property
    def heavy_sessions(self) -> int:
        return self.sessions // 5

    @property
    def depths(self) -> list[int]:
        heavy = self.heavy_sessions
        return [0, heavy // 20, heavy // 2, heavy - PAGE]

    @property
    def database(self) -> str:
        return f"chorus_bench_history_{self.sessions}"


FULL = Sizes(sessions=1_000_000, users=1000, repeats=9)
SMOKE = Sizes(sessions=2000, users=10, repeats=2)


def _loaded(sizes: Sizes) -> datetime | None:
    """When the database was filled to these sizes, or None when it needs filling."""
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = 'bench_loaded'",
            (sizes.database,),
        )
        row = cursor.fetchone()
        if not row or not row[0]:
            return None
        cursor.execute(f"SELECT sessions, users, loaded_at FROM `{sizes.database}`.bench_loaded")
        marker = cursor.fetchone()
    if marker is None or (marker[0], marker[1]) != (sizes.sessions, sizes.users):
        return None
    return datetime.fromisoformat(str(marker[2])).replace(tzinfo=UTC)


def _fill(sizes: Sizes) -> datetime:
    """Sessions one minute apart up to now, every fifth the heavy user's, the others spread
    over the remaining users; three model-stats rows per session; the users' totals."""
    loaded_at = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    others = sizes.users - 1
    with mariadb_admin(sizes.database) as db, db.cursor() as cursor:
        cursor.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        cursor.execute(
            "INSERT INTO users (id, name, is_admin, created_at) "
            f"SELECT seq, CONCAT('bench-user-', seq), 0, %s FROM seq_1_to_{sizes.users}",
            (loaded_at,),
        )
        for first in range(1, sizes.sessions + 1, CHUNK):
            rows = f"seq_{first}_to_{min(first + CHUNK - 1, sizes.sessions)}"
            cursor.execute(
                "INSERT INTO training_history (id, user_id, session_id, num_examples_requested,"
                " num_examples_successful, num_examples_failed, genres_selected,"
                " stored_in_memory, saved_to_database, stories_saved_count, average_quality,"
                " min_quality, max_quality, best_performing_model, model_performance_json,"
                " genre_distribution_json, total_time_seconds, training_examples_before,"
                " training_examples_after, fine_tuning_triggered, started_at, completed_at,"
                " created_at, status, voting_strategy, teachers_json, updated_at,"
                " fine_tuning_examples, seed) "
                f"SELECT seq, IF(MOD(seq, 5) = 0, {HEAVY_USER}, 2 + MOD(seq, {others})),"
                " CONCAT('bench-', seq), 10, 9 + MOD(seq, 2), 1 - MOD(seq, 2), '[\"FANTASY\"]',"
                " 0, 0, MOD(seq, 3), 5 + MOD(seq * 7, 49) / 10, 4 + MOD(seq * 7, 49) / 10,"
                " 6 + MOD(seq * 7, 39) / 10, 'bench-alpha', '{}', '{}', 60 + MOD(seq, 240), 0,"
                " 0, MOD(seq, 97) = 0, started, started + INTERVAL 90 SECOND, started,"
                " 'COMPLETED', 'JURY', '[]', started, MOD(seq, 4), seq "
                f"FROM (SELECT seq, %s - INTERVAL ({sizes.sessions} - seq) MINUTE"
                f" - INTERVAL MOD(seq, 59) SECOND AS started FROM {rows}) AS generated",
                (loaded_at,),
            )
            cursor.execute(
                "INSERT INTO session_model_stats (history_id, model, wins, total_quality) "
                "SELECT seq, model, IF(n = MOD(seq, 3), 7, MOD(seq, 2)),"
                " IF(n = MOD(seq, 3), 52.5, 7.5) "
                f"FROM {rows} CROSS JOIN ("
                + " UNION ALL ".join(
                    f"SELECT '{m}' AS model, {n} AS n" for n, m in enumerate(MODELS)
                )
                + ") AS models"
            )
        _fill_totals(cursor)
        cursor.execute(
            "ANALYZE TABLE training_history, session_model_stats, user_training_totals,"
            " user_model_totals"
        )
        cursor.execute(
            "CREATE TABLE bench_loaded (sessions INT NOT NULL, users INT NOT NULL,"
            " loaded_at DATETIME NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO bench_loaded VALUES (%s, %s, %s)",
            (sizes.sessions, sizes.users, loaded_at),
        )
    return loaded_at.replace(tzinfo=UTC)


def _fill_totals(cursor: Any) -> None:
    """The users' totals over the rows generated, filled as migration 0005 fills them."""
    migration = importlib.import_module("migrations.versions.0005_user_totals")
    migration.fill_totals(cursor.execute, on_mysql=True)


async def prepared(sizes: Sizes) -> tuple[str, datetime, float | None]:
    """The database's URL, when it was filled, and how long filling took now (None when
    it was already filled)."""
    loaded_at = _loaded(sizes)
    seconds = None
    if loaded_at is None:
        await migrated(fresh_mariadb(sizes.database))
        started = time.perf_counter()
        loaded_at = _fill(sizes)
        seconds = time.perf_counter() - started
    return await migrated(mariadb_url(sizes.database)), loaded_at, seconds


async def _token(engine: AsyncEngine) -> str:
    async with session_factory(engine)() as db:
        user = await db.get(User, HEAVY_USER)
        assert user is not None
        token = await create_token(db, user, label="benchmark")
        await db.commit()
        return token


async def _cursor_before(db: AsyncSession, depth: int) -> str | None:
    """The cursor of the row just above the page that starts `depth` rows down."""
    if depth == 0:
        return None
    row = (
        await db.execute(
            select(TrainingHistory.started_at, TrainingHistory.id)
            .where(TrainingHistory.user_id == HEAVY_USER)
            .order_by(*ORDERING.order_by())
            .offset(depth - 1)
            .limit(1)
        )
    ).one()
    return ORDERING.cursor(row.started_at, row.id)


def _offset_query(depth: int) -> Any:
    query = history.history_query(HEAVY_USER).order_by(*ORDERING.order_by())
    return query.offset(depth).limit(PAGE)


Work = Callable[[AsyncSession], Awaitable[Any]]


async def _plan(engine: AsyncEngine, work: Work) -> list[dict[str, Any]]:
    """EXPLAIN of the first statement `work` sends, as MariaDB plans it."""
    statements: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        statements.append((args[2], args[3]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with session_factory(engine)() as db:
            await work(db)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    statement, parameters = statements[0]
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        return [dict(row._mapping) for row in result]


def _plan_table(name: str, plan: list[dict[str, Any]]) -> str:
    lines = [
        f"`{name}`:",
        "",
        "| table | type | key | rows | Extra |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for step in plan:
        lines.append(
            f"| {step['table']} | {step['type']} | {step['key'] or ''} | {step['rows']} "
            f"| {step['Extra'] or ''} |"
        )
    return "\n".join(lines)


def _timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def _medians(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median milliseconds of each call, in rounds that take each in turn, after a round
    that warms them up."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()
    for _ in range(repeats):
        for name, call in calls.items():
            times[name].append(_timed(call))
    return {name: median(values) for name, values in times.items()}


def _http_medians(
    url: str, token: str, cursors: dict[int, str | None], days: int, repeats: int
) -> dict[str, float]:
    """Keyset pages, OFFSET pages and statistics through `chorus serve`, each kind timed
    in a group of its own, so that a query sweeping the buffer pool does not turn the
    pages of the next kind cold."""
    headers = {"Authorization": f"Bearer {token}"}
    with (
        LiveServer(url, log_level="WARNING") as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=120) as http,
    ):

        def graphql(query: str, **variables: Any) -> Callable[[], Any]:
            def call() -> None:
                response = http.post("/graphql", json={"query": query, "variables": variables})
                assert "errors" not in response.json(), response.text

            return call

        def offset_page(depth: int) -> Callable[[], Any]:
            path = f"/api/training-history/user/{HEAVY_USER}/paginated"
            params = {"page": depth // PAGE, "size": PAGE}
            return lambda: http.get(path, params=params).raise_for_status()

        groups = [
            {f"keyset {d}": graphql(HISTORY, after=cursor) for d, cursor in cursors.items()},
            {f"offset {d}": offset_page(d) for d in cursors},
            {
                "trainingStats": graphql(STATS),
                "modelLeaderboard": graphql(LEADERBOARD),
                "qualityTrend": graphql(TREND, days=days),
            },
        ]
        return {name: ms for group in groups for name, ms in _medians(group, repeats).items()}


def _sql_work(cursors: dict[int, str | None]) -> dict[str, Work]:
    """The statements of keyset and OFFSET pages alone, and the sum the recorder reads."""
    work: dict[str, Work] = {}
    for depth, cursor in cursors.items():
        args = PageArgs(PAGE, True, after=cursor)
        work[f"keyset {depth}"] = _keyset_work(args)
        work[f"offset {depth}"] = _offset_work(depth)
    work["collected"] = lambda db: history.fine_tuning_examples_collected(db, HEAVY_USER)
    return work


async def _sql_medians(
    engine: AsyncEngine, work: dict[str, Work], repeats: int
) -> dict[str, float]:
    medians: dict[str, float] = {}
    keyset = {name for name in work if name.startswith("keyset")}
    for group in (keyset, set(work) - keyset):
        times: dict[str, list[float]] = {name: [] for name in group}
        for _ in range(repeats):
            for name in sorted(group):
                async with session_factory(engine)() as db:
                    started = time.perf_counter()
                    await work[name](db)
                    times[name].append((time.perf_counter() - started) * 1000)
        medians.update({name: median(values) for name, values in times.items()})
    return medians


def _keyset_work(args: PageArgs) -> Work:
    return lambda db: history.history_page(db, HEAVY_USER, None, HistoryOrder.STARTED_AT_DESC, args)


def _offset_work(depth: int) -> Work:
    async def work(db: AsyncSession) -> Any:
        return (await db.scalars(_offset_query(depth))).all()

    return work


async def run(smoke: bool) -> Section:
    sizes = SMOKE if smoke else FULL
    url, loaded_at, fill_s = await prepared(sizes)
    days = min(30 + (datetime.now(UTC) - loaded_at).days, 366)
    engine = create_engine(url)
    try:
        token = await _token(engine)
        async with session_factory(engine)() as db:
            cursors = {depth: await _cursor_before(db, depth) for depth in sizes.depths}
        http_ms = _http_medians(url, token, cursors, days, sizes.repeats)
        work = _sql_work(cursors)
        sql_ms = await _sql_medians(engine, work, sizes.repeats)
        deepest = sizes.depths[-1]
        plans = {
            "trainingStats": lambda db: history.training_stats(db, HEAVY_USER),
            "modelLeaderboard": lambda db: history.model_leaderboard(db, HEAVY_USER),
            "qualityTrend": lambda db: history.quality_trend(db, HEAVY_USER, days),
            "fine_tuning_examples_collected": work["collected"],
            f"keyset page at {sizes.depths[2]:,}": work[f"keyset {sizes.depths[2]}"],
            f"keyset page at {deepest:,}": work[f"keyset {deepest}"],
            f"OFFSET page at {deepest:,}": work[f"offset {deepest}"],
        }
        explained = {name: await _plan(engine, query) for name, query in plans.items()}
    finally:
        await engine.dispose()

    section = Section("history", "2. History at depth (MariaDB)")
    first = http_ms["keyset 0"]
    for depth in sizes.depths:
        section.add(f"keyset page at {depth:,} (HTTP)", http_ms[f"keyset {depth}"], "ms")
    for depth in sizes.depths[1:]:
        ratio = http_ms[f"keyset {depth}"] / first
        section.add(f"keyset page at {depth:,} / first page", ratio, "x", Bar(1.3))
    for depth in sizes.depths:
        section.add(f"REST OFFSET page at {depth:,} (HTTP)", http_ms[f"offset {depth}"], "ms")
    section.add(
        f"REST OFFSET page at {deepest:,} / first keyset page",
        http_ms[f"offset {deepest}"] / first,
        "x",
    )
    for depth in sizes.depths[1:]:
        ratio = sql_ms[f"offset {depth}"] / sql_ms[f"keyset {depth}"]
        section.add(f"SQL alone: OFFSET / keyset page at {depth:,}", ratio, "x")
    for name in ("trainingStats", "modelLeaderboard", "qualityTrend"):
        section.add(f"{name} / first page", http_ms[name] / first, "x")
    section.add("recorder's fine_tuning_examples_collected (SQL)", sql_ms["collected"], "ms")
    section.notes.append(
        f"{sizes.sessions:,} sessions over {sizes.users:,} users; user {HEAVY_USER} holds "
        f"{sizes.heavy_sessions:,} (every fifth session, so their rows are spread over the "
        f"table), each session with {len(MODELS)} model-stats rows; "
        + (
            f"generated in {fill_s:.0f} s this run. "
            if fill_s is not None
            else "generated by an earlier run and reused. "
        )
        + f"Medians of {sizes.repeats} requests, over one keep-alive connection, in rounds "
        "after a warm-up round; keyset pages, OFFSET pages and statistics are timed in "
        "separate groups, so that a query sweeping the buffer pool does not leave the next "
        "one's pages cold. Keyset pages are `trainingHistory(first: 20, after:)` with nested "
        "`modelPerformance`; OFFSET pages are the original REST API's "
        "`/paginated?page=&size=20`, which also counts the user's sessions; the SQL rows time "
        "the same page's keyset statements (the page and its hasPreviousPage probe) and its "
        f"OFFSET statement alone. `qualityTrend(days: {days})` covers the last 30 days of "
        "the generated sessions. `fine_tuning_examples_collected` is the count the recorder "
        "reads (in `record_examples` and `create_session`) while it holds the user's row lock."
    )
    scans = [_scan(name, plan) for name, plan in explained.items()]
    section.notes.append(
        "Queries that read far more rows than they return (from the plans below):\n\n"
        + "\n".join(f"- {scan}" for scan in scans if scan)
    )
    section.notes.append(
        "Query plans (EXPLAIN of the first statement each sends):\n\n"
        + "\n\n".join(_plan_table(name, plan) for name, plan in explained.items())
    )
    return section


def _scan(name: str, plan: list[dict[str, Any]]) -> str | None:
    """What a plan that examines many rows does, in words; None for one that seeks."""
    step = max(plan, key=lambda step: int(step["rows"] or 0))
    rows = int(step["rows"] or 0)
    if rows <= 10 * PAGE:
        return None
    table, key = step["table"], step["key"]
    access = {
        "ALL": f"full scan of `{table}`",
        "ref": f"all the user's entries of `{table}.{key}`",
        "range": f"a range of `{table}.{key}`",
        "index": f"full scan of `{table}.{key}`",
    }.get(step["type"], f"{step['type']} access to `{table}`")
    extra = [part.strip() for part in (step["Extra"] or "").split(";")]
    whole_rows = "" if "Using index" in extra else ", each row read in full"
    sort = ", then a temporary table and a sort" if "Using temporary" in extra else ""
    return f"`{name}`: {access}, ~{rows:,} rows{whole_rows}{sort}."
