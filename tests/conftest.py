"""Marks each test with its level and with the servers it needs, so that `-m` selects them.

The level is the directory the test module is in: tests/unit (no app, no database),
tests/integration (databases, the app over ASGI, the broadcast; each on both backends) and
tests/e2e (server processes, real clients, the browser, the benchmarks). A test module
anywhere else is refused. A test parametrised with "mariadb" or "redis" (the backends'
names in tests/support/databases.py) is marked `mariadb` or `redis`; a test that needs one
of those servers without being parametrised on it carries the mark itself.

This module imports nothing of Chorus: the unit tests run without the app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
LEVELS = ("unit", "integration", "e2e")
SERVERS = ("mariadb", "redis")


def _level(item: pytest.Item) -> str:
    parts = item.path.relative_to(TESTS).parts if item.path.is_relative_to(TESTS) else ()
    if len(parts) < 2 or parts[0] not in LEVELS:
        raise pytest.UsageError(
            f"{item.nodeid}: a test module belongs in tests/unit, tests/integration or tests/e2e"
        )
    return parts[0]


def _servers(item: pytest.Item) -> set[str]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return set()
    return {value for value in callspec.params.values() if isinstance(value, str)} & set(SERVERS)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    # Marked before `-m` deselects; ordered after pytest has grouped the tests by their
    # parameters, so that the levels run in order, the fastest first.
    levels = {}
    for item in items:
        levels[item.nodeid] = _level(item)
        item.add_marker(levels[item.nodeid])
        for server in _servers(item):
            item.add_marker(server)
    yield
    items.sort(key=lambda item: LEVELS.index(levels[item.nodeid]))
