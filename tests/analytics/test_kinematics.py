"""Kinematics: hand-computed trajectories (with NaN gaps and jumps), the streaming tracker equal
to the array API, causality, redelivery and substitutions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from arenaflow.analytics.kinematics import (
    Kinematics,
    KinematicsBank,
    KinematicsTracker,
    acceleration_mps2,
    distance_m,
    kinematics,
    speed_mps,
)

FPS = 25.0


def line(n: int, v: float = 3.0) -> np.ndarray:
    """A player running along x at ``v`` m/s for ``n`` frames at 25 Hz."""
    t = np.arange(n) / FPS
    return np.stack([v * t, np.zeros(n)], axis=1)


def stream(xy: np.ndarray, ids: list[str] | None = None, **options: float) -> Kinematics:
    """Feed ``xy (T, n, 2)`` frame by frame; stack the tracker's outputs like the array API."""
    ids = ids or [f"p{i}" for i in range(xy.shape[1])]
    tracker = KinematicsTracker(**options)  # type: ignore[arg-type]
    steps = [tracker.update(f, f / FPS, ids, xy[f]) for f in range(xy.shape[0])]
    assert all(s is not None for s in steps)
    return Kinematics(
        np.array([s.speed_mps for s in steps]),  # type: ignore[union-attr]
        np.array([s.velocity_mps for s in steps]),  # type: ignore[union-attr]
        np.array([s.accel_mps2 for s in steps]),  # type: ignore[union-attr]
        np.array([s.step_m for s in steps]),  # type: ignore[union-attr]
        np.array([s.distance_m for s in steps]),  # type: ignore[union-attr]
    )


def assert_same(a: Kinematics, b: Kinematics) -> None:
    for name in ("speed_mps", "velocity_mps", "accel_mps2", "step_m", "distance_m"):
        np.testing.assert_allclose(
            getattr(a, name), getattr(b, name), rtol=1e-9, atol=1e-9, err_msg=name
        )


# --- hand-computed -------------------------------------------------------------------------


def test_constant_speed_by_hand() -> None:
    xy = line(50)
    k = kinematics(xy, FPS)
    assert np.isnan(k.speed_mps[0, 0])  # one sample: no speed yet
    np.testing.assert_allclose(k.speed_mps[1:, 0], 3.0)
    np.testing.assert_allclose(k.velocity_mps[1:, 0], [[3.0, 0.0]] * 49)
    assert np.isnan(k.accel_mps2[:2, 0]).all()  # two speeds needed
    np.testing.assert_allclose(k.accel_mps2[2:, 0], 0.0, atol=1e-9)
    # The smoothed position at frame k >= 6 is x(k - 3): 46 frames of 0.12 m by frame 49.
    assert k.distance_m[-1, 0] == pytest.approx(46 * 3.0 / FPS)
    assert k.step_m[0, 0] == 0.0
    assert k.step_m[10, 0] == pytest.approx(0.12)


def test_constant_acceleration_by_hand() -> None:
    t = np.arange(60) / FPS
    xy = np.stack([0.5 * 2.0 * t**2, np.zeros_like(t)], axis=1)  # 2 m/s²
    k = kinematics(xy, FPS)
    # The slope of a parabola over a full window is its derivative at the window's centre.
    assert k.speed_mps[10, 0] == pytest.approx(2.0 * (10 - 3) / FPS)
    # Speeds are then linear in time: their slope is the acceleration, exactly.
    np.testing.assert_allclose(k.accel_mps2[12:, 0], 2.0)


def test_short_gap_is_bridged() -> None:
    xy = line(100)
    xy[20:25] = np.nan  # 0.2 s without the player
    k = kinematics(xy, FPS)
    assert np.isnan(k.speed_mps[20:25, 0]).all()
    np.testing.assert_allclose(k.step_m[20:25, 0], 0.0)
    # On a straight line every mean is on the line: the distance is that of the whole run.
    assert k.distance_m[-1, 0] == pytest.approx((99 - 3) * 3.0 / FPS)


def test_long_gap_counts_no_distance() -> None:
    xy = line(100)
    xy[20:60] = np.nan  # 1.6 s away; the player comes back 4.8 m further on
    k = kinematics(xy, FPS)
    before = (19 - 3) * 3.0 / FPS  # the first segment's filter reached x(16 frames)
    after = (99 - 3 - 60) * 3.0 / FPS  # the second starts afresh at frame 60
    assert k.distance_m[59, 0] == pytest.approx(before)
    assert k.step_m[60, 0] == 0.0
    assert np.isnan(k.speed_mps[60, 0])
    assert k.distance_m[-1, 0] == pytest.approx(before + after)


def test_gap_of_exactly_max_gap_is_bridged() -> None:
    xy = line(80)
    bridged = xy.copy()
    bridged[11:35] = np.nan  # frames 10 and 35: 1.0 s apart
    broken = xy.copy()
    broken[11:36] = np.nan  # 1.04 s
    assert kinematics(bridged, FPS).step_m[35, 0] > 0
    assert kinematics(broken, FPS).step_m[36, 0] == 0.0


def test_jump_is_capped_at_twelve_metres_per_second() -> None:
    xy = np.zeros((60, 2))
    xy[30:] = [50.0, 0.0]  # an identity swap: 50 m in one frame
    k = kinematics(xy, FPS)
    assert np.nanmax(k.speed_mps) == pytest.approx(12.0)
    assert np.nanmax(np.hypot(*k.velocity_mps[:, 0].T)) == pytest.approx(12.0)
    # The mean crosses the 50 m in 7 frames of 7.1 m each, every one capped at 0.48 m.
    assert k.distance_m[-1, 0] == pytest.approx(7 * 12.0 / FPS)
    assert (k.step_m <= 12.0 / FPS + 1e-12).all()


def test_array_helpers_and_shapes() -> None:
    xy = line(30)
    assert speed_mps(xy, FPS).shape == (30,)
    assert acceleration_mps2(xy, FPS).shape == (30,)
    assert distance_m(xy, FPS)[-1] == pytest.approx(kinematics(xy, FPS).distance_m[-1, 0])
    both = np.stack([xy, xy[:, ::-1]], axis=1)
    assert speed_mps(both, FPS).shape == (30, 2)
    with pytest.raises(ValueError):
        kinematics(np.zeros((5, 3)), FPS)
    with pytest.raises(ValueError):
        kinematics(xy, 0.0)


def test_nothing_but_nan() -> None:
    k = kinematics(np.full((10, 2, 2), np.nan), FPS)
    assert np.isnan(k.speed_mps).all() and (k.distance_m == 0).all()


# --- streaming equals the array API --------------------------------------------------------


def messy(seed: int, frames: int = 400, players: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = np.cumsum(rng.normal(scale=0.15, size=(frames, players, 2)), axis=0)
    xy[50:53, 1] = np.nan  # a short hole
    xy[100:140, 2] = np.nan  # a long gap
    xy[:30, 3] = np.nan  # arrives late
    xy[200:, 4] = np.nan  # leaves
    xy[rng.random((frames, players)) < 0.03] = np.nan  # random dropouts
    xy[300:, 5] += 50.0  # a jump
    return xy


@pytest.mark.parametrize("seed", [1, 2])
def test_streaming_equals_array_api(seed: int) -> None:
    xy = messy(seed)
    assert_same(stream(xy), kinematics(xy, FPS))


def test_streaming_equals_array_api_on_clean_data() -> None:
    rng = np.random.default_rng(5)
    xy = np.cumsum(rng.normal(scale=0.15, size=(300, 22, 2)), axis=0)
    assert_same(stream(xy), kinematics(xy, FPS))


def test_streaming_across_steady_and_masked_frames() -> None:
    """Long clean stretches (the shared-weights path) broken by dropouts, a late arrival and a
    long absence (the masked path), in every order."""
    rng = np.random.default_rng(11)
    xy = np.cumsum(rng.normal(scale=0.15, size=(600, 8, 2)), axis=0)
    xy[100:105, 3] = np.nan
    xy[:250, 7] = np.nan  # comes on at frame 250
    xy[300:360, 5] = np.nan  # 2.4 s away
    xy[450, :] = np.nan  # an empty frame
    xy[500:502, [1, 2]] = np.nan
    ids = [f"p{i}" for i in range(8)]
    tracker = KinematicsTracker()
    expected = kinematics(xy, FPS)
    for f in range(600):
        step = tracker.update(f, f / FPS, ids, xy[f])
        assert step is not None
        np.testing.assert_allclose(step.speed_mps, expected.speed_mps[f], atol=1e-9)
        np.testing.assert_allclose(step.accel_mps2, expected.accel_mps2[f], atol=1e-9)
        np.testing.assert_allclose(step.distance_m, expected.distance_m[f], atol=1e-9)


def test_streaming_with_other_options() -> None:
    xy = messy(3, frames=200)
    options = {"window_frames": 5, "speed_cap_mps": 8.0, "max_gap_s": 0.5}
    assert_same(stream(xy, **options), kinematics(xy, FPS, **options))  # type: ignore[arg-type]


def test_absent_ids_equal_nan_positions() -> None:
    """A player missing from the frame's ids is the same as a NaN position."""
    xy = messy(4, frames=300)
    expected = kinematics(xy, FPS)
    tracker = KinematicsTracker()
    ids = [f"p{i}" for i in range(xy.shape[1])]
    for f in range(xy.shape[0]):
        present = [i for i in range(xy.shape[1]) if np.isfinite(xy[f, i]).all()]
        step = tracker.update(f, f / FPS, [ids[i] for i in present], xy[f, present])
        assert step is not None
        np.testing.assert_allclose(step.speed_mps, expected.speed_mps[f, present], atol=1e-9)
        np.testing.assert_allclose(step.accel_mps2, expected.accel_mps2[f, present], atol=1e-9)
        np.testing.assert_allclose(step.distance_m, expected.distance_m[f, present], atol=1e-9)


def test_order_of_ids_does_not_matter() -> None:
    xy = messy(6, frames=200)
    order = [3, 1, 0, 5, 2, 4]
    ids = [f"p{i}" for i in order]
    got = stream(xy[:, order], ids=ids)
    assert_same(got, _columns(kinematics(xy, FPS), order))


def _columns(k: Kinematics, order: list[int]) -> Kinematics:
    return Kinematics(*(getattr(k, f)[:, order] for f in Kinematics.__slots__))


def test_substitution() -> None:
    """A player leaves, another comes on: new rows, old totals kept."""
    xy = line(120)
    tracker = KinematicsTracker()
    for f in range(60):
        tracker.update(f, f / FPS, ["a", "b"], np.stack([xy[f], xy[f] + 1.0]))
    for f in range(60, 120):
        step = tracker.update(f, f / FPS, ["a", "c"], np.stack([xy[f], xy[f] + 2.0]))
    assert step is not None
    assert list(step.ids) == ["a", "c"]
    assert step.distance_m[0] == pytest.approx((119 - 3) * 3.0 / FPS)
    assert step.distance_m[1] == pytest.approx((119 - 3 - 60) * 3.0 / FPS)
    assert tracker.distance_of("b") == pytest.approx((59 - 3) * 3.0 / FPS)
    assert tracker.distance_of("nobody") == 0.0


def test_many_players_grow_the_state() -> None:
    tracker = KinematicsTracker()
    for f in range(20):
        ids = [f"p{i}" for i in range(f * 5, f * 5 + 40)]  # 140 players over time
        tracker.update(f, f / FPS, ids, np.zeros((40, 2)))
    assert tracker.distance_of("p0") == 0.0


# --- causality ------------------------------------------------------------------------------


def test_array_api_is_causal() -> None:
    """What the array API says of frame k does not change when later frames are added or
    altered."""
    xy = messy(7, frames=300)
    full = kinematics(xy, FPS)
    rng = np.random.default_rng(0)
    for cut in (1, 7, 55, 140, 299):
        prefix = kinematics(xy[:cut], FPS)
        assert_same(prefix, Kinematics(*(getattr(full, f)[:cut] for f in Kinematics.__slots__)))
        altered = xy.copy()
        altered[cut:] += rng.normal(scale=5.0, size=altered[cut:].shape)
        other = kinematics(altered, FPS)
        assert_same(prefix, Kinematics(*(getattr(other, f)[:cut] for f in Kinematics.__slots__)))


def test_streaming_is_causal() -> None:
    xy = messy(8, frames=200)
    ids = [f"p{i}" for i in range(xy.shape[1])]
    a, b = KinematicsTracker(), KinematicsTracker()
    altered = xy.copy()
    altered[120:] = 0.0
    for f in range(200):
        sa = a.update(f, f / FPS, ids, xy[f])
        sb = b.update(f, f / FPS, ids, altered[f])
        if f < 120:
            assert sa is not None and sb is not None
            np.testing.assert_array_equal(sa.distance_m, sb.distance_m)
            np.testing.assert_array_equal(sa.speed_mps, sb.speed_mps)


# --- redelivery, order, validation ---------------------------------------------------------


def test_redelivered_and_late_frames_are_ignored() -> None:
    xy = line(40)
    tracker = KinematicsTracker()
    for f in range(30):
        tracker.update(f, f / FPS, ["p"], xy[f : f + 1])
    before = tracker.distance_of("p")
    assert tracker.update(29, 29 / FPS, ["p"], xy[29:30] + 5.0) is None  # redelivered
    assert tracker.update(12, 12 / FPS, ["p"], xy[12:13]) is None  # late
    assert tracker.update(30, 29 / FPS, ["p"], xy[30:31]) is None  # time not moving
    assert tracker.distance_of("p") == before
    assert tracker.last_frame == 29
    step = tracker.update(30, 30 / FPS, ["p"], xy[30:31])
    assert step is not None and step.distance_m[0] > before


def test_clock_restarting_each_period() -> None:
    """Frame numbers go on, the clock restarts: a new segment, no distance across."""
    xy = line(100)
    tracker = KinematicsTracker()
    for f in range(50):
        tracker.update(f, f / FPS, ["p"], xy[f : f + 1])
    first = tracker.distance_of("p")
    for f in range(50, 100):
        step = tracker.update(f, (f - 50) / FPS, ["p"], xy[f : f + 1])
        assert step is not None
    assert tracker.distance_of("p") == pytest.approx(first + (49 - 3) * 3.0 / FPS)


def test_validation() -> None:
    tracker = KinematicsTracker()
    with pytest.raises(ValueError, match="shape"):
        tracker.update(0, 0.0, ["a", "b"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="twice"):
        tracker.update(1, 0.04, ["a", "a"], np.zeros((2, 2)))
    with pytest.raises(ValueError):
        KinematicsTracker(window_frames=1)
    with pytest.raises(ValueError):
        KinematicsTracker(speed_cap_mps=0.0)
    with pytest.raises(ValueError):
        KinematicsTracker(max_gap_s=-1.0)


def test_frame_of_only_missing_players() -> None:
    tracker = KinematicsTracker()
    tracker.update(0, 0.0, ["a"], np.array([[0.0, 0.0]]))
    step = tracker.update(1, 0.04, ["a"], np.array([[np.nan, np.nan]]))
    assert step is not None and np.isnan(step.speed_mps).all() and step.distance_m[0] == 0.0
    step = tracker.update(2, 0.08, [], np.zeros((0, 2)))
    assert step is not None and step.speed_mps.shape == (0,)


def test_delay_is_reported() -> None:
    tracker = KinematicsTracker()
    assert tracker.delay_ms() == pytest.approx(120.0)  # 7 frames at 25 Hz
    assert tracker.delay_ms(fps=10.0) == pytest.approx(300.0)
    assert tracker.accel_delay_ms() == pytest.approx(240.0)


def test_tracker_survives_pickling() -> None:
    """The pipeline keeps trackers in function state, which may be serialised."""
    xy = messy(9, frames=120)
    ids = [f"p{i}" for i in range(xy.shape[1])]
    a = KinematicsTracker()
    for f in range(60):
        a.update(f, f / FPS, ids, xy[f])
    b = pickle.loads(pickle.dumps(a))
    for f in range(60, 120):
        sa, sb = a.update(f, f / FPS, ids, xy[f]), b.update(f, f / FPS, ids, xy[f])
        assert sa is not None and sb is not None
        np.testing.assert_array_equal(sa.distance_m, sb.distance_m)


# --- many games in one bank ----------------------------------------------------------------


def test_bank_equals_one_tracker_per_game() -> None:
    """Three games with their own clocks and rates, holes, gaps, a jump, a late frame, a
    redelivered frame and a restarted clock, interleaved in rounds: each game's numbers are
    its own tracker's."""
    games = {
        "a": (messy(1), 25.0, 0.0),
        "b": (messy(2, players=7), 10.0, 1e9),
        "c": (messy(3), 25.0, 7.0),
    }
    bank = KinematicsBank()
    trackers = {g: KinematicsTracker() for g in games}
    ids = {g: [f"p{i}" for i in range(xy.shape[1])] for g, (xy, _, _) in games.items()}
    index = {g: bank.game(g) for g in games}
    rng = np.random.default_rng(0)
    for f in range(400):
        t_of = {
            g: start + (f if f < 250 or g != "c" else f - 250) / fps
            for g, (_, fps, start) in games.items()
        }
        frame_of = {g: f for g in games}
        if f == 120:
            frame_of["a"] = 100  # redelivered: ignored by both
        rows, times, xys, expected = [], [], [], []
        for g, (xy, _, _) in games.items():
            present = np.isfinite(xy[f]).all(axis=1) & (rng.random(xy.shape[1]) > 0.02)
            who = [i for i, ok in zip(ids[g], present, strict=True) if ok]
            want = trackers[g].update(frame_of[g], t_of[g], who, xy[f][present])
            t = bank.accept(index[g], frame_of[g], t_of[g])
            assert (t is None) == (want is None)
            if t is None or want is None:
                continue
            rows.append(bank.rows(index[g], who))
            times += [t] * len(who)
            xys.append(xy[f][present])
            expected.append(want)
        got = bank.step(np.concatenate(rows), np.array(times), np.concatenate(xys))
        want_all = {
            name: np.concatenate([getattr(w, name) for w in expected])
            for name in ("speed_mps", "velocity_mps", "accel_mps2", "step_m", "distance_m")
        }
        for name, values in want_all.items():
            np.testing.assert_allclose(
                getattr(got, name), values, atol=1e-9, err_msg=f"{name} @ {f}"
            )


def test_bank_validation() -> None:
    bank = KinematicsBank()
    g = bank.game("g")
    with pytest.raises(ValueError, match="twice"):
        bank.rows(g, ["a", "a"])
    assert bank.game("g") == g and bank.rows(g, ["b", "c"]).tolist() == [0, 1]
    with pytest.raises(ValueError):
        KinematicsBank(window_frames=1)
    assert KinematicsBank().delay_ms() == pytest.approx(120.0)


def test_bank_steady_rounds_equal_the_trackers() -> None:
    """Clean feeds take the shared-weights path of the bank; a late arrival, a dropout and a
    jump in between take the masked one. Both give the trackers' numbers."""
    rng = np.random.default_rng(8)
    games = {g: np.cumsum(rng.normal(scale=0.2, size=(300, 5, 2)), axis=0) for g in "abc"}
    games["b"][120, 2] = np.nan  # one dropout
    games["c"][:40, 4] = np.nan  # arrives late
    games["c"][200:, 0] += 30.0  # a jump, capped
    rates = {"a": 25.0, "b": 10.0, "c": 25.0}
    bank, trackers = KinematicsBank(), {g: KinematicsTracker() for g in games}
    index = {g: bank.game(g) for g in games}
    masked = 0
    original = bank._masked

    def counting(*args):  # type: ignore[no-untyped-def]
        nonlocal masked
        masked += 1
        return original(*args)

    bank._masked = counting  # type: ignore[method-assign]
    for f in range(300):
        rows, times, xys, want = [], [], [], []
        for g, xy in games.items():
            ok = np.isfinite(xy[f]).all(axis=1)
            ids = [f"p{i}" for i in np.flatnonzero(ok)]
            want.append(trackers[g].update(f, f / rates[g], ids, xy[f][ok]))
            t = bank.accept(index[g], f, f / rates[g])
            rows.append(bank.rows(index[g], ids))
            times += [t] * len(ids)
            xys.append(xy[f][ok])
        got = bank.step(np.concatenate(rows), np.array(times), np.concatenate(xys))
        for name in ("speed_mps", "accel_mps2", "step_m", "distance_m"):
            expected = np.concatenate([getattr(w, name) for w in want])
            np.testing.assert_allclose(getattr(got, name), expected, atol=1e-9, err_msg=name)
    assert 10 <= masked <= 60  # the warm-ups and faults only: most rounds are steady
