"""Stern layers: an electrode at V behind a compact layer of thickness λ_S (a Robin condition).

Check at equilibrium against Gouy–Chapman–Stern theory. With ε² ∂ψ/∂n = (ε²/λ_S)(V − ψ_w) at the
wall and the Gouy–Chapman charge of a diffuse layer facing a bulk (c_b, ψ_b) of 1:1 salt,
σ_GC = 2√2 ε √c_b sinh(ψ_d/2), ψ_d = ψ_w − ψ_b, the diffuse drop solves

    (ε²/λ_S)(V − ψ_b − ψ_d) = 2√2 ε √c_b sinh(ψ_d / 2),

and the differential capacitance is the series one, 1/C = 1/C_S + 1/C_GC with C_S = ε²/λ_S and
C_GC = √2 ε √c_b cosh(ψ_d/2). A cell of 1:1 salt (ε = 0.05, nearly isothermal) with the Stern
electrode on the left and a grounded one on the right, solved to its steady state on a strip
graded at both ends: the diffuse drop is met to 7.1e-4 relative on 96 cells and 1.8e-4 on 192
(second order); the
electrode's reported charge equals the Robin flux; the capacitance dσ/d(V − ψ_b) from V ± δ
matches the series formula to 4.8e-4 on 96 cells.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.optimize import brentq

from pnpf_fem.errors import InputError
from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.mesh import gather_vertex_values
from pnpf_fem.integrate import PseudoTransient, integrate
from pnpf_fem.meshing import strip
from pnpf_fem.model import Initial, Potential, Problem, Stern
from pnpf_fem.model.cases import charging_model

EPS = 0.05
MODEL = dataclasses.replace(charging_model(eps=EPS), heat_capacity=1e9)
LAMBDA_S = 0.02
HEIGHT = 2e-3  # thin: the graded strip's first cells (2.7e-4 wide at n = 96) stay near square


def _equilibrium(voltage: float, n: int) -> dict[str, float]:
    mesh = strip(n, HEIGHT, graded=True)
    conditions = [Stern("left", voltage, thickness=LAMBDA_S), Potential("right", 0.0)]
    problem = Problem(MODEL, mesh, conditions, Initial(c={"cation": 1.0, "anion": 1.0}))
    scheme = build_scheme(problem, "fem-be")
    run = integrate(scheme, math.inf, PseudoTransient(dt0=1e-3, tol=1e-10))
    assert run.converged
    fm, x = scheme.problem.mesh, mesh.points[:, 0]
    psi = gather_vertex_values(fm, scheme.u, 2)
    c = [np.exp(gather_vertex_values(fm, scheme.u, i)) for i in range(2)]
    mid, wall = np.isclose(x, x[np.argmin(np.abs(x - 0.5))]), x == 0.0  # both nodes of a column
    c_b = math.sqrt(np.mean(c[0][mid]) * np.mean(c[1][mid]))
    psi_b, psi_w = float(np.mean(psi[mid])), float(np.mean(psi[wall]))
    cs = EPS**2 / LAMBDA_S

    def balance(d: float) -> float:
        return cs * (voltage - psi_b - d) - 2 * math.sqrt(2) * EPS * math.sqrt(c_b) * math.sinh(
            d / 2
        )

    d_theory = brentq(balance, 0.0, voltage - psi_b)
    return {
        "d": psi_w - psi_b,
        "d_theory": d_theory,
        "sigma": cs * (voltage - psi_w),  # the Robin flux at the wall
        "charge": run.records[-1]["charge_left"] / HEIGHT,
        "c_b": c_b,
        "drop": voltage - psi_b,  # electrode to bulk
    }


@pytest.mark.mpi
def test_diffuse_drop_matches_gouy_chapman_stern() -> None:
    errors = []
    for n in (96, 192):
        r = _equilibrium(2.0, n)
        assert 0.5 < r["d"] < 2.0  # the Stern layer takes part of the voltage
        assert r["charge"] == pytest.approx(r["sigma"], rel=1e-10)
        errors.append(abs(r["d"] - r["d_theory"]) / r["d_theory"])
    assert errors[0] < 2e-3 and errors[1] < errors[0] / 3, errors  # measured 7.1e-4, 1.8e-4


@pytest.mark.mpi
def test_capacitance_is_stern_and_diffuse_in_series() -> None:
    v, dv = 1.0, 0.05
    lo, mid, hi = (_equilibrium(u, 96) for u in (v - dv, v, v + dv))
    # the bulk potential moves with V (the grounded electrode charges too): dσ/d(V − ψ_b)
    c_numeric = (hi["charge"] - lo["charge"]) / (hi["drop"] - lo["drop"])
    c_s = EPS**2 / LAMBDA_S
    c_gc = math.sqrt(2) * EPS * math.sqrt(mid["c_b"]) * math.cosh(mid["d_theory"] / 2)
    c_series = 1.0 / (1.0 / c_s + 1.0 / c_gc)
    assert c_numeric == pytest.approx(c_series, rel=3e-3)  # measured 4.8e-4
    assert c_numeric < min(c_s, c_gc)  # a series capacitance is below both


def test_stern_needs_a_positive_thickness_and_one_condition_per_tag() -> None:
    with pytest.raises(InputError, match="thickness > 0"):
        Stern("left", 1.0, thickness=0.0)
    with pytest.raises(InputError, match="given twice"):
        Problem(
            MODEL,
            strip(4),
            [Stern("left", 1.0, thickness=0.1), Potential("left", 0.0)],
            Initial(c={"cation": 1.0, "anion": 1.0}),
        )


def test_case_file_keys(tmp_path) -> None:
    """`stern_thickness` (m) and the equal `stern_capacitance` ε_r ε₀/λ_S (F/m²) give the same run;
    the Stern layer takes part of the voltage, so the electrode charges less than without it."""
    from pnpf_fem.app.cli import main
    from test_run import assert_same_rows, read_rows, write_case

    thickness = 1e-9  # m: C_S = 0.71 F/m²
    capacitance = 80.0 * 8.8541878128e-12 / thickness
    last = {}
    for name, extra in (
        ("none", ""),
        ("thickness", f"stern_thickness = {thickness!r}\n"),
        ("capacitance", f"stern_capacitance = {capacitance!r}\n"),
    ):
        case = write_case(tmp_path / f"{name}.toml", end=4e-9, plots="false", fields="false")
        case.write_text(
            case.read_text().replace(
                "potential_thermal = 2.0\n", "potential_thermal = 2.0\n" + extra
            )
        )
        assert main(["run", str(case), "--output", str(tmp_path / name), "--quiet"]) == 0
        last[name] = read_rows(tmp_path / name)
    assert_same_rows(last["thickness"], last["capacitance"], tol=1e-9)
    with_stern, without = last["thickness"][-1]["charge_right"], last["none"][-1]["charge_right"]
    assert 0 < with_stern < 0.95 * without, (with_stern, without)  # measured ratio 0.90


def test_the_stern_capacitor_demo_against_gouy_chapman_stern(tmp_path) -> None:
    """demos/stern_capacitor.toml in full, in SI and independent of our scaling: each electrode
    of the symmetric cell takes V/2 across its Stern layer (C_S) and diffuse layer in series,
    C_S (V/2 − φ_d) = sqrt(8 ε_r ε₀ N_A c k_B T) sinh(e φ_d / 2 k_B T) = σ; measured 2.5e-4 off
    (the bulk is slightly depleted by the double layers), and the charges cancel to round-off."""
    from pathlib import Path

    from pnpf_fem.app.cli import main
    from pnpf_fem.units import AVOGADRO, BOLTZMANN, ELEMENTARY_CHARGE, VACUUM_PERMITTIVITY
    from test_run import read_rows

    case = Path(__file__).resolve().parents[1] / "demos" / "stern_capacitor.toml"
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    last = read_rows(out)[-1]
    c0, length, c_s, half = 100.0, 1e-8, 0.2, 0.1  # mol/m³, m, F/m², V
    sigma = last["charge_left"] * ELEMENTARY_CHARGE * AVOGADRO * c0 * length  # unit-length side
    kt_e = BOLTZMANN * 300.0 / ELEMENTARY_CHARGE
    gc = math.sqrt(8 * 80.0 * VACUUM_PERMITTIVITY * AVOGADRO * c0 * BOLTZMANN * 300.0)
    phi_d = brentq(lambda d: c_s * (half - d) - gc * math.sinh(d / (2 * kt_e)), 0.0, half)
    assert sigma == pytest.approx(c_s * (half - phi_d), rel=2e-3)
    assert abs(last["charge_left"] + last["charge_right"]) < 1e-10 * last["charge_left"]


def test_the_porous_build_refuses_a_stern_layer() -> None:
    from pnpf_fem.fem.mesh import from_triangulation
    from pnpf_fem.porous.build import build_macroscale
    from pnpf_fem.porous.macroscale import EffectiveMedium

    mesh = strip(4)
    conditions = [Stern("left", 1.0, thickness=0.1), Potential("right", 0.0)]
    problem = Problem(MODEL, mesh, conditions, Initial(c={"cation": 1.0, "anion": 1.0}))
    medium = EffectiveMedium(0.6, ((1.0, 0.0), (0.0, 1.0)), tortuosity=((0.5, 0.0), (0.0, 0.5)))
    with pytest.raises(InputError, match="not Stern"):
        build_macroscale(problem, medium, "perforated", from_triangulation(mesh))
