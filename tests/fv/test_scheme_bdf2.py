"""fv-bdf2, the L-stable second-order FV scheme (`pnpf_fem.fv.scheme_bdf2`).

* Its Jacobian is exact (finite differences), for the backward Euler start and for a BDF2 step
  with a history of another step size.
* Second order in Δt on the manufactured solution (4.1) (against a run with 64× smaller steps on
  the same mesh): measured 2.07, 2.05, 2.04 for Δt = 0.02 … 0.0025.
* The error controller meets its tolerance on the same problem: the time error falls with rtol.
* On the closed blocking cell graded towards its electrodes (ε = 0.05, V = 4 k_BT0/e, t = 40,
  adaptive steps) it reaches the discrete equilibrium: the spread of log c + zψ/T is 2.6e-10
  (fv2: 1.2e-2, the undamped stiff modes of modified Crank–Nicolson), T uniform; masses to
  round-off; the entropy (not proven non-decreasing for BDF2) measured non-decreasing.
* A stiff closed run (ψ* = 20, Δt = 0.1, variable steps) conserves mass to round-off and stays
  positive; its BDF2 steps without a positive solution are taken as backward Euler.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_schemes import _fd_jacobian

from pnpf_fem import mms
from pnpf_fem.fv import FVState, PNPFProblem, SchemeBDF2, VoronoiMesh, entropy, initial_state
from pnpf_fem.fv.accuracy import mms_problem, solve_mms
from pnpf_fem.fv.build import build_scheme
from pnpf_fem.integrate import AdaptiveSteps, ErrorControl, FixedSteps, integrate
from pnpf_fem.meshing import strip, unit_square
from pnpf_fem.model import cases
from pnpf_fem.units import DimensionlessPNPF, nondimensionalize, supercapacitor_parameters

SUPERCAP = nondimensionalize(supercapacitor_parameters())
THIN = cases.charging_model(eps=0.05, frictions=(1.0, 1.0))


@pytest.mark.parametrize("with_history", [False, True], ids=["euler-start", "bdf2"])
def test_jacobian_is_exact(with_history: bool) -> None:
    mesh = VoronoiMesh.from_triangulation(unit_square(4, "unstructured", seed=1))
    params = DimensionlessPNPF(("a", "b"), (1.0, -2.0), (1.3, 0.7), 0.8, 1.5, 0.9)
    problem = PNPFProblem(mesh, params, dirichlet={"left": 0.0, "right": 0.3}, neumann={"top": 0.2})
    rng = np.random.default_rng(0)
    n = mesh.num_vertices

    def state(t: float) -> FVState:
        return FVState(
            t, rng.uniform(0.2, 1.5, (2, n)), rng.uniform(-1, 1, n), rng.uniform(0.5, 2, n)
        )

    scheme = SchemeBDF2(problem)
    previous = state(0.07) if with_history else None
    physics = scheme.physics(state(0.1), 0.05, previous, 0.03 if with_history else None)
    residual = scheme._residual(physics)
    x = rng.normal(scale=0.5, size=4 * n)
    _, jac = residual(x, True)
    fd = _fd_jacobian(residual, x)
    assert np.max(np.abs(jac.toarray() - fd)) < 1e-7 * max(1.0, np.max(np.abs(fd)))


def _max_difference(a: FVState, b: FVState) -> float:
    return max(
        float(np.max(np.abs(a.c - b.c))),
        float(np.max(np.abs(a.psi - b.psi))),
        float(np.max(np.abs(a.T - b.T))),
    )


def test_second_order_in_time() -> None:
    reference = solve_mms("fv-bdf2", 8, 0.1 / 320)[1]
    errors = [_max_difference(solve_mms("fv-bdf2", 8, 0.1 / k)[1], reference) for k in (5, 10, 20)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders >= 1.9), (errors, orders)


def test_error_control_meets_the_tolerance() -> None:
    reference = solve_mms("fv-bdf2", 8, 0.1 / 320)[1]
    problem = mms_problem(8)  # the mesh and data of solve_mms
    errors, steps = [], []
    for rtol in (1e-3, 1e-5):
        state = initial_state(
            problem, [mms.exact_c, mms.exact_c], mms.exact_temperature, mms.exact_psi
        )
        scheme = SchemeBDF2(problem, state=state)
        control = ErrorControl(dt0=0.01, dt_min=1e-8, dt_max=0.1, rtol=rtol, atol=rtol)
        run = integrate(scheme, 0.1, control)
        assert scheme.t == pytest.approx(0.1, abs=1e-14)
        errors.append(_max_difference(scheme.state, reference))
        steps.append(len(run.records))
    assert errors[0] < 1e-3 and errors[1] < 1e-5, errors  # measured 2.1e-5, 2.8e-6
    assert errors[1] < errors[0] / 5, errors
    assert steps[1] > steps[0]


@pytest.fixture(scope="module")
def settled_cell() -> tuple[SchemeBDF2, list, FVState]:
    problem = cases.charging_cell(strip(32, 0.05, graded=True), 4.0, THIN, bumps=False)
    scheme = build_scheme(problem, "fv-bdf2")
    state0 = scheme.state
    run = integrate(scheme, 40.0, AdaptiveSteps(dt0=1e-3, dt_min=1e-9, dt_max=2.0))
    return scheme, run.records, state0


def test_graded_closed_cell_reaches_equilibrium(settled_cell) -> None:
    scheme, records, state0 = settled_cell
    s, z = scheme.state, scheme.problem.params.valences
    spread = max(float(np.ptp(np.log(s.c[k]) + z[k] * s.psi / s.T)) for k in range(len(z)))
    assert spread < 1e-8
    assert np.ptp(s.T) < 1e-9 and s.T.min() > 1.0 + 1e-3  # uniform, and it was heated
    m = scheme.problem.mesh.volumes
    for k in range(len(z)):
        assert abs(m @ s.c[k] / (m @ state0.c[k]) - 1) < 1e-12
    entropies = [entropy(scheme.problem, state0)[0]] + [r["S"] for r in records]
    assert np.min(np.diff(entropies)) >= -1e-12 * abs(entropies[-1])


def test_fv2_does_not_settle_there() -> None:
    """The comparison that motivates fv-bdf2 (so the test above has a failing counterpart)."""
    problem = cases.charging_cell(strip(32, 0.05, graded=True), 4.0, THIN, bumps=False)
    scheme = build_scheme(problem, "fv2")
    integrate(scheme, 40.0, AdaptiveSteps(dt0=1e-3, dt_min=1e-9, dt_max=2.0))
    s, z = scheme.state, scheme.problem.params.valences
    spread = max(float(np.ptp(np.log(s.c[k]) + z[k] * s.psi / s.T)) for k in range(len(z)))
    assert spread > 1e-3


def test_stiff_closed_run_conserves_mass_and_stays_positive() -> None:
    mesh = VoronoiMesh.from_triangulation(unit_square(5, "unstructured", seed=2))
    problem = PNPFProblem(mesh, SUPERCAP, dirichlet={"left": 0.0, "right": 20.0})
    state0 = initial_state(problem, [1.0, 1.0], 1.0)
    scheme = SchemeBDF2(problem, state=state0)
    steps = iter([0.01, 0.03, 0.02, 0.05, 0.1] + [0.1] * 20)
    history = integrate(scheme, 2.21, FixedSteps(lambda k, t: next(steps))).records
    m = mesh.volumes
    for k, name in enumerate(problem.params.species_names):
        assert max(abs(o[f"mass_{name}"] / (m @ state0.c[k]) - 1) for o in history) < 1e-12
    assert min(o["min_c"] for o in history) > 0 and min(o["min_T"] for o in history) > 0
    assert scheme.state.T.max() > 1.0 + 1e-6  # it heated
    # where c falls fast BDF2's history turns negative and the step has no positive solution:
    # those steps were taken as backward Euler (without that fallback the run fails at step 5)
    assert 0 < scheme.euler_steps < len(history)
