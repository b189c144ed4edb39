"""Function versions, the ``live`` alias's weighted routing (canary), and automatic rollback.

A function starts with one version, ``"1"``. ``app.deploy(name, handler, version="2",
weight=0.1)`` adds a canary: the same triggers and options, its own instance pool (its own cold
starts and ``init``), and a weight: each invocation goes to it with that probability, as an AWS
Lambda alias with a routing configuration does (per invocation, not per key: events of a key
stay in order because a lane runs its batches one at a time; state in ``ctx.state`` is shared
by the versions, state a version keeps in memory is its own).

The :class:`CanaryBreaker` middleware watches the canary's newest invocations and rolls it back
(weight 0: everything on the stable version) when its error rate or its p99 duration crosses
the :class:`Rollback` thresholds: a circuit breaker. A failed canary invocation is retried like
any failure, on the stable version (only first tries are routed), so it loses nothing. Every
change (deployed, rolled back, promoted) is recorded as a :class:`DeploymentEvent` on the
``deployments`` topic and kept in ``app.deployments(name)``.

Example:
    >>> import asyncio
    >>> from arenaflow import App, stream
    >>> app = App()
    >>> @app.function(stream("plays", key="game_id"), batch_size=1)
    ... async def count(events, ctx):
    ...     pass
    >>> async def broken(events, ctx):
    ...     raise RuntimeError("v2 bug")
    >>> _ = app.deploy("count", broken, version="2", weight=0.5,
    ...                rollback=Rollback(max_error_rate=0.2, min_invocations=5))
    >>> async def main():
    ...     async with app:
    ...         for i in range(200):
    ...             app.publish("plays", {"game_id": f"g{i % 4}"})
    ...         await app.drain(timeout=10)
    >>> asyncio.run(main())
    >>> [(d.version, d.action) for d in app.deployments("count")]
    [('2', 'deployed'), ('2', 'rolled_back')]
    >>> app.versions("count")
    {'1': 1.0, '2': 0.0}
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec

from arenaflow.errors import ConfigError
from arenaflow.runtime.executors import make_instance
from arenaflow.runtime.middleware.base import Invocation, Middleware
from arenaflow.runtime.pool import InstancePool

if TYPE_CHECKING:
    from arenaflow.runtime.function import Function

#: Where deployment events are published.
DEPLOYMENTS_TOPIC: Final = "deployments"

Action = Literal["deployed", "rolled_back", "promoted"]


@dataclass(frozen=True, slots=True)
class Rollback:
    """When a canary is rolled back: over its newest ``window`` invocations, once it has had
    ``min_invocations``, an error rate above ``max_error_rate`` or a p99 duration above
    ``max_p99_ms`` (None: not checked)."""

    max_error_rate: float = 0.05
    max_p99_ms: float | None = None
    min_invocations: int = 20
    window: int = 200

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_error_rate <= 1.0:
            raise ConfigError(f"max_error_rate must be from 0 to 1, got {self.max_error_rate!r}")
        if self.max_p99_ms is not None and self.max_p99_ms <= 0:
            raise ConfigError(f"max_p99_ms must be positive, got {self.max_p99_ms!r}")
        if not 1 <= self.min_invocations <= self.window:
            raise ConfigError(
                f"min_invocations must be from 1 to window ({self.window}), "
                f"got {self.min_invocations!r}"
            )


class DeploymentEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A change of a function's routing, as published on ``deployments``."""

    function: str
    version: str
    action: Action
    weight: float
    reason: str = ""
    invocations: int = 0
    error_rate: float = 0.0
    p99_ms: float = 0.0
    timestamp: float = 0.0


class Canary:
    """A version of a function receiving ``weight`` of its invocations."""

    __slots__ = ("_recent", "handler", "pool", "rollback", "version", "weight")

    def __init__(
        self,
        fn: Function,
        handler: Callable[..., Any],
        version: str,
        weight: float,
        rollback: Rollback | None,
    ) -> None:
        if not 0.0 < weight <= 1.0:
            raise ConfigError(f"deploy {fn.name!r}: weight must be in (0, 1], got {weight!r}")
        if not callable(handler):
            raise ConfigError(f"deploy {fn.name!r}: handler must be callable")
        if version == fn.version:
            raise ConfigError(f"deploy {fn.name!r}: version {version!r} is the stable one")
        self.handler = handler
        self.version = version
        self.weight = weight
        self.rollback = rollback
        cfg = fn.config
        # A pool of its own, measured with the function (its invocations are the function's).
        self.pool = InstancePool(
            cfg, lambda: make_instance(cfg.executor, handler, cfg.init), fn.metrics
        )
        #: (failed, duration ms) of its newest invocations, for the breaker.
        self._recent: deque[tuple[bool, float]] = deque(maxlen=rollback.window if rollback else 1)

    def record(self, failed: bool, duration_ms: float) -> str | None:
        """Note one invocation; the reason to roll back, if its figures cross a threshold."""
        rule = self.rollback
        if rule is None:
            return None
        recent = self._recent
        recent.append((failed, duration_ms))
        if len(recent) < rule.min_invocations:
            return None
        errors = sum(1 for bad, _ in recent if bad) / len(recent)
        if errors > rule.max_error_rate:
            return f"error rate {errors:.1%} > {rule.max_error_rate:.1%} over {len(recent)}"
        if rule.max_p99_ms is not None:
            p99 = self.p99_ms()
            if p99 > rule.max_p99_ms:
                return f"p99 {p99:.1f} ms > {rule.max_p99_ms:g} ms over {len(recent)}"
        return None

    def error_rate(self) -> float:
        recent = self._recent
        return sum(1 for bad, _ in recent if bad) / len(recent) if recent else 0.0

    def p99_ms(self) -> float:
        durations = sorted(ms for _, ms in self._recent)
        return durations[min(len(durations) - 1, int(0.99 * len(durations)))] if durations else 0.0

    def invocations(self) -> int:
        return len(self._recent)


def pick(fn: Function, draw: Callable[[], float] = random.random) -> Canary | None:
    """The canary for this invocation, or None for the stable version."""
    canary = fn.canary
    if canary is None or canary.weight <= 0.0:
        return None
    return canary if draw() < canary.weight else None


class CanaryBreaker(Middleware):
    """Rolls a canary back when its figures cross its :class:`Rollback` thresholds.

    Args:
        on_change: Called with each :class:`DeploymentEvent` (the App publishes it).
    """

    def __init__(self, on_change: Callable[[Function, DeploymentEvent], None]) -> None:
        self.on_change = on_change

    def after_invoke(self, inv: Invocation) -> None:
        canary = inv.canary
        if canary is None or canary.weight == 0.0:
            return
        reason = canary.record(inv.error is not None, inv.duration_s * 1000.0)
        if reason is None:
            return
        canary.weight = 0.0
        fn = inv.function
        self.on_change(
            fn,
            DeploymentEvent(
                function=fn.name,
                version=canary.version,
                action="rolled_back",
                weight=0.0,
                reason=reason,
                invocations=canary.invocations(),
                error_rate=canary.error_rate(),
                p99_ms=canary.p99_ms(),
            ),
        )
