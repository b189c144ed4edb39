"""The built-in sports pipeline: ordinary arenaflow functions, wired as an App.

::

    tracking ─ tracking (validate, kinematics, efforts, live) ─┐
    biometrics ─ biometrics ───────────────────────────────────┼─ metrics ─ alerts ─ alerts
    game_events ─ shots ───────────────────────────────────────┘      ▲
                                         aggregate (every 1 s) ───────┘

Users add their own functions beside these on the same App (e.g. on ``metrics``).

Example:
    >>> import asyncio
    >>> from arenaflow.sports.sources.simulator import Simulator
    >>> from arenaflow.sports.sources.pump import pump
    >>> app, live = build_pipeline()
    >>> async def main():
    ...     async with app:
    ...         await pump(app, Simulator(games=1, seed=3).frames_for(3.0), speed=None)
    ...         await app.drain(timeout=30)
    >>> asyncio.run(main())
    >>> sorted(live.games) , len(live.games["g0"].players)
    (['g0'], 22)
"""

from __future__ import annotations

from arenaflow.app import App
from arenaflow.pipeline import aggregate, alerts, biometrics, shots, storage, tracking
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.live import LiveTable
from arenaflow.store.base import Store


def build_pipeline(
    app: App | None = None, config: PipelineConfig | None = None, store: Store | None = None
) -> tuple[App, LiveTable]:
    """Register the built-in functions on ``app`` (a new embedded App by default), and the
    store writers when a ``store`` is given (:mod:`.storage`)."""
    app = app or App()
    config = config or PipelineConfig()
    live = LiveTable()
    for stage in (tracking, biometrics, shots, alerts, aggregate):
        stage.register(app, config, live)
    if store is not None:
        storage.register(app, config, store)
    return app, live


async def final_snapshot(app: App) -> None:
    """Publish every cumulative metric that changed since the last 1 Hz tick (the end of a
    replay or simulation, which may have run faster than the tick)."""
    await app.invoke("aggregate", None)


__all__ = ["LiveTable", "PipelineConfig", "build_pipeline", "final_snapshot"]
