"""Thermal boundaries: a fixed temperature, a heat flux, heat transfer to an ambient.

An electrolyte at rest (uniform c, ψ = 0 on both ends, so no current and no heat source) between
thermal boundaries conducts heat steadily: T is linear in x,

* T(0) = T_L fixed and k ∂T/∂n = h (T_a − T) at x = 1:  T(1) = (k T_L + h T_a)/(k + h);
* a flux q into the domain at x = 0 and T(1) = T_R fixed:  T(x) = T_R + q (1 − x)/k.

The FEM solves for ξ = log T in P1, so T = e^ξ meets the linear profile only approximately: the
steady state (pseudo-transient continuation) is within 6e-6 of it on 8 cells and closer on 16
(a wrong boundary term would be off by 1e-2), for fem-be and fem1.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from pnpf_fem.errors import InputError
from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.mesh import gather_vertex_values
from pnpf_fem.integrate import PseudoTransient, integrate
from pnpf_fem.meshing import strip
from pnpf_fem.model import HeatFlux, HeatTransfer, Initial, Potential, Problem, Temperature
from pnpf_fem.model.cases import charging_model

MODEL = dataclasses.replace(charging_model(eps=0.1), conductivity=2.0)
K = MODEL.conductivity


def _steady_T(thermal, n: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    mesh = strip(n, 0.1)
    conditions = [Potential("left", 0.0), Potential("right", 0.0), *thermal]
    problem = Problem(MODEL, mesh, conditions, Initial(c={"cation": 1.0, "anion": 1.0}))
    scheme = build_scheme(problem, method)
    assert integrate(scheme, math.inf, PseudoTransient(dt0=1e-2, tol=1e-11)).converged
    T = np.exp(gather_vertex_values(scheme.problem.mesh, scheme.u, 3))
    return mesh.points[:, 0], T


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["fem-be", "fem1"])
def test_fixed_temperature_and_heat_transfer(method: str) -> None:
    h, T_left, T_amb = 3.0, 1.1, 0.95
    T_right = (K * T_left + h * T_amb) / (K + h)
    thermal = [Temperature("left", T_left), HeatTransfer("right", h, ambient=T_amb)]
    errors = []
    for n in (8, 16):
        x, T = _steady_T(thermal, n, method)
        errors.append(float(np.max(np.abs(T - (T_left + (T_right - T_left) * x)))))
    assert errors[0] < 2e-5 and errors[1] < errors[0], errors  # measured 5.7e-6, 3.6e-6


@pytest.mark.mpi
def test_heat_flux_and_fixed_temperature() -> None:
    q, T_right = 0.3, 1.0
    thermal = [HeatFlux("left", q), Temperature("right", T_right)]
    errors = []
    for n in (8, 16):
        x, T = _steady_T(thermal, n, "fem-be")
        errors.append(float(np.max(np.abs(T - (T_right + q * (1 - x) / K)))))
    assert errors[0] < 5e-5 and errors[1] < errors[0], errors  # measured 2.1e-5, 1.1e-5


def test_one_thermal_condition_per_tag() -> None:
    with pytest.raises(InputError, match="given twice"):
        Problem(
            MODEL,
            strip(4),
            [Potential("left", 0.0), Temperature("left", 1.0), HeatFlux("left", 0.1)],
            Initial(c={"cation": 1.0, "anion": 1.0}),
        )
    with pytest.raises(InputError, match="coefficient >= 0"):
        HeatTransfer("left", -1.0)


def test_thermal_boundaries_in_a_case_file(tmp_path) -> None:
    """SI keys: T = 330 K on the left, h = k/L to 300 K on the right: T(right) = 315 K."""
    from pnpf_fem.app.cli import main
    from test_run import read_rows, write_case

    case = write_case(
        tmp_path / "c.toml", method="fem-be", time_extra="steady = true", plots="false"
    )
    text = case.read_text()
    text = text.replace("[boundary.left]\n", "[boundary.left]\ntemperature = 330.0\n")
    # k = 1.2e-4 W/(m K), L = 1e-8 m: k/L = 1.2e4 W/(m² K)
    heat = "heat_transfer = {coefficient = 1.2e4, ambient = 300.0}\n"
    text = text.replace("[boundary.right]\n", "[boundary.right]\n" + heat)
    case.write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    last = read_rows(out)[-1]
    assert last["max_dT"] == pytest.approx(0.1, abs=1e-9)  # 330 K held on the left
    assert last["min_T"] == pytest.approx(1.05, abs=2e-4)  # 315 K on the right


def test_the_cooled_cell_demo_returns_to_the_ambient(tmp_path) -> None:
    """demos/cooled_cell.toml, run in full: charging heats the cell (peak 0.27 K at 0.33 µs),
    the cooled electrodes bring it back (0.008 K at 2 µs); an insulated cell would keep its heat."""
    from pathlib import Path

    from pnpf_fem.app.cli import main
    from test_run import read_rows

    case = Path(__file__).resolve().parents[1] / "demos" / "cooled_cell.toml"
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    rows = read_rows(out)
    peak = max(rows, key=lambda r: r["max_dT"])
    assert 0.1 / 300 < peak["max_dT"] < 1.0 / 300 and 2e-7 < peak["t_s"] < 1e-6
    assert rows[-1]["max_dT"] < 0.05 * peak["max_dT"]
    assert min(r["min_T"] for r in rows) >= 1.0 - 1e-12
    assert rows[-1]["charge_left"] == pytest.approx(-rows[-1]["charge_right"], rel=1e-9)
