"""The finite-volume small-signal impedance (`pnpf_fem.fv.impedance`): fv-bdf2's box equations
linearized at a steady state, against the analytic blocking-cell impedance of docs/impedance.md
(order 2 in h, as the P1 FEM) and against the FEM's spectrum on the same strips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnpf_fem.errors import InputError
from pnpf_fem.fem.build import build_scheme as fem_scheme
from pnpf_fem.fem.impedance import FrequencyResponse
from pnpf_fem.fv.build import build_scheme as fv_scheme
from pnpf_fem.fv.impedance import FVFrequencyResponse
from pnpf_fem.integrate import PseudoTransient, integrate
from pnpf_fem.meshing import strip
from pnpf_fem.model import Potential, Problem, Reaction, Temperature, cases

EPS, HEIGHT = 0.1, 0.1
MODEL = cases.charging_model(eps=EPS, frictions=(1.0, 1.0))
OMEGAS = np.logspace(-2, 3, 6)


def blocking_impedance(omega: np.ndarray) -> np.ndarray:
    """docs/impedance.md: the cell 0 < x < 1 at rest, ε = 0.1, ν = 1, driven at x = 0."""
    D = EPS
    beta = np.sqrt(2 / EPS**2 + 1j * omega / D)
    h = beta / 2
    A = 1 / (2 * np.sinh(h) / (EPS * beta) ** 2 + 1j * omega * np.cosh(h) / (2 * D * beta))
    B = -A * 1j * omega * np.cosh(h) / (2 * D * beta)
    return 1 / (-1j * omega * EPS**2 * (-A * np.cosh(h) / (EPS**2 * beta) + B))


def steady(scheme):
    assert integrate(scheme, math.inf, PseudoTransient(dt0=1e-3, tol=1e-11)).converged
    return scheme


def fv_spectrum(problem: Problem) -> np.ndarray:
    scheme = steady(fv_scheme(problem, "fv-bdf2"))
    return FVFrequencyResponse(scheme, "left").spectrum(OMEGAS) * HEIGHT


def test_blocking_cell_matches_the_analytic_impedance() -> None:
    exact = blocking_impedance(OMEGAS)
    errors = []
    for n in (50, 100):
        problem = cases.charging_cell(strip(n, HEIGHT, graded=True), 0.0, MODEL, bumps=False)
        errors.append(np.max(np.abs(fv_spectrum(problem) - exact) / np.abs(exact)))
    assert errors[1] < 1e-3, errors  # measured 3.2e-3, 8.1e-4
    assert math.log2(errors[0] / errors[1]) > 1.8, errors


def test_biased_cell_agrees_with_the_fem() -> None:
    """A cell biased to 2 k_BT0/e with thermostatted electrodes: FV and P1 FEM on the same
    strips, their difference O(h²) (6e-4, 1e-4 for n = 24, 48; insulated alike since the
    pseudo-transient steps are backward Euler for both: tests/test_steady.py)."""
    diffs = []
    for n in (24, 48):
        cell = cases.charging_cell(strip(n, HEIGHT, graded=True), 2.0, MODEL, bumps=False)
        held = [Temperature("left", 1.0), Temperature("right", 1.0)]
        problem = Problem(MODEL, cell.mesh, [*cell.conditions, *held], cell.initial)
        fem = steady(fem_scheme(problem, "fem-be"))
        z_fem = FrequencyResponse(fem.small_signal("left")).spectrum(OMEGAS) * HEIGHT
        z_fv = fv_spectrum(problem)
        diffs.append(np.max(np.abs(z_fv - z_fem) / np.abs(z_fem)))
    assert diffs[0] < 2e-3 and diffs[1] < 0.4 * diffs[0], diffs


def test_refuses_a_reacting_or_unknown_tag() -> None:
    problem = cases.charging_cell(strip(8, HEIGHT), 0.0, MODEL, bumps=False)
    scheme = steady(fv_scheme(problem, "fv-bdf2"))
    with pytest.raises(InputError, match="drives a potential tag"):
        FVFrequencyResponse(scheme, "top")
    conditions = [*problem.conditions, Reaction("left", 0.1, "cation")]
    reacting = Problem(MODEL, problem.mesh, conditions, problem.initial)
    scheme = steady(fv_scheme(reacting, "fv-bdf2"))
    with pytest.raises(InputError, match="carries a reaction"):
        FVFrequencyResponse(scheme, "left")
    assert isinstance(problem.conditions[0], Potential)
