"""Processes a benchmark starts and what it reads of them: CPU time and memory from /proc."""

from __future__ import annotations

import os
import resource
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.live import process_family

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass(frozen=True)
class MachineCpu:
    """Time of the machine's cores, summed over cores: in all, busy (iowait counts as idle),
    and stolen, the part of busy in which the hypervisor ran something else on the core while
    this machine had work for it. Stolen time slows everything measured without showing in
    any process's CPU time."""

    total_s: float
    busy_s: float
    stolen_s: float

    def __add__(self, other: MachineCpu) -> MachineCpu:
        return MachineCpu(
            self.total_s + other.total_s,
            self.busy_s + other.busy_s,
            self.stolen_s + other.stolen_s,
        )

    def since(self, before: MachineCpu) -> MachineCpu:
        return MachineCpu(
            self.total_s - before.total_s,
            self.busy_s - before.busy_s,
            self.stolen_s - before.stolen_s,
        )

    @property
    def busy_share(self) -> float:
        return self.busy_s / self.total_s if self.total_s else 0.0

    @property
    def stolen_share(self) -> float:
        return self.stolen_s / self.total_s if self.total_s else 0.0


def machine_cpu() -> MachineCpu:
    """The machine's CPU time so far (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return MachineCpu(total / _TICKS, (total - idle) / _TICKS, fields[7] / _TICKS)


def family_cpu_seconds(pid: int) -> float:
    """CPU time of the process and of every process it started, still running (uvicorn's
    workers), so far."""
    used = 0.0
    for member in process_family(pid):
        try:
            used += cpu_seconds(member)
        except FileNotFoundError:  # it ended meanwhile
            continue
    return used


def memory_mb(pid: int) -> tuple[float, float]:
    """The resident set now and its peak (VmRSS, VmHWM), in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def settle(
    pid: int,
    *,
    quiet_s: float = 0.3,
    busy_below: float = 0.03,
    limit_s: float = 30.0,
    cpu: Callable[[int], float] = cpu_seconds,
) -> float:
    """Wait until the process uses less than `busy_below` of a core over `quiet_s` (its
    background work done); its CPU time then, as `cpu` counts it."""
    deadline = time.monotonic() + limit_s
    used = cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = cpu(pid)
        if now - used < busy_below * quiet_s:
            return now
        used = now
    return used


def raise_open_files_limit() -> None:
    """Thousands of sockets need more than the usual 1024 descriptors; children inherit it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@contextmanager
def python_child(
    module: str,
    args: Sequence[str],
    *,
    timeout_s: float = 30.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m module args` until the block ends, and what follows `READY ` in its first
    line; its stderr goes to bench/.work/<module>.log."""
    WORK.mkdir(parents=True, exist_ok=True)
    with (WORK / f"{module}.log").open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        assert process.stdout is not None
        line = _first_line(process, timeout_s)
        if not line.startswith("READY"):
            raise RuntimeError(f"{module} did not start ({line!r}); see {log.name}")
        yield process, line.removeprefix("READY").strip()
    finally:
        stop(process)


def _first_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            return f"no answer within {timeout_s:g}s"
    return process.stdout.readline()


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
