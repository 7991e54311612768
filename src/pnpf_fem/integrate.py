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

import numpy as np
from mpi4py import MPI

from pnpf_fem.errors import InputError, SolverError

__all__ = [
    "AdaptiveSteps",
    "ErrorControl",
    "FixedSteps",
    "Integration",
    "Observer",
    "PseudoTransient",
    "StepFailure",
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


class StepFailure(SolverError):
    """A step that failed however short it was made: where, how often, with which steps, and
    the first and the last failure (in the stepper's time units; callers convert for users)."""

    def __init__(
        self,
        t: float,
        dt_first: float,
        dt_last: float,
        retries: int,
        first: Exception,
        last: Exception,
    ) -> None:
        self.t, self.dt_first, self.dt_last, self.retries = t, dt_first, dt_last, retries
        self.first, self.last = first, last
        reason = getattr(last, "reason", "") or "error_control"
        message = (
            f"the step from t = {t:g} failed {retries} time(s) with dt from {dt_first:g} down "
            f"to {dt_last:g}; first failure: {first}"
        )
        if str(last) != str(first):
            message += f"; last failure: {last}"
        super().__init__(message)
        self.reason = reason


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


@dataclass(frozen=True)
class ErrorControl:
    """Step-size control on an estimate of the local time error (step doubling).

    Each step of length h is also taken as two steps of h/2 from the same state; the difference
    of the two results, divided by 2^p − 1 (p the stepper's `order`), estimates the local error
    of the half steps, which are kept. The error is measured in the weighted max norm
    |δ_i| / (atol + rtol |u_i|) over the stepper's `state_vector()` — in the log variables
    η = log c and ξ = log T an absolute error is a relative one of c and T. Steps with an error
    above 1 are repeated with a smaller h; accepted ones set the next h by the PI controller of
    Gustafsson (h ∝ err^{−0.7/(p+1)} err_prev^{0.4/(p+1)}). A failed solve cuts h by 4.

    The stepper needs `snapshot()`, `restore(snapshot)`, `state_vector()` and `order`
    (and `comm` for a distributed state).
    """

    dt0: float
    dt_min: float
    dt_max: float
    rtol: float = 1e-3
    atol: float = 1e-6
    safety: float = 0.9
    max_growth: float = 4.0
    max_retries: int = 40
    max_steps: int = 100_000

    def __post_init__(self) -> None:
        AdaptiveSteps(self.dt0, self.dt_min, self.dt_max, max_steps=self.max_steps)  # the checks
        for name in ("rtol", "atol"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise InputError(f"ErrorControl.{name} must be a non-negative number, got {v!r}")
        if self.rtol == 0 and self.atol == 0:
            raise InputError("ErrorControl needs rtol > 0 or atol > 0")

    def error(self, stepper: Any, coarse: np.ndarray, fine: np.ndarray) -> tuple[float, float]:
        """(weighted error, absolute max error) of the half steps, over all ranks."""
        order = int(getattr(stepper, "order", 1))
        delta = np.abs(fine - coarse) / (2**order - 1)
        scale = self.atol + self.rtol * np.maximum(np.abs(fine), np.abs(coarse))
        local = (float(np.max(delta / scale)), float(np.max(delta))) if delta.size else (0.0, 0.0)
        comm = getattr(stepper, "comm", None)
        if comm is None:
            return local
        return comm.allreduce(local[0], op=MPI.MAX), comm.allreduce(local[1], op=MPI.MAX)

    def next_dt(self, h: float, err: float, err_prev: float, order: int) -> float:
        k = order + 1
        factor = self.safety * max(err, 1e-10) ** (-0.7 / k) * max(err_prev, 1e-10) ** (0.4 / k)
        factor = min(max(factor, 0.2), self.max_growth)
        return min(max(h * factor, self.dt_min), self.dt_max)


@dataclass(frozen=True)
class PseudoTransient:
    """Steps to a steady state (pseudo-transient continuation): Δt grows as the state settles.

    After each implicit step the rate r = max |u^{n+1} − u^n| / Δt (over the stepper's
    `state_vector()`, all ranks) is the size of the stationary residual; the next step is
    Δt · clamp(r_prev / r, 0.5, growth) (switched evolution relaxation), so Δt → ∞ and the
    steps become Newton steps on the stationary problem. A failed solve cuts Δt by 4. The run
    ends when r < `tol` (`Integration.converged`), at any t — pass t_end = math.inf. The
    constraints the time stepping keeps (the masses of a closed cell) hold at the steady state.

    Multistep schemes take backward-Euler steps here (the stepper's `forget_history()` before
    each step): variable-step BDF2 is zero-stable only for step ratios below 1 + √2, and these
    steps grow up to `growth`-fold. With BDF2 steps a thermally insulated strip cell charged to
    2 k_BT0/e gained spurious heat on the way (T = 1.6–2.0 at the end, against 1.04 by backward
    Euler); where nothing holds T, the steady T is the heat the path released.
    """

    dt0: float = 1e-3
    dt_max: float = 1e15
    dt_min: float = 1e-12
    tol: float = 1e-10
    growth: float = 10.0
    max_steps: int = 500

    def __post_init__(self) -> None:
        AdaptiveSteps(self.dt0, self.dt_min, self.dt_max, max_steps=self.max_steps)
        if not (self.tol > 0 and self.growth > 1):
            raise InputError("PseudoTransient needs tol > 0 and growth > 1")

    def rate(self, stepper: Any, before: np.ndarray, h: float) -> float:
        local = float(np.max(np.abs(stepper.state_vector() - before))) if before.size else 0.0
        comm = getattr(stepper, "comm", None)
        return (local if comm is None else comm.allreduce(local, op=MPI.MAX)) / h


@dataclass
class Integration:
    """What `integrate` did: the accepted records and the counts (kept when it raises)."""

    records: list[StepRecord] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    wall_time: float = 0.0
    next_dt: float = 0.0  # the step proposed after the last one (to continue a run)
    error_estimate: float = 0.0  # Σ of the estimated local errors (max norm; ErrorControl)
    last_error: float = 1.0  # the weighted error of the last accepted step (ErrorControl)
    rate: float = math.inf  # max |du/dt| of the last step (PseudoTransient)
    converged: bool = False  # a PseudoTransient run reached rate < tol


class _Stops:
    """The times a step must land on: the stop times after t0, then t_end."""

    def __init__(self, t0: float, t_end: float, stops: Sequence[float]) -> None:
        self.tol = 1e-12 * max(1.0, abs(t_end) if math.isfinite(t_end) else abs(t0))
        self.times = [*sorted(s for s in stops if t0 + self.tol < s < t_end - self.tol), t_end]

    def next_after(self, t: float) -> float:
        while self.times[0] <= t + self.tol:
            self.times.pop(0)
        return self.times[0]


Control = FixedSteps | AdaptiveSteps | ErrorControl | PseudoTransient


def integrate(
    stepper: Stepper,
    t_end: float,
    control: Control,
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
    steady = isinstance(control, PseudoTransient)
    if not (math.isfinite(t_end) or (steady and t_end == math.inf)):
        raise InputError(f"integrate: t_end must be finite, got {t_end}")
    start = time.perf_counter()
    result = result if result is not None else Integration()
    times = _Stops(stepper.t, t_end, stops)
    dt = 0.0 if isinstance(control, FixedSteps) else control.dt0
    while stepper.t < t_end - times.tol and not (steady and result.converged):
        if result.accepted >= control.max_steps:
            raise SolverError(
                f"max_steps = {control.max_steps} reached at t = {stepper.t:g} before "
                f"t_end = {t_end:g}",
                reason="max_steps",
            )
        if isinstance(control, FixedSteps):
            dt = _fixed_dt(control, result.accepted, stepper.t)
        h = _landing_step(dt, times.next_after(stepper.t) - stepper.t, control)
        records, dt = _take(stepper, h, dt, control, result)
        for record in records:
            result.records.append(record)
            result.accepted += 1
            for observe in observers:
                observe(record, dt)
    result.next_dt = dt
    result.wall_time = time.perf_counter() - start
    return result


def _take(
    stepper: Stepper, h: float, dt: float, control: Control, result: Integration
) -> tuple[list[StepRecord], float]:
    """The records of one step of length h (two for ErrorControl) and the Δt proposed next."""
    if isinstance(control, FixedSteps):
        return [stepper.step(h)], dt
    if isinstance(control, ErrorControl):
        return _doubled(stepper, h, control, result)
    if isinstance(control, PseudoTransient):
        return _pseudo_step(stepper, h, control, result)
    record = _attempt(stepper, h, control, result)
    return [record], control.next_dt(record, record.dt, dt)


def _fixed_dt(control: FixedSteps, k: int, t: float) -> float:
    dt = control.dt(k, t) if callable(control.dt) else control.dt
    if not (dt > 0 and math.isfinite(dt)):
        raise InputError(f"integrate: time step must be positive and finite, got {dt}")
    return float(dt)


def _landing_step(dt: float, remaining: float, control: Control) -> float:
    """Δt, shortened to land on the next stop; adaptive runs leave no sliver below dt_min."""
    if isinstance(control, PseudoTransient) and math.isinf(remaining):
        return dt
    if isinstance(control, FixedSteps):  # a last step within 1e-9 of Δt takes the rest
        return remaining if remaining <= dt * (1 + 1e-9) else dt
    if remaining > dt + control.dt_min:
        return dt
    return remaining if remaining <= control.dt_max else 0.5 * remaining


def _attempt(stepper: Stepper, h: float, control: AdaptiveSteps, result: Integration) -> StepRecord:
    """One accepted step, cutting Δt after each failed solve (counted in `result`)."""
    retries, h_first, first = 0, h, None
    while True:
        try:
            return stepper.step(h).with_rejected(retries)
        except SolverError as err:
            retries += 1
            result.rejected += 1
            first = first or err
            if retries > control.max_retries or h <= control.dt_min * (1 + 1e-12):
                raise StepFailure(stepper.t, h_first, h, retries, first, err) from err
            h = max(h * control.cut, control.dt_min)


def _doubled(
    stepper: Any, h: float, control: ErrorControl, result: Integration
) -> tuple[list[StepRecord], float]:
    """Steps h and 2 × h/2 from one state until the error estimate is at most 1."""
    retries, h_first, first = 0, h, None
    while True:
        snapshot = stepper.snapshot()
        try:
            stepper.step(h)
            coarse = np.array(stepper.state_vector(), copy=True)
            stepper.restore(snapshot)
            first, second = stepper.step(0.5 * h), stepper.step(0.5 * h)
            err, err_abs = control.error(stepper, coarse, stepper.state_vector())
        except SolverError as failure:
            stepper.restore(snapshot)
            err, err_abs = math.inf, math.inf
            why: SolverError | None = failure
        else:
            why = None
        at_min = h <= control.dt_min * (1 + 1e-12)
        if err <= 1.0 or (at_min and why is None):
            result.error_estimate += err_abs
            order = int(getattr(stepper, "order", 1))
            dt = control.next_dt(h, err, result.last_error, order)
            result.last_error = err
            return [first.with_rejected(retries), second], dt
        stepper.restore(snapshot)
        retries += 1
        result.rejected += 1
        failure = why or SolverError(f"estimated error {err:.3g} times the tolerance")
        first = first or failure
        if retries > control.max_retries or at_min:
            raise StepFailure(stepper.t, h_first, h, retries, first, failure) from why
        order = int(getattr(stepper, "order", 1))
        shrink = 0.25 if why is not None else max(0.2, control.safety * err ** (-1 / (order + 1)))
        h = max(h * shrink, control.dt_min)


def _pseudo_step(
    stepper: Any, h: float, control: PseudoTransient, result: Integration
) -> tuple[list[StepRecord], float]:
    """One implicit step towards the steady state and the next (larger) Δt."""
    retries, h_first, first = 0, h, None
    before = np.array(stepper.state_vector(), copy=True)
    forget = getattr(stepper, "forget_history", None)
    if forget is not None:  # a multistep scheme: backward Euler (see PseudoTransient)
        forget()
    while True:
        try:
            record = stepper.step(h).with_rejected(retries)
            break
        except SolverError as err:
            retries += 1
            result.rejected += 1
            first = first or err
            if h <= control.dt_min * (1 + 1e-12):
                raise StepFailure(stepper.t, h_first, h, retries, first, err) from err
            h = max(h / 4, control.dt_min)
    rate = control.rate(stepper, before, h)
    factor = min(max(result.rate / rate, 0.5), control.growth) if rate > 0 else control.growth
    result.rate, result.converged = rate, rate < control.tol
    return [record], min(max(h * factor, control.dt_min), control.dt_max)
