"""The ``arenaflow`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from arenaflow import __version__
from arenaflow.app import App
from arenaflow.settings import Settings

if TYPE_CHECKING:
    from arenaflow.pipeline.rules import Rule
    from arenaflow.sports.fields import Field
    from arenaflow.sports.sources import PumpStats, Replay
    from arenaflow.store.base import Store

_SPEED_HELP = "Capture seconds per wall second (2 = twice real time); 0 = as fast as possible."
_APP_HELP = "module:app to feed (default: the built-in sports pipeline)."
_RULES_HELP = "Alert rules file (YAML or JSON) for the built-in pipeline; default: built-in rules."
_STORE_HELP = (
    "Where the pipeline keeps history: duckdb (embedded, under ARENAFLOW_DATA_DIR), "
    "duckdb:///DIR, a postgresql:// URL, or none."
)

cli = typer.Typer(help="arenaflow: a serverless runtime for real-time sports analytics.")


@cli.callback()
def _root() -> None:
    from arenaflow.runtime.latency import quiet_gc

    logging.basicConfig(
        level=Settings.from_env().log_level,
        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s",
        datefmt="%H:%M:%S",
    )
    quiet_gc()  # live feeds want no collector pauses of tens of milliseconds


@cli.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@cli.command()
def demo(
    games: Annotated[int, typer.Option(min=1, max=300, help="Simulated games.")] = 4,
    duration: Annotated[
        float, typer.Option(help="Seconds to run; 0 runs until Ctrl-C.", min=0)
    ] = 0.0,
    sport: Annotated[Literal["football", "basketball"], typer.Option(help="The sport.")] = (
        "football"
    ),
    speed: Annotated[float, typer.Option(min=0, help=_SPEED_HELP)] = 1.0,
    replay_path: Annotated[
        Path | None,
        typer.Option(
            "--replay", exists=True, dir_okay=False, help="Run a vendor file, not the simulator."
        ),
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="The --replay file's provider (see `replay --help`).")
    ] = None,
    meta: Annotated[
        Path | None, typer.Option(help="The --replay file's companion (metadata) file.")
    ] = None,
    rules: Annotated[Path | None, typer.Option(help=_RULES_HELP)] = None,
    serve: Annotated[
        bool, typer.Option(help="Serve the overlay, dashboard, push tier and REST API.")
    ] = True,
    host: Annotated[str, typer.Option(help="Address the gateway listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="The gateway's port.")] = 8000,
) -> None:
    """Run the built-in pipeline on simulated games (or a replay) with a live console, and the
    gateway: open the printed overlay and dashboard URLs in a browser."""
    from arenaflow.demo import run_demo

    source = None
    if replay_path is not None:
        if provider is None:
            raise typer.BadParameter("--replay needs --provider", param_hint="--provider")
        source = _load_replay(replay_path, provider, meta=meta)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_demo(
                games=games,
                duration_s=duration or None,
                sport=sport,
                speed=_speed(speed),
                replay=source,
                rules=_rules(rules),
                serve=serve,
                host=host,
                port=port,
            )
        )


def load_app(target: str) -> App:
    """Import ``module:attribute`` (attribute defaults to ``app``) and return the App."""
    module_name, _, attribute = target.partition(":")
    if not module_name:
        raise typer.BadParameter(
            "expected module:app, e.g. myproject.functions:app", param_hint="APP"
        )
    sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(f"cannot import {module_name!r}: {exc}", param_hint="APP") from exc
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, App):
        raise typer.BadParameter(
            f"{module_name}:{attribute or 'app'} is not an arenaflow App", param_hint="APP"
        )
    return app


@cli.command()
def run(
    target: Annotated[str, typer.Argument(metavar="APP", help="module:app to run.")],
    duration: Annotated[
        float, typer.Option(help="Seconds to run; 0 runs until Ctrl-C.", min=0)
    ] = 0,
) -> None:
    """Run an app's functions until Ctrl-C."""
    app = load_app(target)
    typer.echo(f"running {len(app.functions)} function(s): {', '.join(app.functions)}")
    app.run(duration or None)


def _setting(name: str, value: object | None) -> None:
    """A command-line flag given: it stands for its ``ARENAFLOW_*`` setting, for this process,
    the apps it imports and the fresh process a worker may exec."""
    if value is not None:
        os.environ[f"ARENAFLOW_{name.upper()}"] = str(value)


_TRANSPORT_HELP = "The fleet's Redis: redis://host:6379/0 (ARENAFLOW_TRANSPORT)."


@cli.command()
def worker(
    target: Annotated[
        str | None, typer.Argument(metavar="[APP]", help="module:app (default: the pipeline).")
    ] = None,
    transport: Annotated[str | None, typer.Option(help=_TRANSPORT_HELP)] = None,
    state: Annotated[
        str | None,
        typer.Option(help="Where function state lives (ARENAFLOW_STATE; default: the transport)."),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(min=1, help="Partitions per topic, the same on every process."),
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="A postgresql:// URL, or none (ARENAFLOW_STORE).")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address of /metrics and /healthz.")] = (
        "0.0.0.0"
    ),
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of /metrics and /healthz.")
    ] = 9100,
) -> None:
    """Run an app's functions as one member of a fleet sharing them through Redis.

    Each flag stands for its setting in the environment: ARENAFLOW_TRANSPORT=redis://host:6379/0
    (and ARENAFLOW_STATE, the transport's Redis when unset), ARENAFLOW_STORE (a postgresql://
    URL, or none), ARENAFLOW_PARTITIONS (the same on every process)."""
    from arenaflow import worker as fleet
    from arenaflow.errors import ArenaflowError

    for name, value in (
        ("transport", transport),
        ("state", state),
        ("partitions", partitions),
        ("store", store),
    ):
        _setting(name, value)
    settings = Settings.from_env()
    if not settings.transport.startswith(("redis://", "rediss://", "unix://")):
        raise typer.BadParameter(
            "a worker shares its functions through Redis: --transport redis://... "
            f"(ARENAFLOW_TRANSPORT; it is {settings.transport!r})",
            param_hint="ARENAFLOW_TRANSPORT",
        )
    if "ARENAFLOW_STATE" not in os.environ:
        # State a worker kept in its own memory would not survive a takeover.
        _setting("state", settings.transport)
        settings = Settings.from_env()
    try:
        app = fleet.build(settings, load_app(target) if target else None)
    except (ArenaflowError, ImportError) as exc:
        raise typer.BadParameter(str(exc), param_hint="ARENAFLOW_STORE") from exc
    typer.echo(f"worker: {len(app.functions)} function(s) on {settings.transport}")
    fleet.run(app, metrics_host, metrics_port)


@cli.command()
def gateway(
    host: Annotated[str, typer.Option(help="Address the gateway listens on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(min=0, max=65535, help="The gateway's port.")] = 8000,
    transport: Annotated[str | None, typer.Option(help=_TRANSPORT_HELP)] = None,
    store: Annotated[
        str | None, typer.Option(help="The store the REST history reads (ARENAFLOW_STORE).")
    ] = None,
) -> None:
    """Serve the gateway alone (ingest, REST, push tier, pages): the fleet's front door.

    Its push tier is fed by the workers through Redis pub/sub, so any number of replicas can
    run behind a load balancer. Settings: ARENAFLOW_TRANSPORT (redis://...), ARENAFLOW_STORE
    (for the REST history), ARENAFLOW_API_KEYS."""
    import uvicorn

    from arenaflow.gateway.app import create_gateway
    from arenaflow.gateway.server import server_config

    _setting("transport", transport)
    _setting("store", store)
    settings = Settings.from_env()
    app = App(settings=settings)
    fanout = settings.transport if settings.transport.startswith("redis") else None
    history = None if settings.store == "none" else _open_store(settings.store)
    web = create_gateway(app, store=history, settings=settings, fanout_url=fanout)
    uvicorn.Server(server_config(web, host=host, port=port, log_level="warning")).run()


def _speed(speed: float) -> float | None:
    return None if speed == 0 else speed


def _rules(path: Path | None) -> tuple[Rule, ...] | None:
    """Alert rules from ``--rules``, naming the option and the field when the file is bad."""
    if path is None:
        return None
    from arenaflow.errors import ConfigError
    from arenaflow.pipeline.rules import load_rules

    try:
        return tuple(load_rules(path))
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rules") from exc


def _feed(
    target: str | None, field: Field, rules: Path | None = None, store: str = "none"
) -> tuple[App, bool]:
    """The App a source feeds: ``--app module:app``, else the built-in sports pipeline (True),
    writing to ``--store`` unless it is ``none``."""
    if target:
        return load_app(target), False
    from arenaflow.pipeline import PipelineConfig, build_pipeline

    loaded = _rules(rules)
    config = PipelineConfig(field=field) if loaded is None else PipelineConfig(field, rules=loaded)
    app, _ = build_pipeline(config=config, store=_open_store(store))
    return app, True


async def _final_snapshot(app: App) -> None:
    from arenaflow.pipeline import final_snapshot

    await final_snapshot(app)


def _open_store(name_or_url: str) -> Store | None:
    """The store ``--store`` names (None for ``none``), naming the option when it fails."""
    if name_or_url == "none":
        return None
    from arenaflow.errors import ArenaflowError
    from arenaflow.store import open_store

    try:
        return open_store(name_or_url, Settings.from_env().data_dir)
    except (ArenaflowError, ImportError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--store") from exc


def _load_replay(
    path: Path, provider: str, game_id: str | None = None, meta: Path | None = None
) -> Replay:
    """Load a vendor file, naming the option to fix when it cannot be loaded."""
    from arenaflow.errors import ConfigError, MissingCompanionFile, SourceError
    from arenaflow.sports.sources import load

    try:
        return load(path, provider, game_id=game_id, meta=meta)
    except ConfigError as exc:
        hint = "--meta" if "--meta" in str(exc) else "--provider"
        raise typer.BadParameter(str(exc), param_hint=hint) from exc
    except MissingCompanionFile as exc:
        raise typer.BadParameter(str(exc), param_hint="--meta") from exc
    except SourceError as exc:
        raise typer.BadParameter(str(exc), param_hint="PATH") from exc


def _report(stats: PumpStats, app: App, pipeline: bool) -> None:
    from rich.console import Console

    from arenaflow.sports.sources.runner import summary

    Console().print(summary(stats))
    if pipeline:
        from arenaflow.demo import pipeline_totals

        typer.echo(f"pipeline: {pipeline_totals(app)}")


@cli.command()
def replay(
    path: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="The raw data file (or the events file)."),
    ],
    provider: Annotated[str, typer.Option(help="metrica_csv, tracab, statsbomb, ... (PROVIDERS).")],
    speed: Annotated[float, typer.Option(min=0, help=_SPEED_HELP)] = 1.0,
    meta: Annotated[
        Path | None, typer.Option(help="The companion (metadata) file; default: found beside PATH.")
    ] = None,
    game_id: Annotated[str | None, typer.Option(help="Game id; default: the file's.")] = None,
    app_target: Annotated[str | None, typer.Option("--app", help=_APP_HELP)] = None,
    rules: Annotated[Path | None, typer.Option(help=_RULES_HELP)] = None,
    store: Annotated[str, typer.Option(help=_STORE_HELP)] = "duckdb",
) -> None:
    """Replay a real vendor file (tracking or events) through the runtime."""
    from arenaflow.sports.sources import run_source

    source = _load_replay(path, provider, game_id, meta)
    typer.echo(
        f"{source.provider}: game {source.game_id}, {source.records:,} records, "
        f"{len(source.athletes)} athletes, field {source.field.length_m:g} x "
        f"{source.field.width_m:g} m"
    )
    for note in source.notes:
        typer.echo(f"  note: {note}")
    app, pipeline = _feed(app_target, source.field, rules, store)
    with contextlib.suppress(KeyboardInterrupt):
        stats = asyncio.run(
            run_source(
                app,
                source,
                _speed(speed),
                description=source.provider,
                finish=_final_snapshot if pipeline else None,
            )
        )
        _report(stats, app, pipeline)


@cli.command()
def simulate(
    sport: Annotated[Literal["football", "basketball"], typer.Option(help="The sport.")] = (
        "football"
    ),
    games: Annotated[int, typer.Option(min=1, max=1000, help="Concurrent games.")] = 4,
    seconds: Annotated[
        float | None, typer.Option(min=0, help="Seconds of play; default: a whole match.")
    ] = None,
    speed: Annotated[float, typer.Option(min=0, help=_SPEED_HELP)] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same games).")] = 7,
    faults: Annotated[
        str, typer.Option(help="Faults to inject, e.g. drop=0.01,nan=0.001 (fractions of frames).")
    ] = "",
    app_target: Annotated[str | None, typer.Option("--app", help=_APP_HELP)] = None,
    rules: Annotated[Path | None, typer.Option(help=_RULES_HELP)] = None,
    store: Annotated[str, typer.Option(help=_STORE_HELP)] = "duckdb",
) -> None:
    """Simulate games (tracking, heart rates, passes, shots, goals) through the runtime."""
    import time

    from arenaflow.errors import ConfigError
    from arenaflow.sports.sources import Faults, Simulator, run_source

    try:
        injected = Faults.parse(faults)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from exc
    sim = Simulator(sport, games, seed, faults=injected, start_time=time.time())
    total = sim.match_s if seconds is None else seconds
    app, pipeline = _feed(app_target, sim.field, rules, store)
    with contextlib.suppress(KeyboardInterrupt):
        stats = asyncio.run(
            run_source(
                app,
                sim.frames_for(seconds),
                _speed(speed),
                total_s=total,
                description=f"{games} x {sport}",
                finish=_final_snapshot if pipeline else None,
            )
        )
        _report(stats, app, pipeline)
        typer.echo("simulator: " + ", ".join(f"{k}={v:,}" for k, v in sorted(sim.counts.items())))


xg_cli = typer.Typer(help="Expected goals (xG): the shipped shot-probability model.")
cli.add_typer(xg_cli, name="xg")


@xg_cli.command("evaluate")
def xg_evaluate(
    file: Annotated[
        Path, typer.Argument(metavar="FILE.parquet", help="Shots with StatsBomb's columns.")
    ],
) -> None:
    """Score the shipped xG model and the file's statsbomb_xg on its non-penalty shots (JSON)."""
    import json

    from arenaflow.analytics.xg_evaluate import ShotFileError, evaluate_shots_file

    try:
        report = evaluate_shots_file(file)
    except (FileNotFoundError, ShotFileError) as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE.parquet") from exc
    typer.echo(json.dumps(report))


query_cli = typer.Typer(help="Query the store: latest values, history, leaders, exports.")
cli.add_typer(query_cli, name="query")
_QUERY_STORE = Annotated[
    str, typer.Option("--store", help="The store: duckdb, duckdb:///DIR or a postgresql:// URL.")
]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _query_store(name_or_url: str) -> Store:
    store = _open_store(name_or_url)
    if store is None:
        raise typer.BadParameter("a query needs a store", param_hint="--store")
    return store


def _print_rows(title: str, rows: list[dict[str, object]], as_json: bool) -> None:
    import json

    if as_json:
        typer.echo(json.dumps(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in rows[0] if rows else ["(nothing)"]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    Console().print(table)


@query_cli.command("latest")
def query_latest(
    game: Annotated[str, typer.Argument(help="Game id.")],
    athlete: Annotated[str | None, typer.Option(help="Only this athlete (or team).")] = None,
    metric: Annotated[str | None, typer.Option(help="Only this metric.")] = None,
    store: _QUERY_STORE = "duckdb",
    as_json: _JSON = False,
) -> None:
    """The newest value of every metric of a game (per athlete)."""
    with _query_store(store) as s:
        points = s.latest(game, athlete, metric)
    rows: list[dict[str, object]] = [
        {"athlete": p.subject_id, "metric": p.metric, "value": p.value, "unit": p.unit,
         "timestamp": p.timestamp}
        for p in points
    ]  # fmt: skip
    _print_rows(f"latest · {game}", rows, as_json)


@query_cli.command("history")
def query_history(
    athlete: Annotated[str, typer.Argument(help="Athlete id.")],
    metric: Annotated[str, typer.Argument(help="Metric, e.g. speed or distance.")],
    per_game: Annotated[
        Literal["max", "last", "mean", "sum"],
        typer.Option(help="How a game is reduced: max (top speed), last (cumulative), ..."),
    ] = "max",
    store: _QUERY_STORE = "duckdb",
    as_json: _JSON = False,
) -> None:
    """An athlete's metric over his games: the season context (mean, max, p50, p90)."""
    with _query_store(store) as s:
        h = s.history(athlete, metric, per_game)
    rows: list[dict[str, object]] = [
        {"athlete": h.subject_id, "metric": h.metric, "games": h.games, "mean": h.mean,
         "max": h.max, "p50": h.p50, "p90": h.p90}
    ]  # fmt: skip
    _print_rows(f"history · {athlete} · {metric} ({per_game} per game)", rows, as_json)


@query_cli.command("leaders")
def query_leaders(
    metric: Annotated[str, typer.Argument(help="Metric, e.g. speed or distance.")],
    n: Annotated[int, typer.Option("--n", "-n", min=1, max=1000, help="How many.")] = 10,
    per_game: Annotated[
        Literal["max", "last", "mean", "sum"], typer.Option(help="How a game is reduced.")
    ] = "max",
    game: Annotated[str | None, typer.Option(help="Only this game.")] = None,
    since: Annotated[
        float | None, typer.Option(help="Only values after this time (seconds since the epoch).")
    ] = None,
    store: _QUERY_STORE = "duckdb",
    as_json: _JSON = False,
) -> None:
    """Top athletes by a metric (fastest sprints, most distance)."""
    with _query_store(store) as s:
        leaders = s.leaderboard(metric, n, per_game, game, since)
    rows: list[dict[str, object]] = [
        {"rank": i, "athlete": x.subject_id, "game": x.game_id, "team": x.team, metric: x.value}
        for i, x in enumerate(leaders, 1)
    ]
    _print_rows(f"leaders · {metric}", rows, as_json)


@query_cli.command("export")
def query_export(
    game: Annotated[str, typer.Argument(help="Game id.")],
    path: Annotated[Path, typer.Argument(help="File to write (.parquet or .csv).")],
    store: _QUERY_STORE = "duckdb",
) -> None:
    """Export a game's raw frames to Parquet or CSV (by the file's suffix)."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("the file must end in .parquet or .csv", param_hint="PATH")
    with _query_store(store) as s:
        written = s.export_game(game, path, fmt)  # type: ignore[arg-type]
    typer.echo(f"{game}: raw frames written to {written}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
