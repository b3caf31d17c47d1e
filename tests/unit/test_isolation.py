"""The unit tests stay unit tests: importing them, and the root conftest that every run loads,
loads neither the app (`server`) nor a database or Redis driver, so that tests/unit runs in
seconds and needs no server. A helper such a test needs belongs in tests/support, in a module
that imports none of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("server", "aiosqlite", "aiomysql", "pymysql", "redis")

# In a fresh interpreter: for each module, the forbidden packages that importing it loaded.
PROBE = """
import importlib, json, sys
forbidden = set(sys.argv[1].split(","))
loaded = {}
for name in sys.argv[2:]:
    before = set(sys.modules)
    importlib.import_module(name)
    loaded[name] = sorted({m.split(".")[0] for m in set(sys.modules) - before} & forbidden)
print(json.dumps(loaded))
"""


def test_unit_tests_load_neither_the_app_nor_a_driver() -> None:
    unit = (ROOT / "tests" / "unit").rglob("*.py")
    modules = [
        "tests.conftest",
        *sorted(".".join(path.relative_to(ROOT).with_suffix("").parts) for path in unit),
    ]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(FORBIDDEN), *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert set(loaded) == set(modules)
    offending = {name: found for name, found in loaded.items() if found}
    assert offending == {}, f"unit test modules that load the app or a driver: {offending}"
