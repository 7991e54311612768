"""`pnpf-fem run`: outputs of tiny FEM/FV cases, exit codes, adaptive steps, checkpoint/restart."""

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pnpf_fem.app.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"

TINY = """
[mesh]
builtin = "unit_square"
n = {n}
kind = "structured"

[[species]]
name = "cation"
valence = 1
friction = 4.14e-10
initial_concentration = 200

[[species]]
name = "anion"
valence = -1
friction = 6.0e-10
initial_concentration = 200

[parameters]
temperature = 300.0
relative_permittivity = 80.0
heat_capacity = 38800.0
thermal_conductivity = 1.2e-4
length_scale = 1e-8

[boundary.{left}]
potential = 0.0
[boundary.right]
potential_thermal = 2.0
[boundary.top]
surface_charge = 0.0

[time]
end = {end}
dt = 1e-9
max_steps = {max_steps}
{time_extra}

[discretization]
method = "{method}"

[solver]
max_iterations = {max_iterations}

[output]
every = {every}
checkpoint_every = {checkpoint_every}
fields = {fields}
plots = {plots}
"""


def write_case(path: Path, **kw) -> Path:
    values = dict(
        n=4,
        left="left",
        end=6e-9,
        max_steps=1000,
        time_extra="",
        method="fem1",
        max_iterations=25,
        every=2,
        checkpoint_every=0,
        fields="true",
        plots="true",
    )
    values.update(kw)
    path.write_text(TINY.format(**values))
    return path


def read_rows(folder: Path) -> list[dict[str, float]]:
    with (folder / "observables.csv").open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def assert_same_rows(a: list[dict], b: list[dict], tol: float = 1e-10) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        for key, va in ra.items():
            if key != "wall_time":
                assert abs(va - rb[key]) <= tol * max(1.0, abs(va)), (key, va, rb[key])


@pytest.mark.parametrize("method", ["fem1", "fv2"])
def test_tiny_case_writes_every_output(tmp_path, method):
    case = write_case(tmp_path / "tiny.toml", method=method, checkpoint_every=2)
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    fields = "fields.bp" if method == "fem1" else "fields.pvd"
    for f in ("observables.csv", "summary.json", "observables.png", "fields.png", fields):
        assert f in names, f
    assert "checkpoint.npz" in names and not any(n.startswith(".") for n in names)
    # the PyVista off-screen snapshot (Xvfb is part of the environment)
    assert "fields_pyvista.png" in names
    assert (out / "fields_pyvista.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_rows(out)
    assert [r["step"] for r in rows] == list(range(7))
    assert rows[-1]["t_s"] == pytest.approx(6e-9, rel=1e-12)
    scale = rows[-1]["t_s"] / rows[-1]["t"]  # seconds per unit of dimensionless time
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 6
    assert summary["scales"]["time"] == pytest.approx(scale, rel=1e-12)
    assert summary["dimensionless"]["frictions"] == pytest.approx([1.0, 6.0 / 4.14])
    assert summary["chosen_scales"]["friction_scale"]["stated"] is False
    assert summary["environment"]["numpy"] and summary["git_commit"]
    assert summary["newton"]["accepted_steps"] == 6
    # masses are conserved, the entropy does not decrease
    for key in ("mass_cation", "mass_anion"):
        assert rows[-1][key] == pytest.approx(rows[0][key], rel=1e-9)
    assert all(b["S"] >= a["S"] - 1e-10 for a, b in itertools.pairwise(rows))
    if method == "fv2":
        pvd = (out / "fields.pvd").read_text()
        assert pvd.count("<DataSet") == 4  # steps 0, 2, 4, 6
        import meshio

        last = meshio.read(out / "fields" / "fields_000003.vtu")
        assert set(last.point_data) == {"c_cation", "c_anion", "psi", "T"}
        assert np.isclose(last.point_data["psi"].max(), 2.0)


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"left": "lefft"}, "did you mean 'left'"),
        ({"end": -1.0}, "must be positive"),
        ({"method": "fv1", "n": 0}, "n = 0 must be positive"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, edit, message):
    case = write_case(tmp_path / "bad.toml", **edit)
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_restart_without_checkpoint_exits_2(tmp_path):
    case = write_case(tmp_path / "c.toml", method="fv1")
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--restart", "--quiet"]) == 2
    assert not out.exists()


@pytest.mark.parametrize("adaptive", [False, True])
def test_forced_solver_failure_exits_1(tmp_path, capsys, adaptive):
    extra = "adaptive = true\ndt_min = 2e-10" if adaptive else ""
    case = write_case(tmp_path / "f.toml", max_iterations=1, time_extra=extra, plots="false")
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "solve failed" in err
    if adaptive:  # one line in seconds: where, how often, down to dt_min, the first failure
        assert "down to 2e-10 s (dt_min = 2e-10 s); first failure: SNES" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed"
    # 1e-9 → 5e-10 → 2.5e-10 → dt_min = 2e-10, each attempt failing
    assert summary["newton"]["rejected_steps"] == (4 if adaptive else 0)


def test_adaptive_steps_grow_up_to_dt_max(tmp_path):
    extra = "adaptive = true\ngrowth = 2.0\ndt_max = 4e-9"
    case = write_case(tmp_path / "a.toml", method="fv2", end=2e-8, time_extra=extra, plots="false")
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    dts = [r["dt_s"] for r in read_rows(out)[1:]]
    assert dts[:3] == pytest.approx([1e-9, 2e-9, 4e-9])
    assert max(dts) == pytest.approx(4e-9)
    assert sum(dts) == pytest.approx(2e-8, rel=1e-12)


@pytest.mark.parametrize("method", ["fem1", "fv-bdf2"])
def test_restart_after_failure_reproduces_the_run(tmp_path, method):
    """A run stopped by max_steps after a checkpoint, restarted, equals the uninterrupted run
    (fv-bdf2: the checkpoint holds the BDF2 history, else the restart takes an Euler step)."""
    kw = dict(method=method, checkpoint_every=3, fields="false", plots="false")
    ref = write_case(tmp_path / "ref.toml", **kw)
    assert main(["run", str(ref), "--output", str(tmp_path / "ref"), "--quiet"]) == 0
    cut = write_case(tmp_path / "cut.toml", max_steps=4, **kw)
    out = tmp_path / "cut"
    assert main(["run", str(cut), "--output", str(out), "--quiet"]) == 1
    assert len(read_rows(out)) == 5  # steps 0..4; the checkpoint holds step 3
    assert main(["run", str(ref), "--output", str(out), "--quiet", "--restart"]) == 0
    assert_same_rows(read_rows(out), read_rows(tmp_path / "ref"))
    other = write_case(tmp_path / "other.toml", end=8e-9, checkpoint_every=3)
    assert main(["run", str(other), "--output", str(out), "--quiet", "--restart"]) == 2


def test_sigkill_then_restart_reproduces_uninterrupted_run(tmp_path):
    kw = dict(method="fv2", n=6, end=1.5e-7, every=25, checkpoint_every=10)
    case = write_case(tmp_path / "k.toml", fields="false", plots="false", **kw)
    ref = tmp_path / "ref"
    assert main(["run", str(case), "--output", str(ref), "--quiet"]) == 0

    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "pnpf_fem", "run", str(case), "--output", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out / "checkpoint.npz").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run ended before writing its first checkpoint")
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    rows_killed = read_rows(out)
    assert len(rows_killed) < 151  # really interrupted

    assert main(["run", str(case), "--output", str(out), "--quiet", "--restart"]) == 0
    final, expected = read_rows(out), read_rows(ref)
    assert_same_rows(final, expected)
    assert final[-1]["step"] == 150


def test_gmsh_file_with_named_groups(tmp_path):
    from test_gmsh_io import _square, _write

    _write(tmp_path / "square.msh", _square)
    case = write_case(tmp_path / "m.toml", method="fv1", end=2e-9, plots="false")
    text = case.read_text().replace('builtin = "unit_square"', 'file = "square.msh"')
    case.write_text(text.replace("n = 4\n", "").replace('kind = "structured"\n', ""))
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mesh"]["tags"] == {"bottom": 1, "right": 2, "top": 3, "left": 4}
    bad = write_case(tmp_path / "b.toml", left="west")
    bad.write_text(bad.read_text().replace('builtin = "unit_square"', 'file = "square.msh"'))
    assert main(["run", str(bad), "--output", str(tmp_path / "bad"), "--quiet"]) == 2
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("method", ["fem1", "fv1"])
def test_electrode_charges_and_currents_in_every_run(tmp_path, method):
    case = write_case(tmp_path / "c.toml", method=method, plots="false", fields="false")
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    rows = read_rows(out)
    for tag in ("left", "right"):
        assert f"charge_{tag}" in rows[0] and f"current_{tag}" in rows[0]
    for a, b in itertools.pairwise(rows):
        rate = (b["charge_right"] - a["charge_right"]) / b["dt"]
        assert b["current_right"] == pytest.approx(rate, rel=1e-9, abs=1e-12)
    assert rows[-1]["charge_right"] > rows[0]["charge_right"]


def test_output_quantities_select_the_columns(tmp_path):
    case = write_case(tmp_path / "c.toml", plots="false", fields="false")
    case.write_text(case.read_text() + 'quantities = ["mass", "charge", "max_dT"]\n')
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    with (out / "observables.csv").open() as f:
        header = f.readline().strip().split(",")
    expected = ["step", "t_s", "dt_s", "t", "dt", "mass_cation", "mass_anion"]
    expected += ["max_dT", "charge_left", "charge_right", "newton_iterations", "wall_time"]
    assert sorted(header) == sorted(expected)


@pytest.mark.parametrize("method", ["fem2", "fv2"])
def test_error_controlled_run(tmp_path, method):
    extra = "adaptive = true\nrtol = 1e-3\natol = 1e-3\ndt_max = 3e-9"
    case = write_case(tmp_path / "c.toml", method=method, time_extra=extra, end=1e-8)
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    newton = summary["newton"]
    assert 0 < newton["estimated_time_error"] < 1e-3 * newton["accepted_steps"]
    assert newton["accepted_steps"] % 2 == 0  # steps come in pairs of half steps
    rows = read_rows(out)
    assert rows[-1]["t_s"] == pytest.approx(1e-8, rel=1e-12)
    assert rows[-1]["mass_cation"] == pytest.approx(rows[0]["mass_cation"], rel=1e-9)


@pytest.mark.parametrize("method", ["fem1", "fem2", "fem-be", "fv2"])
@pytest.mark.parametrize(
    "old, new",
    [
        ("heat_capacity = 38800.0", "heat_capacity = 2e8"),  # 1e6 c0: nearly isothermal
        ("thermal_conductivity = 1.2e-4", "thermal_conductivity = 120.0"),
    ],  # k ≈ 1e9
    ids=["heat_capacity_1e6_c0", "conductivity_1e6"],
)
def test_extreme_but_valid_parameters_converge(tmp_path, method, old, new):
    case = write_case(tmp_path / "c.toml", method=method, plots="false", fields="false")
    case.write_text(case.read_text().replace(old, new))
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    rows = read_rows(out)
    assert len(rows) == 7 and rows[-1]["newton_iterations"] <= 6
    for key in ("mass_cation", "mass_anion"):
        assert rows[-1][key] == pytest.approx(rows[0][key], rel=1e-10)
    assert all(b["S"] >= a["S"] - 1e-10 * abs(a["S"]) for a, b in itertools.pairwise(rows))


@pytest.mark.parametrize("method", ["fv2", "fem2", "fem-bdf2", "fv-bdf2"])
def test_a_steady_state_with_crank_nicolson_warns(tmp_path, capsys, method):
    extra = "adaptive = true\ndt_max = 2e-6\ngrowth = 2.0"
    case = write_case(tmp_path / "c.toml", method=method, end=2e-5, time_extra=extra, plots="false")
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    if method in ("fv2", "fem2"):
        remedy = "use fv-bdf2" if method == "fv2" else "use fem-bdf2"
        assert "near a steady state" in err and remedy in err
        assert len(summary["warnings"]) == 1
    else:
        assert "near a steady state" not in err and summary["warnings"] == []


def test_steady_case(tmp_path):
    case = write_case(tmp_path / "c.toml", method="fem-be", time_extra="steady = true")
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steady"]["converged"] and summary["steady"]["rate"] < 1e-10
    rows = read_rows(out)
    assert rows[-1]["mass_anion"] == pytest.approx(rows[0]["mass_anion"], rel=1e-10)
    assert rows[-1]["t"] > 1e3  # pseudo-time: the steps grew without bound
