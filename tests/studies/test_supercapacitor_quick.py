"""`pnpf-fem reproduce supercapacitor --quick` (§4.3 of the PNPF paper), FV Scheme II and FEM fem2.

The quick plan: coarse comb (2 fingers, 1 branch pair, 0.5 nm at the electrodes: 349 vertices),
charging for 3 τ ≈ 2.9 µs, then cyclic voltammetry (4.4) at 1.29 and 5.16 V/µs for two cycles
each, both methods on the same mesh. Measured here (2-core machine): ≈ 25 s in all (16 s on 2
ranks, the same numbers to 1e-13); charging ΔT ≈ 1.22 K (FV) / 1.24 K (FEM), 2.3 % apart.
The tests marked mpi also run the study distributed.
"""

import json
import math

import numpy as np
import pytest

pytest.importorskip("gmsh")
pytest.importorskip("dolfinx")

from pnpf_fem.app.cli import main as cli_main
from pnpf_fem.errors import InputError
from pnpf_fem.studies.supercapacitor import (
    QUICK,
    charging_study,
    cv_half_period,
    fit_power_law,
    loop_intersections,
    summary,
)
from pnpf_fem.studies.supercapacitor_report import ReproductionPlan, reproduce_supercapacitor

# FEM and FV differ in the Joule term's discretization (P1 gradients vs the reconstructed
# gradient (3.1)) and in the lumped weights; on this coarse mesh ΔT differs by 2.3 %.
DT_REL_TOL = 0.05


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick study, also under mpirun (distributed runs; rank 0 writes the folder, which
    every rank reads)."""
    from mpi4py import MPI

    out = MPI.COMM_WORLD.bcast(tmp_path_factory.mktemp("sc"), root=0) / "quick"
    res = reproduce_supercapacitor(ReproductionPlan.quick(), out, quiet=True)
    return res, out


def _check_run(a, t_end, mass_tol=1e-10):
    assert a["t"][0] == 0.0 and a["t"][-1] == pytest.approx(t_end, abs=1e-12)
    # Theorem 3.3: mass conserved (both species), to the Newton tolerance
    assert np.max(np.abs(a["mass"] / a["mass"][0] - 1.0)) < mass_tol
    assert np.max(np.abs(a["mass_cation"] / a["mass_cation"][0] - 1.0)) < mass_tol
    # Theorem 3.6: the entropy never decreases
    assert np.all(np.diff(a["S"]) >= -1e-12 * abs(a["S"][0]))
    assert a["S"][-1] > a["S"][0]
    # positivity
    assert np.all(a["min_c"] > 0) and np.all(a["min_T"] > 0)


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["fv", "fem"])
def test_charging_conservation_entropy_positivity(quick, method):
    res, _ = quick
    a = res.charging[method].arrays()
    _check_run(a, QUICK.t_end)
    # heating: ΔT > 0 and S1 up; charging orders the ions: S2 falls at every step
    assert a["max_dT_K"][-1] > 0.5 and a["mean_dT_K"][-1] > 0.5
    assert a["S1"][-1] > a["S1"][0]
    assert np.all(np.diff(a["S2"]) < 0)
    # double layers form: counterions depleted somewhere
    assert a["min_c"][-1] < 0.5
    info = res.info["charging"][method]
    assert info["rejected"] == 0 and info["steps"] < 60
    # the snapshots of Fig. 5 were taken at the requested times
    assert len(res.charging[method].snapshots) == 3


@pytest.mark.mpi
def test_charging_fem_and_fv_agree(quick):
    cmp = quick[0].info["charging"]["fem_vs_fv"]
    assert cmp["mass_rel_diff"] < 1e-10  # both start from the same area with c = 1
    assert cmp["max_dT_K_rel_diff_final"] < DT_REL_TOL
    assert cmp["mean_dT_K_rel_diff_final"] < DT_REL_TOL
    assert cmp["S2_rel_diff_final"] < DT_REL_TOL


@pytest.mark.parametrize("method", ["fv", "fem"])
def test_cv_signs_and_orderings(quick, method):
    res, _ = quick
    rates = sorted(res.cv)
    final_dT = []
    for rate in rates:
        s = res.cv[rate][method]
        a = s.arrays()
        t0 = cv_half_period(rate)
        # two cycles; both conserve mass to round-off (FEM: Newton ends on the step size)
        _check_run(a, 4 * t0, mass_tol=1e-12)
        assert np.all(a["mean_dT_K"][1:] > 0)
        final_dT.append(a["mean_dT_K"][-1])
        # S2 falls while the double layers form (first half of the first charging phase)
        first = a["t"] <= 0.5 * t0
        assert np.all(np.diff(a["S2"][first]) < 0)
        # the current follows the voltage: positive while charging starts, negative during
        # discharging (with a lag: at 1.29 V/µs FV still charges at t = 1.5 t0)
        current = s.bulk_current()
        assert current[np.searchsorted(a["t"], 0.25 * t0)] > 0
        assert current[(a["t"] > t0) & (a["t"] <= 2 * t0)].min() < 0
    # heating grows with the scan rate
    assert final_dT[-1] > final_dT[0]
    chi = res.info["cv"]["chi_K_per_us"][method]
    assert all(c > 0 for c in chi) and chi[-1] > chi[0]
    fit = res.info["cv"]["fits"][method]
    assert 0 < fit["exponent"] < 3
    # the faster rate's I-V loop crosses itself (Fig. 7(b)); reported for all rates
    assert len(res.info["iv_loops"][f"{rates[-1]:g}"][method]["intersections"]) >= 1


@pytest.mark.mpi
def test_outputs_written(quick):
    _, out = quick
    names = {p.name for p in out.iterdir()}
    for m in ("fv", "fem"):
        assert {f"charging_{m}.csv", f"charging_{m}.bp", f"fig5_snapshots_{m}.png"} <= names
        assert {f"cv_1.29_{m}.csv", f"cv_5.16_{m}.csv"} <= names
    assert {"fig4_charging.png", "fig6_cv.png", "fig7_iv_loops.png", "summary.txt"} <= names
    info = json.loads((out / "summary.json").read_text())
    assert info["choices"]["L_nm"] == pytest.approx(10.0)
    # the CV runs came from the case file, ψ* from 0 to 25 k_BT0/e
    assert info["choices"]["cv_case"] == "demos/supercapacitor_cv.toml"
    assert info["psi_min_V"] == 0.0 and info["psi_max_V"] == pytest.approx(0.6463, rel=1e-4)
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())  # no partial folder
    assert (out / "charging_fem.bp" / "md.idx").exists()


def test_bad_input_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    assert (
        cli_main(
            ["reproduce", "supercapacitor", "--quick", "--rates", "fast", "--output", str(out)]
        )
        == 2
    )
    assert "--rates" in capsys.readouterr().err
    assert (
        cli_main(
            ["reproduce", "supercapacitor", "--quick", "--methods", "fd", "--output", str(out)]
        )
        == 2
    )
    assert (
        cli_main(["reproduce", "supercapacitor", "--quick", "--cycles", "0", "--output", str(out)])
        == 2
    )
    assert not out.exists()


def test_power_law_fit_and_loop_crossings():
    nu = np.array([1.29, 2.58, 3.87, 5.16])
    fit = fit_power_law(nu, 0.3 * nu**2)
    assert fit["exponent"] == pytest.approx(2.0, abs=1e-12)
    assert fit["exponent_stderr"] < 1e-10 and fit["prefactor"] == pytest.approx(0.3)
    noisy = fit_power_law(nu, 0.3 * nu**2 * np.array([1.05, 0.95, 1.03, 0.98]))
    assert 0.01 < noisy["exponent_stderr"] < 0.2
    with pytest.raises(InputError):
        fit_power_law([1.0, 2.0], [1.0, -1.0])
    s = np.linspace(0.3, 0.3 + 2 * math.pi, 200)  # start away from the crossing point
    # an ellipse (no crossing) and a figure eight (one crossing at the origin)
    assert loop_intersections(np.cos(s), np.sin(s)) == []
    hits = loop_intersections(np.sin(s), np.sin(2 * s))
    assert len(hits) == 1 and np.allclose(hits[0], (0.0, 0.0), atol=1e-3)


def test_first_order_schemes_run_the_same_study():
    """Scheme I (FV) and fem1 on the quick mesh for 0.3 τ: conservation, entropy, agreement."""
    from dataclasses import replace

    cfg = replace(QUICK, t_end=0.3, fv_scheme="fv1", fem_scheme="fem1")
    results = charging_study(cfg)
    info = summary(results)
    assert info["fv"]["method"] == "fv1" and info["fem"]["method"] == "fem1"
    for method in ("fv", "fem"):
        a = results[method].arrays()
        assert np.max(np.abs(a["mass"] / a["mass"][0] - 1.0)) < 1e-10
        assert np.all(np.diff(a["S"]) >= -1e-12 * abs(a["S"][0]))
        assert a["max_dT_K"][-1] > 0 and a["S2"][-1] < a["S2"][0]
    # measured 5.9 % at t = 0.3 τ (first order in time, still in the fast transient)
    assert info["fem_vs_fv"]["mean_dT_K_rel_diff_final"] < 0.1
