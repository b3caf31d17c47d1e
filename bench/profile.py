"""Sampling a benchmarked process with py-spy, and what dominates its samples.

py-spy is not a dependency of the project; install it into the virtualenv to profile
(`.venv/bin/pip install py-spy`). The collapsed stacks are kept under bench/.work/profiles.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import WORK

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
PROJECT = ("trainer/", "models/", "server/", "resolvers/", "schema/")


def py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


@dataclass
class Profile:
    path: Path
    samples: int = 0
    inclusive: Counter[str] = field(default_factory=Counter)
    own: Counter[str] = field(default_factory=Counter)
    by_package: Counter[str] = field(default_factory=Counter)
    by_owner: Counter[str] = field(default_factory=Counter)

    def top(self, count: int = 12) -> str:
        """The project's functions most samples were in, the functions most samples spent
        their own time in, and own time summed by package."""
        if not self.samples:
            return f"no samples in {self.path}"
        project = Counter(
            {name: hits for name, hits in self.inclusive.items() if _in_project(name)}
        )
        lines = [f"{self.samples} samples ({self.path.relative_to(WORK.parent.parent)})"]
        for title, counter in (
            ("by innermost project function (what the project asked for)", self.by_owner),
            ("inclusive, project code", project),
            ("own time", self.own),
            ("own time by package", self.by_package),
        ):
            lines.append(f"  {title}:")
            for name, hits in counter.most_common(count):
                lines.append(f"    {hits / self.samples:6.1%}  {name}")
        return "\n".join(lines)


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['function']} ({file})"


def _in_project(name: str) -> bool:
    return name.rsplit("(", 1)[-1].startswith(PROJECT)


def _package(name: str) -> str:
    file = name.rsplit("(", 1)[-1].rstrip(")")
    return "importlib" if "importlib" in file else file.split("/", 1)[0].removesuffix(".py")


def read(path: Path) -> Profile:
    profile = Profile(path)
    if not path.exists():
        return profile
    for line in path.read_text().splitlines():
        stack, _, hits = line.rpartition(" ")
        if not stack or not hits.isdigit():
            continue
        count = int(hits)
        frames = [_short(frame) for frame in stack.split(";")]
        profile.samples += count
        for name in set(frames):
            profile.inclusive[name] += count
        if frames:
            profile.own[frames[-1]] += count
            profile.by_package[_package(frames[-1])] += count
            owner = next((f for f in reversed(frames) if _in_project(f)), "(outside project code)")
            profile.by_owner[owner] += count
    return profile


@contextmanager
def sampled(pid: int, name: str, *, enabled: bool = True) -> Iterator[Path | None]:
    """Sample `pid` while the block runs (when enabled and py-spy is installed)."""
    binary = py_spy()
    if not enabled or binary is None:
        yield None
        return
    directory = WORK / "profiles"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.txt"
    path.unlink(missing_ok=True)
    command = [binary, "record", "--pid", str(pid), "--format", "raw", "--rate", "100"]
    recorder = subprocess.Popen(
        [*command, "--output", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield path
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()
