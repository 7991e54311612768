"""The step-size sequence of a time loop, shared by the FEM and FV drivers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from pnpf_fem.errors import InputError

__all__ = ["StepSize", "time_steps"]

StepSize = float | Callable[[int, float], float]


def time_steps(
    t0: float, dt: StepSize, t_end: float | None = None, num_steps: int | None = None
) -> Iterator[float]:
    """Yield the steps Δt of a loop starting at t0 (the caller takes each one it is given).

    dt: a number or a function (step index, t) → Δt (variable steps). Give `t_end` (the last
    step is shortened to land on it) or `num_steps`.
    """
    if (t_end is None) == (num_steps is None):
        raise InputError("run: give exactly one of t_end and num_steps")
    t, k = t0, 0
    while True:
        if num_steps is not None and k >= num_steps:
            return
        if t_end is not None and t >= t_end - 1e-12 * max(1.0, abs(t_end)):
            return
        step = dt(k, t) if callable(dt) else dt
        if not (step > 0 and math.isfinite(step)):
            raise InputError(f"run: time step must be positive and finite, got {step}")
        if t_end is not None:
            step = min(step, t_end - t)
        yield step
        t += step
        k += 1
