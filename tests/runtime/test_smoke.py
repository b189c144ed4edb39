from arenaflow import App, stream


async def test_counts_every_event_once_per_key() -> None:
    app = App()

    @app.function(stream("tracking", key="game_id"), batch_size=10)
    async def count(events, ctx):
        for e in events:
            ctx.state[e.key] = ctx.state.get(e.key, 0) + 1

    for i in range(25):
        app.publish("tracking", {"game_id": f"g{i % 3}", "frame": i})
    async with app:
        await app.drain(timeout=5)
        assert [app.state_backend.get("count", f"g{g}") for g in range(3)] == [9, 8, 8]
        assert app.metrics("count").events == 25
