"""Team shape by hand, with missing players and many frames."""

from __future__ import annotations

import numpy as np
import pytest

from arenaflow.analytics.team_shape import centroid_m, stretch_index_m, team_shape


def test_square_by_hand() -> None:
    xy = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 2.0], [0.0, 2.0]])
    shape = team_shape(xy)
    assert shape.centroid_m.tolist() == [2.0, 1.0]
    assert float(shape.stretch_index_m) == pytest.approx(np.sqrt(5.0))
    assert (float(shape.length_m), float(shape.width_m), int(shape.players)) == (4.0, 2.0, 4)


def test_missing_players_and_frames() -> None:
    xy = np.array(
        [
            [[0.0, 0.0], [6.0, 0.0], [np.nan, np.nan]],
            [[np.nan, np.nan]] * 3,
            [[1.0, 1.0], [1.0, 5.0], [1.0, 3.0]],
        ]
    )
    shape = team_shape(xy)
    np.testing.assert_allclose(shape.centroid_m, [[3.0, 0.0], [np.nan, np.nan], [1.0, 3.0]])
    np.testing.assert_allclose(shape.stretch_index_m, [3.0, np.nan, 4 / 3])
    np.testing.assert_allclose(shape.length_m, [6.0, np.nan, 0.0])
    np.testing.assert_allclose(shape.width_m, [0.0, np.nan, 4.0])
    assert shape.players.tolist() == [2, 0, 3]
    np.testing.assert_allclose(centroid_m(xy)[0], [3.0, 0.0])
    np.testing.assert_allclose(stretch_index_m(xy)[2], 4 / 3)


def test_shape_validation() -> None:
    with pytest.raises(ValueError):
        team_shape(np.zeros(2))
