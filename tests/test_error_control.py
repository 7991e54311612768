"""Time steps chosen by an estimate of the local error (step doubling, PI controller).

* On y' = −λy with backward Euler (order 1) and the trapezoidal rule (order 2), whose exact
  solution is known, the global error at t_end stays within a multiple of the tolerance (the
  sum of the local errors) and falls with it, stop times are landed on, and a too large first
  step is rejected.
* On the FEM charging cell (fem-be, fem2) the time error against a reference run with many small
  fixed steps falls with the tolerance, and the run lands on t_end.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

from pnpf_fem.errors import InputError
from pnpf_fem.fem.build import build_scheme
from pnpf_fem.integrate import ErrorControl, FixedSteps, StepRecord, integrate
from pnpf_fem.meshing import unit_square
from pnpf_fem.model import cases

LAMBDA = 3.0


class Decay:
    """y' = −λ y, y(0) = 1, by backward Euler (order 1) or the trapezoidal rule (order 2)."""

    comm = None

    def __init__(self, order: int) -> None:
        self.order, self.t, self.y = order, 0.0, np.array([1.0, 2.0])

    def step(self, dt: float) -> StepRecord:
        a = LAMBDA * dt
        self.y = self.y / (1 + a) if self.order == 1 else self.y * (1 - a / 2) / (1 + a / 2)
        self.t += dt
        return StepRecord(self.t, dt, 1, 0.0)

    def snapshot(self) -> tuple[float, np.ndarray]:
        return self.t, self.y.copy()

    def restore(self, snap: tuple[float, np.ndarray]) -> None:
        self.t, self.y = snap[0], snap[1].copy()

    def state_vector(self) -> np.ndarray:
        return self.y


def _decay_error(order: int, rtol: float, stops=()) -> tuple[float, object, Decay]:
    s = Decay(order)
    control = ErrorControl(dt0=0.5, dt_min=1e-8, dt_max=1.0, rtol=rtol, atol=rtol * 1e-3)
    run = integrate(s, 2.0, control, stops=stops)
    exact = np.array([1.0, 2.0]) * math.exp(-LAMBDA * 2.0)
    return float(np.max(np.abs(s.y - exact) / exact)), run, s


@pytest.mark.parametrize("order", [1, 2])
def test_the_global_error_follows_the_tolerance(order: int) -> None:
    errors = []
    for rtol in (1e-2, 1e-3, 1e-4):
        err, run, stepper = _decay_error(order, rtol)
        assert stepper.t == pytest.approx(2.0, abs=1e-12)
        # local control: the global error is at most the sum of the local errors, each at most
        # the tolerance (relative here: atol is negligible)
        assert err < 2 * rtol * run.accepted, (order, rtol, err, run.accepted)
        assert run.error_estimate > 0 and run.accepted % 2 == 0
        errors.append(err)
    assert errors[0] > errors[1] > errors[2]
    # with the local error per step held at the tolerance, h ∝ tol^{1/(p+1)} and the global
    # error ∝ tol^{p/(p+1)}: a factor 100 in tol gives 10 (p = 1) or 21.5 (p = 2)
    assert errors[0] / errors[2] > 0.5 * 100 ** (order / (order + 1))


def test_a_too_large_first_step_is_rejected_and_stops_are_landed_on() -> None:
    _, run, _ = _decay_error(1, 1e-4, stops=(0.3, 1.234))
    assert run.rejected >= 1 and run.records[0].rejected >= 1
    times = [r.t for r in run.records]
    assert any(abs(t - 1.234) < 1e-12 for t in times) and any(abs(t - 0.3) < 1e-12 for t in times)


def test_bad_error_control() -> None:
    with pytest.raises(InputError, match="rtol > 0 or atol > 0"):
        ErrorControl(dt0=0.1, dt_min=0.01, dt_max=1.0, rtol=0.0, atol=0.0)
    with pytest.raises(InputError, match="dt_min <= dt0"):
        ErrorControl(dt0=0.001, dt_min=0.01, dt_max=1.0)


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["fem-be", "fem2"])
def test_fem_time_error_falls_with_the_tolerance(method: str) -> None:
    problem = cases.charging_cell(unit_square(6), voltage=2.0)
    t_end = 0.2

    def final(control) -> np.ndarray:
        scheme = build_scheme(problem, method, comm=MPI.COMM_WORLD)
        integrate(scheme, t_end, control)
        assert scheme.t == pytest.approx(t_end, abs=1e-12)
        return scheme.state_vector().copy()

    reference = final(FixedSteps(t_end / 800))
    errors = []
    for rtol in (1e-2, 1e-4):
        u = final(ErrorControl(dt0=0.05, dt_min=1e-8, dt_max=t_end, rtol=rtol, atol=rtol))
        local = float(np.max(np.abs(u - reference)))
        errors.append(MPI.COMM_WORLD.allreduce(local, op=MPI.MAX))
    assert errors[1] < errors[0] / 5, errors
    assert errors[1] < 50 * 1e-4, errors
