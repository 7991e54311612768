"""Butler–Volmer electrode reactions (`pnpf_fem.model.Reaction`) against independent references.

The cell is the strip [0, 1] × [0, 0.05]: a 1:1 electrolyte (ε = 0.1, equal frictions) between a
reacting electrode on the left — cations are made or deposited there, M ⇌ M⁺ + e⁻, anions are
blocked — and a reservoir on the right (c^± = 1, ψ = 0, T = 1). A very large conductivity keeps
T ≈ 1 (ΔT < 1e-7), so the steady state solves the isothermal 1D problem

    c⁺' = −c⁺ψ' − J/ε,   c⁻' = c⁻ψ',   ε²ψ'' = −(c⁺ − c⁻),
    J = r(c⁺(0), ψ(0)),  ψ(0) = V  or  −ε²ψ'(0) = (ε²/λ_S)(V − ψ(0))  (Stern, Frumkin),

which SciPy's `solve_bvp` solves for the current J (our own reference, tolerance 1e-10). The
FEM steady state (pseudo-transient continuation, P1) must match it at second order in h; the
current through the electrode must equal the bulk current (the discrete equations tested with
1 − x) to solver tolerance; with V at the equilibrium potential no current flows at all.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI
from scipy.integrate import solve_bvp

from pnpf_fem.errors import InputError
from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.forms import ion_flux
from pnpf_fem.integrate import FixedSteps, PseudoTransient, integrate
from pnpf_fem.meshing import strip
from pnpf_fem.model import (
    Concentration,
    Initial,
    Potential,
    Problem,
    Reaction,
    Stern,
    SurfaceCharge,
    Temperature,
)
from pnpf_fem.model.cases import charging_model

EPS, K0, ALPHA, HEIGHT = 0.1, 0.5, 0.5, 0.05
MODEL = dataclasses.replace(
    charging_model(eps=EPS), frictions=(1.0, 1.0), heat_capacity=1.0, conductivity=1e6
)
INITIAL = Initial(c={"cation": 1.0, "anion": 1.0})


def reference_current(V: float, stern: float | None, E0: float = 0.0) -> float:
    """J of the isothermal 1D steady problem above, in the log variables (solve_bvp)."""

    def rhs(x, y, p):
        log_cp, _log_cm, _psi, E = y
        return np.vstack(
            [-E - p[0] / (EPS * np.exp(log_cp)), E, E, -(np.exp(y[0]) - np.exp(y[1])) / EPS**2]
        )

    def bc(ya, yb, p):
        eta = V - ya[2] - E0
        r = K0 * (np.exp(ALPHA * eta) - np.exp(ya[0]) * np.exp(-(1 - ALPHA) * eta))
        left = ya[2] - V if stern is None else ya[3] + (V - ya[2]) / stern
        return np.array([yb[0], yb[1], yb[2], left, p[0] - r])

    x = np.linspace(0.0, 1.0, 401)
    guess = np.zeros((4, x.size))
    guess[2] = V * (1 - x) if stern is None else 0.0
    sol = solve_bvp(rhs, bc, x, guess, p=[0.0], tol=1e-10, max_nodes=200000)
    assert sol.success, sol.message
    return float(sol.p[0])


def _cell(V: float, n: int, stern: float | None, E0: float = 0.0) -> Problem:
    left = Potential("left", V) if stern is None else Stern("left", V, thickness=stern)
    conditions = [
        left,
        Reaction("left", K0, "cation", alpha=ALPHA, equilibrium=E0),
        Potential("right", 0.0),
        Concentration("right", 1.0, "cation"),
        Concentration("right", 1.0, "anion"),
        Temperature("right", 1.0),
    ]
    return Problem(MODEL, strip(n, HEIGHT), conditions, INITIAL)


def _steady(problem: Problem, method: str = "fem-be"):
    scheme = build_scheme(problem, method)
    assert integrate(scheme, math.inf, PseudoTransient(dt0=1e-3, tol=1e-10)).converged
    return scheme, scheme.observables.evaluate(scheme.t, 1.0, 0, 0.0)


@pytest.mark.mpi
@pytest.mark.parametrize("stern", [None, 0.05], ids=["ideal-contact", "stern-frumkin"])
def test_steady_current_voltage_curve_against_solve_bvp(stern: float | None) -> None:
    """Measured |I_FEM − J| at h = 1/32, 1/64: without Stern layer 4.9e-5, 1.2e-5 (V = −1),
    9.3e-5, 2.4e-5 (V = 1), 4.6e-4, 1.2e-4 (V = 2); with λ_S = 0.05: 1.1e-5, 2.7e-6; 3.6e-5,
    9.2e-6; 5.1e-4, 1.3e-4 — orders 1.89 to 2.00."""
    for V in (-1.0, 1.0, 2.0):
        J = reference_current(V, stern)
        errors = []
        for n in (32, 64):
            _, obs = _steady(_cell(V, n, stern))
            errors.append(abs(obs["faradaic_left"] / HEIGHT - J))
        order = math.log2(errors[0] / errors[1])
        assert errors[1] < 2e-3 * abs(J) and order > 1.8, (V, J, errors, order)


@pytest.mark.mpi
def test_electrode_current_is_the_bulk_current_and_no_current_at_equilibrium() -> None:
    """At the steady state the Faradaic current ∫_Γ n r ds equals the bulk current ∫_Ω Σ z ε c
    u·e_x dx (the discrete ion equations tested with 1 − x, which vanishes on the reservoir) to
    solver tolerance. With V = E_eq (no Stern layer) the reaction is at equilibrium with the
    reservoir through the Boltzmann double layer: no current, c± = e^{∓ψ}."""
    scheme, obs = _steady(_cell(1.0, 32, 0.05))
    u, M = scheme.u, scheme.M
    T = ufl.exp(u[M + 1])
    current = sum(
        z * ion_flux(ufl.exp(u[i]), T, u[i], u[M], z, 1.0, EPS)[0]
        for i, z in enumerate(MODEL.valences)
    )
    local = fem.assemble_scalar(fem.form(current * ufl.dx(domain=scheme.domain)))
    bulk = scheme.domain.comm.allreduce(local, op=MPI.SUM)
    assert bulk == pytest.approx(obs["faradaic_left"], rel=1e-8, abs=1e-12)
    assert obs["faradaic_left"] > 1e-3 * HEIGHT

    scheme, obs = _steady(_cell(0.7, 32, None, E0=0.7))
    assert abs(obs["faradaic_left"]) < 1e-11
    cols = scheme.u.x.array.reshape(-1, M + 2)
    assert np.max(np.abs(cols[:, 0] + cols[:, 2])) < 1e-8
    assert np.max(np.abs(cols[:, 1] - cols[:, 2])) < 1e-8


def _closed_reacting_cell(entropy: float = 0.0) -> Problem:
    """Insulated, closed: cations dissolve at the left electrode (V = 1) and deposit on the
    right one (V = 0, behind a Stern layer); anions are blocked."""
    model = dataclasses.replace(MODEL, heat_capacity=5.0, conductivity=0.5)
    conditions = [
        Potential("left", 1.0),
        Reaction("left", K0, "cation", alpha=0.3, entropy=entropy),
        Stern("right", 0.0, thickness=0.05),
        Reaction("right", K0, "cation", alpha=0.6, reference=2.0, entropy=entropy),
    ]
    return Problem(model, strip(16, HEIGHT), conditions, INITIAL)


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["fem-be", "fem1"])
def test_entropy_balance_with_reactions(method: str) -> None:
    """dS/dt = (bulk production ≥ 0) + ∫_Γ r A/T ds (≥ 0, r has the sign of the affinity A)
    − ∫_Γ r (ΔS + s log c_ref) ds: every step, S^{n+1} − S^n + Δt·reaction_entropy ≥ 0 (the
    entropy the reactions carry into the electrodes counted). With ΔS = 3 the entropy S itself
    falls by up to 1.1e-3 per step while the balance stays ≥ 1.7e-5 (with the exchange term's
    sign flipped it would be −2.6e-3); fem2 and fem-bdf2 measure the same (not asserted: no
    proof). The anions, which do not react, keep their mass."""
    for entropy in (0.0, 3.0):
        scheme = build_scheme(_closed_reacting_cell(entropy), method)
        rows = [scheme.initial_observables()]
        record = [lambda r, _dt, rows=rows: rows.append(r)]
        integrate(scheme, 2.0, FixedSteps(0.05), observers=record)
        production = [
            (b["S"] - a["S"]) + 0.05 * b["reaction_entropy"] for a, b in itertools.pairwise(rows)
        ]
        assert min(production) > -1e-12, (entropy, min(production))
        assert rows[-1]["faradaic_left"] > 0 > rows[-1]["faradaic_right"]
        assert rows[-1]["mass_anion"] == pytest.approx(rows[0]["mass_anion"], rel=1e-10)


def test_a_reaction_needs_an_electrode_and_electrons() -> None:
    base = [Potential("left", 0.0), SurfaceCharge("right", 0.0)]
    with pytest.raises(InputError, match="needs an electrode potential"):
        Problem(MODEL, strip(4), [*base, Reaction("right", 1.0, "cation")], INITIAL)
    with pytest.raises(InputError, match="must release electrons"):
        Problem(MODEL, strip(4), [*base, Reaction("left", 1.0, "anion")], INITIAL)
    with pytest.raises(InputError, match="0 < alpha < 1"):
        Reaction("left", 1.0, "cation", alpha=1.0)
    with pytest.raises(InputError, match="given twice"):
        Problem(
            MODEL,
            strip(4),
            [*base, Reaction("left", 1.0, "cation"), Reaction("left", 2.0, "cation")],
            INITIAL,
        )


def test_a_reaction_in_a_case_file_in_si_units() -> None:
    """[boundary.<tag>] reaction: i₀ [A/m²] → k₀ = i₀/(n F)·τ/(c0 L), E_eq [V] → thermal volts,
    c_ref [mol/m³] → units of c0, ΔS [J/(mol K)] → units of R; n = stoichiometry × valence."""
    from pathlib import Path

    from pnpf_fem.app.case import load_case
    from pnpf_fem.app.setup import prepare

    demo = Path(__file__).resolve().parents[1] / "demos" / "electrodeposition.toml"
    setup = prepare(load_case(demo))
    sc = setup.model.scales
    rx = {r.tag: r for r in setup.problem.reactions}
    assert set(rx) == {"left", "right"}
    faraday, gas = 96485.33212, 8.314462618
    expected = 1e5 / faraday * sc.time / (100.0 * 1e-8)  # c0 = 100 mol/m³, L = 10 nm
    assert rx["left"].value == pytest.approx(expected, rel=1e-9)
    assert rx["left"].entropy == pytest.approx(-30.0 / gas, rel=1e-9)
    assert sc.potential == pytest.approx(gas * 300.0 / faraday, rel=1e-9)
    assert rx["left"].reference == 1.0 and rx["left"].species == "silver"
