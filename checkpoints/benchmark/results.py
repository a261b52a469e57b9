"""What a benchmark run records on one database size: median seconds per figure."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median

#: Idle clients connected while sessions are ended (the "end sessions" figure).
IDLE_CLIENTS = 5


@dataclass
class SizeResult:
    """Median seconds of each measurement on one database size."""

    size_mb: float
    actual_bytes: int
    runs: int
    figures: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    warm_bytes: int = 0  # storage of the warm copies kept for this database

    def record(self, name: str, values: list[float]) -> None:
        self.samples[name] = values
        self.figures[name] = median(values)
