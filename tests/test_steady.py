"""Steady states by pseudo-transient continuation, checked against an independent 1D solution.

A closed cell (blocking electrodes ψ = 0 and ψ = V at x = 0, 1, zero flux, insulated) has the
equilibrium c^± = A^± exp(∓ψ/T) with T uniform and A^± fixed by the conserved masses: the
discrete Poisson–Boltzmann problem. On a one-row strip of right triangles that all share the
same diagonal direction, the P1 stiffness of a field constant in y is the 3-point Laplacian (the
diagonals, opposite right angles, carry no coupling) and the vertex-quadrature charge is the
trapezoid rule, so the FEM equilibrium solves, node by node,

    ε² (2ψ_i − ψ_{i−1} − ψ_{i+1}) / h² = A⁺ e^{−ψ_i/T} − A⁻ e^{ψ_i/T},   Σ_i w_i A^± e^{∓ψ_i/T} = 1,

which SciPy solves here independently (`scipy.optimize.root`). The steady solve must agree to
1e-8, also on 2 ranks; a nearly isothermal cell also agrees with its time-stepped equilibrium.
The FV boxes of that strip give the same 3-point problem (τ = 0 on the diagonals, the column of
boxes has width h), so fv-bdf2's steady state must meet the same reference.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from mpi4py import MPI
from scipy.optimize import root

from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.mesh import gather_vertex_values
from pnpf_fem.fv.build import build_scheme as build_fv_scheme
from pnpf_fem.integrate import AdaptiveSteps, PseudoTransient, integrate
from pnpf_fem.meshing import strip as make_strip
from pnpf_fem.model import cases

N, V = 24, 3.0
MODEL = cases.charging_model(eps=0.1, frictions=(1.0, 1.0))


def strip(n: int) -> object:
    return make_strip(n, 0.1)


def discrete_poisson_boltzmann(T: float) -> np.ndarray:
    """ψ at the nodes x_i = i/N of the 1D discrete problem above (its own Newton, SciPy)."""
    h = 1.0 / N
    w = np.full(N + 1, h)
    w[[0, -1]] = h / 2

    def psi_of(x: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], x[:-2], [V]])

    def equations(x: np.ndarray) -> np.ndarray:
        psi, a_plus, a_minus = psi_of(x), math.exp(x[-2]), math.exp(x[-1])
        cp, cm = a_plus * np.exp(-psi / T), a_minus * np.exp(psi / T)
        lap = (2 * psi[1:-1] - psi[:-2] - psi[2:]) / h**2
        poisson = MODEL.eps**2 * lap - (cp - cm)[1:-1]
        return np.concatenate([poisson, [w @ cp - 1.0, w @ cm - 1.0]])

    x0 = np.concatenate([np.linspace(0, V, N + 1)[1:-1], [0.0, 0.0]])
    sol = root(equations, x0, method="hybr", tol=1e-14)
    # hybr may stop with "xtol too small" once at round-off: the residual is what counts
    assert np.max(np.abs(equations(sol.x))) < 1e-12, sol.message
    return psi_of(sol.x)


def _nodal(scheme) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, ψ, T) at the vertices of the triangulation (every rank)."""
    mesh, M = scheme.problem.mesh, scheme.M
    psi = gather_vertex_values(mesh, scheme.u, M)
    T = np.exp(gather_vertex_values(mesh, scheme.u, M + 1))
    return strip(N).points[:, 0], psi, T


@pytest.mark.mpi
def test_steady_solve_matches_the_discrete_poisson_boltzmann_solution() -> None:
    problem = cases.charging_cell(strip(N), V, MODEL, bumps=False)
    scheme = build_scheme(problem, "fem-be", comm=MPI.COMM_WORLD)
    run = integrate(scheme, math.inf, PseudoTransient(dt0=1e-3, tol=1e-11))
    assert run.converged and run.accepted < 80, (run.accepted, run.rate)
    x, psi, T = _nodal(scheme)
    assert np.ptp(T) < 1e-10 and T.min() > 1.0  # uniform, heated by the charging
    reference = discrete_poisson_boltzmann(float(T.mean()))
    i = np.rint(x * N).astype(int)
    assert np.max(np.abs(psi - reference[i])) < 1e-8
    masses = [r["mass_cation"] for r in run.records]
    assert abs(masses[-1] - masses[0]) < 1e-10


def test_fv_steady_solve_matches_the_discrete_poisson_boltzmann_solution() -> None:
    problem = cases.charging_cell(strip(N), V, MODEL, bumps=False)
    scheme = build_fv_scheme(problem, "fv-bdf2")
    run = integrate(scheme, math.inf, PseudoTransient(dt0=1e-3, tol=1e-11))
    assert run.converged and run.accepted < 80, (run.accepted, run.rate)
    s = scheme.state
    assert np.ptp(s.T) < 1e-10 and s.T.min() > 1.0
    reference = discrete_poisson_boltzmann(float(s.T.mean()))
    i = np.rint(scheme.problem.mesh.points[:, 0] * N).astype(int)
    assert np.max(np.abs(s.psi - reference[i])) < 1e-8  # measured 7.8e-13


def test_steady_solve_equals_the_time_stepped_equilibrium() -> None:
    """Nearly isothermal (C_T = 1e9): the heat a path releases sets the final T, and a few huge
    pseudo-time steps release less of it than the transient does; ψ and c do not depend on
    the path once T is fixed."""
    isothermal = dataclasses.replace(MODEL, heat_capacity=1e9)
    problem = cases.charging_cell(strip(N), V, isothermal, bumps=False)
    steady = build_scheme(problem, "fem-bdf2")
    integrate(steady, math.inf, PseudoTransient(dt0=1e-3, tol=1e-11))
    stepped = build_scheme(problem, "fem-bdf2")
    integrate(stepped, 60.0, AdaptiveSteps(dt0=1e-3, dt_min=1e-9, dt_max=4.0))
    (_, psi_a, T_a), (_, psi_b, T_b) = _nodal(steady), _nodal(stepped)
    assert np.max(np.abs(psi_a - psi_b)) < 1e-8
    assert np.max(np.abs(T_a - T_b)) < 1e-6  # T ≈ 1: its level is set by the path (above)


def test_pseudo_transient_refuses_a_bad_control() -> None:
    from pnpf_fem.errors import InputError

    with pytest.raises(InputError, match="tol > 0"):
        PseudoTransient(tol=0.0)


def test_pseudo_transient_steps_of_bdf2_schemes_are_backward_euler() -> None:
    """An insulated closed cell: its steady T is the heat the path released. Pseudo-time steps
    grow 10-fold, where variable-step BDF2 is not zero-stable (ratios < 1 + √2): fv-bdf2's path
    then ended at T = 1.97 (n = 24) instead of 1.04. Multistep schemes step by backward Euler
    here, so fem-bdf2 follows fem-be's path exactly and fv-bdf2 ends within O(h²) of it."""
    problem = cases.charging_cell(make_strip(24, 0.1, graded=True), 2.0, MODEL, bumps=False)
    temps = {}
    for method in ("fem-be", "fem-bdf2"):
        scheme = build_scheme(problem, method)
        assert integrate(scheme, math.inf, PseudoTransient(dt0=1e-3, tol=1e-11)).converged
        temps[method] = float(np.exp(scheme.u.x.array.reshape(-1, 4)[:, 3]).mean())
    fv = build_fv_scheme(problem, "fv-bdf2")
    assert integrate(fv, math.inf, PseudoTransient(dt0=1e-3, tol=1e-11)).converged
    temps["fv-bdf2"] = float(fv.state.T.mean())
    assert 1.03 < temps["fem-be"] < 1.05, temps  # the charging heat, C_T = 5
    assert abs(temps["fem-bdf2"] - temps["fem-be"]) < 1e-9, temps
    assert abs(temps["fv-bdf2"] - temps["fem-be"]) < 1e-3, temps  # measured 7e-5
