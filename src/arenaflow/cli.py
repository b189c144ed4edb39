"""The ``arenaflow`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from arenaflow import __version__
from arenaflow.app import App
from arenaflow.settings import Settings

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
) -> None:
    """Run the embedded demo: simulated games through the runtime, live in the terminal."""
    from arenaflow.demo import run_demo

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(games=games, duration_s=duration or None))


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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
