"""Reservoirs: Dirichlet concentrations on a tag, against analytic 1D steady states.

Between two reservoir contacts (c^± and ψ given at x = 0 and x = 1) of a binary 1:1 electrolyte
with equal frictions, nearly isothermal (C_T = 1e9, so the Joule heat of the steady current
changes T by < 1e-8 over the run), the electroneutral profiles solve the PNP system exactly:

* equal reservoirs c_b, potentials 0 and V: c^± ≡ c_b and ψ = V x (an Ohmic conductor);
* reservoirs c_L ≠ c_R at the same potential: c^± = c_L + (c_R − c_L) x and ψ ≡ 0 (equal
  diffusivities: no diffusion potential).

The FEM steady state (t = 20 diffusion times) reproduces the Ohmic profiles to 1e-7 (they are
linear with uniform c) and converges to the diffusion profile as h falls, on 1 and 2 ranks. The
FV schemes take reservoirs too (tests/test_fv_boundaries.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.mesh import gather_vertex_values
from pnpf_fem.integrate import AdaptiveSteps, FixedSteps, integrate
from pnpf_fem.meshing import strip
from pnpf_fem.model import Concentration, Initial, Potential, Problem
from pnpf_fem.model.cases import charging_model

MODEL = dataclasses.replace(
    charging_model(eps=0.1), frictions=(1.0, 1.0), heat_capacity=1e9, conductivity=0.5
)


def _steady(c_left: float, c_right: float, voltage: float, method: str = "fem-be", n: int = 16):
    mesh = strip(n, 0.1)
    conditions = [Potential("left", 0.0), Potential("right", voltage)]
    for tag, c in (("left", c_left), ("right", c_right)):
        conditions += [Concentration(tag, c, "cation"), Concentration(tag, c, "anion")]
    problem = Problem(MODEL, mesh, conditions, Initial(c={"cation": 1.0, "anion": 1.0}))
    scheme = build_scheme(problem, method)
    integrate(scheme, 20.0, AdaptiveSteps(dt0=1e-3, dt_min=1e-9, dt_max=1.0))
    fm = scheme.problem.mesh
    c = [np.exp(gather_vertex_values(fm, scheme.u, i)) for i in range(2)]
    psi = gather_vertex_values(fm, scheme.u, 2)
    T = np.exp(gather_vertex_values(fm, scheme.u, 3))
    return mesh.points[:, 0], c, psi, T


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["fem-be", "fem-bdf2"])
def test_ohmic_conductor_between_equal_reservoirs(method: str) -> None:
    x, c, psi, T = _steady(1.0, 1.0, 2.0, method)
    assert np.max(np.abs(T - 1)) < 1e-6
    for ci in c:
        assert np.max(np.abs(ci - 1.0)) < 1e-7
    assert np.max(np.abs(psi - 2.0 * x)) < 1e-7


@pytest.mark.mpi
def test_diffusion_between_two_reservoirs() -> None:
    """In log variables the flux e^η ∇η of P1 η (with quadrature) is not exactly ∇c, and the
    strip's diagonals all point one way: the linear profile is met to 6.0e-5 at h = 1/16 and
    3.0e-5 at h = 1/32 (max norm, a small bottom/top asymmetry); ψ ≡ 0 holds exactly."""
    errors = []
    for n in (16, 32):
        x, c, psi, _ = _steady(1.5, 0.5, 0.0, n=n)
        errors.append(max(float(np.max(np.abs(ci - (1.5 - x)))) for ci in c))
        assert np.max(np.abs(psi)) < 1e-9
    assert errors[0] < 1e-4 and errors[1] < errors[0] / 1.8, errors


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["fem1", "fem2", "fem-be", "fem-bdf2"])
def test_reservoirs_add_no_spurious_reversible_heat(method: str) -> None:
    """An Ohmic conductor between equal reservoirs (c ≡ 2, ψ = V x, frictions 1 and 2: unequal
    ionic fluxes), insulated, C_T = 5: only the Joule heat Σ ε c V²/ν = 3 ε V² warms it,
    T = 1 + 3 ε V² t / C_T uniformly, and the
    reversible heat P is zero. P's boundary term at the reservoirs (the consistent flux,
    `Scheme._reservoir_flux`) makes this exact; without it T spread over 1.32–1.88 (fem1) and
    1.32–1.94 (fem2) against 1.48 at t = 2 (found by the FV cross-check)."""
    model = dataclasses.replace(MODEL, heat_capacity=5.0, frictions=(1.0, 2.0))
    conditions = [Potential("left", 0.0), Potential("right", 2.0)]
    for tag in ("left", "right"):
        conditions += [Concentration(tag, 2.0, "cation"), Concentration(tag, 2.0, "anion")]
    problem = Problem(model, strip(8, 0.1), conditions, Initial(c={"cation": 2.0, "anion": 2.0}))
    scheme = build_scheme(problem, method)
    integrate(scheme, 2.0, FixedSteps(0.25))
    T = np.exp(gather_vertex_values(scheme.problem.mesh, scheme.u, 3))
    expected = 1.0 + 3 * model.eps * 2.0**2 * 2.0 / model.heat_capacity
    assert np.max(np.abs(T - expected)) < 1e-9, (T.min(), T.max(), expected)


def test_a_reservoir_needs_a_known_species_and_a_positive_value() -> None:
    from pnpf_fem.errors import InputError

    with pytest.raises(InputError, match="must be positive"):
        Concentration("left", 0.0, "cation")
    with pytest.raises(InputError, match="names no species"):
        Problem(
            MODEL,
            strip(4),
            [Potential("left", 0.0), Concentration("left", 1.0, "sodium")],
            Initial(c={"cation": 1.0, "anion": 1.0}),
        )


def test_reservoirs_in_a_case_file(tmp_path) -> None:
    """`concentrations` beside a potential: an Ohmic conductor whose c stays at the reservoirs'."""
    from pnpf_fem.app.cli import main
    from test_run import read_rows, write_case

    case = write_case(tmp_path / "c.toml", method="fem-be", end=4e-8, plots="false")
    text = case.read_text().replace("heat_capacity = 38800.0", "heat_capacity = 2e11")
    for tag in ("left", "right"):
        text = text.replace(
            f"[boundary.{tag}]\n",
            f"[boundary.{tag}]\nconcentrations = {{cation = 200, anion = 200}}\n",
        )
    case.write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    rows = read_rows(out)
    # uniform reservoirs at 200 mol/m³ = c0: min c stays 1 and the masses do not move
    assert rows[-1]["min_c"] == pytest.approx(1.0, abs=1e-8)
    assert rows[-1]["mass_cation"] == pytest.approx(rows[0]["mass_cation"], rel=1e-8)


def test_the_nanochannel_demo_is_electroneutral_as_a_whole(tmp_path) -> None:
    """demos/nanochannel.toml in full (steady state): Gauss's law over the channel — the ions'
    charge, the walls' charge and the electrodes' (consistent-flux) charges sum to zero to round-off
    (measured 1.2e-14 of the wall charge); counter-ions enrich the slit."""
    from pathlib import Path

    from pnpf_fem.app.cli import main
    from pnpf_fem.units import AVOGADRO, ELEMENTARY_CHARGE
    from test_run import read_rows

    case = Path(__file__).resolve().parents[1] / "demos" / "nanochannel.toml"
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    last = read_rows(out)[-1]
    walls = 2 * -0.02 / (ELEMENTARY_CHARGE * AVOGADRO * 100.0 * 1e-8)  # ψ^N on two unit walls
    ions = last["mass_cation"] - last["mass_anion"]
    electrodes = last["charge_left"] + last["charge_right"]
    assert abs(ions + walls + electrodes) < 1e-10 * abs(walls), (ions, walls, electrodes)
    assert last["mass_cation"] > 1.1 and last["mass_anion"] < 0.9
    assert last["min_T"] >= 1.0 - 1e-12 and last["joule"] > 0
