"""``arenaflow demo``: the built-in sports pipeline on simulated games (or a vendor replay), with a
live operator console in the terminal and, with ``serve``, the gateway: the broadcast overlay,
the operator's dashboard, the push tier and the REST API on a local port.

Everything runs embedded (memory transport and state, no services, no files): the source is
pumped at its capture pace while the console redraws about four times a second from the
pipeline's live table and the runtime's per-function metrics. Rendering reads only those
in-memory views, never the topics. When serving, the gateway's server runs on the same event
loop and starts the App itself; the demo issues one key per scope and prints the pages' URLs.

Example:
    >>> import asyncio, io
    >>> from rich.console import Console
    >>> quiet = Console(file=io.StringIO(), width=100)
    >>> totals = asyncio.run(run_demo(games=1, duration_s=None, speed=None, seconds=1.0,
    ...                               console=quiet))
    >>> totals.frames, totals.dead_letters
    (25, 0)
    >>> "distance m" in quiet.file.getvalue()
    True
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from arenaflow.app import App
from arenaflow.pipeline import LiveTable, PipelineConfig, build_pipeline
from arenaflow.pipeline.live import GameLive, PlayerLive
from arenaflow.pipeline.rules import Rule
from arenaflow.sports import topics
from arenaflow.sports.schemas import Sport, TrackingFrame
from arenaflow.sports.sources import Replay, Simulator, pump
from arenaflow.sports.sources.items import Item
from arenaflow.sports.sources.pump import PumpStats

REFRESH_S = 0.25
PAGE_S = 5.0  # a page of games stays this long when not all games fit the terminal
MIN_PLAYERS, MAX_PLAYERS = 4, 10  # player rows per game
GAME_CHROME = 5  # a game panel's rows besides its players: 2 borders, heading, shots, alerts
GAME_WIDTH = 56  # narrowest comfortable game panel (columns)
UNITS = {"speed": "m/s", "hr_percent_max": "% HRmax", "heart_rate": "bpm"}
ZONE_STYLE = {1: "blue", 2: "green", 3: "yellow", 4: "dark_orange", 5: "bold red"}
TEAM_STYLE = {"home": "cyan", "away": "magenta"}


@dataclass(frozen=True, slots=True)
class Totals:
    """What the built-in pipeline did in a run.

    Attributes:
        frames: Tracking frames the pipeline took in (``tracking``'s events).
        metric_updates: ``MetricUpdate`` events published on ``metrics``.
        alerts: Alerts fired.
        dead_letters: Events on the functions' dead-letter topics (rejected input included).
    """

    frames: int
    metric_updates: int
    alerts: int
    dead_letters: int

    def __str__(self) -> str:
        return (
            f"{_count(self.frames, 'frame')}, {_count(self.metric_updates, 'metric update')}, "
            f"{_count(self.alerts, 'alert')}, {_count(self.dead_letters, 'dead letter')}"
        )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def topic_size(app: App, topic: str) -> int:
    """Events ever published to ``topic`` (the sum of its partitions' end offsets)."""
    transport = app.transport
    return sum(transport.end_offset(topic, p) for p in range(transport.partitions(topic)))


def pipeline_totals(app: App) -> Totals:
    """The :class:`Totals` of an App the built-in pipeline was registered on."""
    functions = app.functions
    return Totals(
        frames=app.metrics("tracking").events if "tracking" in functions else 0,
        metric_updates=topic_size(app, topics.METRICS),
        alerts=topic_size(app, topics.ALERTS),
        dead_letters=sum(topic_size(app, fn.dead_letter_topic) for fn in functions.values()),
    )


class Periods:
    """When each game's periods started (capture time), noted as the frames go by; gives the
    period clock of any capture time."""

    def __init__(self) -> None:
        self.starts: dict[str, dict[int, float]] = {}

    def watch(self, items: Iterable[Item]) -> Iterator[Item]:
        """Pass ``items`` through, noting the first frame of every period."""
        for item in items:
            frame = item[2]
            if isinstance(frame, TrackingFrame) and math.isfinite(frame.timestamp):
                self.starts.setdefault(frame.game_id, {}).setdefault(frame.period, frame.timestamp)
            yield item

    def clock(self, game_id: str, timestamp: float) -> str:
        """``mm:ss`` since the start of the period ``timestamp`` falls in."""
        started = [t for t in self.starts.get(game_id, {}).values() if t <= timestamp]
        if not started:
            return "--:--"
        minutes, seconds = divmod(int(timestamp - max(started)), 60)
        return f"{minutes:02d}:{seconds:02d}"


def _speed_style(mps: float) -> str:
    """DESIGN.md's speed bands: walk < 2, jog < 4, run < 5.5, high speed, sprint >= 7 m/s."""
    if mps >= 7.0:
        return "bold red"
    if mps > 5.5:
        return "yellow"
    if mps >= 4.0:
        return "green"
    return "dim" if mps < 2.0 else ""


class ConsoleView:
    """The operator console: a heading, a panel per game, and the runtime's function metrics.

    Games that do not fit the terminal are shown a page at a time (pages turn every
    ``PAGE_S`` seconds); ``full=True`` renders every game (the final screen).
    """

    def __init__(
        self,
        app: App,
        live: LiveTable,
        periods: Periods,
        title: str,
        console: Console,
        names: dict[str, str] | None = None,
    ) -> None:
        self.app = app
        self.live = live
        self.periods = periods
        self.title = title
        self.console = console
        self.names = names or {}
        self.stats = PumpStats()
        self.started = time.monotonic()
        self.latest: RenderableType = ""

    def snapshot(self, full: bool = False) -> RenderableType:
        """Render now and keep the result as :attr:`latest` (what the screen shows next)."""
        self.latest = self.render(full)
        return self.latest

    def render(self, full: bool = False) -> RenderableType:
        width, height = self.console.size
        games = sorted(self.live.games.values(), key=lambda g: (len(g.game_id), g.game_id))
        runtime = self._runtime()
        cols = max(1, min(3, width // GAME_WIDTH, len(games) or 1))
        page, pages, players = games, 1, MAX_PLAYERS
        if not full:
            room = height - len(self.app.functions) - 3 - 2  # runtime panel, heading, spare line
            rows = max(1, room // (GAME_CHROME + MIN_PLAYERS))
            pages = max(1, math.ceil(len(games) / (rows * cols)))
            index = int((time.monotonic() - self.started) / PAGE_S) % pages
            page = games[index * rows * cols : (index + 1) * rows * cols]
            used = max(1, math.ceil(len(page) / cols))
            players = max(1, min(MAX_PLAYERS, room // used - GAME_CHROME))
        grid = Table.grid()
        for _ in range(cols):
            grid.add_column(width=width // cols)  # fixed: measuring nested panels is slow
        panels = [self._game(g, players) for g in page]
        for i in range(0, len(panels), cols):
            row = panels[i : i + cols]
            grid.add_row(*row, *([""] * (cols - len(row))))
        if not games:
            grid.add_row(Text("waiting for the first frames ...", style="dim"))
        heading = self._heading(len(games), pages, full)
        return Group(heading, grid, runtime)

    def _heading(self, games: int, pages: int, full: bool) -> Table:
        s = self.stats
        minutes, seconds = divmod(int(s.span_s), 60)
        left = Text.assemble(
            ("arenaflow ", "bold"),
            (self.title, "bold cyan"),
            f" · {minutes:02d}:{seconds:02d} played · x{s.realtime_factor:.1f}"
            f" · {s.published:,} items",
        )
        right = Text(style="dim")
        if pages > 1 and not full:
            page = int((time.monotonic() - self.started) / PAGE_S) % pages + 1
            right.append(f" page {page}/{pages} of {games} games")
        heading = Table.grid(expand=True)
        heading.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        heading.add_column(no_wrap=True, justify="right")
        heading.add_row(left, right)
        return heading

    def _game(self, game: GameLive, rows: int) -> Panel:
        table = Table(
            box=None, expand=True, padding=(0, 0, 0, 1), pad_edge=False, header_style="bold"
        )
        table.add_column("player", no_wrap=True, overflow="ellipsis", ratio=1, min_width=6)
        for heading in ("speed m/s", "distance m", "top m/s", "sprints", "HR bpm", "zone"):
            table.add_column(heading, justify="right", no_wrap=True)
        top = sorted(game.players.items(), key=lambda kv: kv[1].speed_mps, reverse=True)[:rows]
        for athlete, p in top:
            table.add_row(*self._player(game.game_id, athlete, p))
        clock = self.periods.clock(game.game_id, game.timestamp)
        teams = ["home", "away", *sorted(set(game.xg) - {"home", "away"})]
        xg = " · ".join(f"{team} {game.xg.get(team, 0.0):.2f}" for team in teams)
        title = f"[bold]{game.game_id}[/] P{game.period} {clock} · xG {xg}"
        return Panel(
            Group(table, self._shots(game), self._alerts(game)),
            title=title,
            title_align="left",
            box=box.ROUNDED,
            padding=(0, 1),
        )

    def _name(self, game_id: str, athlete: str) -> str:
        """The name from the replay's metadata, else the id without its game prefix."""
        return self.names.get(athlete) or athlete.removeprefix(f"{game_id}-")

    def _player(self, game_id: str, athlete: str, p: PlayerLive) -> tuple[Text | str, ...]:
        name = self._name(game_id, athlete)
        hr = "-" if p.heart_rate_bpm is None else f"{p.heart_rate_bpm:.0f}"
        zone = Text(
            "-" if p.heart_rate_zone is None else f"Z{p.heart_rate_zone}",
            style=ZONE_STYLE.get(p.heart_rate_zone or 0, ""),
        )
        return (
            Text(name, style=TEAM_STYLE.get(p.team, "")),
            Text(f"{p.speed_mps:.1f}", style=_speed_style(p.speed_mps)),
            f"{p.distance_m:,.0f}",
            f"{p.top_speed_mps:.1f}",
            str(p.sprints),
            hr,
            zone,
        )

    def _shots(self, game: GameLive) -> Text:
        text = Text("shots  ", style="bold")
        if not game.shots:
            text.append("none yet", style="dim")
        for i, shot in enumerate(reversed(game.shots)):
            if i:
                text.append(" · ", style="dim")
            text.append(f"{self.periods.clock(game.game_id, shot.timestamp)} ", style="dim")
            name = self._name(game.game_id, shot.player_id or "?")
            text.append(name, style=TEAM_STYLE.get(shot.team or "", ""))
            text.append(f" {shot.xg or 0.0:.2f}")
            if shot.outcome == "Goal":
                text.append(" GOAL", style="bold green")
        text.no_wrap, text.overflow = True, "ellipsis"
        return text

    def _alerts(self, game: GameLive) -> Text:
        text = Text("alerts ", style="bold")
        if not game.alerts:
            text.append("none yet", style="dim")
        styles = {"info": "", "warning": "yellow", "critical": "bold red"}
        for i, alert in enumerate(reversed(game.alerts)):
            if i:
                text.append(" · ", style="dim")
            text.append(f"{self.periods.clock(game.game_id, alert.timestamp)} ", style="dim")
            text.append(f"{self._name(game.game_id, alert.subject_id)} ")
            text.append(alert.rule, style=styles[alert.severity])
            text.append(f" {alert.value:.1f} {UNITS.get(alert.metric, '')}".rstrip())
        text.no_wrap, text.overflow = True, "ellipsis"
        return text

    def _runtime(self) -> Panel:
        table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
        table.add_column("function")
        for heading in ("invocations", "events", "errors", "p99 ms", "lag", "cold starts"):
            table.add_column(heading, justify="right")
        for name in self.app.functions:
            m = self.app.metrics(name)
            table.add_row(
                name,
                f"{m.invocations:,}",
                f"{m.events:,}",
                Text(f"{m.errors:,}", style="bold red" if m.errors else ""),
                f"{m.duration_ms_p99:.2f}",
                Text(f"{m.lag:,}", style="yellow" if m.lag > 1000 else ""),
                str(m.cold_starts),
            )
        totals = pipeline_totals(self.app)
        title = " · ".join(
            (
                "runtime",
                _count(totals.metric_updates, "metric update"),
                _count(totals.alerts, "alert"),
                _count(totals.dead_letters, "dead letter"),
            )
        )
        return Panel(table, title=title, title_align="left", box=box.ROUNDED, padding=(0, 1))


class _Server:
    """The gateway on a uvicorn server in this event loop, as an async context manager (its
    lifespan starts and stops the App)."""

    def __init__(self, app: App, live: LiveTable, host: str, port: int, console: Console) -> None:
        import uvicorn

        from arenaflow.gateway.app import create_gateway
        from arenaflow.gateway.auth import KeyRing
        from arenaflow.gateway.server import server_config

        ring = KeyRing()
        self.keys = {
            scope: ring.issue(f"demo-{scope}", {scope}) for scope in ("broadcast", "admin")
        }
        self.keys["staff"] = ring.issue("demo-staff", {"staff"})
        self.keys["ingest"] = ring.issue("demo-ingest", {"ingest"})
        gateway = create_gateway(app, live=live, keys=ring)
        config = server_config(gateway, host=host, port=port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self._console, self._host = console, host

    async def __aenter__(self) -> _Server:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # could not bind: say why
                raise RuntimeError("the gateway stopped before it started")
            await asyncio.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]  # port 0: the one bound
        b, k = f"http://{self._host}:{port}", self.keys
        self._console.print(
            f"overlay   {b}/overlay?game=g0&key={k['broadcast']}\n"
            f"dashboard {b}/dashboard?key={k['admin']}\n"
            f"push      ws://{b[7:]}/v1/ws?key={k['broadcast']} · REST {b}/v1/games"
            f" · ingest key {k['ingest']} · staff key {k['staff']}",
            soft_wrap=True,  # a URL broken over lines cannot be copied
            highlight=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


async def run_demo(
    games: int = 4,
    duration_s: float | None = 30.0,
    sport: Sport = "football",
    speed: float | None = 1.0,
    replay: Replay | None = None,
    *,
    rules: tuple[Rule, ...] | None = None,
    seed: int = 7,
    seconds: float | None = None,
    console: Console | None = None,
    serve: bool = False,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> Totals:
    """Run the built-in pipeline on a source with the live console; return what it did.

    Args:
        games: Simulated games (ignored with ``replay``).
        duration_s: Wall seconds to run (None: until the source ends or Ctrl-C).
        sport: Sport of the simulated games (ignored with ``replay``).
        speed: Capture seconds per wall second; None: as fast as possible.
        replay: A loaded vendor file to run instead of the simulator.
        rules: Alert rules (default: the pipeline's built-in rules).
        seed: Random seed of the simulator.
        seconds: Capture seconds to simulate (None: a whole match).
        console: Where to draw (default: the terminal).
        serve: Also serve the gateway (overlay, dashboard, push, REST) on ``host:port``.
    """
    console = console or Console()
    periods = Periods()
    names: dict[str, str] = {}
    if replay is None:
        sim = Simulator(sport, games, seed, start_time=time.time())
        field, items = sim.field, sim.frames_for(seconds)
        title = f"{games} x {sport} (simulated)"
    else:
        field, items = replay.field, iter(replay)
        title = f"{replay.provider} replay {replay.game_id}"
        names = {a.id: a.name for a in replay.athletes if a.name and a.name != a.id}
    config = PipelineConfig(field=field) if rules is None else PipelineConfig(field, rules=rules)
    app, live = build_pipeline(App(transport="memory", state="memory"), config)
    view = ConsoleView(app, live, periods, title, console, names)

    def progress(stats: PumpStats) -> None:
        view.stats = stats

    deadline = None if duration_s is None else time.monotonic() + duration_s
    server = _Server(app, live, host, port, console) if serve else None
    try:
        async with server or app:
            feeding = asyncio.create_task(
                pump(app, periods.watch(items), speed, progress, progress_every_s=REFRESH_S)
            )
            # Built here, on the loop that writes the live table (about a millisecond); drawn by
            # rich's refresh thread, so laying out the tables never holds up the functions.
            view.snapshot()
            with Live(
                console=console,
                refresh_per_second=1 / REFRESH_S,
                get_renderable=lambda: view.latest,
            ):
                try:
                    while not feeding.done() and (deadline is None or time.monotonic() < deadline):
                        await asyncio.wait({feeding}, timeout=REFRESH_S)
                        view.snapshot()
                    if feeding.done():
                        feeding.result()  # a failing source is an error, not a quiet ending
                    feeding.cancel()
                    with contextlib.suppress(TimeoutError):
                        await app.drain(timeout=10)
                finally:
                    feeding.cancel()
                    view.snapshot(full=True)  # the last screen stays: every game
    finally:  # also after Ctrl-C
        totals = pipeline_totals(app)
        if not console.is_terminal:
            console.line()  # rich ends the final screen with a line break only on terminals
        console.print(f"pipeline: {totals}")
    return totals
