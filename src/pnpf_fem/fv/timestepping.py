"""Time loop for either scheme: constant or variable Δt, observables recorded every step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pnpf_fem.fv.problem import FVState
from pnpf_fem.timeloop import StepSize, time_steps

__all__ = ["Stepper", "run"]


class Stepper(Protocol):
    def step(self, state: FVState, dt: float) -> tuple[FVState, dict[str, Any]]: ...


def run(
    scheme: Stepper,
    state: FVState,
    dt: StepSize,
    t_end: float | None = None,
    num_steps: int | None = None,
    callback: Callable[[FVState, dict[str, Any]], None] | None = None,
) -> tuple[FVState, list[dict[str, Any]]]:
    """Advance `state` with `scheme.step` and return (final state, list of observables).

    dt: a number, or a function (step index, t) → Δt (variable steps). Give `t_end` (the last
    step is shortened to land on it) or `num_steps`. A failed step raises SolverError; `state`
    passed in is never modified (states are immutable).
    """
    history: list[dict[str, Any]] = []
    for step in time_steps(state.t, dt, t_end, num_steps):
        state, obs = scheme.step(state, step)
        history.append(obs)
        if callback is not None:
            callback(state, obs)
    return state, history
