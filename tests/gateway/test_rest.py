"""The query API over a simulated game: snapshots, players, comparisons with history,
heatmaps, the OpenAPI docs, and that biometric data never reaches a broadcast or fan key."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from arenaflow.sports.schemas import Alert, MetricUpdate
from arenaflow.sports.sources import Simulator, pump
from arenaflow.store.duckdb import DuckDBStore
from tests.gateway.conftest import Served

PRIVATE_WORDS = ("heart_rate", "trimp", "hr_percent_max", "heart_rate_bpm")
ATHLETE, OTHER = "g0-h01", "g0-a02"


def _alert(private: bool, n: int) -> Alert:
    return Alert(
        alert_id=f"a{n}",
        game_id="g0",
        subject_id=ATHLETE,
        rule="hr_high" if private else "sprint",
        metric="heart_rate" if private else "speed",
        value=190.0 if private else 8.0,
        threshold=185.0 if private else 7.0,
        severity="warning",
        message="heart_rate high" if private else "sprint",
        timestamp=1.0,
        private=private,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "store", fsync=False)
    store.open()
    # Two earlier games of the same athletes: the history compare() measures against.
    store.write_metrics(
        [
            MetricUpdate(
                game_id=game,
                subject_id=athlete,
                metric="top_speed",
                value=value,
                unit="m/s",
                timestamp=float(t),
                team="home",
            )
            for game, athlete, value in (
                ("old1", ATHLETE, 8.0),
                ("old2", ATHLETE, 9.0),
                ("old1", OTHER, 7.0),
            )
            for t in (1, 2)
        ]
    )
    yield store
    store.close()


async def _play(s: Served, seconds: float = 20.0) -> None:
    await pump(s.app, Simulator("football", games=1, seed=7, hr_hz=2.0).frames_for(seconds), None)
    await s.app.drain(timeout=60)
    await s.app.invoke("aggregate", None)
    await s.app.drain(timeout=60)
    game = s.live.games["g0"]
    game.alerts.extend([_alert(True, 1), _alert(False, 2)])


@pytest.fixture
async def played(serve: Callable[..., Any], store: DuckDBStore) -> AsyncIterator[Served]:
    async with serve(store=store) as s:
        await _play(s)
        yield s


def _keys(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield str(k)
            yield from _keys(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _keys(v)


async def test_snapshot_players_and_privacy(played: Served) -> None:
    s = played
    get = s.client.get
    r = await get("/v1/games", headers=s.auth("broadcast"))
    assert r.status_code == 200
    [g] = r.json()["games"]
    assert g["game_id"] == "g0" and g["players"] == 22 and g["frame"] > 0

    public = (await get("/v1/games/g0", headers=s.auth("broadcast"))).json()
    staff = (await get("/v1/games/g0", headers=s.auth("staff"))).json()
    assert set(public["players"]) == set(staff["players"]) == set(s.live.games["g0"].players)
    p = public["players"][ATHLETE]
    live = s.live.games["g0"].players[ATHLETE]
    assert p["team"] == "home"
    assert p["current"]["speed"] == live.speed_mps
    assert p["cumulative"]["top_speed"] == live.top_speed_mps
    assert p["cumulative"]["distance"] == pytest.approx(s.live.distance_m("g0", ATHLETE))
    assert p["cumulative"]["distance"] > 5
    assert public["units"]["speed"] == "m/s"
    assert not set(PRIVATE_WORDS) & set(public["units"])
    assert staff["players"][ATHLETE]["current"]["heart_rate"] == live.heart_rate_bpm
    assert staff["players"][ATHLETE]["current"]["heart_rate"] > 40
    assert staff["players"][ATHLETE]["cumulative"]["trimp"] == live.trimp
    alerts = list(s.live.games["g0"].alerts)
    assert [a["alert_id"] for a in staff["alerts"]] == [a.alert_id for a in alerts]
    assert [a["alert_id"] for a in public["alerts"]] == [
        a.alert_id for a in alerts if not a.private
    ]
    assert "a1" not in {a["alert_id"] for a in public["alerts"]}

    r = await get(f"/v1/games/g0/players/{ATHLETE}", headers=s.auth("staff"))
    player = r.json()
    assert r.status_code == 200 and player["team"] == "home"
    assert player["current"]["heart_rate"] == live.heart_rate_bpm
    assert player["stored"]["distance"]["value"] == pytest.approx(live.distance_m, rel=0.05)
    assert "heart_rate" in player["stored"] and "trimp" in player["stored"]
    public_player = (await get(f"/v1/games/g0/players/{ATHLETE}", headers=s.auth("fan"))).json()
    assert "distance" in public_player["stored"]
    assert not set(PRIVATE_WORDS) & set(public_player["stored"])


async def test_a_broadcast_or_fan_key_never_receives_biometric_fields(played: Served) -> None:
    s = played
    paths = [
        "/v1/games",
        "/v1/games/g0",
        f"/v1/games/g0/players/{ATHLETE}",
        f"/v1/games/g0/compare?a={ATHLETE}&b={OTHER}&metric=speed",
        f"/v1/games/g0/compare?a={ATHLETE}&b={OTHER}&metric=heart_rate",
        f"/v1/games/g0/compare?a={ATHLETE}&b={OTHER}&metric=trimp",
    ]
    seen_private = False
    for scope in ("broadcast", "fan", "staff"):
        for path in paths:
            r = await s.client.get(path, headers=s.auth(scope))
            if scope == "staff":
                assert r.status_code == 200, path
                seen_private |= any(w in r.text for w in PRIVATE_WORDS)
                continue
            if "metric=heart_rate" in path or "metric=trimp" in path:
                assert r.status_code == 403, path  # the error names the metric asked for
                continue
            assert r.status_code == 200, path
            assert not set(PRIVATE_WORDS) & set(_keys(r.json())), path
            assert all(w not in r.text for w in PRIVATE_WORDS), (path, r.text[:200])
    assert seen_private  # the staff key does get them: the filter is not vacuous


async def test_compare_side_by_side_and_against_earlier_games(played: Served) -> None:
    s = played
    url = "/v1/games/g0/compare"
    r = await s.client.get(
        url, params={"a": ATHLETE, "b": OTHER, "metric": "top_speed"}, headers=s.auth("fan")
    )
    assert r.status_code == 200
    body = r.json()
    assert body["unit"] == "m/s" and body["history"] is True
    a, b = body["players"]
    game = s.live.games["g0"]
    assert (a["athlete_id"], b["athlete_id"]) == (ATHLETE, OTHER)
    assert a["live"] == game.players[ATHLETE].top_speed_mps
    assert (a["average"], a["games"]) == (8.5, 2)  # earlier games only, this one excluded
    assert (b["average"], b["games"]) == (7.0, 1)
    assert a["vs_average"] == pytest.approx(a["live"] - 8.5)

    bad = {"a": ATHLETE, "b": "nobody", "metric": "speed"}
    r = await s.client.get(url, params=bad, headers=s.auth("fan"))
    assert r.status_code == 404 and "nobody" in r.json()["error"]
    r = await s.client.get(url, params={"a": ATHLETE}, headers=s.auth("fan"))
    assert r.status_code == 400
    r = await s.client.get(url, params={**bad, "b": OTHER, "metric": "x"}, headers=s.auth("fan"))
    assert r.status_code == 400
    r = await s.client.get(
        url, params={"a": ATHLETE, "b": OTHER, "metric": "heart_rate"}, headers=s.auth("fan")
    )
    assert r.status_code == 403


async def test_heatmap_as_json_and_png(played: Served) -> None:
    s = played
    url = f"/v1/games/g0/players/{ATHLETE}/heatmap"
    r = await s.client.get(url, headers=s.auth("broadcast"))
    assert r.status_code == 200
    grid = r.json()
    assert grid["bins"] == [21, 14] and grid["field_m"] == [105.0, 68.0]
    assert len(grid["seconds"]) == 21 and len(grid["seconds"][0]) == 14
    # 20 s of play at 25 Hz, sample-and-hold: 499 intervals of 40 ms.
    assert grid["total_s"] == pytest.approx(19.96, abs=0.05)
    assert sum(map(sum, grid["seconds"])) == pytest.approx(grid["total_s"])

    r = await s.client.get(url, params={"bins": "10,5"}, headers=s.auth("broadcast"))
    assert len(r.json()["seconds"]) == 10
    r = await s.client.get(url, params={"bins": "0,5"}, headers=s.auth("broadcast"))
    assert r.status_code == 400

    r = await s.client.get(url, params={"format": "png"}, headers=s.auth("broadcast"))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    png = r.content
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (21 * 40, 14 * 40)
    idat_len = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    pixels = zlib.decompress(png[41 : 41 + idat_len])
    assert len(pixels) == height * (1 + 3 * width)

    for path, status in (
        ("/v1/games/nope/players/x/heatmap", 404),
        ("/v1/games/g0/players/nobody/heatmap", 404),
    ):
        assert (await s.client.get(path, headers=s.auth("fan"))).status_code == status


async def test_not_found_auth_and_no_store(serve: Callable[..., Any]) -> None:
    async with serve() as s:
        await _play(s, seconds=4.0)
        get = s.client.get
        assert (await get("/v1/games")).status_code == 401
        assert (await get("/v1/games", headers=s.auth("ingest"))).status_code == 403
        assert (await get("/v1/games", params={"key": s.keys["fan"]})).status_code == 200
        r = await get("/v1/games/nope", headers=s.auth("fan"))
        assert r.status_code == 404 and "nope" in r.json()["error"]
        r = await get("/v1/games/g0/players/nobody", headers=s.auth("fan"))
        assert r.status_code == 404
        r = await get(f"/v1/games/g0/players/{ATHLETE}", headers=s.auth("fan"))
        assert r.status_code == 200 and "stored" not in r.json()
        # Without a store: heatmaps cannot be answered; comparisons have no history.
        r = await get(f"/v1/games/g0/players/{ATHLETE}/heatmap", headers=s.auth("fan"))
        assert r.status_code == 503
        r = await get(
            "/v1/games/g0/compare",
            params={"a": ATHLETE, "b": OTHER, "metric": "distance"},
            headers=s.auth("fan"),
        )
        body = r.json()
        assert body["history"] is False
        assert [p["average"] for p in body["players"]] == [None, None]
        assert body["players"][0]["live"] == pytest.approx(s.live.distance_m("g0", ATHLETE))


async def test_openapi_and_docs(serve: Callable[..., Any]) -> None:
    async with serve() as s:
        r = await s.client.get("/openapi.json")
        assert r.status_code == 200
        schema = r.json()
        assert schema["openapi"].startswith("3.")
        paths = schema["paths"]
        for path in (
            "/v1/ingest/{topic}",
            "/v1/games",
            "/v1/games/{game_id}",
            "/v1/games/{game_id}/compare",
            "/v1/games/{game_id}/players/{athlete_id}/heatmap",
        ):
            assert path in paths, path
        assert "413" in {str(k) for k in paths["/v1/ingest/{topic}"]["post"]["responses"]}
        page = await s.client.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "/v1/games/{game_id}/compare" in page.text
        assert "http://" not in page.text and "https://" not in page.text  # nothing fetched
        assert msgspec.json.decode(r.content) == schema
