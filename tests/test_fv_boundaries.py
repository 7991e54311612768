"""FV Schemes I and II with reservoirs and thermal boundaries (issue #15).

Reservoirs (`Concentration`) and thermostats (`Temperature`) are strong Dirichlet data at the
tag's vertices (η^ℓ = log c_b, T or ξ = log T_b); a heat flux or heat transfer enters the
energy form of the heat box equation as Σ m(σ) q over the vertex's boundary pieces
(docs/theory.md §4). Checked here:

* exact Jacobians (finite differences) with every new term;
* steady conduction between a thermostat and a heat flux / heat transfer: T linear in x. Scheme I
  reproduces it to round-off when the ions are immobile (ν = 1e15, a solid conductor: no
  thermodiffusion, no Joule heat), to 1e-7 with mobile ions (the Soret redistribution leaves the
  Joule heat of the reconstructed gradients); Scheme II's conduction flux k τ 𝒜(T) D log(1/T) is
  not exact for linear T and converges at second order;
* the discrete energy balance C_T⟨T^{n+1} − T^n, 1⟩ = Δt × (heat through the walls) to round-off
  (immobile ions) and the discrete second law with the boundary entropy flux,
  S^{n+1} − S^n ≥ Δt Σ_i θ_i Q_i (θ = 1/T^{n+1} in Scheme I, R in Scheme II), while charging;
* an Ohmic conductor between equal reservoirs, c ≡ c_b, ψ = Vx, T = 1 + a t, exact (this needs
  the boundary part of the reversible heat at the reservoir boxes, see
  `StepPhysics.reversible_heat`);
* reservoirs at both ends of the unit square (a liquid junction under a voltage, thermostats and
  heat transfer) against the FEM on the same meshes: fem1–fv1 and fem2–fv2 differences fall at
  O(h²); the steady state between equal reservoirs in a closed circuit is the exact equilibrium
  η + zψ = log c_b, T = 1;
* positivity of c and T with a reservoir contact and strong cooling; a case file with reservoirs
  and thermal keys runs with fv1 (Stern layers and reactions: tests/test_fv_stern_reactions.py).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from pnpf_fem import mms
from pnpf_fem.errors import InputError
from pnpf_fem.fv import FVState, PNPFProblem, SchemeI, SchemeII, VoronoiMesh, entropy
from pnpf_fem.fv.assembly import Assembler
from pnpf_fem.fv.build import build_scheme
from pnpf_fem.integrate import AdaptiveSteps, FixedSteps, PseudoTransient, integrate
from pnpf_fem.meshing import unit_square
from pnpf_fem.model import (
    Concentration,
    HeatFlux,
    HeatTransfer,
    Initial,
    Potential,
    Problem,
    SpaceTime,
    SurfaceCharge,
    Temperature,
)
from pnpf_fem.model.cases import charging_model
from pnpf_fem.units import DimensionlessPNPF

K = 2.0  # thermal conductivity of the conduction tests
MOBILE = charging_model(eps=0.2, frictions=(1.0, 1.0), heat_capacity=1.0, conductivity=K)
IMMOBILE = dataclasses.replace(MOBILE, frictions=(1e15, 1e15))  # ions do not move
UNIFORM = Initial(c={"cation": 1.0, "anion": 1.0})


def _square(n: int) -> VoronoiMesh:
    return VoronoiMesh.from_triangulation(unit_square(n, "unstructured", seed=n))


def _side_measure(mesh: VoronoiMesh, tag: str) -> np.ndarray:
    """Σ m(σ) of each vertex's boundary pieces on `tag`."""
    sel = mesh.piece_marker == mesh.tag(tag)
    return np.bincount(mesh.piece_vertex[sel], mesh.piece_measure[sel], mesh.num_vertices)


def _r_weight(t_new: np.ndarray, t_old: np.ndarray) -> np.ndarray:
    """R of (3.15)."""
    d = t_new - t_old
    return 1.0 / t_new + d / (2 * t_new**2) + d**2 / (3 * t_new**3)


# -- Jacobians ------------------------------------------------------------------------------------
def _fd_jacobian(residual, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    cols = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h
        cols.append((residual(x + e, False)[0] - residual(x - e, False)[0]) / (2 * h))
    return np.column_stack(cols)


def assert_step_jacobians_exact(scheme_cls, problem: PNPFProblem) -> np.ndarray:
    """The assembled Jacobian of a step from a random state (three species) equals finite
    differences, and for Scheme I that of its temperature step too; returns the Jacobian."""
    mesh = problem.mesh
    rng = np.random.default_rng(0)
    n = mesh.num_vertices
    state = FVState(
        0.1, rng.uniform(0.2, 1.5, (3, n)), rng.uniform(-1, 1, n), rng.uniform(0.5, 2, n)
    )
    scheme = scheme_cls(problem)
    residual = scheme.residual_function(state, 0.05)
    x = rng.normal(scale=0.5, size=scheme.num_blocks * n)
    jac = residual(x, True)[1].toarray()
    fd = _fd_jacobian(residual, x)
    assert np.max(np.abs(jac - fd)) < 1e-7 * max(1.0, np.max(np.abs(fd)))  # measured 2.7e-9
    if scheme_cls is SchemeI:  # the linear temperature step
        physics = scheme.physics(state, 0.05)
        u = x.reshape(4, n)
        asm, p = Assembler(mesh, 1), rng.normal(size=n)

        def heat(temp, jac):
            return asm.assemble(physics.heat(temp, p, u[:3], u[3]), jac, 0.05)

        temp = rng.uniform(0.5, 2.0, n)
        heat_jac = heat(temp, True)[1].toarray()
        assert np.max(np.abs(heat_jac - _fd_jacobian(heat, temp))) < 1e-7 * np.abs(heat_jac).max()
    return jac


@pytest.mark.parametrize("scheme_cls", [SchemeI, SchemeII])
def test_jacobian_is_exact_with_reservoirs_and_thermal_boundaries(scheme_cls) -> None:
    """Three species with sources, time-dependent reservoirs on two tags (one shared corner),
    a thermostat, a heat flux and heat transfer: the assembled Jacobian of the step (Scheme I:
    and of its temperature step) equals finite differences."""
    mesh = VoronoiMesh.from_triangulation(unit_square(4, "unstructured", seed=1))
    params = DimensionlessPNPF(("a", "b", "c"), (1.0, -2.0, 0.5), (1.3, 0.7, 2.0), 0.8, 1.5, 0.9)
    problem = PNPFProblem(
        mesh,
        params,
        dirichlet={"left": mms.psi_dirichlet_left, "right": 0.3},
        ion_sources=mms.ion_sources((1.0, -1.0, 1.0)),
        heat_source=mms.heat_source(),
        reservoirs={
            "left": {"a": lambda x, y, t: 1.0 + 0.3 * y + t, "c": 0.7},
            "bottom": {"a": 2.0},
        },
        temperature={"right": lambda x, y, t: 1.2 + 0.1 * y},
        heat_flux={"bottom": lambda x, y, t: 0.3 * x - 0.1 * t},
        heat_transfer={"top": (2.5, 0.8)},
    )
    jac = assert_step_jacobians_exact(scheme_cls, problem)
    n = mesh.num_vertices
    fixed = [ell * n + problem.reservoir_vertices(ell) for ell in (0, 2)]
    assert all(np.array_equal(jac[f], np.eye(jac.shape[0])[f]) for f in fixed)


# -- thermal boundaries ---------------------------------------------------------------------------
T_LEFT, Q_RIGHT, H_RIGHT, T_AMBIENT = 1.1, 0.3, 3.0, 0.95


def _conduction(kind: str, model: DimensionlessPNPF, n: int, initial: Initial = UNIFORM):
    """T_LEFT held on the left; a flux or heat transfer on the right; ψ = 0 on both sides.
    Returns the problem and the slope of the steady linear profile."""
    if kind == "flux":
        right, slope = HeatFlux("right", Q_RIGHT), Q_RIGHT / K
    else:  # k T' = h (T_a − T(1))
        right = HeatTransfer("right", H_RIGHT, ambient=T_AMBIENT)
        slope = H_RIGHT * (T_AMBIENT - T_LEFT) / (K + H_RIGHT)
    conditions = [Potential("left", 0.0), Potential("right", 0.0), Temperature("left", T_LEFT)]
    return Problem(model, _square(n).tri, [*conditions, right], initial), slope


@pytest.mark.parametrize("kind", ["flux", "transfer"])
def test_scheme1_steady_conduction_is_the_linear_profile(kind: str) -> None:
    """Scheme I's conduction k τ_σ (T_i − T_j) with the boundary pieces' flux is exact for linear
    T on any admissible mesh: immobile ions give the profile to round-off (measured 3e-14, 2e-16);
    mobile ions to 1e-7 (measured 2.1e-8, 3.8e-9: the Joule heat of the reconstructed gradients
    after the Soret redistribution)."""
    for model, tol in ((IMMOBILE, 1e-12), (MOBILE, 1e-7)):
        problem, slope = _conduction(kind, model, 8)
        scheme = build_scheme(problem, "fv1")
        assert integrate(scheme, math.inf, PseudoTransient(dt0=1e-2, tol=1e-11)).converged
        x = problem.mesh.points[:, 0]
        assert np.max(np.abs(scheme.state.T - (T_LEFT + slope * x))) < tol


@pytest.mark.parametrize("kind", ["flux", "transfer"])
def test_scheme2_steady_conduction_converges_at_second_order(kind: str) -> None:
    """Scheme II's flux k τ 𝒜_σ(T) (log T_i − log T_j) (at a steady state) is not exact for
    linear T (the volume-weighted harmonic mean is not the logarithmic mean): the steady profile
    is met at O(h²) (measured 6.2e-5 → 1.6e-5, order 1.92, and 2.6e-5 → 6.4e-6, 2.03). Started
    from the profile itself, so that Crank–Nicolson has no stiff transient to carry."""
    slope = _conduction(kind, IMMOBILE, 2)[1]
    profile = SpaceTime(lambda x, t: T_LEFT + slope * x[0], lambda x, y, t: T_LEFT + slope * x)
    initial = Initial(c={"cation": 1.0, "anion": 1.0}, T=profile)
    errors = []
    for n in (8, 16):
        problem = _conduction(kind, IMMOBILE, n, initial)[0]
        scheme = build_scheme(problem, "fv2")
        integrate(scheme, 0.5, FixedSteps(0.005))  # damps the stiff modes, then to steady
        integrate(scheme, 5.0, FixedSteps(0.05))
        before = scheme.state.T
        scheme.step(0.05)
        x = problem.mesh.points[:, 0]
        errors.append(float(np.max(np.abs(scheme.state.T - (T_LEFT + slope * x)))))
        assert np.max(np.abs(scheme.state.T - before)) < 1e-2 * errors[-1]  # steady
    order = math.log2(errors[0] / errors[1])
    assert errors[0] < 1e-4 and order >= 1.8, (errors, order)


def _heat_in(mesh, scheme_cls, q, t_old: float, dt: float, old, new) -> float:
    """Heat through the walls in one step: the flux q(t) on the left at the scheme's time
    (t^{n+1} or t^{n+1/2}) and the heat transfer on the right with T^{n+1} or T_m."""
    scheme1 = scheme_cls is SchemeI
    t_q = t_old + (dt if scheme1 else 0.5 * dt)
    temp = new.T if scheme1 else np.sqrt(old.T * new.T)
    left, right = _side_measure(mesh, "left"), _side_measure(mesh, "right")
    return q(t_q) * left.sum() + float(right @ (H_RIGHT * (T_AMBIENT - temp)))


@pytest.mark.parametrize("scheme_cls", [SchemeI, SchemeII])
def test_energy_balance_with_heat_flux_and_heat_transfer(scheme_cls) -> None:
    """Immobile ions (no reversible or Joule heat): every step stores exactly the heat that came
    through the walls, C_T⟨T^{n+1} − T^n, 1⟩ = Δt [q(t*) |Γ_left| + Σ_i A_i h (T_a − T*_i)], with
    a time-dependent flux (which checks the time level t*) — to round-off (measured ≤ 3e-15
    relative)."""
    mesh = _square(8)

    def q(t: float) -> float:
        return 0.5 * (1.0 + 4.0 * t)

    conditions = [
        Potential("left", 0.0),
        Potential("right", 0.0),
        HeatFlux("left", q),
        HeatTransfer("right", H_RIGHT, ambient=T_AMBIENT),
    ]
    scheme = build_scheme(Problem(IMMOBILE, mesh.tri, conditions, UNIFORM), scheme_cls.name)
    ct, dt = IMMOBILE.heat_capacity, 0.05
    worst = 0.0
    for _ in range(10):
        old = scheme.state
        scheme.step(dt)
        stored = ct * float(mesh.volumes @ (scheme.state.T - old.T))
        supplied = dt * _heat_in(mesh, scheme_cls, q, old.t, dt, old, scheme.state)
        worst = max(worst, abs(stored - supplied) / abs(supplied))
    assert worst < 1e-12, worst
    assert scheme.state.T.max() > 1.1  # the wall heated the cell


@pytest.mark.parametrize("scheme_cls", [SchemeI, SchemeII])
def test_second_law_with_boundary_heat(scheme_cls) -> None:
    """Charging (ψ = 0 | 3) with heat flowing in at the bottom (q = 5) and heat transfer on top
    (h = 2 to T_a = 1): in every step the entropy change is at least the boundary entropy flux
    Δt Σ_i θ_i Q_i (θ = 1/T^{n+1} or R, the weights of (3.12), (3.16); Q_i the heat into box i),
    i.e. the production S^{n+1} − S^n − Δt Σ θ Q is non-negative (measured ≥ 1.2e-2). In the
    first step the flux is more than half the production (0.063 against 0.083 in Scheme I,
    0.075 against 0.071 in Scheme II), so a boundary
    heat of the opposite sign would give a negative production there (checked by flipping it)."""
    model = dataclasses.replace(MOBILE, frictions=(1.0, 1.5), eps=0.25)
    mesh = _square(6)
    conditions = [
        Potential("left", 0.0),
        Potential("right", 3.0),
        HeatFlux("bottom", 5.0),
        HeatTransfer("top", 2.0, ambient=1.0),
    ]
    scheme = build_scheme(Problem(model, mesh.tri, conditions, UNIFORM), scheme_cls.name)
    bottom, top = _side_measure(mesh, "bottom"), _side_measure(mesh, "top")
    dt, fluxes, productions = 0.02, [], []
    for _ in range(25):
        old = scheme.state
        scheme.step(dt)
        new = scheme.state
        temp = new.T if scheme_cls is SchemeI else np.sqrt(old.T * new.T)
        theta = 1.0 / new.T if scheme_cls is SchemeI else _r_weight(new.T, old.T)
        heat = 5.0 * bottom + top * 2.0 * (1.0 - temp)  # Q_i
        fluxes.append(dt * float(theta @ heat))
        productions.append(entropy(scheme.problem, new)[0] - entropy(scheme.problem, old)[0])
        productions[-1] -= fluxes[-1]
    assert min(productions) >= -1e-12, min(productions)
    assert 2 * fluxes[0] > productions[0], (fluxes[0], productions[0])


# -- reservoirs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["fv1", "fv2"])
def test_ohmic_conductor_between_equal_reservoirs_heats_uniformly(method: str) -> None:
    """Equal reservoirs c_b = 2 at x = 0, 1 with ψ = 0 | V, insulated walls, unequal frictions:
    the exact solution is c ≡ c_b, ψ = Vx and the uniform Joule heating T = 1 + a t,
    a = ε V² c_b Σ 1/ν / C_T — to round-off on an unstructured mesh. (Without the boundary part
    of P at the reservoir boxes T would be off by 0.36 (fv1) / 0.45 (fv2) at t = 0.5, as it is in
    the FEM's weak form.)"""
    model = charging_model(eps=0.2, frictions=(1.0, 1.5), heat_capacity=2.0, conductivity=1.0)
    cb, volts = 2.0, 2.0
    conditions = [Potential("left", 0.0), Potential("right", volts)]
    for tag in ("left", "right"):
        conditions += [Concentration(tag, cb, "cation"), Concentration(tag, cb, "anion")]
    mesh = _square(6)
    initial = Initial(c={"cation": cb, "anion": cb})
    scheme = build_scheme(Problem(model, mesh.tri, conditions, initial), method)
    records = integrate(scheme, 0.5, FixedSteps(0.05)).records
    a = model.eps * volts**2 * cb * (1 / 1.0 + 1 / 1.5) / model.heat_capacity
    s = scheme.state
    assert np.max(np.abs(s.c - cb)) < 1e-12
    assert np.max(np.abs(s.psi - volts * mesh.points[:, 0])) < 1e-12
    assert np.max(np.abs(s.T - (1.0 + a * s.t))) < 1e-12
    assert records[-1]["joule"] == pytest.approx(a * model.heat_capacity, rel=1e-12)
    # a current flows through the reservoirs: the anode's charge stays, its current is 0
    assert abs(records[-1]["current_left"]) < 1e-9


def _junction(n: int) -> Problem:
    """Reservoirs 1.5 | 0.5 at ψ = 0 | 1 (a liquid junction under a voltage, ν = 1, 1.5), held at
    T = 1 (a bath), heat transfer to T_a = 1 on top, insulated bottom; c⁰ = 1.5 − x matches the
    reservoirs."""
    model = charging_model(eps=0.2, heat_capacity=1.0, conductivity=1.0)
    conditions = [
        Potential("left", 0.0),
        Potential("right", 1.0),
        Temperature("left", 1.0),
        Temperature("right", 1.0),
        HeatTransfer("top", 1.0, ambient=1.0),
    ]
    for tag, c in (("left", 1.5), ("right", 0.5)):
        conditions += [Concentration(tag, c, "cation"), Concentration(tag, c, "anion")]
    c0 = SpaceTime(lambda x, t: 1.5 - x[0], lambda x, y, t: 1.5 - x)
    tri = unit_square(n, "unstructured", seed=n)
    return Problem(model, tri, conditions, Initial(c={"cation": c0, "anion": c0}))


@pytest.mark.parametrize("pair", [("fem1", "fv1"), ("fem2", "fv2")], ids=["1", "2"])
def test_reservoirs_fem_and_fv_agree_at_second_order(pair: tuple[str, str]) -> None:
    """The junction on h = 1/8, 1/16, 1/32, 10 steps of 0.01: the FEM–FV differences (l² with
    the box volumes) of c^±, ψ, T fall at O(h²) (measured fem1–fv1 16 → 32: 1.96, 1.83, 2.00,
    2.00; fem2–fv2: 1.97, 1.84, 2.00, 1.97). The thermostats hold T on the reservoir tags, where
    the FEM's reversible heat lacks the boundary part that the FV takes (see the Ohmic test)."""
    from pnpf_fem.fem.build import build_scheme as fem_scheme
    from pnpf_fem.fem.mesh import gather_vertex_values

    fem_method, fv_method = pair
    rows = []
    for n in (8, 16, 32):
        problem = _junction(n)
        fv = build_scheme(problem, fv_method)
        fv_records = integrate(fv, 0.1, FixedSteps(0.01)).records
        fem = fem_scheme(problem, fem_method)
        integrate(fem, 0.1, FixedSteps(0.01))
        cols = [gather_vertex_values(fem.problem.mesh, fem.u, i) for i in range(4)]
        fem_values = [np.exp(cols[0]), np.exp(cols[1]), cols[2], np.exp(cols[3])]
        s = fv.state
        volumes = VoronoiMesh.from_triangulation(problem.mesh).volumes
        rows.append(
            [
                math.sqrt(volumes @ (a - b) ** 2)
                for a, b in zip(fem_values, [s.c[0], s.c[1], s.psi, s.T], strict=True)
            ]
        )
        # ions crossed the reservoirs: the masses are not conserved
        assert abs(fv_records[-1]["mass_cation"] / fv_records[0]["mass_cation"] - 1) > 1e-3
    errors = np.array(rows)
    orders = np.log2(errors[:-1] / errors[1:])
    assert np.all(errors[-1] < 2e-4) and np.all(orders[-1] >= 1.8), (errors, orders)
    assert np.all(orders > 1.3), orders


@pytest.mark.parametrize("method", ["fv1", "fv2"])
def test_equal_reservoirs_in_a_closed_circuit_reach_the_equilibrium(method: str) -> None:
    """Reservoirs c_b = 1 at both ends, both at ψ = 0 and T = 1, charged walls (ψ^N = −0.05 on
    top and bottom) and c⁰ = 1: the steady state is the equilibrium η^ℓ + z^ℓψ = log c_b with
    T ≡ 1 (a discrete Poisson–Boltzmann state with counter-ion enrichment at the walls), met to
    Newton tolerance (measured 5.7e-12 fv1, 1.6e-10 fv2)."""
    model = charging_model(eps=0.2, heat_capacity=1.0, conductivity=1.0)
    conditions = [
        Potential("left", 0.0),
        Potential("right", 0.0),
        SurfaceCharge("top", -0.05),
        SurfaceCharge("bottom", -0.05),
        Temperature("left", 1.0),
        Temperature("right", 1.0),
    ]
    for tag in ("left", "right"):
        conditions += [Concentration(tag, 1.0, "cation"), Concentration(tag, 1.0, "anion")]
    tri = unit_square(12, "unstructured", seed=3)
    scheme = build_scheme(Problem(model, tri, conditions, UNIFORM), method)
    if method == "fv1":
        assert integrate(scheme, math.inf, PseudoTransient(dt0=1e-2, tol=1e-11)).converged
    else:  # Crank–Nicolson: growing steps (a pseudo-transient rate is meaningless for it)
        dt = 1e-3
        while scheme.t < 20.0:
            scheme.step(dt)
            dt = min(1.3 * dt, 0.5)
    s = scheme.state
    mu = np.log(s.c) + np.array([[1.0], [-1.0]]) * s.psi
    assert np.max(np.abs(mu)) < 1e-9 and np.max(np.abs(s.T - 1.0)) < 1e-9
    assert s.c[0].max() > 1.1 and s.c[1].min() < 0.9  # counter-ions enriched at the walls


@pytest.mark.parametrize(("method", "ambient", "h"), [("fv1", 0.3, 5.0), ("fv2", 0.05, 20.0)])
def test_positivity_with_a_reservoir_and_strong_cooling(method: str, ambient: float, h: float):
    """A blocking electrode (ψ = 0) against a reservoir contact (c_b = 1, ψ = 4) depletes the
    co-ions, and heat transfer on top and bottom to a cold ambient cools the cell: c and T stay
    positive in every step while min c falls to 2e-2 and min T towards the ambient (measured
    0.48 for Scheme I, whose thermal drift is lagged around T = 1 and which fails (Newton)
    under h = 20 to 0.3; 0.10 for Scheme II, positive by its log variables)."""
    model = charging_model(eps=0.2, heat_capacity=1.0, conductivity=1.0)
    conditions = [
        Potential("left", 0.0),
        Potential("right", 4.0),
        Concentration("right", 1.0, "cation"),
        Concentration("right", 1.0, "anion"),
        HeatTransfer("top", h, ambient=ambient),
        HeatTransfer("bottom", h, ambient=ambient),
    ]
    tri = unit_square(10, "unstructured", seed=5)
    scheme = build_scheme(Problem(model, tri, conditions, UNIFORM), method)
    records = integrate(scheme, 1.0, AdaptiveSteps(dt0=1e-3, dt_min=1e-9, dt_max=0.05)).records
    assert all(r["min_c"] > 0 and r["min_T"] > 0 for r in records)
    assert min(r["min_c"] for r in records) < 0.05
    assert records[-1]["min_T"] < ambient + 0.5 * (1 - ambient)


# -- inputs ---------------------------------------------------------------------------------------
def test_problem_checks_the_new_data() -> None:
    mesh = _square(4)
    kw = {"dirichlet": {"left": 0.0}}
    with pytest.raises(InputError, match="no species 'sodium'"):
        PNPFProblem(mesh, MOBILE, reservoirs={"left": {"sodium": 1.0}}, **kw)
    with pytest.raises(InputError, match="must be positive"):
        PNPFProblem(mesh, MOBILE, reservoirs={"left": {"cation": 0.0}}, **kw)
    with pytest.raises(InputError, match="unknown boundary tag name 'wall'"):
        PNPFProblem(mesh, MOBILE, heat_flux={"wall": 1.0}, **kw)
    with pytest.raises(InputError, match="more than one thermal condition"):
        PNPFProblem(mesh, MOBILE, temperature={"top": 1.0}, heat_flux={"top": 1.0}, **kw)
    with pytest.raises(InputError, match="coefficient >= 0"):
        PNPFProblem(mesh, MOBILE, heat_transfer={"top": (1.0, 0.0)}, **kw)
    bad = PNPFProblem(mesh, MOBILE, temperature={"top": lambda x, y, t: 1.0 - t}, **kw)
    with pytest.raises(InputError, match="not positive at t = 2"):
        bad.temperature_dirichlet(2.0)
    assert (
        bad.closed
        and not PNPFProblem(mesh, MOBILE, reservoirs={"top": {"anion": 1.0}}, **kw).closed
    )


def test_the_fv_build_refuses_a_condition_it_does_not_know() -> None:
    """Every condition of `pnpf_fem.model` is taken; a new kind the FV schemes have not learnt
    (here a made-up subclass) is refused by name instead of being ignored."""
    from dataclasses import dataclass

    from pnpf_fem.model import Condition

    @dataclass(frozen=True)
    class Exotic(Condition):
        """A boundary condition the FV build has never heard of."""

    tri = unit_square(2, "structured")
    problem = Problem(MOBILE, tri, [Potential("left", 0.0), Exotic("right", 1.0)], UNIFORM)
    with pytest.raises(InputError, match="not Exotic "):
        build_scheme(problem, "fv1")


CASE = """
[mesh]
builtin = "unit_square"
n = 4
kind = "structured"

[[species]]
name = "cation"
valence = 1
friction = 4.14e-10
initial_concentration = 200

[[species]]
name = "anion"
valence = -1
friction = 6.0e-10
initial_concentration = 200

[parameters]
temperature = 300.0
relative_permittivity = 80.0
heat_capacity = 38800.0
thermal_conductivity = 1.2e-4
length_scale = 1e-8

[boundary.left]
potential = 0.0
concentrations = {cation = 300, anion = 300}
temperature = 300.0
[boundary.right]
potential_thermal = 2.0
heat_transfer = {coefficient = 1.2e4, ambient = 290.0}
[boundary.top]
heat_flux = 1e3

[time]
end = 5e-9
dt = 1e-9

[discretization]
method = "fv1"

[output]
fields = false
plots = false
"""


def test_a_case_file_with_reservoirs_and_thermal_boundaries_runs_with_fv(tmp_path: Path) -> None:
    """The keys the FV methods used to refuse: a reservoir richer than the cell fills it, the
    thermostat holds 300 K, the cooled right side falls below it."""
    from pnpf_fem.app.run import run_case
    from test_run import read_rows

    case = tmp_path / "c.toml"
    case.write_text(CASE)
    summary = run_case(case, output=tmp_path / "out", quiet=True)
    assert summary["status"] == "completed" and summary["method"] == "fv1"
    rows = read_rows(tmp_path / "out")
    assert rows[-1]["mass_cation"] > rows[0]["mass_cation"] * 1.001
    assert rows[-1]["min_T"] < 1.0 and rows[-1]["min_c"] > 0
