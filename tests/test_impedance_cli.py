"""`pnpf-fem impedance`: outputs, SI units, rank independence and bad input (exit 2, nothing
written).

The SI check is independent of the solver's scaling: at low frequency a cell of two Stern
electrodes is a capacitor, C = −1/(ω Im Z) [F/m²], which must be the Gouy–Chapman–Stern
series capacitance of the two electrodes at zero bias, 1/C = 2 (1/C_S + λ_D/(ε_r ε₀)), up to the
diffuse layers' overlap in a 10 nm cell (a 1 % effect here) and the mesh (P2, graded mesh).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from pnpf_fem.app.case import load_case
from pnpf_fem.app.cli import main
from pnpf_fem.app.impedance import case_spectrum
from pnpf_fem.app.setup import prepare
from pnpf_fem.units import AVOGADRO, BOLTZMANN, ELEMENTARY_CHARGE, VACUUM_PERMITTIVITY

CASE = """
[mesh]
builtin = "unit_square"
n = {n}

[[species]]
name = "cation"
valence = 1
friction = 4.14e-10
initial_concentration = 100

[[species]]
name = "anion"
valence = -1
friction = 4.14e-10
initial_concentration = 100

[parameters]
temperature = 300.0
relative_permittivity = 80.0
heat_capacity = 38800.0
thermal_conductivity = 1.2e-4
length_scale = 1e-8

[boundary.left]
potential = {bias}
stern_capacitance = 0.2
temperature = 300.0

[boundary.right]
potential = 0.0
stern_capacitance = 0.2
temperature = 300.0

[time]
end = 1e-3
dt = 1e-9
steady = true

[discretization]
method = "{method}"
degree = {degree}
"""


def write_case(
    folder: Path, n: int = 8, bias: float = 0.0, method: str = "fem-be", degree=1, stern=True
):
    path = folder / "cap.toml"
    if MPI.COMM_WORLD.rank == 0:
        folder.mkdir(parents=True, exist_ok=True)
        text = CASE.format(n=n, bias=bias, method=method, degree=degree)
        if not stern:
            text = text.replace("stern_capacitance = 0.2\n", "")
        path.write_text(text)
    MPI.COMM_WORLD.barrier()
    return path


def shared(tmp_path: Path) -> Path:
    return MPI.COMM_WORLD.bcast(tmp_path, root=0)


def test_writes_every_output_in_si_units(tmp_path: Path) -> None:
    case = write_case(tmp_path, n=24, degree=2)
    out = tmp_path / "out"
    argv = ["impedance", str(case), "--frequencies", "1e3:1e10:8", "--output", str(out)]
    assert main([*argv, "--quiet", "--area", "1e-12"]) == 0
    for name in ("impedance.csv", "nyquist.png", "bode.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "impedance.csv").open()))
    assert len(rows) == 8 and float(rows[0]["frequency_Hz"]) == pytest.approx(1e3)
    assert float(rows[0]["Z_imag_ohm"]) == pytest.approx(float(rows[0]["Z_imag_ohm_m2"]) / 1e-12)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["between"] == ["left", "right"]
    permittivity = 80.0 * VACUUM_PERMITTIVITY
    n0 = 100.0 * AVOGADRO
    debye = math.sqrt(permittivity * BOLTZMANN * 300.0 / (ELEMENTARY_CHARGE**2 * 2 * n0))
    series = 1 / (2 * (1 / 0.2 + debye / permittivity))
    assert summary["low_frequency_capacitance_F_m2"] == pytest.approx(series, rel=0.02)


@pytest.mark.mpi
def test_the_spectrum_does_not_depend_on_the_ranks(tmp_path: Path) -> None:
    """The command on all ranks against the spectrum each rank computes alone."""
    folder = shared(tmp_path)
    case = write_case(folder, bias=0.1)
    out = folder / "out"
    argv = ["impedance", str(case), "--frequencies", "1e4:1e9:4", "--quiet"]
    assert main([*argv, "--output", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text()) if MPI.COMM_WORLD.rank == 0 else None
    summary = MPI.COMM_WORLD.bcast(summary, root=0)
    setup = prepare(load_case(case))
    alone = case_spectrum(setup, np.logspace(4, 9, 4), "left", comm=MPI.COMM_SELF)
    together = np.array([complex(*z) for z in summary["Z_ohm_m2"]])
    assert np.max(np.abs(together - alone.z) / np.abs(alone.z)) < 1e-10


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--frequencies", "1e3:1e2"], "FMIN:FMAX:N"),
        (["--frequencies", "1e3:1e2:5"], "FMIN <= FMAX"),
        (["--frequencies", "0:1e2:5"], "FMIN <= FMAX"),
        (["--frequencies", "1:1e2:5", "--between", "left,top"], "'top' carries no potential"),
        (["--frequencies", "1:1e2:5", "--between", "left"], "two different tags"),
        (["--frequencies", "1:1e2:5", "--area", "-1"], "--area"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys, argv, message) -> None:
    case = write_case(tmp_path)
    out = tmp_path / "out"
    assert main(["impedance", str(case), "--output", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_finite_volume_case_gives_the_fem_spectrum(tmp_path) -> None:
    """fv2 and fem-be cases of the same cell without Stern layers (the FV drive is a potential
    tag): the spectra differ by the discretizations' O(h²) only."""
    spectra = {}
    for method in ("fem-be", "fv2"):
        case = write_case(tmp_path / method, n=16, method=method, stern=False)
        out = tmp_path / method / "out"
        argv = ["impedance", str(case), "--frequencies", "1e4:1e10:4", "--quiet"]
        assert main([*argv, "--output", str(out)]) == 0
        summary = json.loads((out / "summary.json").read_text())
        spectra[method] = np.array([complex(*z) for z in summary["Z_ohm_m2"]])
    assert summary["method"].startswith("fv-bdf2")
    fem, fv = spectra["fem-be"], spectra["fv2"]
    assert np.max(np.abs(fv - fem) / np.abs(fem)) < 0.05


@pytest.mark.mpi
def test_finite_volume_impedance_refuses_several_ranks(tmp_path, capsys) -> None:
    if MPI.COMM_WORLD.size == 1:
        pytest.skip("a several-rank check")
    folder = shared(tmp_path)
    case = write_case(folder, method="fv2", stern=False)
    argv = ["impedance", str(case), "--frequencies", "1:10:2", "--output", str(folder / "o")]
    assert main(argv) == 2
    assert not (folder / "o").exists()


def test_json_summary_on_stdout(tmp_path, capsys) -> None:
    case = write_case(tmp_path)
    argv = ["impedance", str(case), "--frequencies", "1e4:1e8:3", "--json"]
    assert main([*argv, "--output", str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frequencies_Hz"] == pytest.approx([1e4, 1e6, 1e8])
    assert len(summary["Z_ohm_m2"]) == 3 and summary["status"] == "completed"


def test_an_insulated_cell_is_warned_about(tmp_path, capsys) -> None:
    """Nothing holds T: the operating point's temperature is the path's heat, not the data's."""
    case = write_case(tmp_path)
    held = "stern_capacitance = 0.2\ntemperature = 300.0\n"
    case.write_text(case.read_text().replace(held, "stern_capacitance = 0.2\n"))
    out = tmp_path / "out"
    argv = ["impedance", str(case), "--frequencies", "1e4:1e6:2", "--quiet"]
    assert main([*argv, "--output", str(out)]) == 0
    assert "no boundary holds the temperature" in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["warnings"]
