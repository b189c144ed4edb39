"""The state seam: per-function keyed state, committed atomically with the events' offsets.

A function sees its state through a :class:`StateView`: reads go to the backend, writes are staged
and committed together with the offset each event key reached (its *watermark*) only when the
invocation succeeds. A failed or timed-out invocation leaves no trace, and a redelivered event at or
below its key's watermark is skipped before it reaches the function, so a duplicate delivery never
double-counts.

Example:
    >>> import asyncio
    >>> from arenaflow.state.memory import MemoryState
    >>> state = MemoryState()
    >>> view = StateView(state, "kinematics")
    >>> view["p7"] = view.get("p7", 0.0) + 3.5
    >>> asyncio.run(view.commit({("tracking", 0, "g1"): 41}))
    >>> state.get("kinematics", "p7"), state.watermark("kinematics", ("tracking", 0, "g1"))
    (3.5, 41)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arenaflow.transport.base import Fence

#: (topic, partition, event key) -> highest offset applied for that key.
WatermarkKey = tuple[str, int, str | None]

_MISSING: Any = object()
DELETED: Any = object()


class State(ABC):
    """Abstract keyed state. Backends: ``memory`` (embedded default), ``redis``."""

    name: str = "abstract"

    async def start(self) -> None:  # noqa: B027 - optional lifecycle hook
        """Connect or allocate resources."""

    async def aclose(self) -> None:  # noqa: B027 - optional lifecycle hook
        """Release resources."""

    @abstractmethod
    def get(self, namespace: str, key: Hashable, default: Any = None) -> Any:
        """Committed value of ``key`` in ``namespace`` (a function's name)."""

    @abstractmethod
    def watermark(self, namespace: str, wkey: WatermarkKey) -> int:
        """Highest offset applied for an event key, or -1."""

    @abstractmethod
    async def commit(
        self,
        namespace: str,
        writes: Mapping[Hashable, Any],
        watermarks: Mapping[WatermarkKey, int],
        fence: Fence | None = None,
    ) -> None:
        """Apply ``writes`` (``DELETED`` removes a key) and advance watermarks, atomically;
        with a ``fence``, only while it holds (a backend that keeps it checks it in the same
        atomic step, else raises :class:`~arenaflow.errors.PartitionLost`)."""

    @abstractmethod
    def items(self, namespace: str) -> Iterator[tuple[Hashable, Any]]:
        """Every committed key and value of ``namespace``."""

    async def refresh(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """Read ``namespace`` from the backend again: another process may have written it
        (this process just took one of its partitions over). In-process backends: nothing."""


class StateView:
    """What ``ctx.state`` is: a dict-like view of one function's state with staged writes."""

    __slots__ = ("_namespace", "_state", "_writes")

    def __init__(self, state: State, namespace: str) -> None:
        self._state = state
        self._namespace = namespace
        self._writes: dict[Hashable, Any] = {}

    def get(self, key: Hashable, default: Any = None) -> Any:
        value = self._writes.get(key, _MISSING)
        if value is _MISSING:
            return self._state.get(self._namespace, key, default)
        return default if value is DELETED else value

    def __getitem__(self, key: Hashable) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self._writes[key] = value

    def __delitem__(self, key: Hashable) -> None:
        self._writes[key] = DELETED

    def __contains__(self, key: Hashable) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def __iter__(self) -> Iterator[Hashable]:
        committed = (k for k, _ in self._state.items(self._namespace) if k not in self._writes)
        yield from committed
        yield from (k for k, v in self._writes.items() if v is not DELETED)

    @property
    def staged(self) -> dict[Hashable, Any]:
        """Writes made during this invocation, not yet committed."""
        return self._writes

    async def commit(
        self, watermarks: Mapping[WatermarkKey, int], fence: Fence | None = None
    ) -> None:
        await self._state.commit(self._namespace, self._writes, watermarks, fence)
        self._writes = {}

    def discard(self) -> None:
        self._writes = {}
