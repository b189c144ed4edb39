"""``shots``: goal probability (xG) of every shot event, and each team's running xG.

The shipped model (:mod:`arenaflow.analytics.xg`) takes locations with the attacked goal at +x;
a shot is taken towards the goal it is nearer to (shots from a team's own half are too rare and
too unlikely to matter), so the event's x sign gives the direction. The model reads the game
state (the shooting team's goal difference before the shot): a feed that does not say it gets
it from the ``goal`` events this function has seen. Enriched events go to
``game_events.enriched``; team totals to ``metrics`` as ``xg``.
"""

from __future__ import annotations

import math

import msgspec

from arenaflow.analytics.xg import shot_xg
from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.live import LiveTable
from arenaflow.runtime.dead_letter import invalid_input
from arenaflow.sports import topics
from arenaflow.sports.schemas import GameEvent, MetricUpdate
from arenaflow.triggers import stream

ENRICHED_TOPIC = "game_events.enriched"
DLQ_TOPIC = "shots.dlq"


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    # The model is a football model: a basketball shot gets no xG rather than a wrong one.
    football = config.field.sport == "football"
    goals: dict[str, dict[str, int]] = {}  # per game, per team

    @app.function(
        stream(topics.GAME_EVENTS, key="game_id", schema=GameEvent),
        name="shots",
        batch_size=config.batch_size,
        replay_on_takeover=True,  # the score (xG's game state) lives in memory
    )
    async def shots(events: list[Event], ctx: Context) -> None:
        for event in events:
            e: GameEvent = event.value
            if e.kind == "goal" and e.team is not None:
                score = goals.setdefault(e.game_id, {})
                score[e.team] = score.get(e.team, 0) + 1
            x, y = e.x, e.y
            if not (football and e.kind == "shot" and x is not None and y is not None):
                # Not a football shot with a location: no xG, passed on as is.
                ctx.publish(ENRICHED_TOPIC, e, e.game_id)
                continue
            try:
                if not math.isfinite(x + y):
                    raise ValueError(f"shot location ({x}, {y}) is not finite")
                if "score_difference" not in e.attributes and e.team is not None:
                    score = goals.get(e.game_id, {})
                    ours = score.get(e.team, 0)
                    difference = ours - (sum(score.values()) - ours)
                    e = msgspec.structs.replace(
                        e, attributes={**e.attributes, "score_difference": difference}
                    )
                xg = shot_xg(e, config.field, attacks_positive_x=x >= 0)
            except ValueError as exc:  # e.g. a body part the model does not know
                live.counters.rejected_events += 1
                ctx.publish(DLQ_TOPIC, invalid_input("shots", event, e, str(exc)))
                ctx.publish(ENRICHED_TOPIC, e, e.game_id)  # the event itself still counts
                continue
            e = msgspec.structs.replace(e, xg=xg)
            game = live.game(e.game_id)
            team = e.team or "unknown"
            game.xg[team] = game.xg.get(team, 0.0) + xg
            game.shots.append(e)
            ctx.publish(ENRICHED_TOPIC, e, e.game_id)
            ctx.publish(
                topics.METRICS,
                MetricUpdate(
                    game_id=e.game_id,
                    subject_id=team,
                    metric="xg",
                    value=game.xg[team],
                    unit="1",
                    timestamp=e.timestamp,
                    team=team,
                ),
                e.game_id,
            )
