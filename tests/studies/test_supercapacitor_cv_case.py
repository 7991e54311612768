"""The supercapacitor study's cyclic voltammetry is defined by `demos/supercapacitor_cv.toml`.

* The case file is the study's set-up (the model of `units.supercapacitor_parameters()`, Γ3 at
  0 V, Γ1 uncharged, c = T = 1 at t = 0, the full comb, the study's FEM solver settings), and its
  Γ2 waveform, with the scan rate and cycles replaced per run, is the study's earlier reading of
  (4.4) — ψ_max = 25 k_BT0/e, t0 = ψ_max/ν — computed here from that formula at many times and
  at every corner; the runs land on every corner.
* A CV run built from the case file reproduces the earlier implementation (`cases.comb` driven by
  the (4.4) formula, stops at its corners) on the quick mesh with FEM and FV: the same steps, ψ*,
  bulk current and heating, to round-off.
* The quick CV numbers in the study's docstring are met; the full-mesh FEM run at 1.29 V/µs
  gives the README's heating slope χ = 3.41 K/µs (marked slow: about 30 s).
* Bad CV cases and options are refused with one line before anything runs.
"""

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gmsh")
pytest.importorskip("dolfinx")

from pnpf_fem.app.case import load_case
from pnpf_fem.app.cli import main as cli_main
from pnpf_fem.app.setup import prepare
from pnpf_fem.errors import InputError
from pnpf_fem.studies.supercapacitor import (
    CV_CASE_FILE,
    FEM_PETSC_OPTIONS,
    FEM_TOLERANCES,
    QUICK,
    ChargingConfig,
    cv_case,
    cv_config,
    cv_half_period,
    cv_voltages,
    cv_waveform,
    heating_slope,
    last_cycle,
    loop_intersections,
    run_method,
    study_mesh,
)
from pnpf_fem.units import nondimensionalize, supercapacitor_parameters

MODEL = nondimensionalize(supercapacitor_parameters())
TAU_US = MODEL.scales.time * 1e6


def previous_wave(rate_V_per_us: float, psi_max: float = 25.0):
    """ψ*(t) and t0 of (4.4) as the study computed them before the case file (dimensionless)."""
    rate = rate_V_per_us * TAU_US / MODEL.scales.potential
    t0 = psi_max / rate

    def psi(t: float) -> float:
        s = math.fmod(max(t, 0.0), 2.0 * t0)
        return rate * s if s <= t0 else psi_max - rate * (s - t0)

    return psi, t0


def previous_config(rate_V_per_us: float, cycles: int, base: ChargingConfig = QUICK):
    """The study's earlier CV configuration: `cases.comb` with the formula, its corners as stops."""
    wave, t0 = previous_wave(rate_V_per_us)
    ctl = replace(base.control, dt_max=min(base.control.dt_max, t0 / 20.0))
    ctl = replace(ctl, dt0=min(ctl.dt0, ctl.dt_max))
    corners = tuple(k * t0 for k in range(1, 2 * cycles))
    return replace(base, psi_star=wave, t_end=2 * cycles * t0, breakpoints=corners, control=ctl)


def test_case_file_is_the_studys_set_up():
    case = load_case(CV_CASE_FILE)
    setup = prepare(case)
    problem = setup.problem
    assert problem.model == MODEL  # ε, C_T, k, ν^ℓ, z^ℓ
    assert problem.model.scales.time == pytest.approx(MODEL.scales.time, rel=1e-14)
    assert problem.model.scales.potential == pytest.approx(MODEL.scales.potential, rel=1e-14)
    # the full comb of the study (its default mesh has 2523 vertices), tags of the built-in mesh
    assert setup.tri.num_vertices == 2523
    assert set(setup.tri.tag_names) == {"gamma1", "gamma2", "gamma3"}
    assert set(problem.potentials) == {"gamma2", "gamma3"} and problem.potentials["gamma3"] == 0
    assert problem.surface_charges == {"gamma1": 0.0}
    assert not (problem.sterns or problem.thermal or problem.concentrations)
    assert dict(problem.initial.c) == {"cation": 1.0, "anion": 1.0} and problem.initial.T == 1.0
    # as it stands: 3 cycles at 1.29 V/µs, [time] end just before the last corner 6 t0
    psi, t0 = previous_wave(1.29)
    assert problem.corners(math.inf) == pytest.approx([k * t0 for k in range(1, 7)], rel=1e-14)
    assert 1 - 1e-6 < setup.t_end / (6 * t0) <= 1.0
    assert problem.potentials["gamma2"](0.5 * t0) == pytest.approx(psi(0.5 * t0), rel=1e-14)
    # `pnpf-fem run` solves it with the study's FEM scheme and Newton settings
    assert case.discretization == {"method": "fem2", "degree": 1}
    assert case.solver["rtol"] == FEM_TOLERANCES["rtol"]
    assert case.solver["atol"] == FEM_TOLERANCES["atol"]
    assert case.solver["petsc_options"] == FEM_PETSC_OPTIONS
    assert case.solver["max_iterations"] == 30  # SolverOptions' default, as in the study


@pytest.mark.parametrize(("rate", "cycles"), [(1.29, 3), (5.16, 2), (0.001, 1)])
def test_case_waveform_is_the_previous_reading_of_44(rate, cycles):
    cfg = cv_config(rate, cycles)
    psi, t0 = previous_wave(rate)
    corners = [k * t0 for k in range(1, 2 * cycles)]
    # the run's Problem is the case file's: its Γ2 potential is the recorded ψ*
    assert cfg.problem is not None and cfg.problem.potentials["gamma2"] is cfg.psi_star
    assert cfg.t_end == pytest.approx(2 * cycles * t0, rel=1e-14)
    assert cfg.breakpoints == pytest.approx(corners, rel=1e-14)
    assert list(cfg.breakpoints) == cfg.problem.corners(cfg.t_end)
    assert cfg.control.dt_max == pytest.approx(min(QUICK.control.dt_max, t0 / 20), rel=1e-14)
    assert cv_half_period(rate) == pytest.approx(t0, rel=1e-14)
    times = np.concatenate(
        [
            np.linspace(0.0, 2 * cycles * t0, 4001),
            corners,
            np.array(corners) * (1 - 1e-9),
            np.array(corners) * (1 + 1e-9),
        ]
    )
    err = max(abs(cfg.psi_star(t) - psi(t)) for t in times)
    assert err < 1e-12 * 25.0, err
    # ψ* peaks at ψ_max = 25 k_BT0/e on the odd corners and returns to 0 on the even ones
    ends = [cfg.psi_star(k * t0) for k in range(2 * cycles + 1)]
    assert ends == pytest.approx([0.0, 25.0] * cycles + [0.0], abs=1e-12)


def test_scan_rate_units_and_psi_max():
    # 1 V/µs = (τ in µs)/(k_BT0/e in V) ≈ 0.9735/0.025852 = 37.655 (k_BT0/e)/τ
    assert 25.0 / cv_half_period(1.0) == pytest.approx(37.655, rel=1e-3)
    # (4.4) with ψ_max = 25 k_BT0/e: t0 = 25 · 0.025852 V / 1.29 V/µs ≈ 0.501 µs
    assert cv_half_period(1.29) * TAU_US == pytest.approx(0.501, rel=2e-3)
    assert cv_voltages() == pytest.approx((0.0, 25 * MODEL.scales.potential), rel=1e-15)
    # --psi-max replaces the upper voltage of the case's triangle
    cfg = cv_config(1.29, 1, psi_max=10.0)
    psi, t0 = previous_wave(1.29, psi_max=10.0)
    times = np.linspace(0.0, 2 * t0, 201)
    assert max(abs(cfg.psi_star(t) - psi(t)) for t in times) < 1e-12
    assert cv_voltages(10.0)[1] == pytest.approx(10 * MODEL.scales.potential, rel=1e-15)


def test_potential_thermal_triangle_gives_the_same_wave(tmp_path):
    text = CV_CASE_FILE.read_text()
    volts = 'potential = {shape = "triangle", lower = 0.0, upper = 0.6462999946608884, '
    volts += "rate = 1.29e6, cycles = 3}"
    assert volts in text
    thermal = 'potential_thermal = {shape = "triangle", lower = 0, upper = 25, rate = 1}'
    path = tmp_path / "thermal.toml"
    path.write_text(text.replace(volts, thermal))
    a = cv_waveform(cv_case(2.58, 2))
    b = cv_waveform(cv_case(2.58, 2, case_file=path))
    assert a.corners(math.inf) == pytest.approx(b.corners(math.inf), rel=1e-14)
    times = np.linspace(0.0, a.corners(math.inf)[-1], 501)
    assert max(abs(a(t) - b(t)) for t in times) < 1e-12


# -- runs from the case file --------------------------------------------------------------------
RATE, CYCLES = 5.16, 2  # the quick configuration of the docstring: t0 = 0.129 τ
# documented in the study's docstring: steps, χ [K/µs], final mean ΔT [K]
DOCUMENTED = {"fem": (90, 14.2, 16.5), "fv": (100, 21.9, 22.0)}


@pytest.fixture(scope="module")
def quick_runs():
    tri = study_mesh(QUICK)
    new_cfg, old_cfg = cv_config(RATE, CYCLES), previous_config(RATE, CYCLES)
    return {
        m: (run_method(m, tri, MODEL, new_cfg)[0], run_method(m, tri, MODEL, old_cfg)[0])
        for m in ("fem", "fv")
    }


@pytest.mark.parametrize("method", ["fem", "fv"])
def test_case_file_cv_reproduces_the_previous_implementation(quick_runs, method):
    new, old = quick_runs[method]
    assert new.accepted == old.accepted and new.rejected == old.rejected
    a, b = new.arrays(), old.arrays()
    assert np.max(np.abs(a["t"] - b["t"])) < 1e-12
    assert np.max(np.abs(a["psi_star"] - b["psi_star"])) < 1e-12 * 25.0
    i_new, i_old = new.bulk_current(), old.bulk_current()
    assert np.max(np.abs(i_new - i_old)) <= 1e-9 * np.max(np.abs(i_old))
    for key in ("mean_dT_K", "max_dT_K"):
        assert np.max(np.abs(a[key] - b[key])) <= 1e-9 * np.max(np.abs(b[key])), key
    assert np.max(np.abs(a["S"] - b["S"])) <= 1e-12 * np.max(np.abs(b["S"]))
    t0 = cv_half_period(RATE)
    chi_new, chi_old = (heating_slope(s, t0, CYCLES, TAU_US) for s in (new, old))
    assert chi_new == pytest.approx(chi_old, rel=1e-9)


@pytest.mark.parametrize("method", ["fem", "fv"])
def test_quick_cv_from_the_case_file_meets_the_documented_numbers(quick_runs, method):
    series = quick_runs[method][0]
    a = series.arrays()
    t0 = cv_half_period(RATE)
    # every corner of the wave is a step time, the run ends at 2n t0
    for corner in [k * t0 for k in range(1, 2 * CYCLES)]:
        assert np.min(np.abs(a["t"] - corner)) < 1e-12 * t0, corner
    assert a["t"][-1] == pytest.approx(2 * CYCLES * t0, rel=1e-14)
    # mass to round-off, the discrete second law, positivity
    assert np.max(np.abs(a["mass"] / a["mass"][0] - 1.0)) < 1e-12
    assert np.all(np.diff(a["S"]) >= -1e-12 * abs(a["S"][0]))
    assert np.all(a["min_c"] > 0) and np.all(a["min_T"] > 0)
    steps, chi_doc, dT_doc = DOCUMENTED[method]
    assert abs(series.accepted - steps) <= 5 and series.rejected == 0
    assert heating_slope(series, t0, CYCLES, TAU_US) == pytest.approx(chi_doc, rel=1e-2)
    assert a["mean_dT_K"][-1] == pytest.approx(dT_doc, rel=1e-2)
    psi, current = last_cycle(series, t0, CYCLES)
    assert len(loop_intersections(psi, current)) == 1


@pytest.mark.slow
def test_full_mesh_cv_meets_the_readme():
    """FEM on the 2523-vertex comb, 3 cycles at 1.29 V/µs: χ = 3.41 K/µs (README, docstring)."""
    base = ChargingConfig()
    series = run_method("fem", study_mesh(base), MODEL, cv_config(1.29, 3, base=base))[0]
    t0 = cv_half_period(1.29)
    assert heating_slope(series, t0, 3, TAU_US) == pytest.approx(3.41, rel=5e-3)
    assert series.mean_dT_K[-1] == pytest.approx(18.2, rel=5e-3)
    assert len(loop_intersections(*last_cycle(series, t0, 3))) == 1
    assert np.max(np.abs(np.asarray(series.mass) / series.mass[0] - 1.0)) < 1e-12


# -- bad input ----------------------------------------------------------------------------------
def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = CV_CASE_FILE.read_text()
    assert old in text
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new))
    return path


def test_bad_cv_cases(tmp_path):
    no_wave = _variant(tmp_path, 'potential = {shape = "triangle"', "potential = 0.5 #")
    with pytest.raises(InputError, match="exactly one boundary potential driven by a triangle"):
        cv_case(1.29, case_file=no_wave)
    late = _variant(tmp_path, "cycles = 3}", "cycles = 3, t0 = 1e-7}")
    with pytest.raises(InputError, match="t0 = 0"):
        cv_config(1.29, case_file=late)
    with pytest.raises(InputError, match="scan rate must be positive"):
        cv_config(-1.0)
    with pytest.raises(InputError, match="cycles must be at least 1"):
        cv_config(1.29, 0)
    with pytest.raises(InputError, match=r"missing\.toml.? does not exist"):
        cv_case(1.29, case_file=tmp_path / "missing.toml")


def test_reproduce_refuses_a_bad_cv_case_before_running(tmp_path, capsys):
    out = tmp_path / "never"
    no_wave = _variant(tmp_path, 'potential = {shape = "triangle"', "potential = 0.5 #")
    for case in (no_wave, tmp_path / "missing.toml"):
        argv = ["reproduce", "supercapacitor", "--quick", "--cv-case", str(case)]
        assert cli_main([*argv, "--output", str(out), "--quiet"]) == 2
        assert str(case.name) in capsys.readouterr().err
    assert not out.exists()
