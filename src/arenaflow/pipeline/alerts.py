"""Stage 5, ``alerts``: alert rules on every live metric update (see :mod:`.rules`)."""

from __future__ import annotations

from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.live import LiveTable
from arenaflow.pipeline.rules import RuleEngine
from arenaflow.sports import topics
from arenaflow.sports.schemas import MetricUpdate
from arenaflow.triggers import stream


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    engine = RuleEngine(config.rules)
    watched = engine.metrics

    @app.function(
        stream(topics.METRICS, key="game_id", schema=MetricUpdate),  # others: dead-lettered
        name="alerts",
        batch_size=config.batch_size * 4,
        replay_on_takeover=True,  # durations and cooldowns of the rules live in memory
    )
    async def alerts(events: list[Event], ctx: Context) -> None:
        for event in events:
            update: MetricUpdate = event.value
            if update.metric not in watched:
                continue
            for alert in engine.check(
                update.game_id, update.subject_id, update.metric, update.value, update.timestamp
            ):
                live.game(alert.game_id).alerts.append(alert)
                ctx.publish(topics.ALERTS, alert, alert.game_id)
