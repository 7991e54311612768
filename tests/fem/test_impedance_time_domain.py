"""The small-signal impedance (`pnpf_fem.fem.impedance`) against time-domain runs.

An independent measurement of Z(ω) = δV/δI: from the steady state at V0 (fem-be, pseudo-
transient), a fem-bdf2 run drives the electrode with V = V0 + a sin ωt (a = 1e-3, small enough
that the response is linear to O(a)); once the start-up transient has decayed, the electrode
charge Q(t) (and the Faradaic current I_F(t) where the electrode reacts) is least-squares
fitted over the last whole period by q0 + qs sin ωt + qc cos ωt. With the complex amplitudes
Q̂ = qs + i qc, Î_F the current is Î = iω Q̂ + Î_F and Z_td = a/Î. The time stepping uses
nothing of the linearization (no K, M, ∂F/∂V), so Z_td checks the whole chain: the derivatives
of the residual, the drive by Dirichlet data and by forms (Stern layer, Butler–Volmer), the
current functionals and the block solve. Z_td must meet Z to 1 % at five frequencies across the
spectrum of

* a biased blocking cell (V0 = 1 against ψ = 0, thermostatted ends), and
* a Butler–Volmer electrode behind a Stern layer facing a reservoir (k0 = 0.2, V0 = 0), whose
  spectrum has the charge-transfer arc.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from mpi4py import MPI

from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.impedance import FrequencyResponse
from pnpf_fem.integrate import FixedSteps, PseudoTransient, integrate
from pnpf_fem.meshing import strip
from pnpf_fem.model import (
    Concentration,
    Initial,
    Potential,
    Problem,
    Reaction,
    Sine,
    Stern,
    Temperature,
    cases,
)

MODEL = cases.charging_model(eps=0.1, frictions=(1.0, 1.0))
MESH = strip(24, 0.1, graded=True)
AMPLITUDE = 1e-3
# The spectra span R ≈ 40 (blocking) and the arc 150 → 60 (reacting) from ω ≈ 0.1 to the bulk
# relaxation near ω ≈ 2/ε² · D = 20 (D = ε/ν): ω = 0.3 is capacitive (blocking, phase −85°) and
# on the arc (reacting), 1 and 3 around the RC corner and the arc's end, 10 and 30 in the bulk
# relaxation (Re Z falls from 33 to 13). Beyond: steps ∝ ω at a fixed settling time.
OMEGAS = (0.3, 1.0, 3.0, 10.0, 30.0)
# BDF2 turns iω into iω(1 + θ²/3 + …), θ = ωΔt = 2π/STEPS, an error ≤ θ²/3 = 3.7e-3 in Z. The
# measured errors (≤ 2.7e-3) fall 4.0× when STEPS doubles (2.71e-3 → 6.78e-4, blocking, ω = 10):
# they are the time-step error, with a margin of 3.7 to the 1 % checked.
STEPS = 60  # per period
# The start-up transient: a step response of the blocking cell is down to 7e-6 at t = 6 (its tail
# decays like e^{−0.9 t}), the reacting cell's (the salt, fed by the reservoir) like e^{−0.29 t}.
# Fitting over one whole period after t ≥ settle (6 and 10; at least two periods in all) leaves
# < 1e-4 of Z to it (reacting, ω = 3: the error ratio at STEPS = 60/120 is 4.4 instead of 4.0).
TOLERANCE = 1e-2


def thermostatted(conditions: list) -> Problem:
    """The strip cell with T = 1 held on both ends (so that T is set by the data)."""
    conditions = [*conditions, Temperature("left", 1.0), Temperature("right", 1.0)]
    initial = Initial(c=dict.fromkeys(MODEL.species_names, 1.0), T=1.0)
    return Problem(MODEL, MESH, conditions, initial)


def blocking_cell(voltage) -> Problem:
    return thermostatted([Potential("left", voltage), Potential("right", 0.0)])


def reacting_cell(voltage, k0: float = 0.2) -> Problem:
    electrode = [
        Stern("left", voltage, thickness=0.02),
        Reaction("left", k0, "cation", stoichiometry=1.0, alpha=0.5),
    ]
    reservoir = [Potential("right", 0.0)] + [
        Concentration("right", 1.0, name) for name in MODEL.species_names
    ]
    return thermostatted(electrode + reservoir)


def steady_scheme(problem: Problem):
    scheme = build_scheme(problem, "fem-be", comm=MPI.COMM_WORLD)
    run = integrate(scheme, math.inf, PseudoTransient(dt0=1e-3, tol=1e-11))
    assert run.converged
    return scheme


def amplitude(t: np.ndarray, y: np.ndarray, omega: float) -> complex:
    """ys + i yc of the least-squares fit y ≈ y0 + ys sin ωt + yc cos ωt."""
    basis = np.column_stack([np.ones_like(t), np.sin(omega * t), np.cos(omega * t)])
    _, ys, yc = np.linalg.lstsq(basis, y, rcond=None)[0]
    return complex(ys, yc)


def time_domain_impedance(
    cell: Callable[..., Problem], steady, voltage: float, omega: float, settle: float
) -> complex:
    """a/Î from a fem-bdf2 run started at the steady state `steady` of `cell(voltage)` and
    driven by V = voltage + a sin ωt, fitted over its first whole period after t = settle."""
    wave = Sine(offset=voltage, amplitude=AMPLITUDE, frequency=omega / (2 * math.pi))
    scheme = build_scheme(cell(wave), "fem-bdf2", comm=MPI.COMM_WORLD)
    assert scheme.u.x.array.size == steady.u.x.array.size
    assert np.array_equal(scheme.V.tabulate_dof_coordinates(), steady.V.tabulate_dof_coordinates())
    scheme.u.x.array[:] = steady.u.x.array
    scheme.restart_from(0.0)
    period = 2 * math.pi / omega
    periods = max(2, math.ceil(settle / period) + 1)
    records = integrate(scheme, periods * period, FixedSteps(period / STEPS)).records
    assert len(records) == periods * STEPS
    last = records[-STEPS:]  # the last whole period, STEPS equispaced samples
    t = np.array([r.t for r in last])
    current = 1j * omega * amplitude(t, np.array([r["charge_left"] for r in last]), omega)
    if "faradaic_left" in last[0]:
        current += amplitude(t, np.array([r["faradaic_left"] for r in last]), omega)
    return AMPLITUDE / current


@pytest.mark.mpi
@pytest.mark.parametrize(
    ("cell", "voltage", "settle"),
    [(blocking_cell, 1.0, 6.0), (reacting_cell, 0.0, 10.0)],
    ids=["blocking", "reacting"],
)
def test_impedance_matches_fitted_time_domain_runs(cell, voltage: float, settle: float) -> None:
    steady = steady_scheme(cell(voltage))
    response = FrequencyResponse(steady.small_signal("left"))
    errors = {}
    for omega in OMEGAS:
        z = response.impedance(omega)
        z_td = time_domain_impedance(cell, steady, voltage, omega, settle)
        errors[omega] = abs(z_td - z) / abs(z)
    report = ", ".join(f"ω = {w:g}: {e:.2e}" for w, e in errors.items())
    assert max(errors.values()) < TOLERANCE, f"relative |Z_td − Z|/|Z|: {report}"
