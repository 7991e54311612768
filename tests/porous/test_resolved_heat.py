"""Pore-resolved PNPF (docs/porous_heating.md): isothermal limit, conservation, entropy, heat
conduction into the solid, reservoirs, effective conductivity, failure and MPI."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("dolfinx")

import ufl
from dolfinx import fem
from dolfinx import mesh as dmesh
from mpi4py import MPI

from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fem.snes import SolverOptions
from pnpf_fem.homogenization import PeriodicCell, compute_effective_tensors
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.model import Triangle
from pnpf_fem.porous.arrays import ELECTROLYTE_TAG, SOLID_TAG, periodic_array
from pnpf_fem.porous.microscale import VERTEX_RULE, ResolvedPNP
from pnpf_fem.porous.resolved_heat import ResolvedPNPF

TIGHT = SolverOptions(rtol=1e-13, atol=1e-13)
LAMBDA_SQ, ALPHA = 0.05, 0.0125


def _array(comm=MPI.COMM_WORLD, s=0.25, rows=1, porosity=0.75, n=8):
    return periodic_array(s, rows=rows, porosity=porosity, cells_per_side=n, comm=comm)


def _bump(x):
    return 1.0 + 0.5 * np.sin(np.pi * x[0]) * np.cos(np.pi * x[1])


def _model(arr, **kwargs):
    kwargs.setdefault("solver_options", TIGHT)
    return ResolvedPNPF(arr, lambda_sq=LAMBDA_SQ, alpha=ALPHA, **kwargs)


def _max(comm, values):
    return comm.allreduce(float(np.max(values)) if len(values) else -np.inf, op=MPI.MAX)


# ---------------------------------------------------------------------------- (a) T ≡ 1


@pytest.mark.mpi
def test_isothermal_limit_is_resolved_pnp():
    """C_e = C_s = 1e12 and T = 1 on both electrodes: T stays 1 to ~1e-13 and the charging run
    equals ResolvedPNP's (same mesh, same partition, same dof layout)."""
    arr = _array()
    psi_bcs = {"left": 1.0, "right": 0.0}
    densities = (_bump, lambda x: 2.0 - 0.5 * x[0])
    iso = ResolvedPNP(
        arr,
        lambda_sq=LAMBDA_SQ,
        alpha=ALPHA,
        potential_bcs=psi_bcs,
        initial_densities=densities,
        solver_options=TIGHT,
    )
    heat = _model(
        arr,
        heat_capacity=(1e12, 1e12),
        conductivity=(1.0, 4.0),
        potential_bcs=psi_bcs,
        temperature_bcs={"left": 1.0, "right": 1.0},
        initial_densities=densities,
    )
    for _ in range(4):
        iso.step(0.02)
        record = heat.step(0.02)
    comm = arr.mesh.comm
    assert _max(comm, np.abs(heat.eta.x.array - iso.eta.x.array)) < 1e-9
    assert _max(comm, np.abs(heat.psi.x.array - iso.psi.x.array)) < 1e-9
    assert record["max_T"] - 1.0 < 1e-10 and 1.0 - record["min_T"] < 1e-10
    assert record["joule"] > 1e-2  # the ions did move: there was heat to absorb
    assert _max(comm, np.abs(iso.eta.x.array)) > 0.1


# ---------------------------------------------------------------------------- (b), (c) closed


@pytest.fixture(scope="module")
def cycled():
    """A closed, insulated array through the forward and part of the reverse sweep of a
    voltammetry cycle 0 → 2 → 0 on the left electrode (ψ = 0 on the right): the model, the
    records and the entropy production Δt Π^{n+1} of every step (`_production`)."""
    arr = _array()
    model = _model(
        arr,
        heat_capacity=(1.0, 2.0),
        conductivity=(1.0, 4.0),
        potential_bcs={"left": Triangle(0.0, 2.0, 50.0), "right": 0.0},
        initial_densities=(_bump, 1.0),
        initial_temperature=lambda x: 1.0 + 0.2 * x[0],
    )
    production = _production(model)
    history, produced = [model.initial_observables()], []
    for k in range(8):
        history.append(model.step(0.005 * (1 + 0.5 * (k % 2))))  # variable Δt
        produced.append(history[-1].dt * model.comm.allreduce(fem.assemble_scalar(production)))
    return model, history, produced


def _production(model) -> fem.Form:
    """Π = ∫_Ω k|∇ξ|² dxL + ∫_{Ω^s} Σ c|g|²/T dxL, the entropy production of the discrete
    proof: S^{n+1} − S^n ≥ Δt Π^{n+1} (w = 1 in the heat residual, convexity of c log c and
    of −log T at each vertex)."""
    dxL = ufl.Measure(
        "dx", domain=model.mesh, subdomain_data=model.array.cell_tags, metadata=VERTEX_RULE
    )
    conduction = model.k * ufl.inner(ufl.grad(model.xi), ufl.grad(model.xi)) * dxL
    joule = model.joule_density * ufl.exp(-model.xi) * dxL(ELECTROLYTE_TAG)
    return fem.form(conduction + joule, entity_maps=model.entity_maps)


@pytest.mark.mpi
def test_closed_array_conserves_ions(cycled):
    _, history, _ = cycled
    for key in ("amount_u1", "amount_u2"):
        start = history[0][key]
        assert max(abs(r[key] - start) for r in history) < 1e-12 * start


@pytest.mark.mpi
def test_entropy_grows_while_the_electrode_cycles(cycled):
    """S^{n+1} − S^n ≥ Δt Π^{n+1} ≥ 0 (the FEM core's discrete inequality, vertex quadrature in
    both phases) through the forward and the reverse sweep: measured ΔS/(Δt Π) from 1.04 to
    1.13 (0.07 to 0.16 with the Joule heat switched off, so the bound sees it)."""
    model, history, produced = cycled
    for (prev, cur), bound in zip(itertools.pairwise(history), produced, strict=True):
        assert bound > 0.0
        assert cur["entropy"] - prev["entropy"] >= bound - 1e-12 * abs(prev["entropy"])
    assert history[-1]["entropy"] - history[0]["entropy"] > 1e-3
    assert min(r["joule"] for r in history[1:]) > 0.0
    # the waveform is taken at t^{n+1}: ψ on the left electrode is the triangle's value
    fdim = model.mesh.topology.dim - 1
    left = model.array.facet_tags.find(model.array.facet_names["left"])
    dofs = fem.locate_dofs_topological(model.V, fdim, left)
    expected = Triangle(0.0, 2.0, 50.0)(model.t)
    assert 0.0 < expected < 2.0
    assert np.allclose(model.psi.x.array[dofs], expected, rtol=0.0, atol=1e-14)


@pytest.mark.mpi
def test_relaxation_entropy_increments_stay_nonnegative():
    """ψ = 0 on both ends, non-uniform densities and temperature, insulated: the increments of S
    shrink towards 0 and never go negative beyond round-off."""
    model = _model(
        _array(),
        heat_capacity=(1.0, 2.0),
        conductivity=(1.0, 4.0),
        potential_bcs={"left": 0.0, "right": 0.0},
        initial_densities=(_bump, lambda x: 1.5 - 0.5 * x[0]),
        initial_temperature=lambda x: 1.0 + 0.3 * x[0] ** 2,
    )
    history = [model.initial_observables()]
    dt = 0.01
    for _ in range(10):
        history.append(model.step(dt))
        dt *= 2.0
    increments = [b["entropy"] - a["entropy"] for a, b in itertools.pairwise(history)]
    total = history[-1]["entropy"] - history[0]["entropy"]
    assert total > 1e-3
    assert increments[-1] < 1e-3 * total  # relaxed
    assert min(increments) >= -1e-13 * abs(history[-1]["entropy"]), increments


# ---------------------------------------------------------------------------- (d) the solid


def _solid_interior_rise(k_s: float) -> tuple[float, float]:
    """(max T − 1 at the vertices of solid cells only, max T − 1 overall) after charging an
    insulated array with ψ = 4 | 0 (the electrolyte heats, the solid has no source)."""
    arr = _array(MPI.COMM_SELF)
    model = _model(
        arr,
        heat_capacity=(1.0, 1.0),
        conductivity=(1.0, k_s),
        potential_bcs={"left": 4.0, "right": 0.0},
    )
    integrate(model, 0.02, FixedSteps(0.005))
    msh, tdim = arr.mesh, arr.mesh.topology.dim
    msh.topology.create_connectivity(tdim, 0)
    c2v = msh.topology.connectivity(tdim, 0)
    tags = np.zeros(msh.topology.index_map(tdim).size_local, dtype=np.int32)
    tags[arr.cell_tags.indices] = arr.cell_tags.values

    def vertices(tag):
        return np.unique(np.concatenate([c2v.links(c) for c in np.flatnonzero(tags == tag)]))

    interior = np.setdiff1d(vertices(SOLID_TAG), vertices(ELECTROLYTE_TAG))
    assert interior.size > 0
    T = model.temperature().x.array
    dofs = fem.locate_dofs_topological(model.V_T, 0, interior)
    return float(np.max(T[dofs]) - 1.0), float(np.max(T) - 1.0)


def test_heat_reaches_the_solid_by_conduction_only():
    """k_s = 1: the solid's interior warms nearly as much as the electrolyte (measured 0.29 vs
    0.33); k_s = 1e-8: it stays cold (4e-7) while the electrolyte heats more (0.39)."""
    solid, overall = _solid_interior_rise(1.0)
    assert overall > 0.1 and solid > 0.5 * overall
    cold, hot = _solid_interior_rise(1e-8)
    assert hot > overall  # the heat stays in the electrolyte
    assert 0.0 <= cold < 1e-5 * solid


# ---------------------------------------------------------------------------- reservoirs


@pytest.mark.mpi
def test_ohmic_conductor_between_equal_reservoirs_heats_uniformly():
    """No solid, reservoirs c_b = 2 at both ends, ψ = 0 | V, insulated: c ≡ c_b, ψ = V x and
    T = 1 + a t with a = 2 c_b V²/C_e, to round-off: the Joule heat, P and the reservoirs' part of
    P (`_reservoir_heat`) with ions at Dirichlet vertices. (With a symmetric salt and equal
    reservoirs the reservoir part is Σ μ_b j^ℓ = 0, so this does not single it out.)"""
    cb, volts, C = 2.0, 1.5, 2.0
    model = _model(
        _array(porosity=1.0, n=4),
        heat_capacity=(C, 1.0),
        potential_bcs={"left": 0.0, "right": volts},
        ion_bcs={"left": cb, "right": cb},
        initial_densities=(cb, cb),
    )
    record = integrate(model, 0.1, FixedSteps(0.025)).records[-1]
    a = 2.0 * cb * volts**2 / C
    comm = model.comm
    assert _max(comm, np.abs(np.exp(model.eta.x.array) - cb)) < 1e-12
    x = model.V.tabulate_dof_coordinates()[:, 0]
    assert _max(comm, np.abs(model.psi.x.array - volts * x)) < 1e-12
    T = model.temperature().x.array
    assert _max(comm, np.abs(T - (1.0 + a * model.t))) < 1e-12
    assert record["joule"] == pytest.approx(a * C * model.array.height, rel=1e-12)  # ∫ over Ω


# ---------------------------------------------------------------------------- (e) K


def _column_heat_flux(model) -> np.ndarray:
    """Heat flux (1/(s H)) ∫_{column i} k ∂x T dx per periodic column (all ranks)."""
    arr, msh = model.array, model.mesh
    Y = fem.functionspace(msh, ("DG", 0))
    y = ufl.TestFunction(Y)
    b = fem.assemble_vector(fem.form(model.k * ufl.exp(model.xi).dx(0) * y * ufl.dx))
    tdim = msh.topology.dim
    cells = np.arange(msh.topology.index_map(tdim).size_local, dtype=np.int32)
    i, _ = arr.cell_index(dmesh.compute_midpoints(msh, tdim, cells).T)
    local = np.zeros(arr.columns)
    np.add.at(local, i, b.array[Y.dofmap.list[cells, 0]])
    return model.comm.allreduce(local, op=MPI.SUM) / (arr.s * arr.height)


@pytest.mark.mpi
def test_steady_heat_flux_is_the_effective_conductivity():
    """No ions driven (ψ = 0 | 0, uniform densities), T = 1 | 1 + δ: the steady heat flux through
    every column is K_xx δ, K the cell problem's tensor (k_e, k_s in place of λ², α) on the same
    8 × 8 cell mesh (measured to 5e-11 for δ = 1e-3; the cell's mirror symmetry makes the
    periodic-corrector solution exact up to the outer boundary)."""
    k_e, k_s, delta = 1.0, 4.0, 1e-3
    comm = MPI.COMM_WORLD
    unit = periodic_array(1.0, 1, 0.75, 8, comm=comm)
    cell = PeriodicCell(unit.mesh, unit.cell_tags, (0.0, 0.0), (1.0, 1.0), "square", 0.75)
    K = np.asarray(compute_effective_tensors(cell, k_e, k_s).tensors.eps_eff)
    assert 1.2 < K[0, 0] < 1.5  # between the harmonic and the arithmetic means of the phases
    model = _model(
        _array(comm),
        heat_capacity=(1.0, 1.0),
        conductivity=(k_e, k_s),
        potential_bcs={"left": 0.0, "right": 0.0},
        temperature_bcs={"left": 1.0, "right": 1.0 + delta},
        solver_options=SolverOptions(rtol=1e-13, atol=1e-15),
    )
    for dt in (1e3, 1e6, 1e9):  # backward Euler with huge steps: the steady state
        model.step(dt)
    flux = _column_heat_flux(model)
    assert flux.shape == (4,)
    assert np.max(np.abs(flux / (K[0, 0] * delta) - 1.0)) < 1e-8, flux / (K[0, 0] * delta)


# ---------------------------------------------------------------------------- input, failure


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"heat_capacity": (1.0, 0.0)}, r"heat_capacity\[1\]"),
        ({"conductivity": 1.0}, "conductivity must be a pair"),
        ({"temperature_bcs": {"left": -1.0}}, r"temperature_bcs\['left'\]"),
        ({"temperature_bcs": {"inner": 1.0}}, "unknown facet name 'inner'"),
        ({"potential_bcs": {"left": "high"}}, r"potential_bcs\['left'\]"),
        ({"initial_temperature": 0.0}, "initial_temperature"),
    ],
)
def test_bad_input_is_rejected(kwargs, match):
    with pytest.raises(InputError, match=match):
        _model(_array(MPI.COMM_SELF, n=4), **kwargs)


def test_failed_step_restores_state():
    model = _model(
        _array(MPI.COMM_SELF, n=4),
        potential_bcs={"left": 5.0, "right": 0.0},
        solver_options=SolverOptions(max_it=1),
    )
    eta, xi = model.eta.x.array.copy(), model.xi.x.array.copy()
    snapshot = model.snapshot()
    with pytest.raises(SolverError):
        model.step(0.1)
    assert np.array_equal(model.eta.x.array, eta) and np.array_equal(model.xi.x.array, xi)
    assert model.t == 0.0 and model.timing.steps == 0
    assert len(snapshot[1]) == 2  # η and ξ are the state


# ---------------------------------------------------------------------------- MPI


def _averages(comm):
    model = _model(
        _array(comm, rows=2, n=4),
        heat_capacity=(1.0, 2.0),
        conductivity=(1.0, 4.0),
        potential_bcs={"left": 2.0, "right": 0.0},
        temperature_bcs={"left": 1.0},
        initial_densities=(_bump, 1.0),
    )
    integrate(model, 0.03, FixedSteps(0.01))
    return model.cell_averages(), model.observables()


@pytest.mark.mpi
def test_parallel_cell_averages_match_serial():
    par, par_obs = _averages(MPI.COMM_WORLD)
    ser, ser_obs = _averages(MPI.COMM_SELF)
    for key in ("n_plus", "n_minus", "psi", "T", "cell_area"):
        a, b = getattr(par, key), getattr(ser, key)
        assert a.shape == (4, 2)
        assert np.max(np.abs(a - b)) < 1e-10, key
    for key, value in ser_obs.items():
        assert par_obs[key] == pytest.approx(value, rel=1e-10, abs=1e-13), key
    assert np.ptp(par.T) > 1e-3 and np.min(par.T) > 1.0
