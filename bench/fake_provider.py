"""The fake provider server in a process of its own, so that its CPU is not the server's.

    python -m bench.fake_provider LATENCY_S MODEL [MODEL ...]

prints `READY <url>` once it listens, answers every model after LATENCY_S, and runs until
it is terminated. Requests are not kept: a benchmark sends tens of thousands.
"""

from __future__ import annotations

import sys
import threading

from tests.support.fake_provider import FakeProvider, ReceivedRequest


class _Forgotten(list[ReceivedRequest]):
    def append(self, request: ReceivedRequest) -> None:
        return None


def main(argv: list[str]) -> None:
    latency, *models = argv
    fake = FakeProvider()
    fake.requests = _Forgotten()
    for model in models:
        fake.faults.set_latency(model, float(latency))
    fake.start()
    print(f"READY {fake.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
