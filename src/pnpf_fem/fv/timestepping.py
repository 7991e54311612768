"""Time loop for either scheme: constant or variable Δt, observables recorded every step."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from pnpf_fem.errors import InputError
from pnpf_fem.fv.problem import FVState

__all__ = ["Stepper", "run"]


class Stepper(Protocol):
    def step(self, state: FVState, dt: float) -> tuple[FVState, dict[str, Any]]: ...


def run(
    scheme: Stepper,
    state: FVState,
    dt: float | Callable[[int, float], float],
    t_end: float | None = None,
    num_steps: int | None = None,
    callback: Callable[[FVState, dict[str, Any]], None] | None = None,
) -> tuple[FVState, list[dict[str, Any]]]:
    """Advance `state` with `scheme.step` and return (final state, list of observables).

    dt: a number, or a function (step index, t) → Δt (variable steps). Give `t_end` (the last
    step is shortened to land on it) or `num_steps`. A failed step raises SolverError; `state`
    passed in is never modified (states are immutable).
    """
    if (t_end is None) == (num_steps is None):
        raise InputError("run: give exactly one of t_end and num_steps")
    history: list[dict[str, Any]] = []
    k = 0
    while True:
        if num_steps is not None and k >= num_steps:
            break
        if t_end is not None and state.t >= t_end - 1e-12 * max(1.0, abs(t_end)):
            break
        step = dt(k, state.t) if callable(dt) else dt
        if not (step > 0 and math.isfinite(step)):
            raise InputError(f"run: time step must be positive and finite, got {step}")
        if t_end is not None:
            step = min(step, t_end - state.t)
        state, obs = scheme.step(state, step)
        history.append(obs)
        if callback is not None:
            callback(state, obs)
        k += 1
    return state, history
