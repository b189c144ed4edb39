"""In-process keyed state: the embedded default and the test double."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import Any

from arenaflow.state.base import DELETED, State, WatermarkKey
from arenaflow.transport.base import Fence


class MemoryState(State):
    """Dicts per namespace. Commits are atomic because they run on one event loop."""

    name = "memory"

    def __init__(self) -> None:
        self._data: dict[str, dict[Hashable, Any]] = {}
        self._watermarks: dict[str, dict[WatermarkKey, int]] = {}

    def get(self, namespace: str, key: Hashable, default: Any = None) -> Any:
        ns = self._data.get(namespace)
        if ns is None:
            return default
        return ns.get(key, default)

    def watermark(self, namespace: str, wkey: WatermarkKey) -> int:
        marks = self._watermarks.get(namespace)
        if marks is None:
            return -1
        return marks.get(wkey, -1)

    async def commit(
        self,
        namespace: str,
        writes: Mapping[Hashable, Any],
        watermarks: Mapping[WatermarkKey, int],
        fence: Fence | None = None,  # one process: nothing can take its partitions
    ) -> None:
        if writes:
            ns = self._data.setdefault(namespace, {})
            for key, value in writes.items():
                if value is DELETED:
                    ns.pop(key, None)
                else:
                    ns[key] = value
        if watermarks:
            marks = self._watermarks.setdefault(namespace, {})
            for wkey, offset in watermarks.items():
                if offset > marks.get(wkey, -1):
                    marks[wkey] = offset

    def items(self, namespace: str) -> Iterator[tuple[Hashable, Any]]:
        return iter(list(self._data.get(namespace, {}).items()))
