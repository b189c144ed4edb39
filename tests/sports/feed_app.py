"""An app of its own for `arenaflow simulate --app` (the full pipeline plugs in the same way)."""

from arenaflow import App, stream

app = App()
frames: list[str] = []


@app.function(stream("tracking", key="game_id"), batch_size=100)
async def collect(events, ctx):
    frames.extend(e.value.game_id for e in events)
