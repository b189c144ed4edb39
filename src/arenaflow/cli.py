"""The ``arenaflow`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
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

_SPEED_HELP = "Capture seconds per wall second (2 = twice real time); 0 = as fast as possible."
_APP_HELP = "module:app to feed (default: the built-in sports pipeline)."
_RULES_HELP = "Alert rules file (YAML or JSON) for the built-in pipeline; default: built-in rules."

cli = typer.Typer(help="arenaflow: a serverless runtime for real-time sports analytics.")


@cli.callback()
def _root() -> None:
    logging.basicConfig(
        level=Settings.from_env().log_level, format="%(levelname)s %(name)s %(message)s"
    )


@cli.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@cli.command()
def demo(
    games: Annotated[int, typer.Option(min=1, max=300, help="Simulated games.")] = 4,
    duration: Annotated[
        float, typer.Option(help="Seconds to run; 0 runs until Ctrl-C.", min=0)
    ] = 30.0,
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
) -> None:
    """Run the built-in pipeline on simulated games (or a replay) with a live console."""
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


def _feed(target: str | None, field: Field, rules: Path | None = None) -> tuple[App, bool]:
    """The App a source feeds: ``--app module:app``, else the built-in sports pipeline (True)."""
    if target:
        return load_app(target), False
    from arenaflow.pipeline import PipelineConfig, build_pipeline

    loaded = _rules(rules)
    config = PipelineConfig(field=field) if loaded is None else PipelineConfig(field, rules=loaded)
    app, _ = build_pipeline(config=config)
    return app, True


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
    app, pipeline = _feed(app_target, source.field, rules)
    with contextlib.suppress(KeyboardInterrupt):
        stats = asyncio.run(run_source(app, source, _speed(speed), description=source.provider))
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
    app, pipeline = _feed(app_target, sim.field, rules)
    with contextlib.suppress(KeyboardInterrupt):
        stats = asyncio.run(
            run_source(
                app,
                sim.frames_for(seconds),
                _speed(speed),
                total_s=total,
                description=f"{games} x {sport}",
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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
