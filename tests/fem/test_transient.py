"""The transient base (`pnpf_fem.fem.transient.TransientProblem`) on a small heat equation:
bound data and Dirichlet data follow the time, a failed step restores state and time data."""

import math

import numpy as np
import pytest

pytest.importorskip("dolfinx")

import ufl
from dolfinx import fem
from dolfinx import mesh as dmesh
from mpi4py import MPI

from pnpf_fem.compat import lagrange_space
from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fem import Field, SolverOptions, TransientProblem, unit_square_mesh
from pnpf_fem.fem.snes import NonlinearSolver
from pnpf_fem.integrate import StepRecord


class _Heat(TransientProblem):
    """u_t = Δu + f(t^{n+1}) with u = t (1 + x) on ∂Ω, implicit Euler; `fail` forces a
    SolverError after the solve."""

    def __init__(self) -> None:
        fm = unit_square_mesh(4, MPI.COMM_WORLD)
        super().__init__(fm.mesh, SolverOptions(rtol=1e-12, atol=1e-14))
        V = lagrange_space(self.domain, 1)
        self.u, self.u_n = fem.Function(V), fem.Function(V)
        self._track_state(self.u, self.u_n)
        self.f = self._bind(lambda t: 2.0 * t)
        self.f_mid = self._bind(lambda t: 3.0 * t, "mid")
        self.domain.topology.create_connectivity(1, 2)
        self.facets = dmesh.exterior_facet_indices(self.domain.topology)
        self.bc = self._dirichlet_bc(V, None, self.facets, Field(lambda x, t: t * (1.0 + x[0])))
        self.log_bc = self._dirichlet_bc(V, None, self.facets, lambda t: math.exp(t), log=True)
        w = ufl.TestFunction(V)
        F = (self.u - self.u_n) / self.dt * w * ufl.dx
        F += ufl.inner(ufl.grad(self.u), ufl.grad(w)) * ufl.dx - self.f * w * ufl.dx
        self.solver = NonlinearSolver(F, self.u, [self.bc], "transient_heat", self.options)
        self.fail = False

    def _advance(self) -> int:
        its = self.solver.solve()
        if self.fail:
            raise SolverError("forced failure", reason="TEST")
        return its

    def _record(self, dt: float, iterations: int, seconds: float) -> StepRecord:
        return StepRecord(self.t, dt, iterations, seconds, {"u_max": float(self.u.x.array.max())})


def _boundary_values(problem: _Heat, bc) -> tuple[np.ndarray, np.ndarray]:
    V = problem.u.function_space
    dofs = fem.locate_dofs_topological(V, 1, problem.facets)
    x = V.tabulate_dof_coordinates()[dofs, 0]
    return bc.g.x.array[dofs], x


def _check_data_at(problem: _Heat, t: float, t_mid: float) -> None:
    assert float(problem.t_new.value) == t and float(problem.t_mid.value) == t_mid
    assert float(problem.f.value) == 2.0 * t and float(problem.f_mid.value) == 3.0 * t_mid
    g, x = _boundary_values(problem, problem.bc)
    np.testing.assert_allclose(g, t * (1.0 + x), rtol=0, atol=1e-14)
    glog, _ = _boundary_values(problem, problem.log_bc)
    np.testing.assert_allclose(glog, t, rtol=0, atol=1e-14)


def test_step_sets_times_data_and_commits():
    problem = _Heat()
    _check_data_at(problem, 0.0, 0.0)
    record = problem.step(0.1)
    assert problem.t == record.t == 0.1 and record.dt == 0.1 and record.newton_iterations >= 1
    _check_data_at(problem, 0.1, 0.05)
    np.testing.assert_array_equal(problem.u_n.x.array, problem.u.x.array)
    _, x = _boundary_values(problem, problem.bc)
    dofs = fem.locate_dofs_topological(problem.u.function_space, 1, problem.facets)
    np.testing.assert_allclose(problem.u.x.array[dofs], 0.1 * (1.0 + x), atol=1e-14)
    first = problem.initial_observables()
    assert first.t == 0.1 and first.dt == 0.0 and first["u_max"] == record["u_max"]


def test_failed_step_restores_state_and_time_data():
    problem = _Heat()
    problem.step(0.1)
    before = problem.u.x.array.copy()
    problem.fail = True
    with pytest.raises(SolverError, match="forced"):
        problem.step(0.2)
    assert problem.t == 0.1
    np.testing.assert_array_equal(problem.u.x.array, before)
    np.testing.assert_array_equal(problem.u_n.x.array, before)
    _check_data_at(problem, 0.1, 0.1)
    for bad in (-1.0, 0.0, math.nan, math.inf, "0.1"):
        with pytest.raises(InputError, match="time step"):
            problem.step(bad)
    assert problem.t == 0.1


def test_restart_from_commits_the_loaded_state():
    problem = _Heat()
    problem.u.x.array[:] = 0.25
    problem.restart_from(0.5)
    assert problem.t == 0.5
    np.testing.assert_array_equal(problem.u_n.x.array, 0.25)
    _check_data_at(problem, 0.5, 0.5)


def test_log_dirichlet_data_must_be_positive():
    problem = _Heat()
    V = problem.u.function_space
    with pytest.raises(InputError, match="must be finite"):
        problem._dirichlet_bc(V, None, problem.facets, lambda t: t - 1.0, log=True)
