"""Data of a problem: a number, a function of time, or a space-time field for both methods.

The FEM needs a field as a UFL expression of the spatial coordinate and the time Constant; the FV
code needs it as a NumPy function of the vertex coordinates. A `SpaceTime` carries both (a
manufactured solution writes them once each); numbers and functions of t serve both as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pnpf_fem.errors import InputError

__all__ = ["Data", "SpaceTime", "check_data"]


@dataclass(frozen=True)
class SpaceTime:
    """A field f(x, t): `ufl(x, t)` with x = ufl.SpatialCoordinate, and `numpy` on vertex arrays:
    numpy(x, y, t) in 2D, numpy(x, y, z, t) in 3D (the coordinates, then t)."""

    ufl: Callable[[Any, Any], Any]
    numpy: Callable[..., np.ndarray | float]


Data = float | int | Callable[[float], float] | SpaceTime


def check_data(owner: str, value: object) -> None:
    """A number (finite), a callable t -> float or a `SpaceTime`; `InputError` otherwise."""
    if isinstance(value, SpaceTime) or (callable(value) and not isinstance(value, bool)):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(
            f"{owner}: expected a number, a function of t or a SpaceTime, got {value!r}"
        )
    if not math.isfinite(value):
        raise InputError(f"{owner}: must be finite, got {value!r}")
