"""Adaptive time stepping on the Newton iteration count, for FEM and FV schemes alike.

The supercapacitor runs span the fast Debye-layer time ε·τ and the slow heat diffusion time
C_T/k·τ (§4.3 of the PNPF paper): a constant Δt either wastes steps or fails. The controller here
is the usual one for implicit schemes without an error estimator: grow Δt by `grow` while Newton
converges in at most `easy_iterations`, shrink it when Newton needs `hard_iterations` or more,
and on a `SolverError` cut the step by `cut` and retry from the unchanged state (both the FEM
schemes, which restore their state, and the FV schemes, which are functional, allow this).

Both kinds of scheme are driven through a tiny protocol, `Stepper` (attribute `t`, method
`step(dt) -> observables`, leaving the state unchanged on `SolverError`):

* `FEMStepper(scheme)` for `pnpf_fem.fem` schemes (stateful `scheme.step(dt)`);
* `FVStepper(scheme, state)` for `pnpf_fem.fv` schemes (functional `scheme.step(state, dt)`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pnpf_fem.errors import InputError, SolverError

__all__ = [
    "AdaptiveControl",
    "AdaptiveResult",
    "FEMStepper",
    "FVStepper",
    "Stepper",
    "adaptive_run",
]


class Stepper(Protocol):
    """A scheme with its state: `t`, and `step(dt)` → observables (state kept on SolverError)."""

    @property
    def t(self) -> float: ...

    def step(self, dt: float) -> dict[str, Any]: ...


class FEMStepper:
    """Adapter for a FEM scheme (`pnpf_fem.fem.Scheme`): stateful `step(dt)`."""

    def __init__(self, scheme: Any) -> None:
        self.scheme = scheme

    @property
    def t(self) -> float:
        return float(self.scheme.t)

    def step(self, dt: float) -> dict[str, Any]:
        t_before = self.scheme.t
        try:
            return self.scheme.step(dt)
        except SolverError:
            if self.scheme.t != t_before:
                raise RuntimeError("FEM scheme changed its time on a failed step") from None
            raise


class FVStepper:
    """Adapter for a FV scheme (`SchemeI`/`SchemeII`): functional `step(state, dt)`.

    The current state is `self.state`; it is replaced only after a successful step.
    """

    def __init__(self, scheme: Any, state: Any) -> None:
        self.scheme = scheme
        self.state = state

    @property
    def t(self) -> float:
        return float(self.state.t)

    def step(self, dt: float) -> dict[str, Any]:
        new, obs = self.scheme.step(self.state, dt)
        self.state = new
        return obs


@dataclass(frozen=True)
class AdaptiveControl:
    """Step-size control. Times are dimensionless (units of τ).

    dt0: first trial step; dt_min / dt_max: bounds of Δt; grow / shrink / cut: factors after an
    easy step (≤ easy_iterations Newton iterations), a hard step (≥ hard_iterations) and a
    failed solve; max_retries: failed attempts allowed on one step; max_steps: accepted steps.
    """

    dt0: float
    dt_min: float
    dt_max: float
    grow: float = 1.5
    shrink: float = 0.7
    cut: float = 0.25
    easy_iterations: int = 4
    hard_iterations: int = 8
    max_retries: int = 8
    max_steps: int = 100_000

    def __post_init__(self) -> None:
        for name in ("dt0", "dt_min", "dt_max"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(f"AdaptiveControl.{name} must be positive and finite, got {v!r}")
        if not self.dt_min <= self.dt0 <= self.dt_max:
            raise InputError(
                f"AdaptiveControl needs dt_min <= dt0 <= dt_max, got "
                f"{self.dt_min}, {self.dt0}, {self.dt_max}"
            )
        if not self.grow >= 1.0:
            raise InputError(f"AdaptiveControl.grow must be >= 1, got {self.grow}")
        for name in ("shrink", "cut"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise InputError(f"AdaptiveControl.{name} must be in (0, 1), got {v}")
        if not 0 <= self.easy_iterations < self.hard_iterations:
            raise InputError(
                "AdaptiveControl needs 0 <= easy_iterations < hard_iterations, got "
                f"{self.easy_iterations}, {self.hard_iterations}"
            )
        if self.max_retries < 0 or self.max_steps < 1:
            raise InputError("AdaptiveControl: max_retries >= 0 and max_steps >= 1 required")


@dataclass
class AdaptiveResult:
    """Observables of the accepted steps (each with `rejected`: failed attempts before it)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    wall_time: float = 0.0
    last_dt: float = 0.0  # the step proposed after the last one (to continue a run)


def adaptive_run(
    stepper: Stepper,
    t_end: float,
    control: AdaptiveControl,
    breakpoints: Sequence[float] = (),
    callback: Callable[[dict[str, Any], float], None] | None = None,
    result: AdaptiveResult | None = None,
) -> AdaptiveResult:
    """Advance `stepper` from its time to `t_end` with adaptive Δt.

    Steps are shortened to land exactly on `t_end` and on every `breakpoints` time in between
    (e.g. the corners of a cyclic-voltammetry ramp). Raises SolverError when a step still fails
    at dt_min or after max_retries cuts (the stepper is left at the last accepted step), or when
    max_steps is exceeded (reason "max_steps"). `callback(obs, dt_next)` sees every accepted
    step and the step proposed after it (to checkpoint a run that can continue). Pass `result`
    to keep the counts of a run that ends in an exception.
    """
    start = time.perf_counter()
    if not math.isfinite(t_end):
        raise InputError(f"adaptive_run: t_end must be finite, got {t_end}")
    tol = 1e-12 * max(1.0, abs(t_end))
    stops = [*sorted(b for b in breakpoints if stepper.t + tol < b < t_end - tol), t_end]
    result = result if result is not None else AdaptiveResult()
    dt = control.dt0
    while stepper.t < t_end - tol:
        if result.accepted >= control.max_steps:
            raise SolverError(
                f"adaptive_run: {control.max_steps} steps reached at t = {stepper.t:g} < {t_end:g}",
                reason="max_steps",
            )
        while stops[0] <= stepper.t + tol:
            stops.pop(0)
        remaining = stops[0] - stepper.t
        if remaining > dt + control.dt_min:
            h = dt
        else:  # land on the stop without leaving a sliver step shorter than dt_min
            h = remaining if remaining <= control.dt_max else 0.5 * remaining
        retries = 0
        while True:
            try:
                obs = stepper.step(h)
                break
            except SolverError as err:
                retries += 1
                result.rejected += 1
                if retries > control.max_retries or h <= control.dt_min * (1 + 1e-12):
                    raise SolverError(
                        f"adaptive_run: step from t = {stepper.t:g} failed {retries} time(s), "
                        f"last Δt = {h:g} (dt_min {control.dt_min:g}): {err}",
                        reason=err.reason,
                        history=err.history,
                    ) from err
                h = max(h * control.cut, control.dt_min)
        obs = dict(obs)
        obs["rejected"] = retries
        result.history.append(obs)
        result.accepted += 1
        its = int(obs.get("newton_iterations", 0))
        # after a cut, continue with the step that worked; otherwise scale the proposed step
        # (not a step that was shortened to land on a stop)
        base = h if retries else dt
        if its >= control.hard_iterations:
            nxt = min(base, h) * control.shrink
        elif its <= control.easy_iterations and not retries:
            nxt = base * control.grow
        else:
            nxt = base
        dt = min(max(nxt, control.dt_min), control.dt_max)
        if callback is not None:
            callback(obs, dt)
    result.last_dt = dt
    result.wall_time = time.perf_counter() - start
    return result
