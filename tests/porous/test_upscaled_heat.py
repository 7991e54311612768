"""Upscaled PNPF with heat (docs/porous_heating.md): the isothermal limit is the perforated
closure, ion amounts are conserved, the derived and naive Joule sources agree for Π = pI and
differ by Π_xx/p otherwise, the entropy S̄ does not decrease in a closed insulated medium, the
effective conductivity is a cell average, and serial = parallel."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("dolfinx_mpc")  # effective_conductivity solves cell problems

import ufl
from dolfinx import fem
from dolfinx import mesh as dmesh
from mpi4py import MPI

from pnpf_fem.errors import InputError
from pnpf_fem.fem import Field, SolverOptions
from pnpf_fem.fem.impedance import FrequencyResponse
from pnpf_fem.porous.macroscale import EffectiveMedium, MacroscaleSolver
from pnpf_fem.porous.upscaled_heat import HeatMedium, UpscaledPNPF, effective_conductivity

TIGHT = SolverOptions(rtol=1e-12, atol=1e-13)
P = 0.75
EPS0 = ((0.037, 0.0), (0.0, 0.037))  # ε⁰ of the s-study's square cell (λ² = 0.05, α = 0.0125)
PI = ((0.59, 0.0), (0.0, 0.59))  # its tortuosity, Π_xx ≈ 0.59 < p
K = ((0.8, 0.0), (0.0, 0.8))


def _strip(nx: int, comm=MPI.COMM_WORLD):
    """(0, 1) × (0, 1/nx) with nx × 2 triangles; facet tags 1 = left, 2 = right."""
    msh = dmesh.create_rectangle(
        comm, [np.zeros(2), np.array([1.0, 1.0 / nx])], [nx, 2], dmesh.CellType.triangle
    )
    fdim = msh.topology.dim - 1
    left = dmesh.locate_entities_boundary(msh, fdim, lambda x: np.isclose(x[0], 0.0))
    right = dmesh.locate_entities_boundary(msh, fdim, lambda x: np.isclose(x[0], 1.0))
    facets = np.concatenate([left, right]).astype(np.int32)
    values = np.concatenate([np.full(len(left), 1), np.full(len(right), 2)]).astype(np.int32)
    order = np.argsort(facets)
    return msh, dmesh.meshtags(msh, fdim, facets[order], values[order])


def _medium(tortuosity=PI):
    return EffectiveMedium(P, EPS0, tortuosity=tortuosity)


def _heat(C_e=1.0, C_s=2.0, conductivity=K):
    return HeatMedium(C_e, C_s, conductivity, P)


def _solver(nx=32, comm=MPI.COMM_WORLD, medium=None, heat=None, **kw):
    msh, tags = _strip(nx, comm)
    kw.setdefault("initial", {"u1": 1.0, "u2": 1.0})
    kw.setdefault("potential", {1: 2.0, 2: 0.0})
    return UpscaledPNPF(
        msh, medium or _medium(), heat or _heat(), facet_tags=tags, options=TIGHT, **kw
    )


def _history(solver, dts):
    return [solver.initial_observables().quantities] + [solver.step(dt).quantities for dt in dts]


def _assemble(solver, integrand) -> float:
    form_ = fem.form(integrand * solver.m.dx)
    return solver.comm.allreduce(fem.assemble_scalar(form_), op=MPI.SUM)


# -- (a) the isothermal limit ---------------------------------------------------------------------
def test_isothermal_limit_is_the_perforated_closure():
    """C̄ = 10¹² and T = 1 on both electrodes: a charging run (voltage ramped in by a callable)
    equals MacroscaleSolver(transport="perforated") nodally to 1e-9 (measured 1e-13)."""
    msh, tags = _strip(64)
    medium = _medium()
    heat = HeatMedium(1e12, 1e12, K, P)
    voltage = {1: lambda t: 2.0 * min(t / 0.02, 1.0), 2: 0.0}
    hot = UpscaledPNPF(
        msh,
        medium,
        heat,
        initial={"u1": 1.0, "u2": 1.0},
        facet_tags=tags,
        potential=voltage,
        temperature={1: 1.0, 2: 1.0},
        options=TIGHT,
    )
    cold = MacroscaleSolver(
        msh,
        medium,
        initial={"u1": 1.0, "u2": 1.0},
        facet_tags=tags,
        transport="perforated",
        potential=voltage,
        options=TIGHT,
    )
    for _ in range(8):
        hot.step(0.005)
        cold.step(0.005)
    a = hot.u.x.array.reshape(-1, 4)
    b = cold.u.x.array.reshape(-1, 3)
    assert np.max(np.abs(a[:, :3] - b)) < 1e-9
    assert np.max(np.abs(np.exp(a[:, 3]) - 1.0)) < 1e-9
    pts = np.column_stack([np.linspace(0.0, 1.0, 17), np.full(17, 0.5 / 64)])
    va, vb = hot.evaluate(pts), cold.evaluate(pts)
    for key in ("u1", "u2", "psi"):
        np.testing.assert_allclose(va[key], vb[key], rtol=0, atol=1e-9)
    np.testing.assert_allclose(va["T"], 1.0, rtol=0, atol=1e-9)
    assert min(va["u1"]) < 0.9  # the run did charge the electrodes


def test_isothermal_impedance_is_the_perforated_closure():
    """The inherited small-signal analysis (`residual`, `bcs`, `u`, `u_n`) linearizes the whole
    (η, ψ, ξ) system: at C̄ = 10¹² its impedance is the perforated closure's (measured 5e-11)."""
    msh, tags = _strip(32)
    common = {"initial": {"u1": 1.0, "u2": 1.0}, "facet_tags": tags, "options": TIGHT}
    common["potential"] = {1: 0.0, 2: 0.0}
    hot = UpscaledPNPF(
        msh, _medium(), HeatMedium(1e12, 1e12, K, P), temperature={1: 1.0, 2: 1.0}, **common
    )
    cold = MacroscaleSolver(msh, _medium(), transport="perforated", **common)
    for omega in (0.1, 10.0):
        z_hot = FrequencyResponse(hot.small_signal(1)).impedance(omega)
        z_cold = FrequencyResponse(cold.small_signal(1)).impedance(omega)
        assert abs(z_hot - z_cold) <= 1e-8 * abs(z_cold), (omega, z_hot, z_cold)


# -- (b) conservation -----------------------------------------------------------------------------
@pytest.mark.mpi
def test_amounts_conserved_with_blocking_electrodes():
    """Blocking electrodes, a sinusoidal voltage and thermostats: ∫ p c^ℓ dxL conserved to
    round-off per step; positivity of c and T by the log variables; the medium heats up."""
    solver = _solver(
        potential={1: lambda t: 3.0 * math.sin(40.0 * t), 2: 0.0},
        temperature={2: 1.0},
        initial={"u1": 1.0, "u2": Field(lambda x, t: 1.0 + 0.3 * ufl.cos(math.pi * x[0]))},
    )
    hist = _history(solver, [0.004, 0.008, 0.006, 0.01, 0.01])
    for prev, cur in itertools.pairwise(hist):
        for name in ("u1", "u2"):
            a0, a1 = prev[f"amount_{name}"], cur[f"amount_{name}"]
            assert abs(a1 - a0) <= 1e-12 * abs(a0), (name, a0, a1)
        assert cur["min_u1"] > 0 and cur["min_u2"] > 0 and cur["min_T"] > 0
    assert hist[-1]["max_T"] > 1.0 + 1e-4  # Joule heating against the thermostat


# -- (c) derived and naive Joule sources ----------------------------------------------------------
@pytest.mark.mpi
def test_sources_agree_for_straight_pores():
    """Π = pI: c g·Πg = c|Πg|²/p identically, so the two runs coincide (to round-off)."""
    straight = _medium(tortuosity=P * np.eye(2))
    runs = {}
    for source in ("derived", "naive"):
        solver = _solver(medium=straight, heat_source=source)
        hist = _history(solver, [0.005] * 4)
        runs[source] = (solver.u.x.array.copy(), hist[-1])
    (ud, hd), (un, hn) = runs["derived"], runs["naive"]
    assert np.max(np.abs(ud - un)) < 1e-11
    assert hn["joule"] == pytest.approx(hd["joule"], rel=1e-11)
    assert hd["max_T"] > 1.0 + 1e-4


def test_naive_source_misses_the_corrector_heat():
    """The s-study's square-inclusion cell (Π_xx ≈ 0.59, p = 0.75): at one state of a 1D
    charging run ∫Q_J^naive / ∫Q_J^derived = Π_xx/p ≈ 0.79 (Π isotropic), and the solver's
    `joule` observable is the derived one."""
    from pnpf_fem.studies.homogenization import effective_medium

    medium, _ = effective_medium(0.05, 0.0125)
    pi_xx = medium.array("tortuosity")[0, 0]
    assert 0.55 < pi_xx < 0.62
    solver = _solver(medium=medium)
    record = _history(solver, [0.005] * 3)[-1]
    derived = _assemble(solver, solver.joule_heat("derived"))
    naive = _assemble(solver, solver.joule_heat("naive"))
    assert record["joule"] == pytest.approx(derived, rel=1e-13)
    assert derived > 0
    assert naive / derived == pytest.approx(pi_xx / medium.porosity, rel=1e-10)
    assert naive / derived < 0.8


@pytest.mark.mpi
def test_without_joule_heat_only_the_reversible_heat_is_left():
    """joule=False: the `joule` observable is 0 and T still moves (T P̄ with the thermostats);
    with Joule heat the medium ends warmer."""
    kw = {"temperature": {1: 1.0, 2: 1.0}}
    runs = {on: _history(_solver(joule=on, **kw), [0.005] * 4)[-1] for on in (True, False)}
    assert runs[False]["joule"] == 0.0 and runs[True]["joule"] > 0
    assert max(runs[False]["max_T"] - 1.0, 1.0 - runs[False]["min_T"]) > 1e-4
    assert runs[True]["max_T"] > runs[False]["max_T"] + 1e-3
    with pytest.raises(InputError, match="joule"):
        _solver(nx=4, joule="yes")


# -- (d) entropy ----------------------------------------------------------------------------------
def _entropy_balance(solver, dt: float) -> tuple[float, float, float]:
    """One step: (ΔS̄, Δt · production, R) with the production ∫ K∇ξ·∇ξ + Q_J/T dx and the
    convexity remainders R = ∫ C̄ [Δξ − (1 − T^n/T)] + Σ p [(1 + η) Δc − Δ(c η)] dxL ≥ 0.

    Testing the discrete heat equation with w = 1 gives ΔS̄ = Δt · production + R exactly in a
    closed, insulated medium: every term of the heat equation (P̄ with its p, Q_J, K) enters."""
    u, old = solver.u, fem.Function(solver.W)
    old.x.array[:] = u.x.array
    S0 = solver.observables()["entropy"]
    solver.step(dt)
    S1 = solver.observables()["entropy"]
    xi, xi0 = u[3], old[3]
    production = ufl.inner(ufl.dot(solver.K, ufl.grad(xi)), ufl.grad(xi))
    production += solver.released_joule_heat() * ufl.exp(-xi)
    remainder = solver.C * (xi - xi0 - (1.0 - ufl.exp(xi0 - xi)))
    for r in range(2):
        eta, eta0 = u[r], old[r]
        c, c0 = ufl.exp(eta), ufl.exp(eta0)
        remainder += solver.k.p * ((1.0 + eta) * (c - c0) - (c * eta - c0 * eta0))
    R = solver.comm.allreduce(fem.assemble_scalar(fem.form(remainder * solver.m.dxL)), MPI.SUM)
    return S1 - S0, dt * _assemble(solver, production), R


@pytest.mark.mpi
@pytest.mark.parametrize("source", ["derived", "naive"])
def test_entropy_balance(source):
    """Closed ions, no temperature condition (insulated), a voltage step and a non-uniform T^0,
    variable Δt towards equilibrium: S̄ = ∫ C̄ (ξ + 1) − Σ ∫ p c η (dxL) never decreases, and
    its increments are the discrete balance ΔS̄ = Δt (∫ K∇ξ·∇ξ + Q_J/T) + R, R ≥ 0, to solver
    tolerance — as the FEM core's (3.11) with Dirichlet potentials (ψ enters neither)."""
    solver = _solver(
        heat_source=source,
        initial={"u1": 1.0, "u2": 1.0, "T": Field(lambda x, t: 1.0 + 0.2 * x[0] * x[0])},
    )
    S_scale = abs(solver.observables()["entropy"])
    for k in range(12):
        dS, produced, R = _entropy_balance(solver, 0.002 * (1 + 0.5 * (k % 2)) * 1.6**k)
        assert dS >= -1e-12 * S_scale, (k, dS)
        assert produced > 0 and R >= -1e-14 * S_scale, (k, produced, R)
        # measured ≤ 4e-14 absolute (Newton's atol): 1e-13 of the production, 5e-9 of the
        # small production near equilibrium
        assert abs(dS - produced - R) <= 1e-9 * produced + 1e-11 * S_scale, (k, dS, produced, R)


# -- (e) effective conductivity -------------------------------------------------------------------
def _cell():
    from pnpf_fem.homogenization import PeriodicCell
    from pnpf_fem.porous.arrays import periodic_array

    unit = periodic_array(1.0, 1, P, 8, comm=MPI.COMM_WORLD)
    return PeriodicCell(unit.mesh, unit.cell_tags, (0.0, 0.0), (1.0, 1.0), "square", P)


@pytest.mark.mpi
def test_effective_conductivity_is_a_cell_average():
    """k I for k_e = k_s = k (per unit total volume); strictly between the harmonic and the
    arithmetic mean of the phases for a contrast, either way round."""
    cell = _cell()
    np.testing.assert_allclose(effective_conductivity(cell, 2.5, 2.5), 2.5 * np.eye(2), atol=1e-12)
    for k_e, k_s in ((1.0, 10.0), (10.0, 1.0)):
        K_eff = effective_conductivity(cell, k_e, k_s)
        harmonic = 1.0 / (P / k_e + (1 - P) / k_s)
        arithmetic = P * k_e + (1 - P) * k_s
        eig = np.linalg.eigvalsh(K_eff)
        assert np.all(eig > harmonic * (1 + 1e-3)) and np.all(eig < arithmetic * (1 - 1e-3))
        assert abs(K_eff[0, 1]) < 1e-12 * K_eff[0, 0]


# -- input and parallel ---------------------------------------------------------------------------
def test_input_errors():
    with pytest.raises(InputError, match="heat_capacity_solid"):
        HeatMedium(1.0, -1.0, K, P)
    with pytest.raises(InputError, match="conductivity"):
        HeatMedium(1.0, 1.0, ((1.0, 2.0), (2.0, 1.0)), P)
    with pytest.raises(InputError, match="conductivity"):
        HeatMedium(1.0, 1.0, ((1.0, 0.5), (0.0, 1.0)), P)
    with pytest.raises(InputError, match="porosity"):
        HeatMedium(1.0, 1.0, K, 1.5)
    assert _heat().heat_capacity == pytest.approx(P * 1.0 + (1 - P) * 2.0)
    with pytest.raises(InputError, match="heat_source"):
        _solver(nx=4, heat_source="ohmic")
    with pytest.raises(InputError, match="porosity"):
        _solver(nx=4, heat=HeatMedium(1.0, 1.0, K, 0.5))
    with pytest.raises(InputError, match="tortuosity"):
        _solver(nx=4, medium=EffectiveMedium(P, EPS0))
    with pytest.raises(InputError, match="positive"):
        _solver(nx=4, initial={"u1": 1.0, "u2": 1.0, "T": -1.0})
    with pytest.raises(InputError, match="initial"):
        _solver(nx=4, initial={"u1": 1.0, "u2": 1.0, "c3": 1.0})
    with pytest.raises(InputError, match="k_s"):
        effective_conductivity(None, 1.0, 0.0)


@pytest.mark.mpi
def test_parallel_matches_serial():
    dts = [0.005, 0.01, 0.01]
    kw = {"potential": {1: 2.0, 2: 0.0}, "temperature": {1: 1.0}}
    dist, ser = _solver(16, MPI.COMM_WORLD, **kw), _solver(16, MPI.COMM_SELF, **kw)
    for a, b in zip(_history(dist, dts), _history(ser, dts), strict=True):
        for key, value in b.items():
            assert a[key] == pytest.approx(value, rel=1e-10, abs=1e-13), key
    pts = np.array([[0.0, 0.0], [0.31, 0.02], [0.77, 0.05], [1.0, 1.0 / 16]])
    vd, vs = dist.evaluate(pts), ser.evaluate(pts)
    assert set(vd) == {"u1", "u2", "psi", "T"}
    for key in vd:
        np.testing.assert_allclose(vd[key], vs[key], rtol=1e-10, atol=1e-13)
