"""Row indexing shared by the streaming trackers (players as rows of shared arrays)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.intp]


def as_slice(rows: IntArray) -> IntArray | slice:
    """``rows`` as a slice when they are consecutive, else as is: indexing with a slice gives
    views instead of gathered copies, and a live round's rows usually are consecutive.

    Example:
        >>> as_slice(np.array([3, 4, 5])), as_slice(np.array([3, 5])).tolist()
        (slice(3, 6, None), [3, 5])
    """
    if rows.size and rows[-1] - rows[0] == rows.size - 1 and (np.diff(rows) == 1).all():
        return slice(int(rows[0]), int(rows[0]) + rows.size)
    return rows
