"""Surface charge in C/m²: the case-file key, its scale F c₀ L, and Grahame's equation.

* A case with `surface_charge_density = σ` (C/m²) runs exactly like one with the dimensionless
  `surface_charge = σ / (F c₀ L)`.
* Physics, in SI and independent of our scaling: a charged wall (σ = 0.05 C/m²) facing 0.1 M of
  a 1:1 salt, solved to its steady state (nearly isothermal), has the Gouy–Chapman drop between
  the wall and the bulk given by Grahame's equation
      σ = sqrt(8 ε_r ε₀ N_A c_b k_B T) sinh(e Δφ / (2 k_B T)),
  with c_b the computed bulk concentration: 0.85 % off on 96 cells graded towards the wall,
  0.39 % on 192 (the test asserts < 1 % and the convergence).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from pnpf_fem.app.cli import main
from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.mesh import gather_vertex_values
from pnpf_fem.integrate import PseudoTransient, integrate
from pnpf_fem.meshing import strip
from pnpf_fem.model import Initial, Potential, Problem, SurfaceCharge
from pnpf_fem.units import (
    AVOGADRO,
    BOLTZMANN,
    ELEMENTARY_CHARGE,
    VACUUM_PERMITTIVITY,
    PNPFParameters,
    Species,
    nondimensionalize,
    supercapacitor_parameters,
    surface_charge_scale,
)

pytestmark = pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="serial reference")

SIGMA = 0.05  # C/m²
C0 = 100.0  # mol/m³ = 0.1 M
T0 = 300.0
EPS_R = 80.0


def _parameters() -> PNPFParameters:
    nu = 4.14e-10
    return PNPFParameters(
        species=(Species("cation", 1, nu), Species("anion", -1, nu)),
        reference_concentration=C0,
        reference_temperature=T0,
        length_scale=20e-9,
        heat_capacity=1e9 * C0,  # nearly isothermal: T stays 1 to 1e-9
        thermal_conductivity=1.2e-4,
        friction_scale=nu,
        relative_permittivity=EPS_R,
    )


def _wall_drop(n: int) -> tuple[float, float]:
    """(computed wall-to-bulk drop, Grahame's) in V on a strip of n cells graded at the wall."""
    model = nondimensionalize(_parameters())
    sigma = SIGMA / surface_charge_scale(model.scales)
    mesh = strip(n, graded=True)
    problem = Problem(
        model,
        mesh,
        (SurfaceCharge("left", sigma), Potential("right", 0.0)),
        Initial(c={"cation": 1.0, "anion": 1.0}, T=1.0),
    )
    scheme = build_scheme(problem, "fem-be")
    assert integrate(scheme, math.inf, PseudoTransient(dt0=1e-3, tol=1e-10)).converged
    x = mesh.points[:, 0]
    psi = gather_vertex_values(scheme.problem.mesh, scheme.u, 2)
    c_plus = np.exp(gather_vertex_values(scheme.problem.mesh, scheme.u, 0))
    mid, wall = np.argmin(np.abs(x - 0.5)), np.argmin(x)
    c_bulk = C0 * c_plus[mid]
    kT = BOLTZMANN * T0
    scale = math.sqrt(8 * EPS_R * VACUUM_PERMITTIVITY * AVOGADRO * c_bulk * kT)
    grahame = 2 * kT / ELEMENTARY_CHARGE * math.asinh(SIGMA / scale)
    return (psi[wall] - psi[mid]) * model.scales.potential, grahame


def test_grahame_surface_potential() -> None:
    """Measured: 0.85 % off at 96 cells, 0.39 % at 192 — the mesh converges to Grahame."""
    errors = []
    for n in (96, 192):
        drop, grahame = _wall_drop(n)
        assert drop > 0.05  # a positive wall charge raises the wall potential (≈ 2.3 k_BT/e)
        errors.append(abs(drop - grahame) / grahame)
    assert errors[0] < 1e-2 and errors[1] < errors[0] / 1.8, errors


def test_the_si_key_equals_the_dimensionless_one(tmp_path: Path) -> None:
    sc = nondimensionalize(supercapacitor_parameters()).scales
    base = (Path(__file__).resolve().parents[1] / "demos" / "charging_small.toml").read_text()
    base = base.replace("end = 1e-6", "end = 2e-8").replace(
        'directory = "results/charging_small"', ""
    )
    base += "plots = false\nfields = false\n"
    si = base.replace("surface_charge = 0.0", f"surface_charge_density = {SIGMA}")
    dimensionless = base.replace(
        "surface_charge = 0.0", f"surface_charge = {SIGMA / surface_charge_scale(sc)!r}"
    )
    rows = {}
    for name, text in (("si", si), ("dimensionless", dimensionless)):
        (tmp_path / f"{name}.toml").write_text(text)
        out = tmp_path / name
        assert main(["run", str(tmp_path / f"{name}.toml"), "--output", str(out), "--quiet"]) == 0
        rows[name] = (out / "observables.csv").read_text().splitlines()[-1].split(",")
    a, b = rows["si"], rows["dimensionless"]
    assert a[:-1] == b[:-1]  # everything but the wall time


def test_scale_is_faraday_times_c0_times_length() -> None:
    sc = dataclasses.replace(nondimensionalize(supercapacitor_parameters()).scales)
    faraday = ELEMENTARY_CHARGE * AVOGADRO
    assert surface_charge_scale(sc) == pytest.approx(faraday * 200.0 * 10e-9, rel=1e-14)
