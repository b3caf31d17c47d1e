"""Reading a Prometheus scrape in tests: a sample's value by name and labels, and what changed
between two scrapes (the counters of one test process are shared by every test it runs)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    samples: tuple[tuple[str, dict[str, str], float], ...]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        return cls(
            tuple(
                (sample.name, dict(sample.labels), sample.value)
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            )
        )

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` that carry `labels` (and any others); 0 when
        there are none."""
        return sum(
            value
            for sample_name, sample_labels, value in self.samples
            if sample_name == name
            and all(sample_labels.get(key) == wanted for key, wanted in labels.items())
        )

    def has(self, name: str) -> bool:
        return any(sample_name == name for sample_name, _, _ in self.samples)

    def since(self, before: Scrape, name: str, **labels: str) -> float:
        """How much the samples called `name` with `labels` grew since `before`."""
        return self.value(name, **labels) - before.value(name, **labels)
