"""A tiny app for `arenaflow run` tests."""

from arenaflow import App, schedule

app = App()
ticks: list[int] = []


@app.function(schedule("50ms"))
async def tick(events, ctx):
    ticks.append(events[0].value.sequence)
    print("tick", events[0].value.sequence, flush=True)
