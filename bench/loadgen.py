"""Load: `wrk` when it is installed (`apt-get install wrk`), else an httpx asyncio client
in a process of its own. Either POSTs one body over `connections` keep-alive connections
for `seconds` and reports requests per second and the 99th percentile latency.

    python -m bench.loadgen URL BODY_FILE TOKEN CONNECTIONS SECONDS
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.procs import ROOT, WORK

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Load:
    requests_per_s: float
    p99_ms: float
    errors: int


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "httpx"


def run(url: str, body: bytes, token: str, connections: int, seconds: float) -> Load:
    WORK.mkdir(parents=True, exist_ok=True)
    body_file = WORK / "load-body.json"
    body_file.write_bytes(body)
    if generator() == "wrk":
        return _wrk(url, body_file, token, connections, seconds)
    args = [url, str(body_file), token, str(connections), str(seconds)]
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Load(**json.loads(out))


def _wrk(url: str, body_file: Path, token: str, connections: int, seconds: float) -> Load:
    script = WORK / "load-post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = io.open("{body_file}"):read("*a")\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "60s"]
    out = subprocess.run(
        [*command, "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if rate is None or p99 is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return Load(
        requests_per_s=float(rate[1]),
        p99_ms=float(p99[1]) * _UNITS[p99[2]],
        errors=(int(failed[1]) if failed else 0)
        + (sum(int(count) for count in socket_errors.groups()) if socket_errors else 0),
    )


async def _load(url: str, body: bytes, token: str, connections: int, seconds: float) -> Load:
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as http:
        end = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal errors
            while (started := time.perf_counter()) < end:
                response = await http.post(url, content=body)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code >= 300

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else 0.0
    return Load(len(latencies) / elapsed, p99 * 1000, errors)


if __name__ == "__main__":
    target, body_path, bearer, count, duration = sys.argv[1:]
    load = asyncio.run(
        _load(target, Path(body_path).read_bytes(), bearer, int(count), float(duration))
    )
    print(json.dumps(load.__dict__))
