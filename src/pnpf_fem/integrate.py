"""The one time integrator: every solver is a `Stepper`, `integrate` drives it.

A `Stepper` (the FEM schemes, the FV schemes, the porous macroscale and pore-resolved solvers)
has a time ``t`` and ``step(dt) -> StepRecord``; a step that fails raises `SolverError` and
leaves the state as it was, so the integrator can retry it with a shorter Δt. `integrate`
advances a stepper to ``t_end`` with

* `FixedSteps`: a constant Δt or a function (step index, t) → Δt, or
* `AdaptiveSteps`: Δt grown after easy Newton solves and cut after failed ones (the controller
  for implicit schemes without an error estimate),

landing exactly on ``t_end`` and on every stop time in between (waveform corners, output
times), and calls each observer with every accepted `StepRecord` and the step proposed next.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from pnpf_fem.errors import InputError, SolverError

__all__ = [
    "AdaptiveSteps",
    "FixedSteps",
    "Integration",
    "Observer",
    "StepRecord",
    "Stepper",
    "integrate",
]

_CORE = ("t", "dt", "newton_iterations", "wall_time")


@dataclass(frozen=True)
class StepRecord(Mapping[str, Any]):
    """One accepted step: time, Δt, Newton iterations, wall time and the derived quantities.

    It reads like the dict of observables it replaces (``record["mass_cation"]``,
    ``record["t"]``), so rows of a CSV file are ``dict(record)``.
    """

    t: float
    dt: float
    newton_iterations: int
    wall_time: float
    quantities: Mapping[str, float] = field(default_factory=dict)
    rejected: int = 0

    def __post_init__(self) -> None:
        rest = {k: v for k, v in self.quantities.items() if k not in (*_CORE, "rejected")}
        object.__setattr__(self, "quantities", MappingProxyType(rest))

    @classmethod
    def from_observables(cls, obs: Mapping[str, Any], rejected: int = 0) -> StepRecord:
        """A record from a flat dict holding the core keys and the quantities."""
        core = (float(obs["t"]), float(obs["dt"]), int(obs["newton_iterations"]))
        return cls(*core, float(obs.get("wall_time", 0.0)), obs, rejected)

    def with_rejected(self, rejected: int) -> StepRecord:
        return StepRecord(
            self.t, self.dt, self.newton_iterations, self.wall_time, self.quantities, rejected
        )

    def __getitem__(self, key: str) -> Any:
        if key in _CORE:
            return getattr(self, key)
        return self.quantities[key]

    def __iter__(self) -> Iterator[str]:
        yield from ("t", "dt")
        yield from self.quantities
        yield from ("newton_iterations", "wall_time")

    def __len__(self) -> int:
        return len(_CORE) + len(self.quantities)


class Stepper(Protocol):
    """A solver with its state. `step` raises `SolverError` with the state unchanged."""

    @property
    def t(self) -> float: ...

    def step(self, dt: float) -> StepRecord: ...


Observer = Callable[[StepRecord, float], None]


@dataclass(frozen=True)
class FixedSteps:
    """Δt: a number, or a function (step index, t) → Δt. A failed step ends the run."""

    dt: float | Callable[[int, float], float]
    max_steps: int = 10**9


@dataclass(frozen=True)
class AdaptiveSteps:
    """Step-size control on the Newton count. Times in the stepper's units.

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
                raise InputError(f"AdaptiveSteps.{name} must be positive and finite, got {v!r}")
        if not self.dt_min <= self.dt0 <= self.dt_max:
            raise InputError(
                f"AdaptiveSteps needs dt_min <= dt0 <= dt_max, got "
                f"{self.dt_min}, {self.dt0}, {self.dt_max}"
            )
        if not self.grow >= 1.0:
            raise InputError(f"AdaptiveSteps.grow must be >= 1, got {self.grow}")
        for name in ("shrink", "cut"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise InputError(f"AdaptiveSteps.{name} must be in (0, 1), got {v}")
        if not 0 <= self.easy_iterations < self.hard_iterations:
            raise InputError(
                "AdaptiveSteps needs 0 <= easy_iterations < hard_iterations, got "
                f"{self.easy_iterations}, {self.hard_iterations}"
            )
        if self.max_retries < 0 or self.max_steps < 1:
            raise InputError("AdaptiveSteps: max_retries >= 0 and max_steps >= 1 required")

    def next_dt(self, record: StepRecord, h: float, proposed: float) -> float:
        """The step after an accepted step of length h (proposed: the Δt planned for it)."""
        base = h if record.rejected else proposed
        its = record.newton_iterations
        if its >= self.hard_iterations:
            nxt = min(base, h) * self.shrink
        elif its <= self.easy_iterations and not record.rejected:
            nxt = base * self.grow
        else:  # after a cut continue with the step that worked
            nxt = base
        return min(max(nxt, self.dt_min), self.dt_max)


@dataclass
class Integration:
    """What `integrate` did: the accepted records and the counts (kept when it raises)."""

    records: list[StepRecord] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    wall_time: float = 0.0
    next_dt: float = 0.0  # the step proposed after the last one (to continue a run)


class _Stops:
    """The times a step must land on: the stop times after t0, then t_end."""

    def __init__(self, t0: float, t_end: float, stops: Sequence[float]) -> None:
        self.tol = 1e-12 * max(1.0, abs(t_end))
        self.times = [*sorted(s for s in stops if t0 + self.tol < s < t_end - self.tol), t_end]

    def next_after(self, t: float) -> float:
        while self.times[0] <= t + self.tol:
            self.times.pop(0)
        return self.times[0]


def integrate(
    stepper: Stepper,
    t_end: float,
    control: FixedSteps | AdaptiveSteps,
    stops: Sequence[float] = (),
    observers: Sequence[Observer] = (),
    result: Integration | None = None,
) -> Integration:
    """Advance `stepper` from its time to `t_end`, landing on every stop time.

    Raises `SolverError` when a fixed step fails, when an adaptive step still fails at dt_min
    or after max_retries cuts (the stepper is left at the last accepted step), or when
    max_steps accepted steps do not reach t_end (reason "max_steps"). Pass `result` to keep
    the counts of a run that ends in an exception.
    """
    if not math.isfinite(t_end):
        raise InputError(f"integrate: t_end must be finite, got {t_end}")
    start = time.perf_counter()
    result = result if result is not None else Integration()
    times = _Stops(stepper.t, t_end, stops)
    adaptive = isinstance(control, AdaptiveSteps)
    dt = control.dt0 if adaptive else 0.0
    while stepper.t < t_end - times.tol:
        if result.accepted >= control.max_steps:
            raise SolverError(
                f"max_steps = {control.max_steps} reached at t = {stepper.t:g} before "
                f"t_end = {t_end:g}",
                reason="max_steps",
            )
        if not adaptive:
            dt = _fixed_dt(control, result.accepted, stepper.t)
        h = _landing_step(dt, times.next_after(stepper.t) - stepper.t, control)
        record = _attempt(stepper, h, control, result) if adaptive else stepper.step(h)
        result.records.append(record)
        result.accepted += 1
        dt = control.next_dt(record, record.dt, dt) if adaptive else dt
        for observe in observers:
            observe(record, dt)
    result.next_dt = dt
    result.wall_time = time.perf_counter() - start
    return result


def _fixed_dt(control: FixedSteps, k: int, t: float) -> float:
    dt = control.dt(k, t) if callable(control.dt) else control.dt
    if not (dt > 0 and math.isfinite(dt)):
        raise InputError(f"integrate: time step must be positive and finite, got {dt}")
    return float(dt)


def _landing_step(dt: float, remaining: float, control: FixedSteps | AdaptiveSteps) -> float:
    """Δt, shortened to land on the next stop; adaptive runs leave no sliver below dt_min."""
    if not isinstance(control, AdaptiveSteps):  # a last step within 1e-9 of Δt takes the rest
        return remaining if remaining <= dt * (1 + 1e-9) else dt
    if remaining > dt + control.dt_min:
        return dt
    return remaining if remaining <= control.dt_max else 0.5 * remaining


def _attempt(stepper: Stepper, h: float, control: AdaptiveSteps, result: Integration) -> StepRecord:
    """One accepted step, cutting Δt after each failed solve (counted in `result`)."""
    retries = 0
    while True:
        try:
            return stepper.step(h).with_rejected(retries)
        except SolverError as err:
            retries += 1
            result.rejected += 1
            if retries > control.max_retries or h <= control.dt_min * (1 + 1e-12):
                raise SolverError(
                    f"step from t = {stepper.t:g} failed {retries} time(s), "
                    f"last dt = {h:g} (dt_min {control.dt_min:g}): {err}",
                    reason=err.reason,
                    history=err.history,
                ) from err
            h = max(h * control.cut, control.dt_min)
