import json
import math
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from arenaflow.errors import ConfigError, MissingCompanionFile, SourceError
from arenaflow.sports.schemas import BALL, GameEvent, TrackingFrame, decode, encode
from arenaflow.sports.sources import PROVIDERS, Simulator, load
from arenaflow.sports.sources.vendors import sportvu, statsbomb

from .conftest import DATA, needs_data, speeds, tracks

TRACKING = DATA / "tracking"

# provider: (raw file, frames, field length x width, fps, players with positions)
SAMPLES = {
    "metrica_csv": ("metrica_home.csv", 6, (105.0, 68.0), 25.0, 28),
    "metrica_epts": ("epts_metrica_tracking.txt", 100, (105.0, 68.0), 25.0, 19),
    "tracab": ("tracab_raw.dat", 7, (105.0, 68.0), 25.0, 30),
    "secondspectrum": ("second_spectrum_fake_data.jsonl", 376, (104.85, 67.97), 25.0, 29),
    "skillcorner": ("skillcorner_v3_raw_data.jsonl", 27, (105.0, 68.0), 10.0, 31),
    "sportec": ("sportec_positional.xml", 202, (100.0, 68.0), 25.0, 3),
    "statsperform": ("statsperform_tracking_ma25.txt", 92, (105.0, 68.0), 10.0, 23),
}


def test_providers_are_listed_by_name() -> None:
    assert set(PROVIDERS) == {*SAMPLES, "statsbomb", "sportvu"}
    with pytest.raises(ConfigError, match="unknown provider 'opta'; valid providers: metrica_csv"):
        load("x.dat", "opta")


@needs_data
@pytest.mark.parametrize("provider", sorted(SAMPLES))
def test_vendor_sample_loads_as_frames_in_metres(provider: str) -> None:
    raw, n_frames, (length, width), fps, n_players = SAMPLES[provider]
    replay = load(TRACKING / raw, provider)
    frames = [value for _, _, value in replay]
    assert replay.records == len(frames) == n_frames
    assert (replay.field.length_m, replay.field.width_m) == (length, width)
    assert replay.fps == fps and replay.sport == "football"
    assert all(isinstance(f, TrackingFrame) and f.game_id == replay.game_id for f in frames)
    assert [f.timestamp for f in frames] == sorted(f.timestamp for f in frames)
    assert {f.period for f in frames} == {1, 2}
    teams: dict[str, set[str]] = defaultdict(set)
    for frame in frames:
        ids = [o.id for o in frame.objects]
        assert len(ids) == len(set(ids))
        for obj in frame.objects:
            assert math.isfinite(obj.x) and math.isfinite(obj.y)  # never NaN on the wire
            assert replay.field.contains(obj.x, obj.y, margin_m=5.0), (obj, frame.frame)
            teams[obj.id].add(obj.team)
    assert all(len(t) == 1 for t in teams.values())  # an id keeps its team
    assert set().union(*teams.values()) == {"home", "away", "ball"}
    players = {i for i, t in teams.items() if t != {BALL}}
    assert len(players) == n_players
    known = {a.id for a in replay.athletes}
    assert players <= known
    for track in tracks(frames).values():
        v, _ = speeds(track, max_dt=20.0)
        assert (v <= 12.0).all()  # nobody outruns the speed cap between nearby frames
    for fmt in ("json", "msgpack"):
        for frame in frames[:: max(1, len(frames) // 10)]:
            assert decode(encode(frame, fmt), TrackingFrame, fmt) == frame


@needs_data
def test_positions_are_centred_in_metres() -> None:
    # Metrica's CSV has 0-1 coordinates from the top left; the first player of the home file sits
    # at (0.00082, 0.51762): the left goal line, just below the middle of the pitch.
    frame = next(v for _, _, v in load(TRACKING / "metrica_home.csv", "metrica_csv"))
    keeper = next(o for o in frame.objects if o.id == "home_11")
    assert keeper.x == pytest.approx(0.00082 * 105 - 52.5, abs=1e-6)
    assert keeper.y == pytest.approx(34 - 0.51762 * 68, abs=1e-6)  # y up


@needs_data
def test_companion_files_are_found_or_named(tmp_path: Path) -> None:
    raw = tmp_path / "match.dat"
    shutil.copy(TRACKING / "tracab_raw.dat", raw)
    with pytest.raises(
        MissingCompanionFile, match=r"no meta_data file for match\.dat.*match_metadata\.xml"
    ):
        load(raw, "tracab")
    shutil.copy(TRACKING / "tracab_meta.xml", tmp_path / "match_metadata.xml")
    assert load(raw, "tracab").files["meta_data"].name == "match_metadata.xml"
    elsewhere = tmp_path / "info" / "meta.xml"
    elsewhere.parent.mkdir()
    shutil.copy(TRACKING / "tracab_meta.xml", elsewhere)
    assert load(raw, "tracab", meta=elsewhere).files["meta_data"] == elsewhere
    with pytest.raises(MissingCompanionFile, match=r"nothing\.xml does not exist"):
        load(raw, "tracab", meta=tmp_path / "nothing.xml")
    with pytest.raises(ConfigError, match="takes no 'lineup' file"):
        load(raw, "tracab", lineup=elsewhere)


@needs_data
def test_metrica_csv_pair_from_either_file(tmp_path: Path) -> None:
    for name in ("Sample_Home_Team.csv", "Sample_Away_Team.csv"):
        src = "metrica_home.csv" if "Home" in name else "metrica_away.csv"
        shutil.copy(TRACKING / src, tmp_path / name)
    replay = load(tmp_path / "Sample_Away_Team.csv", "metrica_csv")
    assert replay.files["home_data"].name == "Sample_Home_Team.csv"
    assert replay.game_id == "Sample"
    (tmp_path / "Sample_Away_Team.csv").unlink()
    with pytest.raises(MissingCompanionFile, match=r"Sample_Away_Team\.csv"):
        load(tmp_path / "Sample_Home_Team.csv", "metrica_csv")


@needs_data
def test_a_file_the_parser_rejects_is_a_source_error(tmp_path: Path) -> None:
    raw = tmp_path / "bad_raw.dat"
    raw.write_text("this is not tracab\n")
    (tmp_path / "bad_meta.xml").write_text("<nope/>")
    with pytest.raises(SourceError, match=r"tracab: cannot read bad_raw\.dat"):
        load(raw, "tracab")


# -- StatsBomb ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def statsbomb_events() -> list[GameEvent]:
    if not DATA.is_dir():
        pytest.skip(f"sample data folder {DATA} is absent")
    replay = load(DATA / "events" / "statsbomb_15986_event.json", "statsbomb")
    assert replay.game_id == "15986" and replay.records == 4027
    assert replay.files["lineup"].name == "statsbomb_15986_lineup.json"
    assert len(replay.athletes) == 36
    return [v for _, _, v in replay]


def test_statsbomb_shots_carry_their_attributes(statsbomb_events: list[GameEvent]) -> None:
    shots = [e for e in statsbomb_events if e.kind == "shot"]
    assert len(shots) == 27
    assert Counter(s.outcome for s in shots) == {
        "Saved": 12,
        "Blocked": 8,
        "Goal": 4,
        "Off T": 2,
        "Post": 1,
    }
    for shot in shots:
        a = shot.attributes
        assert a["body_part"] in ("Right Foot", "Left Foot", "Head", "Other")
        assert a["technique"] and a["shot_type"] and a["play_pattern"]
        assert isinstance(a["under_pressure"], bool) and isinstance(a["first_time"], bool)
        assert 0 < a["statsbomb_xg"] < 1
        assert shot.x > 0 and abs(shot.y) < 34  # the attacking half, in metres
        assert shot.end_x is not None and shot.team in ("home", "away")
        for player in a["freeze_frame"]:
            assert abs(player["x"]) <= 52.5 and abs(player["y"]) <= 34
    first = shots[0]  # a diving header from (109.9, 35.2), saved
    assert (first.x, first.y) == statsbomb.to_metres([109.9, 35.2])
    assert first.attributes["technique"] == "Diving Header" and first.outcome == "Saved"


def test_statsbomb_shots_carry_the_game_state(statsbomb_events: list[GameEvent]) -> None:
    # 1-0 home, 1-1, 1-2 away, 2-2: each shot sees the goals before it, not its own
    shots = [e for e in statsbomb_events if e.kind == "shot"]
    states = [(s.team, s.attributes["score_difference"], s.outcome == "Goal") for s in shots]
    scorers = [(team, before) for team, before, goal in states if goal]
    assert scorers == [("home", 0), ("away", -1), ("away", 0), ("home", -1)]
    assert states[3] == ("home", 1, False) and states[4] == ("away", -1, False)
    assert all(state == ("home", 0, False) for state in states[-7:])


def test_statsbomb_events_in_time_order(statsbomb_events: list[GameEvent]) -> None:
    kinds = Counter(e.kind for e in statsbomb_events)
    assert kinds["pass"] == 1148 and kinds["goal"] == 4 and kinds["substitution"] == 6
    assert kinds["period_start"] == kinds["period_end"] == 2
    times = [e.timestamp for e in statsbomb_events]
    assert times == sorted(times)
    assert len({e.event_id for e in statsbomb_events}) == len(statsbomb_events)
    goals = [e for e in statsbomb_events if e.kind == "goal"]
    assert Counter(g.team for g in goals) == {"home": 2, "away": 2}
    second_half = next(e for e in statsbomb_events if e.period == 2)
    assert second_half.timestamp > 45 * 60 and second_half.game_clock < 60
    for fmt in ("json", "msgpack"):
        for event in statsbomb_events[::100]:
            assert decode(encode(event, fmt), GameEvent, fmt) == event


@needs_data
def test_statsbomb_other_events_and_home_team() -> None:
    path = DATA / "events" / "statsbomb_15986_event.json"
    everything = [v for _, _, v in load(path, "statsbomb", include_other=True)]
    assert Counter(e.kind for e in everything)["other"] > 2000
    flipped = [v for _, _, v in load(path, "statsbomb", home_team="Girona")]
    assert Counter(e.team for e in flipped if e.kind == "goal") == {"home": 2, "away": 2}
    with pytest.raises(SourceError, match="home_team 'Real Madrid' is none of"):
        load(path, "statsbomb", home_team="Real Madrid")


# -- SportVU -----------------------------------------------------------------------------------


def test_sportvu_round_trip_through_a_synthetic_file(tmp_path: Path) -> None:
    sim = Simulator("basketball", games=1, seed=4, hr_hz=0, start_time=1_451_606_400.0)
    frames = [v for t, _, v in sim.frames_for(6.0) if t == "tracking"]
    path = tmp_path / "0029900001.json"
    ids = sportvu.write(path, frames, moments_per_event=40)
    doc = json.loads(path.read_text())
    assert len(doc["events"]) == 4 and len(doc["events"][0]["moments"][0][5]) == 11
    assert doc["events"][1]["moments"][0] == doc["events"][0]["moments"][-1]  # events overlap
    replay = load(path, "sportvu")
    assert replay.sport == "basketball" and replay.game_id == "0029900001" and replay.fps == 25
    assert round(replay.field.length_m, 2) == 28.65 and round(replay.field.width_m, 2) == 15.24
    assert {a.name for a in replay.athletes} == {f"Sim {i}" for i in ids}
    back = [v for _, _, v in replay]
    assert len(back) == len(frames) == 150
    sportvu_id = {our: str(theirs) for our, theirs in ids.items()} | {BALL: BALL}
    for original, read in zip(frames, back, strict=True):
        assert read.timestamp == pytest.approx(original.timestamp, abs=1e-3)
        assert read.period == original.period
        assert read.game_clock == pytest.approx(original.game_clock, abs=0.01)
        assert read.sport == "basketball"
        by_id = {o.id: o for o in read.objects}
        assert len(by_id) == 11
        for obj in original.objects:
            got = by_id[sportvu_id[obj.id]]
            assert got.team == obj.team
            assert got.x == pytest.approx(obj.x, abs=1e-3) and got.y == pytest.approx(
                obj.y, abs=1e-3
            )
            if obj.team == BALL:
                assert got.z == pytest.approx(obj.z, abs=1e-3)


def test_sportvu_reader_on_the_documented_layout(tmp_path: Path) -> None:
    def moment(ts: int, ball_x: float) -> list[object]:
        players = [[1610612739, 100 + i, 10.0 + i, 20.0, 0.0] for i in range(5)]
        players += [[1610612741, 200 + i, 80.0 - i, 30.0, 0.0] for i in range(5)]
        return [1, ts, 700.0, 20.0, None, [[-1, -1, ball_x, 25.0, 8.0], *players]]

    team = {"players": [], "name": "x", "abbreviation": "X"}
    doc = {
        "gameid": "0021500659",
        "gamedate": "2016-01-23",
        "events": [
            {
                "eventId": "1",
                "home": {**team, "teamid": 1610612739},
                "visitor": {**team, "teamid": 1610612741},
                "moments": [moment(1000, 47.0), moment(1040, 48.0)],
            },
            {  # overlaps the first event by one moment, one position missing
                "eventId": "2",
                "home": {**team, "teamid": 1610612739},
                "visitor": {**team, "teamid": 1610612741},
                "moments": [moment(1040, 48.0), moment(1080, float("nan"))],
            },
        ],
    }
    path = tmp_path / "movement.json"
    path.write_text(json.dumps(doc))
    frames = [v for _, _, v in load(path, "sportvu")]
    assert [f.timestamp for f in frames] == [1.0, 1.04, 1.08]
    first = frames[0]
    ball = next(o for o in first.objects if o.team == BALL)
    assert (ball.x, ball.y) == (0.0, 0.0) and ball.z == pytest.approx(8 * 0.3048)
    assert Counter(o.team for o in first.objects) == {"home": 5, "away": 5, "ball": 1}
    assert first.game_clock == pytest.approx(20.0)  # 720 s quarter, 700 s left
    home = next(o for o in first.objects if o.id == "100")
    assert home.x == pytest.approx((10 - 47) * 0.3048) and home.y == pytest.approx(5 * 0.3048)
    assert all(o.team != BALL for o in frames[2].objects)  # NaN ball left out
