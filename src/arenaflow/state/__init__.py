"""State backends by name, imported lazily (see :func:`load_state`)."""

from __future__ import annotations

from typing import Literal

from arenaflow.backends import load_backend
from arenaflow.state.base import DELETED, State, StateView

StateName = Literal["memory", "redis"]

STATES: dict[str, tuple[str, str]] = {
    "memory": ("arenaflow.state.memory:MemoryState", ""),
    "redis": ("arenaflow.state.redis:RedisState", "redis"),
}


def load_state(name_or_url: str) -> State:
    """Create the state backend named ``memory`` or given by a ``redis://`` URL."""
    state: State = load_backend("state", STATES, name_or_url)
    return state


__all__ = ["DELETED", "STATES", "State", "StateName", "StateView", "load_state"]
