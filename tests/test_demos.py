"""Every demo is also a regression test (the pattern of dolfinx's python/demo/test.py).

* Every script ``demos/*.py`` runs at a small size through its ``main(argv)`` and the physics it
  reports is checked (conservation, the discrete second law, positivity, bounds, …). A new demo
  needs an entry in `CHECKS` — without one its test fails.
* Every case file ``demos/*.toml`` runs through `pnpf_fem.app.run.run_case` (what
  ``pnpf-fem run CASE --output DIR --quiet`` does) with its end time cut to a few initial steps;
  the summary and ``observables.csv`` are checked.

All of it is marked ``mpi``: ``mpirun -n 2 python3 -m mpi4py -m pytest -m mpi`` runs the same
demos and cases distributed (the finite-volume ones too), and the FEM demos are compared with the
same computation on one rank.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("dolfinx_mpc")
pytest.importorskip("gmsh")

from mpi4py import MPI

DEMOS = Path(__file__).resolve().parents[1] / "demos"
SCRIPTS = sorted(DEMOS.glob("*.py"))
CASES = sorted(DEMOS.glob("*.toml"))
# demos that cannot run distributed, and why
SERIAL_ONLY: dict[str, str] = {}
COMM = MPI.COMM_WORLD


@pytest.fixture
def shared_tmp(tmp_path: Path) -> Path:
    """One directory on all ranks (rank 0's tmp_path): demos write files collectively."""
    return COMM.bcast(tmp_path, root=0)


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"demo_{name}", DEMOS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _close(a: float, b: float, rtol: float = 1e-8) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-300)


# -- the demos ----------------------------------------------------------------------------------
def check_porous_electrode(demo: ModuleType, out: Path) -> None:
    res = demo.main(["--output", str(out), "--n", "32", "--t-end", "0.02"])["results"]
    for r in res.values():
        assert r["amount_drift"] < 1e-10 and r["min_u"] > 0
        # blocking anode at ψ = 2: anions gather, cations leave
        assert r["anion_near_anode"] > 1.05 and r["cation_near_anode"] < 0.95
    # tortuosity (Π_xx/p ≈ 0.71) slows the charging of the perforated-domain model
    assert res["perforated"]["anion_near_anode"] < res["schmuck"]["anion_near_anode"]
    assert res["schmuck"]["cancellation"] < 1e-10
    assert (out / "perforated.bp").is_dir() and (out / "schmuck.bp").is_dir()


CHARGING_ARGS = ["--n", "12", "--t-end", "3e-7"]  # 12 growing steps, τ ≈ 0.49 µs


def _check_charging(r: dict, mass_tol: float) -> None:
    """What fem_charging.summarize reports, for either discretization."""
    assert r["steps"] == 12
    assert r["mass_drift"] <= mass_tol
    # the discrete second law, step by step, and where the entropy goes
    assert r["min_entropy_increment"] >= -1e-12
    assert r["entropy_produced"] > 0.1
    assert r["entropy_heat"] > 0 > r["entropy_ions"]
    # positivity; the double layers deplete the co-ions; Joule heating only warms
    assert 0.3 < r["min_c"] < 0.6 and r["min_T"] > 1.0 - 1e-9
    assert np.max(r["T"]) > 1.0 + 1e-5
    # Gauss: Q_left = -Q_right at every step; the electrode charge grows monotonically from its
    # t = 0 value (ε² V) to near the Gouy–Chapman charge (0.914 of it at this size and time)
    assert r["gauss_residual"] <= 1e-10
    assert r["charge_monotone"] and r["charge_right"][-1] > 3.0 * r["charge_right"][0]
    assert 0.88 < r["charge_ratio"] < 0.95


def check_fem_charging(demo: ModuleType, out: Path) -> None:
    r = demo.main([*CHARGING_ARGS, "--output", str(out)])
    _check_charging(r, mass_tol=1e-11)
    assert (out / "fem_charging.bp").is_dir()
    if COMM.size > 1:  # the distributed run against the same run on one rank
        from pnpf_fem.units import nondimensionalize

        model = nondimensionalize(demo.cell_parameters())
        voltage, t_end = 0.05 / model.scales.potential, 3e-7 / model.scales.time
        scheme = demo.make_cell_scheme(
            demo.cell_triangulation(12), model, voltage, "fem2", MPI.COMM_SELF
        )
        ref = demo.summarize(demo.charge(scheme, t_end, demo.DT0, demo.DT_MAX), model, voltage)
        for key in ("S", "S1", "S2", "mass_cation", "mass_anion", "min_c"):
            assert _close(r["final"][key], ref["final"][key]), key
        assert np.allclose(r["charge_right"], ref["charge_right"], rtol=1e-8, atol=0)
        psi = demo.vertex_values(scheme)["psi"]
        assert np.max(np.abs(r["psi"] - psi)) <= 1e-8 * np.max(np.abs(psi))


def check_fv_charging(demo: ModuleType, out: Path) -> None:
    r = demo.main([*CHARGING_ARGS, "--output", str(out)])
    _check_charging(r, mass_tol=1e-13)
    # FEM (fem2) and FV Scheme II on the same mesh and steps differ by the spatial error only: at
    # h = 1/12 the electrode charges agree to 8e-4, ψ to 9e-3, c to 1.5e-2 (same 12 steps)
    d = r["fem"]
    assert d["steps"] == r["steps"]
    assert d["charge_difference"] < 2e-3
    assert d["entropy_produced_difference"] < 2e-2
    assert d["psi_difference"] < 2e-2 and d["c_difference"] < 3e-2
    assert (out / "fv_charging.vtu").is_file()


def check_periodic_cell(demo: ModuleType, out: Path) -> None:
    r = demo.main(["--mesh-size", "0.1", "--porosities", "0.5", "0.8", "--output", str(out)])
    rows = r["rows"]
    for row in rows:
        # ε⁰ = ε* I (square symmetry), inside the Hashin–Shtrikman and Wiener bounds with no
        # slack (P2), near Maxwell Garnett (the upper HS bound here); identities to solver tol
        assert row["within_hs"] and row["within_wiener"] and row["tortuosity_ok"]
        assert row["anisotropy"] < 1e-4 and row["off_diagonal"] < 1e-4
        assert row["symmetry_residual"] < 1e-8
        assert row["identity_I1_residual"] < 1e-8 and row["identity_I2_residual"] < 1e-8
        assert row["eps_xx"] == pytest.approx(row["maxwell_garnett"], rel=0.03)
        assert row["tortuosity_factor"] > 1.0
    # more electrolyte: larger permittivity, less obstruction
    assert rows[1]["eps_xx"] > rows[0]["eps_xx"]
    assert rows[1]["tortuosity_factor"] < rows[0]["tortuosity_factor"]
    # Keller's phase interchange (exact 1; the FE values approach from above); half-period shift
    assert 1.0 - 1e-10 <= r["keller"] < 1.001
    assert r["shift_difference"] < 1e-3
    COMM.barrier()
    with open(out / "cell_table.csv") as f:
        assert len(list(csv.DictReader(f))) == 2
    if COMM.size > 1:  # the distributed cell problems against one rank
        t = demo.cell_tensors(0.8, 0.1, comm=MPI.COMM_SELF)
        assert _close(rows[1]["eps_xx"], float(t.array("eps_eff")[0, 0]), 1e-10)
        assert _close(rows[1]["tortuosity_xx"], float(t.array("tortuosity")[0, 0]), 1e-10)


CHECKS: dict[str, Callable[[ModuleType, Path], None]] = {
    "porous_electrode": check_porous_electrode,
    "fem_charging": check_fem_charging,
    "fv_charging": check_fv_charging,
    "periodic_cell": check_periodic_cell,
}


@pytest.mark.mpi
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_demo(script: Path, shared_tmp: Path) -> None:
    name = script.stem
    if name not in CHECKS:
        pytest.fail(f"demos/{script.name} has no entry in tests/test_demos.py CHECKS")
    if COMM.size > 1 and name in SERIAL_ONLY:
        pytest.skip(f"{script.name}: {SERIAL_ONLY[name]}")
    CHECKS[name](_load(name), shared_tmp)


# -- the case files -----------------------------------------------------------------------------
def _shortened(case: Path, folder: Path, steps: int) -> Path:
    """A copy of `case` in `folder` (with the other data files of demos/, for relative paths)
    whose [time] end is `steps` initial time steps."""
    if COMM.rank == 0:
        for f in DEMOS.iterdir():
            if f.is_file() and f.suffix not in (".py", ".toml"):
                shutil.copy(f, folder / f.name)
        text = case.read_text()
        end = steps * float(tomllib.loads(text)["time"]["dt"])
        lines, section = [], None
        for line in text.splitlines():
            header = re.match(r"\s*\[+\s*([\w.]+)\s*\]+", line)
            if header:
                section = header.group(1)
            if section == "time" and re.match(r"\s*end\s*=", line):
                line = f"end = {end!r}"
            lines.append(line)
        (folder / case.name).write_text("\n".join(lines) + "\n")
    COMM.barrier()
    return folder / case.name


@pytest.mark.mpi
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case_file(case: Path, shared_tmp: Path) -> None:
    from pnpf_fem.app.run import run_case

    data = tomllib.loads(case.read_text())
    method = data.get("discretization", {}).get("method", "fem1")
    short = _shortened(case, shared_tmp, steps=5)
    summary = run_case(short, output=shared_tmp / "run", quiet=True)
    assert summary["status"] == "completed" and summary["method"] == method
    assert summary["steps"] >= 3
    if data["time"].get("steady"):  # a steady-state solve ignores [time] end
        assert summary["steady"]["converged"]
    else:
        end = tomllib.loads(short.read_text())["time"]["end"]
        assert summary["t_final_s"] == pytest.approx(end, rel=1e-9)
    COMM.barrier()  # rank 0 wrote the outputs
    with open(shared_tmp / "run" / "observables.csv") as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    assert len(rows) == summary["steps"] + 1
    walls = list(data.get("boundary", {}).values())
    masses = [k for k in rows[0] if k.startswith("mass_")]
    assert len(masses) == len(data["species"])
    reacting = {w["reaction"]["species"] for w in walls if "reaction" in w}
    if not any("concentrations" in w for w in walls):  # closed: amounts change by reactions only
        for k in masses:
            if k.removeprefix("mass_") not in reacting:
                assert max(abs(r[k] / rows[0][k] - 1.0) for r in rows) <= 1e-10, k
    if reacting:  # a steady state with reactions on two electrodes: what one makes, the other takes
        faradaic = [k for k in rows[-1] if k.startswith("faradaic_")]
        if data["time"].get("steady") and len(faradaic) == 2:
            a, b = (rows[-1][k] for k in faradaic)
            assert a == pytest.approx(-b, rel=1e-8)
    assert min(r["min_c"] for r in rows) > 0
    held = [w["heat_transfer"]["ambient"] for w in walls if "heat_transfer" in w]
    held += [w["temperature"] for w in walls if "temperature" in w]
    if held:  # heat leaves: no second law for the cell alone. With every ambient/thermostat at
        # the initial temperature T stays near it: Joule heat only warms, but the reversible heat
        # of forming double layers may cool a little (6e-7 in stern_capacitor.toml)
        assert set(held) == {data["parameters"]["temperature"]}
        assert min(r["min_T"] for r in rows) >= 1.0 - 1e-4
    elif "S" in rows[0]:  # PNPF, insulated (not the isothermal porous model): the second law
        s = np.array([r["S"] for r in rows])
        assert np.all(np.diff(s) >= -1e-10 * np.abs(s[1:])) and s[-1] > s[0]
    assert (shared_tmp / "run" / "summary.json").is_file()
