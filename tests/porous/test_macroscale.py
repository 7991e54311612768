"""Upscaled PNP (25)/(28) solver: MMS orders for both closures, conservation, positivity, the
(I3) cancellation on the solver's own operators, and serial = parallel."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

pytest.importorskip("dolfinx")

import ufl
from dolfinx import fem
from mpi4py import MPI

from pnpf_fem.convergence import observed_order
from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fem import Field, SolverOptions, unit_square_mesh
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.porous.macroscale import (
    EffectiveMedium,
    MacroscaleSolver,
    cancellation_residual,
)

TIGHT = SolverOptions(rtol=1e-12, atol=1e-13)
P = 0.6
EPS = ((1.0, 0.3), (0.3, 0.7))
M_ = ((0.45, 0.08), (0.08, 0.35))
D_MMS = ((-0.1, 0.05), (0.05, -0.2))  # deliberately not M - pI: anisotropic drift in "schmuck"
PI = ((0.5, 0.1), (0.1, 0.3))


def _run(solver, dt, num_steps):
    """The records of `num_steps` steps dt(k) (or dt), the current state's first."""
    steps = [dt(k, None) if callable(dt) else dt for k in range(num_steps)]
    control = FixedSteps(lambda k, t: steps[k])
    records = integrate(solver, solver.t + sum(steps), control).records
    return [solver.initial_observables(), *records]


def _medium(D=D_MMS):
    return EffectiveMedium(P, EPS, M_, D, PI)


def _consistent_medium():
    """M, D = M - pI (I2), Π: what a cell computation delivers."""
    M = np.array(M_)
    return EffectiveMedium(P, EPS, M_, M - P * np.eye(2), PI)


# -- manufactured solution, linear in t: backward Euler has no time truncation error -------------
def _exact(x, t):
    pi = math.pi
    u1 = 1.0 + 0.4 * ufl.sin(pi * x[0]) * ufl.cos(pi * x[1]) + t * 0.5 * ufl.cos(pi * x[0]) * x[1]
    u2 = 1.2 + 0.3 * ufl.cos(pi * x[0] * x[1]) + t * 0.4 * ufl.sin(pi * (x[0] + x[1]))
    psi = 0.8 * ufl.cos(pi * x[0]) * ufl.sin(1.5 * x[1]) + 0.5 * x[0] + t * 0.3 * x[0] * x[1]
    dt_u = (0.5 * ufl.cos(pi * x[0]) * x[1], 0.4 * ufl.sin(pi * (x[0] + x[1])))
    return (u1, u2, psi), dt_u


def _exact_fluxes(x, t, transport, medium):
    """F_r of the exact solution, written independently of the solver's flux functions."""
    (u1, u2, psi), _ = _exact(x, t)
    p = medium.porosity
    M, D, Pi = (ufl.as_matrix(medium.array(k).tolist()) for k in ("M", "D", "tortuosity"))
    out = []
    for u, z in ((u1, 1.0), (u2, -1.0)):
        if transport == "schmuck":
            out.append(p * ufl.grad(u) - z * u * D * ufl.grad(psi) + z * u * M * ufl.grad(psi))
        else:
            out.append(Pi * (ufl.grad(u) + z * u * ufl.grad(psi)))
    return out


def _mms_solver(n, transport, medium, degree=1, comm=MPI.COMM_WORLD):
    fm = unit_square_mesh(n, comm)
    eps = ufl.as_matrix(medium.array("eps_eff").tolist())
    p = medium.porosity

    def source(r):
        def f(x, t):
            (u1, u2, psi), dt_u = _exact(x, t)
            if r == 2:
                return -ufl.div(eps * ufl.grad(psi)) - p * (u1 - u2)
            return p * dt_u[r] - ufl.div(_exact_fluxes(x, t, transport, medium)[r])

        return Field(f)

    def comp(r):
        return Field(lambda x, t: _exact(x, t)[0][r])

    def normal_flux(r, axis):
        return Field(lambda x, t: _exact_fluxes(x, t, transport, medium)[r][axis])

    def displacement(axis):
        return Field(lambda x, t: (eps * ufl.grad(_exact(x, t)[0][2]))[axis])

    return MacroscaleSolver(
        fm,
        medium,
        transport=transport,
        degree=degree,
        initial={"u1": comp(0), "u2": comp(1), "psi": comp(2)},
        potential={"left": comp(2), "bottom": comp(2)},
        concentrations={"left": (comp(0), comp(1)), "bottom": (comp(0), comp(1))},
        displacement={"right": displacement(0), "top": displacement(1)},  # n = e_x, e_y
        ion_flux={
            "right": (normal_flux(0, 0), normal_flux(1, 0)),
            "top": (normal_flux(0, 1), normal_flux(1, 1)),
        },
        sources={"u1": source(0), "u2": source(1), "psi": source(2)},
        options=TIGHT,
    )


def _l2_errors(solver):
    x = ufl.SpatialCoordinate(solver.domain)
    exact, _ = _exact(x, solver.t)
    dx = ufl.dx(domain=solver.domain, metadata={"quadrature_degree": 8})
    out = {}
    for name, uh, ue in zip(("u1", "u2", "psi"), solver.fields(), exact, strict=True):
        out[name] = math.sqrt(solver._scalar(fem.form((uh - ue) ** 2 * dx)))
    return out


@pytest.mark.parametrize("transport", ["schmuck", "perforated"])
def test_mms_space_order_p1(transport):
    errs, hs = [], []
    for n in (8, 16, 32):
        solver = _mms_solver(n, transport, _medium())
        hist = _run(solver, 0.1, 2)
        assert all(h["newton_iterations"] >= 1 for h in hist[1:])
        errs.append(_l2_errors(solver))
        hs.append(1.0 / n)
    orders = observed_order(errs[-2], errs[-1], hs[-2], hs[-1])
    for order in orders.values():
        assert order >= 1.8, (transport, orders, errs)
    assert max(errs[-1].values()) < 5e-3


@pytest.mark.slow
def test_mms_space_order_p2():
    errs = []
    for n in (4, 8):
        solver = _mms_solver(n, "perforated", _medium(), degree=2)
        _run(solver, 0.1, 2)
        errs.append(_l2_errors(solver))
    orders = observed_order(errs[0], errs[1], 1 / 4, 1 / 8)
    assert min(orders.values()) >= 2.5, orders


# -- charging a porous electrode: no-flux ions, Dirichlet potential ------------------------------
def _charging(transport, comm=MPI.COMM_WORLD, n=12, voltage=20.0, medium=None, steps=4, dt=0.02):
    fm = unit_square_mesh(n, comm, kind="unstructured")
    medium = medium or _consistent_medium()
    eps = medium.array("eps_eff") * 1e-2  # thin double layers: strongly driven
    medium = dataclasses.replace(medium, eps_eff=eps)

    def ramp(t):
        return voltage / 2 * min(1.0, t / 0.04)

    solver = MacroscaleSolver(
        fm,
        medium,
        transport=transport,
        initial={"u1": 1.0, "u2": Field(lambda x, t: 1.0 + 0.2 * ufl.sin(math.pi * x[1]))},
        potential={"left": lambda t: -ramp(t), "right": ramp},
        options=TIGHT,
    )
    hist = _run(solver, lambda k, t: dt * (1 + 0.5 * (k % 2)), steps)
    return solver, hist


@pytest.mark.parametrize("transport", ["schmuck", "perforated"])
def test_mass_conservation_and_positivity(transport):
    solver, hist = _charging(transport)
    for h in hist[1:]:
        for name in ("u1", "u2"):
            assert (
                abs(h[f"amount_{name}"] - hist[0][f"amount_{name}"])
                <= 1e-12 * hist[0][f"amount_{name}"]
            )
    last = hist[-1]
    # strongly driven: a depleted layer at each electrode, orders of magnitude below the bulk,
    # yet positive (log variables)
    assert 0.0 < last["min_u1"] < 1e-3 and 0.0 < last["min_u2"] < 1e-3
    vals = solver.evaluate([[0.0, 0.5], [1.0, 0.5], [0.5, 0.5]])
    assert vals["u1"][1] < 1e-3 < 1.0 < vals["u1"][0]  # cations leave the positive electrode
    assert vals["psi"][0] == pytest.approx(-10.0, abs=1e-12)
    assert vals["psi"][1] == pytest.approx(10.0, abs=1e-12)


@pytest.mark.mpi
def test_mass_conservation_pure_neumann_potential():
    """No Dirichlet potential (Lemma III.4's ∇_n ψ = 0 in conormal form, docs/theory.md §10):
    ψ is pinned at one node; ions are conserved to round-off."""
    fm = unit_square_mesh(8, kind="unstructured")
    solver = MacroscaleSolver(
        fm,
        _consistent_medium(),
        initial={
            "u1": Field(lambda x, t: 1.0 + 0.5 * ufl.cos(math.pi * x[0])),
            "u2": Field(lambda x, t: 1.0 - 0.5 * ufl.cos(math.pi * x[0])),
        },
        options=TIGHT,
    )
    assert solver.potential_pinned
    hist = _run(solver, 0.05, 3)
    for h in hist[1:]:
        assert abs(h["amount_u1"] - hist[0]["amount_u1"]) <= 1e-12 * hist[0]["amount_u1"]
        assert abs(h["charge"] - hist[0]["charge"]) < 1e-12
    # relaxation towards uniform, electroneutral state
    assert np.ptp(solver.evaluate([[0.1, 0.5], [0.9, 0.5]])["u1"]) < 1.0


# -- (I3) on the solver's operators --------------------------------------------------------------
def test_cancellation_identity():
    solver, _ = _charging("schmuck", n=8, steps=2)
    consistent = solver.medium
    assert consistent.identity_I2_residual() < 1e-15
    assert cancellation_residual(solver) < 1e-13
    perturbed = dataclasses.replace(consistent, D=np.array(consistent.D) + 0.2 * np.eye(2))
    assert cancellation_residual(solver, perturbed) > 0.05


def test_schmuck_with_I2_equals_perforated_with_pI():
    """(I3) at the solver level: the "schmuck" closure with D = M - pI and the "perforated" one
    with Π = pI produce the same discrete solution to solver tolerance."""
    med = _consistent_medium()
    a, ha = _charging("schmuck", n=8, steps=2, medium=med)
    b, hb = _charging(
        "perforated", n=8, steps=2, medium=dataclasses.replace(med, tortuosity=P * np.eye(2))
    )
    np.testing.assert_allclose(a.u.x.array, b.u.x.array, rtol=0, atol=1e-9)
    for key in ("amount_u1", "amount_u2", "min_u1", "min_u2"):
        assert ha[-1][key] == pytest.approx(hb[-1][key], rel=1e-9)


def test_cancellation_with_tensors_of_a_cell():
    pytest.importorskip("dolfinx_mpc")
    pytest.importorskip("gmsh")
    from pnpf_fem.homogenization import compute_effective_tensors, make_cell

    t = compute_effective_tensors(make_cell("circle", 0.7, 0.1), 1.0, 0.1).tensors
    medium = EffectiveMedium.from_tensors(t)
    assert medium.tortuosity is not None
    solver, _ = _charging("schmuck", n=6, steps=1, medium=medium)
    # D = M - pI holds to the cell solver's tolerance, not exactly
    assert cancellation_residual(solver) < 1e-10


# -- input handling ------------------------------------------------------------------------------
def test_effective_medium_validation(tmp_path):
    with pytest.raises(InputError, match="porosity"):
        EffectiveMedium(1.2, EPS)
    with pytest.raises(InputError, match="porosity"):
        EffectiveMedium(0.0, EPS)
    with pytest.raises(InputError, match="eps_eff"):
        EffectiveMedium(0.5, ((1.0, 0.0), (0.0, -1.0)))
    with pytest.raises(InputError, match="eps_eff"):
        EffectiveMedium(0.5, ((1.0, 0.5), (0.0, 1.0)))
    with pytest.raises(InputError, match="tortuosity"):
        EffectiveMedium(0.5, EPS, tortuosity=((1.0, 0.0, 0.0),) * 3)
    with pytest.raises(InputError, match="D"):
        EffectiveMedium(0.5, EPS, M=M_, D=((1.0, math.nan), (0.0, 1.0)))
    path = tmp_path / "m.json"
    path.write_text('{"porosity": 0.6, "eps_eff": [[1, 0], [0, 1]], "dim": 2}')
    m = EffectiveMedium.from_json(path)
    assert m.M is None and m.eps_eff == ((1.0, 0.0), (0.0, 1.0))
    path.write_text('{"eps_eff": [[1, 0], [0, 1]]}')
    with pytest.raises(InputError, match="porosity"):
        EffectiveMedium.from_json(path)
    fm = unit_square_mesh(2)
    with pytest.raises(InputError, match="tortuosity"):
        MacroscaleSolver(fm, m, transport="perforated", initial={"u1": 1.0, "u2": 1.0})
    with pytest.raises(InputError, match="transport"):
        MacroscaleSolver(fm, _medium(), transport="darcy", initial={"u1": 1.0, "u2": 1.0})
    with pytest.raises(InputError, match="nowhere"):
        MacroscaleSolver(fm, _medium(), initial={"u1": 1.0, "u2": 1.0}, potential={"nowhere": 0})
    with pytest.raises(InputError, match="positive"):
        MacroscaleSolver(fm, _medium(), initial={"u1": -1.0, "u2": 1.0})


def test_failed_step_keeps_state():
    fm = unit_square_mesh(6)
    solver = MacroscaleSolver(
        fm,
        _consistent_medium(),
        initial={"u1": 1.0, "u2": 1.0},
        potential={"left": 0.0, "right": 50.0},
        options=SolverOptions(max_it=1, rtol=1e-14, atol=1e-15),
    )
    before = solver.u.x.array.copy()
    with pytest.raises(SolverError):
        solver.step(1.0)
    np.testing.assert_array_equal(solver.u.x.array, before)
    assert solver.t == 0.0
    with pytest.raises(InputError):
        solver.evaluate([[2.0, 2.0]])


# -- parallel -------------------------------------------------------------------------------------
@pytest.mark.mpi
@pytest.mark.parametrize("transport", ["schmuck", "perforated"])
def test_parallel_matches_serial(transport):
    dist, hd = _charging(transport, MPI.COMM_WORLD, n=10, steps=3)
    ser, hs = _charging(transport, MPI.COMM_SELF, n=10, steps=3)
    for a, b in zip(hd, hs, strict=True):
        for key in ("amount_u1", "amount_u2", "charge", "min_u1", "min_u2", "t"):
            assert abs(a[key] - b[key]) <= 1e-10 * max(1.0, abs(b[key])), (key, a[key], b[key])
    pts = np.array([[0.05, 0.5], [0.5, 0.5], [0.93, 0.21], [1.0, 1.0], [0.0, 0.0]])
    vd, vs = dist.evaluate(pts), ser.evaluate(pts)
    for key in ("u1", "u2", "psi"):
        np.testing.assert_allclose(vd[key], vs[key], rtol=1e-10, atol=1e-12)
    ad = dist.box_average([0.25, 0.25], [0.75, 0.75])
    as_ = ser.box_average([0.25, 0.25], [0.75, 0.75])
    for key in ("u1", "u2", "psi"):
        assert ad[key] == pytest.approx(as_[key], rel=1e-10, abs=1e-12)
