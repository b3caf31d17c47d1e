"""Observed teacher latencies: the ETA of a running session and the time estimate of a new one."""

from __future__ import annotations

from collections import deque


class LatencyBook:
    """A moving window of each teacher's recent call latencies."""

    def __init__(self, window: int = 200) -> None:
        self._window = window
        self._samples: dict[str, deque[int]] = {}

    def record(self, teacher: str, latency_ms: int) -> None:
        self._samples.setdefault(teacher, deque(maxlen=self._window)).append(latency_ms)

    def average_ms(self, teacher: str) -> float | None:
        samples = self._samples.get(teacher)
        return sum(samples) / len(samples) if samples else None
