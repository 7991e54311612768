"""Scheme I's Joule heat is the dissipation of its own edge fluxes, so a closed cell settles.

The closed blocking cell of tests/fem/test_equilibrium.py (ε = 0.05, V = 4 k_BT0/e, a strip
graded towards its electrodes, adaptive steps to t = 40). With the paper's Joule heat of the
reconstructed gradients, ε ν c|û|² (`joule="cell"`), û does not vanish where Scheme I's
two-point fluxes do, and the cell heats forever (T up by ~1e-4 per unit time, edge fluxes ~4e-5
at t = 40, 80, 160). With the option `joule="edge"`, ½ Σ_σ F_σ²/k_σ per box, it reaches the
discrete equilibrium of Scheme I: every edge flux zero, T uniform and stationary. ("cell" stays
the default: the edge form is consistent only on average, see docs/theory.md §4.)

That equilibrium is the zero of Scheme I's edge force
X_σ = D(η + zψ) + D(c(T − 1))/𝒜_σc, which at a uniform T* ≠ 1 is not that of log c + zψ/T*
(D c/𝒜_σc ≠ D log c): the spread of log c + zψ/T stays at 6.49e-3 on this mesh (2.3e-2,
6.5e-3, 1.7e-3, 4.2e-4 for N = 16 … 128, O(h²); measured), a discretization error of the lagged
thermal drift of (3.3)₁, not a failure to settle. docs/theory.md §4.
"""

from __future__ import annotations

import numpy as np
import pytest

from pnpf_fem.errors import InputError
from pnpf_fem.fv import VoronoiMesh
from pnpf_fem.fv.build import build_scheme
from pnpf_fem.fv.problem import FVState, PNPFProblem
from pnpf_fem.fv.scheme1 import SchemeI
from pnpf_fem.integrate import AdaptiveSteps, integrate
from pnpf_fem.meshing import strip
from pnpf_fem.model import cases
from pnpf_fem.units import DimensionlessPNPF

THIN = cases.charging_model(eps=0.05, frictions=(1.0, 1.0))


def _graded_cell(joule: str) -> SchemeI:
    problem = cases.charging_cell(strip(32, 0.05, graded=True), 4.0, THIN, bumps=False)
    fv = build_scheme(problem, "fv1")
    return SchemeI(fv.problem, fv.control, fv.state, joule=joule)


def _edge_forces(scheme: SchemeI, state: FVState) -> np.ndarray:
    """max over species of |X_σ| = |F_σ|/k_σ on the edges with τ_σ > 0, F at `state` with the
    mobility and drift lagged at `state` itself (a steady state)."""
    step = scheme.physics(state, 1.0)
    eta, out = np.log(state.c), []
    for ell in range(step.nsp):
        k = step.params.eps / step.nu[ell] * step.tau * step.mobility[ell]
        flux = step.ion_flux(ell, eta, state.psi).value
        out.append(np.abs(flux[k > 0] / k[k > 0]))
    return np.max(out, axis=0)


def _spread(scheme: SchemeI) -> float:
    s, z = scheme.state, scheme.problem.params.valences
    return max(float(np.ptp(np.log(s.c[ell]) + z[ell] * s.psi / s.T)) for ell in range(len(z)))


@pytest.fixture(scope="module")
def settled() -> tuple[SchemeI, list]:
    scheme = _graded_cell("edge")
    run = integrate(scheme, 40.0, AdaptiveSteps(dt0=1e-3, dt_min=1e-9, dt_max=2.0))
    return scheme, run.records


def test_fv1_reaches_its_discrete_equilibrium(settled) -> None:
    scheme, _ = settled
    state = scheme.state
    assert np.max(_edge_forces(scheme, state)) < 1e-8  # measured 1e-11 … 1e-10
    assert np.ptp(state.T) < 1e-8  # measured 2e-11
    assert state.T.min() > 1.08  # the charging heat stays: T* = 1.0889
    # stationary: a further long step changes nothing (the lagged drift is then exact)
    spread = _spread(scheme)
    later, _ = scheme.advance(state, 40.0)
    assert np.max(np.abs(later.T - state.T)) < 1e-9
    assert np.max(np.abs(np.log(later.c) - np.log(state.c))) < 1e-9
    # the spread of log c + zψ/T is Scheme I's O(h²) offset, not a residual motion
    assert 6.3e-3 < spread < 6.7e-3
    assert abs(_spread(scheme.start(later)) - spread) < 1e-9


def test_entropy_non_decreasing_and_mass_conserved(settled) -> None:
    _, records = settled
    q = [r.quantities for r in records]
    s = np.array([x["S"] for x in q])
    assert np.min(np.diff(s)) > -1e-13  # round-off once settled (measured −6e-17)
    assert s[-1] > s[0]
    for name in ("mass_cation", "mass_anion"):
        mass = np.array([x[name] for x in q])
        assert np.ptp(mass) < 1e-13 * mass[0]


def test_paper_joule_keeps_heating() -> None:
    """joule="cell": at t = 40 the fluxes are still ~4e-5 and T still rises (the issue)."""
    scheme = _graded_cell("cell")
    integrate(scheme, 40.0, AdaptiveSteps(dt0=1e-3, dt_min=1e-9, dt_max=2.0))
    t40 = scheme.state.T.mean()
    assert np.max(_edge_forces(scheme, scheme.state)) > 1e-5
    integrate(scheme, 80.0, AdaptiveSteps(dt0=1.0, dt_min=1e-9, dt_max=2.0))
    assert scheme.state.T.mean() - t40 > 1e-3  # measured 3.6e-3 over t = 40 … 80


def _random_problem(mesh: VoronoiMesh) -> tuple[PNPFProblem, FVState]:
    params = DimensionlessPNPF(("cation", "anion"), (1.0, -1.0), (1.0, 2.0), 0.3, 2.0, 1.5)
    problem = PNPFProblem(mesh, params, dirichlet={"left": 0.0, "right": 1.0})
    rng = np.random.default_rng(5)
    n = mesh.num_vertices
    c = np.exp(0.3 * rng.standard_normal((2, n)))
    state = FVState(t=0.0, c=c, psi=rng.standard_normal(n), T=1.0 + 0.2 * rng.random(n))
    return problem, state


def test_edge_joule_is_the_flux_dissipation(unstructured_mesh) -> None:
    problem, state = _random_problem(unstructured_mesh)
    step = SchemeI(problem).physics(state, 0.1)
    rng = np.random.default_rng(6)
    eta = np.log(state.c) + 0.1 * rng.standard_normal(state.c.shape)
    psi = state.psi + 0.1 * rng.standard_normal(state.psi.shape)
    joule = step.edge_joule(eta, psi)
    # ½ Σ_σ∋i F_σ²/k_σ by an explicit loop over the edges
    want = np.zeros(unstructured_mesh.num_vertices)
    for ell in range(2):
        flux = step.ion_flux(ell, eta, psi).value
        k = step.params.eps / step.nu[ell] * step.tau * step.mobility[ell]
        for e, (i, j) in enumerate(unstructured_mesh.edges):
            if k[e] > 0:
                want[i] += 0.5 * flux[e] ** 2 / k[e]
                want[j] += 0.5 * flux[e] ** 2 / k[e]
    assert np.allclose(joule * step.m, want, rtol=1e-12, atol=0)
    assert np.all(joule >= 0) and joule.max() > 0
    # total = −Σ_σ F_σ X_σ, the power of the fluxes against their own forces
    power = 0.0
    for ell in range(2):
        flux = step.ion_flux(ell, eta, psi).value
        w = eta[ell] + step.z[ell] * psi
        drift = step.drift[ell] / step.mobility[ell]
        power -= np.sum(flux * (w[step.j] - w[step.i] + drift))
    assert np.dot(step.m, joule) == pytest.approx(power, rel=1e-12)


def test_edge_joule_vanishes_at_zero_flux(unstructured_mesh) -> None:
    """A Boltzmann state at T = 1 has F = 0 on every edge: the edge Joule heat is exactly 0,
    as is the paper's there; at Scheme I's equilibrium with T ≠ 1 only the edge form is."""
    problem, state = _random_problem(unstructured_mesh)
    z = np.asarray(problem.params.valences)[:, None]
    c = np.exp(-z * state.psi + np.array([[0.2], [-0.1]]))
    boltzmann = FVState(t=0.0, c=c, psi=state.psi, T=np.ones_like(state.T))
    step = SchemeI(problem).physics(boltzmann, 0.1)
    eta = np.log(c)
    assert np.max(np.abs(step.edge_joule(eta, state.psi))) < 1e-28
    assert np.max(np.abs(step.cell_joule(eta, state.psi))) < 1e-24


def test_only_the_edge_joule_vanishes_at_the_settled_state(settled) -> None:
    scheme, _ = settled
    s = scheme.state
    step = scheme.physics(s, 1.0)
    edge = np.dot(step.m, step.edge_joule(np.log(s.c), s.psi))
    cell = np.dot(step.m, step.cell_joule(np.log(s.c), s.psi))
    assert edge < 1e-18 and cell > 1e-7  # the paper's û ≠ 0 at the flux equilibrium


def test_joule_option_is_checked(unstructured_mesh) -> None:
    problem, _ = _random_problem(unstructured_mesh)
    with pytest.raises(InputError, match="joule must be"):
        SchemeI(problem, joule="nope")
