"""Per-function options: Lambda's event-source-mapping and function knobs, validated once."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal

from arenaflow.errors import ConfigError

Executor = Literal["inline", "process"]


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """Options of one function. Defaults favour live sports: small batches, short windows,
    stop-on-first-failure per key with quick retries, then the dead-letter topic.

    Attributes:
        batch_size: Most events per invocation.
        max_batching_window_ms: How long to gather a batch once its first event arrived.
        parallelization: Lanes per partition; events of one key always share a lane (order holds).
        max_retry_attempts: Retries of a failed batch (or of a bisected half) before dead-lettering.
        retry_backoff_ms: First retry delay; doubles each attempt up to ``retry_backoff_max_ms``.
        retry_backoff_max_ms: Cap of the retry delay.
        bisect_on_error: Split a failing batch in halves to isolate the poison event.
        max_record_age_s: Events older than this at dispatch are dead-lettered (None: no limit).
        on_failure: Dead-letter topic (default ``"<function>.dlq"``).
        timeout_s: Time limit of one invocation.
        memory_mb: Memory size, used for GB-seconds and cost as on Lambda.
        min_instances: Instances kept warm (provisioned concurrency).
        max_instances: Concurrency cap; beyond it invocations wait and count as throttles.
        idle_timeout_s: Idle instances above ``min_instances`` are reaped after this long.
        executor: ``inline`` (asyncio; sync functions on an instance thread) or ``process``.
        init: Cold-start hook, sync or async, run once per instance; its return value is
            ``ctx.resources``.
        replay_on_takeover: The function keeps state in process memory (not in ``ctx.state``):
            when this process takes a partition over on a transport shared by processes, the
            partition's retained history is run through the function first (``ctx.replaying``;
            outputs and state writes discarded) so that state is rebuilt. Needs
            ``parallelization=1``, so that what was acknowledged is a prefix.
    """

    batch_size: int = 100
    max_batching_window_ms: float = 0.0
    parallelization: int = 1
    max_retry_attempts: int = 3
    retry_backoff_ms: float = 5.0
    retry_backoff_max_ms: float = 1000.0
    bisect_on_error: bool = True
    max_record_age_s: float | None = None
    on_failure: str | None = None
    timeout_s: float = 3.0
    memory_mb: int = 128
    min_instances: int = 0
    max_instances: int = 8
    idle_timeout_s: float = 300.0
    executor: Executor = "inline"
    init: Callable[[], Any] | None = None
    replay_on_takeover: bool = False

    def retry_delay_s(self, attempt: int) -> float:
        """Back-off before retry number ``attempt`` (1-based): exponential, capped."""
        delay_ms = min(self.retry_backoff_max_ms, self.retry_backoff_ms * 2.0 ** (attempt - 1))
        return float(delay_ms) / 1000.0


_OPTIONS = {f.name for f in fields(FunctionConfig)}


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _check_number(
    name: str, value: Any, low: float, high: float, *, open_low: bool = False
) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        ok = (value > low if open_low else value >= low) and value <= high
    if not ok:
        bound = f"greater than {low}" if open_low else f"from {low}"
        raise ConfigError(f"{name} must be a number {bound} to {high}, got {value!r}")


def make_config(name: str | None, options: dict[str, Any]) -> FunctionConfig:
    """Validate ``options`` for function ``name``; raise ConfigError naming the bad option."""
    where = f"function {name!r}: " if name else "app.function(): "
    for option in options:
        if option not in _OPTIONS:
            close = difflib.get_close_matches(option, sorted(_OPTIONS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}unknown option {option!r}{hint}")
    cfg = FunctionConfig(**options)
    try:
        _check_int("batch_size", cfg.batch_size, 1, 10_000)
        _check_number("max_batching_window_ms", cfg.max_batching_window_ms, 0, 300_000)
        _check_int("parallelization", cfg.parallelization, 1, 64)
        _check_int("max_retry_attempts", cfg.max_retry_attempts, 0, 10_000)
        _check_number("retry_backoff_ms", cfg.retry_backoff_ms, 0, 3_600_000)
        _check_number("retry_backoff_max_ms", cfg.retry_backoff_max_ms, 0, 3_600_000)
        if cfg.max_record_age_s is not None:
            _check_number("max_record_age_s", cfg.max_record_age_s, 0, 604_800, open_low=True)
        _check_number("timeout_s", cfg.timeout_s, 0, 900, open_low=True)
        _check_int("memory_mb", cfg.memory_mb, 128, 10_240)
        _check_int("min_instances", cfg.min_instances, 0, 1_000)
        _check_int("max_instances", cfg.max_instances, 1, 1_000)
        _check_number("idle_timeout_s", cfg.idle_timeout_s, 0, 86_400)
        if cfg.min_instances > cfg.max_instances:
            raise ConfigError(
                f"min_instances ({cfg.min_instances}) must not exceed "
                f"max_instances ({cfg.max_instances})"
            )
        if cfg.executor not in ("inline", "process"):
            raise ConfigError(f"executor must be 'inline' or 'process', got {cfg.executor!r}")
        if not isinstance(cfg.bisect_on_error, bool):
            raise ConfigError(f"bisect_on_error must be True or False, got {cfg.bisect_on_error!r}")
        if cfg.on_failure is not None and (
            not isinstance(cfg.on_failure, str) or not cfg.on_failure
        ):
            raise ConfigError(f"on_failure must be a topic name, got {cfg.on_failure!r}")
        if cfg.init is not None and not callable(cfg.init):
            raise ConfigError(f"init must be callable, got {cfg.init!r}")
        if not isinstance(cfg.replay_on_takeover, bool):
            raise ConfigError(
                f"replay_on_takeover must be True or False, got {cfg.replay_on_takeover!r}"
            )
        if cfg.replay_on_takeover and cfg.parallelization != 1:
            raise ConfigError(
                "replay_on_takeover needs parallelization=1 (its replay runs the acknowledged "
                f"prefix of a partition), got parallelization={cfg.parallelization}"
            )
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
    return cfg
