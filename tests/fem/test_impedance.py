"""The small-signal impedance (`pnpf_fem.fem.impedance`) against independent references.

* A blocking cell at rest (binary 1:1 electrolyte, equal frictions, ψ = 0 on both electrodes):
  the linearized PNP equations have the closed-form impedance derived in docs/impedance.md,
  Z = 1/(−iω ε² δψ'(0)) with the charge mode q = δc⁺ − δc⁻ ∝ sinh(β(x − 1/2)),
  β² = 2/ε² + iω ν/ε (the temperature and the salt mode stay unperturbed). The FEM spectrum
  must meet it to 1e-3 (P1) and 1e-6 (P2) over five decades, with order 2 in h for P1.
* The low-frequency limit of a biased cell: Y/(iω) → dQ/dV, which two steady states at V ± h
  give independently.
* A Butler–Volmer electrode behind a Stern layer facing a reservoir: the DC resistance
  changes with the exchange rate k₀ exactly by the linearized charge-transfer resistance
  1/(n² k₀) (in units of k_BT₀/e per current; T = 1), everything else in series being
  independent of k₀.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.impedance import FrequencyResponse
from pnpf_fem.integrate import PseudoTransient, integrate
from pnpf_fem.meshing import strip
from pnpf_fem.model import (
    Concentration,
    Initial,
    Potential,
    Problem,
    Reaction,
    Stern,
    Temperature,
    cases,
)

EPS, HEIGHT = 0.1, 0.1
MODEL = cases.charging_model(eps=EPS, frictions=(1.0, 1.0))
OMEGAS = np.logspace(-2, 3, 6)


def blocking_impedance(omega: np.ndarray, eps: float, nu: float) -> np.ndarray:
    """Z per unit electrode area of the cell 0 < x < 1 at rest, driven at x = 0
    (docs/impedance.md): δψ = −A sinh(β(x − ½))/(ε²β²) + Bx + C with δψ(0) − δψ(1) = 1 and
    blocking walls q' + 2δψ' = 0."""
    D = eps / nu
    beta = np.sqrt(2 / eps**2 + 1j * omega / D)
    h = beta / 2
    A = 1 / (2 * np.sinh(h) / (eps * beta) ** 2 + 1j * omega * np.cosh(h) / (2 * D * beta))
    B = -A * 1j * omega * np.cosh(h) / (2 * D * beta)
    slope = -A * np.cosh(h) / (eps**2 * beta) + B  # δψ'(0)
    return 1 / (-1j * omega * eps**2 * slope)


def steady_scheme(problem: Problem, degree: int = 1):
    scheme = build_scheme(problem, "fem-be", degree=degree, comm=MPI.COMM_WORLD)
    run = integrate(scheme, math.inf, PseudoTransient(dt0=1e-3, tol=1e-11))
    assert run.converged
    return scheme


def blocking_spectrum(n: int, degree: int) -> np.ndarray:
    problem = cases.charging_cell(strip(n, HEIGHT, graded=True), 0.0, MODEL, bumps=False)
    response = FrequencyResponse(steady_scheme(problem, degree).small_signal("left"))
    return response.spectrum(OMEGAS) * HEIGHT  # per unit area of the electrode


@pytest.mark.mpi
def test_blocking_cell_matches_the_analytic_impedance() -> None:
    exact = blocking_impedance(OMEGAS, EPS, 1.0)
    errors = [np.max(np.abs(blocking_spectrum(n, 1) - exact) / np.abs(exact)) for n in (50, 100)]
    assert errors[1] < 1e-3, errors  # measured 8.0e-4 (n = 100)
    assert math.log2(errors[0] / errors[1]) > 1.8, errors  # P1: order 2 in h
    p2 = blocking_spectrum(60, 2)
    assert np.max(np.abs(p2 - exact) / np.abs(exact)) < 1e-6


def thermostatted(conditions: list, voltage: float) -> Problem:
    """The strip cell with T = 1 held on both ends (so that T is set by the data)."""
    conditions = [*conditions, Temperature("left", 1.0), Temperature("right", 1.0)]
    initial = Initial(c=dict.fromkeys(MODEL.species_names, 1.0), T=1.0)
    return Problem(MODEL, strip(40, HEIGHT, graded=True), conditions, initial)


@pytest.mark.mpi
def test_low_frequency_limit_is_the_differential_capacitance() -> None:
    V, h = 2.0, 1e-4

    def scheme(v: float):
        return steady_scheme(thermostatted([Potential("left", v), Potential("right", 0.0)], v))

    def charge(s) -> float:
        return float(s.observables.evaluate(s.t, 0.0, 0, 0.0)["charge_left"])

    capacitance = (charge(scheme(V + h)) - charge(scheme(V - h))) / (2 * h)
    response = FrequencyResponse(scheme(V).small_signal("left"))
    omega = 1e-5
    y = response.admittance(omega)
    assert abs(y.imag / omega - capacitance) < 1e-6 * capacitance, (y, capacitance)
    assert abs(y.real) < 1e-3 * abs(y.imag)  # blocking: Re Y = ω² R C² → 0 faster than Im Y


def reacting_cell(k0: float) -> Problem:
    electrode = [
        Stern("left", 0.0, thickness=0.02),
        Reaction("left", k0, "cation", stoichiometry=1.0, alpha=0.5),
    ]
    reservoir = [Potential("right", 0.0)] + [
        Concentration("right", 1.0, name) for name in MODEL.species_names
    ]
    return thermostatted(electrode + reservoir, 0.0)


@pytest.mark.mpi
def test_dc_resistance_changes_by_the_charge_transfer_resistance() -> None:
    k_slow, k_fast = 0.05, 0.5
    z = {
        k0: FrequencyResponse(steady_scheme(reacting_cell(k0)).small_signal("left")).impedance(0.0)
        * HEIGHT
        for k0 in (k_slow, k_fast)
    }
    assert all(abs(v.imag) < 1e-10 * abs(v) for v in z.values())
    r_ct = 1 / k_slow - 1 / k_fast  # 1/(n² k₀) with n = 1, T = 1
    assert abs((z[k_slow] - z[k_fast]).real - r_ct) < 1e-6 * r_ct, (z, r_ct)
    assert z[k_fast].real > 1 / k_fast  # the electrolyte in series


def test_one_symbolic_factorization_serves_every_frequency() -> None:
    """The block matrix keeps one sparsity pattern: MUMPS analyses it once, then only refactors
    numerically (PETSc's event counts)."""
    from petsc4py import PETSc

    PETSc.Log.begin()
    problem = cases.charging_cell(strip(20, HEIGHT, graded=True), 0.0, MODEL, bumps=False)
    response = FrequencyResponse(steady_scheme(problem).small_signal("left"))
    symbolic, numeric = PETSc.Log.Event("MatLUFactorSym"), PETSc.Log.Event("MatLUFactorNum")
    before = symbolic.getPerfInfo()["count"], numeric.getPerfInfo()["count"]
    response.spectrum([0.1, 1.0, 10.0])
    after = symbolic.getPerfInfo()["count"], numeric.getPerfInfo()["count"]
    assert (after[0] - before[0], after[1] - before[1]) == (1, 3)
