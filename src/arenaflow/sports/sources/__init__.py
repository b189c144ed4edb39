"""Sources of sports data: each yields ``(topic, key, value)`` items in capture-time order.

* :class:`Simulator` — built-in simulated football or basketball games (deterministic by seed),
  with optional :class:`Faults`.
* :func:`load` — replay of a real vendor file (``PROVIDERS``), converted at the edge.
* :func:`pump` — puts items on an App's transport, paced in real time (or faster).
* :func:`run_source` — what the CLI runs: an App, a source, a progress bar.

Example:
    >>> from arenaflow.sports.sources import Simulator
    >>> sim = Simulator("football", games=1, seed=3, hr_hz=0)
    >>> frames = [value for topic, _, value in sim.frames_for(0.2) if topic == "tracking"]
    >>> len(frames), len(frames[0].objects)
    (5, 23)
"""

from __future__ import annotations

from arenaflow.sports.sources.faults import FaultInjector, Faults
from arenaflow.sports.sources.items import Item
from arenaflow.sports.sources.pump import PumpStats, pump
from arenaflow.sports.sources.runner import Counts, counting_app, run_source
from arenaflow.sports.sources.simulator import Simulator
from arenaflow.sports.sources.vendors import PROVIDERS, Replay, load

__all__ = [
    # sources
    "PROVIDERS",
    "Counts",
    "FaultInjector",
    "Faults",
    "Item",
    "PumpStats",
    "Replay",
    "Simulator",
    "counting_app",
    "load",
    "pump",
    "run_source",
]
