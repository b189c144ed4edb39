"""Run a source into an App with a live progress bar: what ``arenaflow replay`` and
``arenaflow simulate`` do.

:func:`run_source` takes any App: the built-in sports pipeline (the CLI's default), an App of
one's own, or the stand-in consumer :func:`counting_app` (counts what arrives per game).

Example:
    >>> import asyncio, io
    >>> from rich.console import Console
    >>> from arenaflow.sports.sources.simulator import Simulator
    >>> app, counter = counting_app()
    >>> quiet = Console(file=io.StringIO())
    >>> items = Simulator(games=2, hr_hz=0).frames_for(0.2)
    >>> stats = asyncio.run(run_source(app, items, speed=None, console=quiet))
    >>> dict(counter.frames)
    {'g0': 5, 'g1': 5}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

from rich.console import Console, Group
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.settings import Settings
from arenaflow.sports import topics
from arenaflow.sports.sources.items import Item
from arenaflow.sports.sources.pump import PumpStats, pump
from arenaflow.triggers import stream


class Counts:
    """What the built-in consumer saw, per game: tracking frames, game events, biometric samples,
    and payloads that are not schema objects (injected undecodable bytes)."""

    def __init__(self) -> None:
        self.frames: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.samples: Counter[str] = Counter()
        self.raw: Counter[str] = Counter()

    def add(self, events: list[Event]) -> None:
        for event in events:
            key = event.key or "?"
            if isinstance(event.value, bytes):
                self.raw[key] += 1
            elif event.topic == topics.TRACKING:
                self.frames[key] += 1
            elif event.topic == topics.GAME_EVENTS:
                self.events[key] += 1
            else:
                self.samples[key] += 1


def counting_app(settings: Settings | None = None) -> tuple[App, Counts]:
    """An App with one stream function that counts what arrives per game (a stand-in consumer
    until the sports pipeline is wired in)."""
    app = App(settings=settings)
    counts = Counts()

    @app.function(
        stream(topics.TRACKING, key="game_id"),
        stream(topics.GAME_EVENTS, key="game_id"),
        stream(topics.BIOMETRICS, key="game_id"),
        batch_size=1000,
        max_batching_window_ms=5,
    )
    async def count(events: list[Event], ctx: Context) -> None:
        counts.add(events)

    return app, counts


async def run_source(
    app: App,
    items: Iterable[Item],
    speed: float | None = 1.0,
    *,
    total_s: float | None = None,
    description: str = "publishing",
    console: Console | None = None,
    max_gap_s: float | None = 60.0,
    drain_timeout_s: float = 60.0,
    finish: Callable[[App], Awaitable[object]] | None = None,
) -> PumpStats:
    """Start ``app``, pump ``items`` into it with a progress bar, wait until it has processed
    everything, stop it and return the pump's stats.

    Args:
        app: Any App; its functions consume the items.
        items: The source's ``(topic, key, value)`` items.
        speed: Capture seconds per wall second; None: as fast as possible.
        total_s: Capture seconds the source spans, when known (gives the bar an end).
        description: Label of the bar.
        console: Where to draw (default: the terminal).
        max_gap_s: See :func:`~arenaflow.sports.sources.pump.pump`.
        drain_timeout_s: Longest wait for the functions to catch up after the last item.
        finish: Run once everything is processed, before the app stops (e.g. a last
            snapshot of periodic summaries), and waited for like the items.
    """
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
    ) as progress:
        task = progress.add_task(description, total=total_s, detail="")

        def show(stats: PumpStats) -> None:
            detail = (
                f"{stats.span_s:,.1f} s played · {stats.published:,} items · "
                f"x{stats.realtime_factor:,.1f}"
            )
            progress.update(task, completed=stats.span_s, detail=detail)

        async with app:
            stats = await pump(app, items, speed, show, max_gap_s=max_gap_s)
            await app.drain(timeout=drain_timeout_s)
            if finish is not None:
                await finish(app)
                await app.drain(timeout=drain_timeout_s)
        progress.update(task, total=stats.span_s or None, completed=stats.span_s)
    return stats


def summary(stats: PumpStats, counts: Counts | None = None, limit: int = 12) -> Group:
    """A line on the pace, then a table of what was published (and, with ``counts``, consumed)
    per game."""
    heading = Text(
        f"{stats.published:,} items, {stats.span_s:,.1f} s of play in {stats.elapsed_s:,.2f} s"
        f" (x{stats.realtime_factor:,.1f} real time, at most {stats.behind_s * 1000:,.0f} ms"
        " behind schedule)"
    )
    table = Table()
    table.add_column("game")
    table.add_column("published", justify="right")
    if counts is not None:
        for name in ("frames", "events", "samples", "undecodable"):
            table.add_column(name, justify="right")
    games = sorted(stats.by_key)
    for game in games[:limit]:
        row = [game, f"{stats.by_key[game]:,}"]
        if counts is not None:
            row += [
                f"{c[game]:,}" for c in (counts.frames, counts.events, counts.samples, counts.raw)
            ]
        table.add_row(*row)
    if len(games) > limit:
        table.add_row(f"... {len(games) - limit} more", "")
    return Group(heading, table)
