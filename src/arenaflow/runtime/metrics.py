"""Per-function measurements: counters, duration percentiles, cold starts, cost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: AWS Lambda x86 prices (us-east-1), used to express GB-seconds as money.
USD_PER_GB_SECOND = 0.0000166667
USD_PER_MILLION_REQUESTS = 0.20


class _Reservoir:
    """The most recent ``size`` samples, for percentiles without unbounded memory."""

    __slots__ = ("_buf", "_i", "_n")

    def __init__(self, size: int = 8192) -> None:
        self._buf = np.zeros(size, dtype=np.float64)
        self._i = 0
        self._n = 0

    def add(self, value: float) -> None:
        self._buf[self._i] = value
        self._i = (self._i + 1) % self._buf.size
        if self._n < self._buf.size:
            self._n += 1

    def percentiles(self, qs: tuple[float, ...]) -> list[float]:
        if self._n == 0:
            return [0.0 for _ in qs]
        values = np.percentile(self._buf[: self._n], qs)
        return [float(v) for v in values]


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """What ``app.metrics(name)`` returns. Durations in milliseconds."""

    function: str
    invocations: int
    events: int
    errors: int
    timeouts: int
    throttles: int
    retries: int
    dead_lettered: int
    decode_errors: int
    duplicates_skipped: int
    replayed: int
    cold_starts: int
    provisioned_starts: int
    init_ms: float
    duration_ms_p50: float
    duration_ms_p95: float
    duration_ms_p99: float
    concurrency: int
    max_concurrency: int
    instances: int
    lag: int
    gb_seconds: float
    cost_usd: float

    def as_dict(self) -> dict[str, float | int | str]:
        return {name: getattr(self, name) for name in self.__slots__}


class FunctionMetrics:
    """Mutable counters of one function, updated by the metrics and cost middleware and the pool."""

    def __init__(self, name: str, memory_mb: int) -> None:
        self.name = name
        self.memory_mb = memory_mb
        self.invocations = 0
        self.events = 0
        self.errors = 0
        self.timeouts = 0
        self.throttles = 0
        self.retries = 0
        self.dead_lettered = 0
        self.decode_errors = 0
        self.duplicates_skipped = 0
        self.replayed = 0  # events run again to rebuild in-memory state after a takeover
        self.cold_starts = 0
        self.provisioned_starts = 0
        self.init_ms_total = 0.0
        self.init_count = 0
        self.concurrency = 0
        self.max_concurrency = 0
        self.instances = 0
        self.gb_seconds = 0.0
        self.durations_ms = _Reservoir()
        self.init_samples_ms = _Reservoir(1024)

    def record_init(self, ms: float, *, provisioned: bool) -> None:
        self.init_ms_total += ms
        self.init_count += 1
        self.init_samples_ms.add(ms)
        if provisioned:
            self.provisioned_starts += 1
        else:
            self.cold_starts += 1

    def snapshot(self, lag: int = 0) -> MetricsSnapshot:
        p50, p95, p99 = self.durations_ms.percentiles((50, 95, 99))
        cost = (
            self.gb_seconds * USD_PER_GB_SECOND
            + self.invocations * USD_PER_MILLION_REQUESTS / 1_000_000
        )
        return MetricsSnapshot(
            function=self.name,
            invocations=self.invocations,
            events=self.events,
            errors=self.errors,
            timeouts=self.timeouts,
            throttles=self.throttles,
            retries=self.retries,
            dead_lettered=self.dead_lettered,
            decode_errors=self.decode_errors,
            duplicates_skipped=self.duplicates_skipped,
            replayed=self.replayed,
            cold_starts=self.cold_starts,
            provisioned_starts=self.provisioned_starts,
            init_ms=self.init_ms_total / self.init_count if self.init_count else 0.0,
            duration_ms_p50=p50,
            duration_ms_p95=p95,
            duration_ms_p99=p99,
            concurrency=self.concurrency,
            max_concurrency=self.max_concurrency,
            instances=self.instances,
            lag=lag,
            gb_seconds=self.gb_seconds,
            cost_usd=cost,
        )
