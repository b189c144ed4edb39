import math

import msgspec
import pytest

from arenaflow.errors import ConfigError
from arenaflow.sports.fields import FOOTBALL
from arenaflow.sports.schemas import BALL, TrackingFrame, decode
from arenaflow.sports.sources import FaultInjector, Faults, Simulator

RATES = {
    "drop": 0.04,
    "jitter": 0.05,
    "out_of_order": 0.03,
    "undecodable": 0.02,
    "nan": 0.02,
    "off_field": 0.02,
    "teleport": 0.02,
}


@pytest.fixture(scope="module")
def faulty() -> tuple[Simulator, list[tuple[str, str, object]], list[TrackingFrame]]:
    faults = Faults(**RATES, jitter_s=0.01)
    sim = Simulator("basketball", games=4, seed=5, hr_hz=0, faults=faults)
    items = [item for item in sim.frames_for(60.0) if item[0] == "tracking"]
    clean = Simulator("basketball", games=4, seed=5, hr_hz=0)
    reference = [v for t, _, v in clean.frames_for(60.0) if t == "tracking"]
    return sim, items, reference


def test_faults_are_injected_at_the_requested_rates(faulty) -> None:
    sim, items, reference = faulty
    frames = sim.counts["frames"]
    assert frames == len(reference) == 4 * 60 * 25
    for name, rate in RATES.items():
        expected = rate * frames
        sigma = math.sqrt(frames * rate * (1 - rate))
        assert abs(sim.counts[name] - expected) < 4 * sigma + 2, (name, sim.counts[name])
    assert sim.counts["emitted"] == frames - sim.counts["drop"] == len(items)


def test_the_faults_do_what_they_say(faulty) -> None:
    _, items, reference = faulty
    clean = {(f.game_id, f.frame): f for f in reference}
    seen: set[tuple[str, int]] = set()
    undecodable = nan = off_field = teleports = jittered = 0
    last: dict[str, int] = {}
    late = 0
    for _, key, value in items:
        if isinstance(value, bytes):
            undecodable += 1
            for fmt in ("json", "msgpack"):
                with pytest.raises(msgspec.DecodeError):
                    decode(value, TrackingFrame, fmt)  # type: ignore[arg-type]
            continue
        assert value.game_id == key
        if value.frame < last.get(key, -1):
            late += 1
        last[key] = max(last.get(key, -1), value.frame)
        seen.add((key, value.frame))
        original = clean[(key, value.frame)]
        if value.timestamp != original.timestamp:
            jittered += 1
            assert abs(value.timestamp - original.timestamp) <= 0.01
        for obj, ref in zip(value.objects, original.objects, strict=True):
            if obj == ref:
                continue
            assert obj.id == ref.id and obj.team == ref.team != BALL
            if math.isnan(obj.x):
                nan += 1
            elif abs(obj.x) > 200:
                off_field += 1
            else:
                teleports += 1
                jump = math.hypot(obj.x - ref.x, obj.y - ref.y)
                assert jump > 10 and FOOTBALL.contains(obj.x, obj.y)
    assert undecodable > 0 and nan > 0 and off_field > 0 and teleports > 0 and jittered > 0
    assert late > 0  # out-of-order frames arrive after their successor
    assert len(seen) == sum(1 for _, _, v in items if not isinstance(v, bytes))  # no duplicates


def test_counts_without_faults_and_validation() -> None:
    sim = Simulator("football", games=1, seed=1, hr_hz=0)
    list(sim.frames_for(1.0))
    assert sim.counts["frames"] == sim.counts["emitted"] == 25
    with pytest.raises(ConfigError, match=r"Faults\.drop"):
        Faults(drop=1.5)
    with pytest.raises(ConfigError, match="sum to <= 1"):
        Faults(drop=0.6, nan=0.6)
    with pytest.raises(ConfigError, match="jitter_s"):
        Faults(jitter_s=-1)
    assert Faults.parse("drop=0.1, teleport=0.05") == Faults(drop=0.1, teleport=0.05)
    with pytest.raises(ConfigError, match="drop: 'lots' is not a number"):
        Faults.parse("drop=lots")
    with pytest.raises(ConfigError, match="NAME one of drop"):
        Faults.parse("dorp=0.1")


def test_injector_works_on_any_frames_and_flushes_held_frames() -> None:
    frames = [
        v
        for t, _, v in Simulator("football", games=1, seed=2, hr_hz=0).frames_for(4.0)
        if t == "tracking"
    ]
    injector = FaultInjector(Faults(out_of_order=1.0), seed=0)
    out = [v for f in frames for _, _, v in injector.apply(f)] + [v for _, _, v in injector.flush()]
    assert sorted(f.frame for f in out) == [f.frame for f in frames]
    assert [f.frame for f in out[:4]] == [1, 0, 3, 2]  # each frame after its successor
    assert injector.counts["out_of_order"] == len(frames) // 2
