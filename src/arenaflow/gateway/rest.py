"""Read queries over the live table and the store, and the OpenAPI description of the gateway.

Every route needs a key with ``broadcast``, ``fan``, ``staff`` or ``admin``. Biometric data
(:data:`PRIVATE_METRICS`: heart rate, its share of HRmax, its zone, TRIMP, and alerts marked
private) is left out of every reply unless the key is ``staff`` or ``admin``.

* ``GET /v1/games``: the live games;
* ``GET /v1/games/{game_id}``: a live snapshot: players with their current metrics, the ball
  carrier, xG per team, recent shots and alerts;
* ``GET /v1/games/{game_id}/players/{athlete_id}``: a player's current and cumulative metrics
  (live table), and the store's newest values when a store is configured;
* ``GET /v1/games/{game_id}/compare?a=&b=&metric=``: two players side by side, and each one's
  live value against his average over earlier games (``store.history(exclude_game=...)``);
* ``GET /v1/games/{game_id}/players/{athlete_id}/heatmap``: seconds per cell from the store's
  raw archive as JSON, or ``?format=png``;
* ``GET /openapi.json`` and ``GET /docs``: the gateway's endpoints (all modules' routes).

Metric names are those of ``MetricUpdate`` (``speed``, ``distance``, ...); :data:`LIVE_METRICS`
lists them with their units. Errors are JSON ``{"error": ...}``: 404 for an unknown game or
player, 503 when the answer needs a store (or a live table) and none is configured.
"""

from __future__ import annotations

import html
import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec
import numpy as np
from numpy.typing import NDArray
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from arenaflow.analytics.heatmap import DEFAULT_BINS
from arenaflow.gateway.auth import Principal
from arenaflow.gateway.ingest import authorise, error
from arenaflow.pipeline.live import GameLive, LiveTable, PlayerLive
from arenaflow.pipeline.rules import PRIVATE_METRICS
from arenaflow.store.base import Aggregate, Store

if TYPE_CHECKING:
    from arenaflow.gateway.app import GatewayState

#: Scopes that may read.
READ_SCOPES: Final = ("broadcast", "fan", "staff", "admin")
#: Largest heatmap grid asked for, cells per side.
MAX_BINS: Final = 200


@dataclass(frozen=True, slots=True)
class LiveMetric:
    """A metric of the live table: where it is kept, its unit, and how a game is reduced to
    one value in the player's history."""

    attribute: str
    unit: str
    kind: Literal["current", "cumulative"]
    per_game: Aggregate

    @property
    def private(self) -> bool:
        """Biometric data (staff only)?"""
        return self.attribute in _PRIVATE_ATTRIBUTES


_PRIVATE_ATTRIBUTES: Final = frozenset({"heart_rate_bpm", "heart_rate_zone", "trimp"})
#: Metrics of a player in the live table, by ``MetricUpdate`` name.
LIVE_METRICS: Final[dict[str, LiveMetric]] = {
    "speed": LiveMetric("speed_mps", "m/s", "current", "mean"),
    "metabolic_power": LiveMetric("metabolic_power_w_per_kg", "W/kg", "current", "mean"),
    "xg_from_here": LiveMetric("xg_from_here", "1", "current", "mean"),
    "heart_rate": LiveMetric("heart_rate_bpm", "bpm", "current", "mean"),
    "heart_rate_zone": LiveMetric("heart_rate_zone", "1", "current", "mean"),
    "distance": LiveMetric("distance_m", "m", "cumulative", "last"),
    "hsr_distance": LiveMetric("hsr_distance_m", "m", "cumulative", "last"),
    "top_speed": LiveMetric("top_speed_mps", "m/s", "cumulative", "max"),
    "sprints": LiveMetric("sprints", "1", "cumulative", "last"),
    "accelerations": LiveMetric("accelerations", "1", "cumulative", "last"),
    "decelerations": LiveMetric("decelerations", "1", "cumulative", "last"),
    "trimp": LiveMetric("trimp", "AU", "cumulative", "last"),
}


def _json(content: Any, status: int = 200) -> Response:
    """JSON via msgspec (structs, NaN-free floats)."""
    return Response(msgspec.json.encode(content), status, media_type="application/json")


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def player_metrics(
    live: LiveTable, game: GameLive, athlete_id: str, p: PlayerLive, private: bool
) -> dict[str, dict[str, float | None]]:
    """``{"current": {metric: value}, "cumulative": {metric: value}}`` of a player; biometric
    metrics only when ``private``."""
    out: dict[str, dict[str, float | None]] = {"current": {}, "cumulative": {}}
    for name, m in LIVE_METRICS.items():
        if m.private and not private:
            continue
        raw = getattr(p, m.attribute)
        out[m.kind][name] = None if raw is None else _finite(float(raw))
    # The table's distance is refreshed at the live rate; the tracker knows the newest frame's.
    out["cumulative"]["distance"] = live.distance_m(game.game_id, athlete_id)
    return out


def _visible(principal: Principal) -> Callable[[Any], bool]:
    """Whether an alert (or anything with ``private``) may go to ``principal``."""
    return lambda item: principal.sees_private or not getattr(item, "private", False)


class Queries:
    """The query endpoints over one gateway's state."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    def _live(self) -> LiveTable | Response:
        if self.state.live is None:
            return error(503, "no live table: the gateway runs without the sports pipeline")
        return self.state.live

    def _game(self, live: LiveTable, game_id: str) -> GameLive | Response:
        game = live.games.get(game_id)
        if game is None:
            return error(404, f"no live game {game_id!r}")
        return game

    def _store(self) -> Store | Response:
        if self.state.store is None:
            return error(503, "no store configured: this query needs history")
        return self.state.store

    async def games(self, request: Request) -> Response:
        """List the live games.
        ---
        summary: Live games
        responses:
          200: {description: "{games: [{game_id, frame, timestamp, period, players}]}"}
          503: {description: no live table}
        """
        principal = authorise(request, self.state, *READ_SCOPES)
        if not isinstance(principal, Principal):
            return principal
        live = self._live()
        if not isinstance(live, LiveTable):
            return live
        games = [
            {
                "game_id": g.game_id,
                "frame": g.frame,
                "timestamp": g.timestamp,
                "period": g.period,
                "players": len(g.players),
            }
            for g in list(live.games.values())
        ]
        return _json({"games": games})

    async def game(self, request: Request) -> Response:
        """A live snapshot of a game.
        ---
        summary: Live snapshot of a game
        description: >-
          Players with their current and cumulative metrics (biometric ones for staff keys
          only), the ball carrier, xG per team, the recent shots and alerts.
        responses:
          200: {description: the snapshot}
          404: {description: unknown game}
        """
        principal = authorise(request, self.state, *READ_SCOPES)
        if not isinstance(principal, Principal):
            return principal
        live = self._live()
        if not isinstance(live, LiveTable):
            return live
        game = self._game(live, request.path_params["game_id"])
        if not isinstance(game, GameLive):
            return game
        private = principal.sees_private
        players = {
            athlete: {"team": p.team, **player_metrics(live, game, athlete, p, private)}
            for athlete, p in list(game.players.items())
        }
        return _json(
            {
                "game_id": game.game_id,
                "frame": game.frame,
                "timestamp": game.timestamp,
                "period": game.period,
                "ball_owner": game.ball_owner,
                "pressure_on_carrier": game.pressure_on_carrier,
                "xg": game.xg,
                "team_shape": game.team_shape,
                "units": _units(private),
                "players": players,
                "shots": list(game.shots),
                "alerts": [a for a in list(game.alerts) if _visible(principal)(a)],
            }
        )

    async def player(self, request: Request) -> Response:
        """A player's current and cumulative metrics.
        ---
        summary: A player's metrics in a game
        description: >-
          From the live table; with a store, also the newest stored value of every metric
          (``stored``). Biometric metrics for staff keys only.
        responses:
          200: {description: "{game_id, athlete_id, team, current, cumulative, stored}"}
          404: {description: unknown game or player}
        """
        principal = authorise(request, self.state, *READ_SCOPES)
        if not isinstance(principal, Principal):
            return principal
        game_id = request.path_params["game_id"]
        athlete_id = request.path_params["athlete_id"]
        private = principal.sees_private
        reply: dict[str, Any] = {"game_id": game_id, "athlete_id": athlete_id, "team": None}
        live = self.state.live
        game = None if live is None else live.games.get(game_id)
        p = None if game is None else game.players.get(athlete_id)
        if live is not None and game is not None and p is not None:
            reply["team"] = p.team
            reply.update(player_metrics(live, game, athlete_id, p, private))
        store = self.state.store
        if store is not None:
            points = await run_in_threadpool(store.latest, game_id, athlete_id)
            reply["stored"] = {
                pt.metric: {"value": pt.value, "unit": pt.unit, "timestamp": pt.timestamp}
                for pt in points
                if private or pt.metric not in PRIVATE_METRICS
            }
        if p is None and not reply.get("stored"):
            where = f"in game {game_id!r}" if game is not None else f"or game {game_id!r}"
            return error(404, f"no player {athlete_id!r} {where}")
        reply["units"] = _units(private)
        return _json(reply)

    async def compare(self, request: Request) -> Response:
        """Two players side by side, each against his average over earlier games.
        ---
        summary: Compare two players on one metric
        parameters:
          - {name: a, in: query, required: true, schema: {type: string}}
          - {name: b, in: query, required: true, schema: {type: string}}
          - {name: metric, in: query, required: true, schema: {type: string}}
        description: >-
          ``average`` is the mean over the player's earlier games of the metric reduced per
          game (mean for current metrics, last for cumulative ones, max for top speed); null
          without a store or earlier games. ``vs_average`` is live minus average.
        responses:
          200: {description: "{metric, unit, players: [{athlete_id, live, average, games}]}"}
          400: {description: missing a, b or metric, or unknown metric}
          403: {description: a biometric metric with a key that may not see it}
          404: {description: unknown game or player}
        """
        principal = authorise(request, self.state, *READ_SCOPES)
        if not isinstance(principal, Principal):
            return principal
        q = request.query_params
        a, b, metric = q.get("a"), q.get("b"), q.get("metric")
        if not (a and b and metric):
            return error(400, "give a=<athlete>&b=<athlete>&metric=<metric>")
        spec = LIVE_METRICS.get(metric)
        if spec is None:
            return error(400, f"unknown metric {metric!r}; use one of {sorted(_units(True))}")
        if spec.private and not principal.sees_private:
            return error(403, f"{metric} is biometric data: staff keys only")
        live = self._live()
        if not isinstance(live, LiveTable):
            return live
        game = self._game(live, request.path_params["game_id"])
        if not isinstance(game, GameLive):
            return game
        missing = [x for x in (a, b) if x not in game.players]
        if missing:
            return error(404, f"no player {missing[0]!r} in game {game.game_id!r}")
        store = self.state.store
        sides = []
        for athlete in (a, b):
            p = game.players[athlete]
            raw = getattr(p, spec.attribute)
            value = None if raw is None else _finite(float(raw))
            if metric == "distance":
                value = live.distance_m(game.game_id, athlete)
            average, games = None, 0
            if store is not None:
                summary = await run_in_threadpool(
                    store.history, athlete, metric, spec.per_game, game.game_id
                )
                average, games = summary.mean, summary.games
            sides.append(
                {
                    "athlete_id": athlete,
                    "team": p.team,
                    "live": value,
                    "average": average,
                    "games": games,
                    "vs_average": None if value is None or average is None else value - average,
                }
            )
        return _json(
            {
                "game_id": game.game_id,
                "metric": metric,
                "unit": spec.unit,
                "history": store is not None,
                "players": sides,
            }
        )

    async def heatmap(self, request: Request) -> Response:
        """A player's heatmap: seconds spent in each cell of the field.
        ---
        summary: Heatmap of a player in a game (JSON grid or PNG)
        parameters:
          - {name: format, in: query, schema: {enum: [json, png]}}
          - {name: bins, in: query, schema: {type: string, example: "21,14"}}
          - {name: start_s, in: query, schema: {type: number}}
          - {name: end_s, in: query, schema: {type: number}}
        description: >-
          ``seconds[ix][iy]``: ``ix`` along the field's length (x grows), ``iy`` across it,
          from the store's raw archive. The PNG shows x to the right and y up.
        responses:
          200: {description: the grid as JSON or image/png}
          400: {description: bad bins, times or format}
          404: {description: unknown game or player}
          503: {description: no store}
        """
        principal = authorise(request, self.state, *READ_SCOPES)
        if not isinstance(principal, Principal):
            return principal
        store = self._store()
        if not isinstance(store, Store):
            return store
        game_id = request.path_params["game_id"]
        athlete_id = request.path_params["athlete_id"]
        q = request.query_params
        fmt = q.get("format", "json")
        if fmt not in ("json", "png"):
            return error(400, "format must be json or png")
        try:
            bins = _bins(q.get("bins"))
            start_s = float(q["start_s"]) if "start_s" in q else None
            end_s = float(q["end_s"]) if "end_s" in q else None
        except ValueError as exc:
            return error(400, str(exc))
        g = await run_in_threadpool(store.game, game_id)
        if g is None:
            return error(404, f"no game {game_id!r} in the store")
        grid = await run_in_threadpool(store.heatmap, game_id, athlete_id, start_s, end_s, bins)
        if not grid.any():
            t, _ = await run_in_threadpool(store.positions, game_id, athlete_id)
            if t.size == 0:
                return error(404, f"no positions of player {athlete_id!r} in game {game_id!r}")
        if fmt == "png":
            return Response(
                heatmap_png(grid),
                media_type="image/png",
                headers={"cache-control": "no-store"},
            )
        return _json(
            {
                "game_id": game_id,
                "athlete_id": athlete_id,
                "bins": list(bins),
                "field_m": [g.field_length_m, g.field_width_m],
                "cell_m": [g.field_length_m / bins[0], g.field_width_m / bins[1]],
                "total_s": float(grid.sum()),
                "seconds": grid.tolist(),
            }
        )


def _units(private: bool) -> dict[str, str]:
    return {n: m.unit for n, m in LIVE_METRICS.items() if private or not m.private}


def _bins(text: str | None) -> tuple[int, int]:
    if text is None:
        return DEFAULT_BINS
    parts = text.split(",")
    if len(parts) != 2 or not all(s.strip().isdigit() for s in parts):
        raise ValueError("bins must read nx,ny (e.g. 21,14)")
    nx, ny = (int(s) for s in parts)
    if not (1 <= nx <= MAX_BINS and 1 <= ny <= MAX_BINS):
        raise ValueError(f"bins must be between 1 and {MAX_BINS} per side")
    return nx, ny


# -- PNG (matplotlib is not a dependency: a colour ramp and zlib do) ------------------------------

#: Colour ramp stops from no time (dark pitch green) to the most time (hot red).
_RAMP_AT: Final = np.array([0.0, 0.25, 0.55, 0.8, 1.0])
_RAMP_RGB: Final = np.array(
    [[22, 60, 34], [40, 110, 160], [240, 210, 60], [245, 130, 30], [210, 30, 30]], dtype=np.float64
)


def png_rgb(rgb: NDArray[np.uint8]) -> bytes:
    """A PNG of an ``(H, W, 3)`` uint8 image (8-bit truecolour, no filtering)."""
    height, width, _ = rgb.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, width * 3)], 1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def heatmap_png(grid: NDArray[np.float64], width_px: int = 840) -> bytes:
    """Render ``grid[ix, iy]`` (x to the right, y up), each cell a square of pixels.

    Example:
        >>> png = heatmap_png(np.array([[0.0, 1.0], [2.0, 4.0]]), width_px=4)
        >>> png[:8], png[16:24]   # signature; 4 x 4 pixels
        (b'\\x89PNG\\r\\n\\x1a\\n', b'\\x00\\x00\\x00\\x04\\x00\\x00\\x00\\x04')
    """
    nx, _ = grid.shape
    top = float(grid.max())
    level = grid / top if top > 0 else np.zeros_like(grid)
    image = level.T[::-1]  # rows from the top (largest y) down, columns along x
    rgb = np.stack([np.interp(image, _RAMP_AT, _RAMP_RGB[:, c]) for c in range(3)], axis=-1)
    cell = max(1, width_px // nx)
    big = np.repeat(np.repeat(rgb.round().astype(np.uint8), cell, axis=0), cell, axis=1)
    return png_rgb(big)


# -- OpenAPI ---------------------------------------------------------------------------------------

SCHEMAS: Final = SchemaGenerator(
    {
        "openapi": "3.0.0",
        "info": {"title": "arenaflow gateway", "version": "1"},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "query": {"type": "apiKey", "in": "query", "name": "key"},
            }
        },
        "security": [{"bearer": []}, {"query": []}],
    }
)


async def openapi(request: Request) -> Response:
    """The gateway's OpenAPI description (every route with a docstring)."""
    return JSONResponse(SCHEMAS.get_schema(routes=request.app.routes))


async def docs(request: Request) -> Response:
    """The endpoints as one plain page (served with the package, nothing fetched elsewhere)."""
    schema = SCHEMAS.get_schema(routes=request.app.routes)
    rows = []
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method, op in operations.items():
            statuses = ", ".join(
                f"<b>{html.escape(str(code))}</b> {html.escape(str(r.get('description', '')))}"
                for code, r in op.get("responses", {}).items()
            )
            rows.append(
                f"<tr><td class=m>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(str(op.get('summary', '')))}"
                f"<div class=d>{html.escape(str(op.get('description', '')))}</div></td>"
                f"<td>{statuses}</td></tr>"
            )
    page = f"""<!doctype html><html><head><meta charset=utf-8><title>arenaflow API</title>
<style>body{{font:15px system-ui,sans-serif;margin:2rem;color:#111}}
table{{border-collapse:collapse}}
td{{border-top:1px solid #ddd;padding:.4rem .6rem;vertical-align:top}}
.m{{font-weight:700;color:#0a5}}.d{{color:#555;font-size:13px}}</style></head><body>
<h1>arenaflow gateway</h1><p>Keys: <code>Authorization: Bearer &lt;key&gt;</code> or
<code>?key=</code>. Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<table>{"".join(rows)}</table></body></html>"""
    return HTMLResponse(page)


def routes(state: GatewayState) -> list[BaseRoute]:
    q = Queries(state)
    return [
        Route("/v1/games", q.games, methods=["GET"]),
        Route("/v1/games/{game_id}", q.game, methods=["GET"]),
        Route("/v1/games/{game_id}/compare", q.compare, methods=["GET"]),
        Route("/v1/games/{game_id}/players/{athlete_id}", q.player, methods=["GET"]),
        Route("/v1/games/{game_id}/players/{athlete_id}/heatmap", q.heatmap, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
        Route("/docs", docs, methods=["GET"], include_in_schema=False),
    ]
