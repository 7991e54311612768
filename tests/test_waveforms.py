"""Waveforms for boundary data: values, corners, case files, landing on every corner.

* Step, ramp, triangle, sine and table against their closed forms; the triangle equals the
  supercapacitor study's reading of the PNPF paper's (4.4) to round-off (the study's case file
  against the same formula: tests/studies/test_supercapacitor_cv_case.py).
* A run driven by a triangular potential lands exactly on every corner (no step across a kink),
  with fixed and with adaptive steps; a table equal to a ramp gives the same run bit for bit.
* Bad waveform tables are refused with one line (see also tests/test_bad_input.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pnpf_fem.app.cli import main
from pnpf_fem.errors import InputError
from pnpf_fem.model import Ramp, Sine, Step, Table, Triangle, in_units
from test_run import read_rows, write_case


def test_closed_forms_and_corners() -> None:
    assert [Step(1.0, 2.0, 0.5)(t) for t in (0.0, 0.49, 0.5, 9.0)] == [1.0, 1.0, 2.0, 2.0]
    ramp = Ramp(0.0, 2.0, 1.0, 3.0)
    assert [ramp(t) for t in (0.0, 2.0, 5.0)] == [0.0, 1.0, 2.0] and ramp.corners(2.5) == [1.0]
    sine = Sine(1.0, 0.5, 2.0, math.pi / 2)
    assert sine(0.25) == pytest.approx(1.0 + 0.5 * math.sin(math.pi + math.pi / 2))
    table = Table((0.0, 1.0, 3.0), (0.0, 2.0, -2.0))
    assert table(2.0) == 0.0 and table(-1.0) == 0.0 and table.corners(10.0) == [1.0, 3.0]
    tri = Triangle(0.0, 25.0, 5.0, cycles=2)
    assert tri.corners(100.0) == [5.0, 10.0, 15.0, 20.0]
    scaled = in_units(tri, tau=2.0, unit=5.0)  # t in units of 2, values in units of 5
    assert scaled(1.25) == pytest.approx(tri(2.5) / 5.0) and scaled.corners(50.0) == [
        2.5,
        5.0,
        7.5,
        10.0,
    ]


def _paper_wave(psi_max: float, rate: float):
    """(4.4) as the supercapacitor study reads it: 0 up to psi_max and back, t0 = psi_max/rate."""
    t0 = psi_max / rate

    def psi(t: float) -> float:
        s = math.fmod(max(t, 0.0), 2.0 * t0)
        return rate * s if s <= t0 else psi_max - rate * (s - t0)

    return psi, t0


def test_triangle_is_the_papers_cyclic_voltammetry() -> None:
    paper, t0 = _paper_wave(25.0, 3.0)
    tri = Triangle(0.0, 25.0, 3.0, cycles=3)
    times = np.linspace(0.0, 6 * t0, 1001)
    assert tri.half_period == pytest.approx(t0, rel=1e-15)
    assert max(abs(tri(t) - paper(t)) for t in times) < 1e-12


def test_bad_waveforms() -> None:
    with pytest.raises(InputError, match="upper > lower"):
        Triangle(1.0, 0.0, 1.0)
    with pytest.raises(InputError, match="t1 > t0"):
        Ramp(0.0, 1.0, 2.0, 1.0)
    with pytest.raises(InputError, match="increasing times"):
        Table((0.0, 0.0), (1.0, 2.0))


TRIANGLE = (
    'potential_thermal = {shape = "triangle", lower = 0.0, upper = 2.0, rate = 1e9, cycles = 2}'
)


@pytest.mark.parametrize("adaptive", [False, True])
def test_a_run_lands_on_every_corner(tmp_path: Path, adaptive: bool) -> None:
    extra = "adaptive = true\ndt_max = 7e-10" if adaptive else ""
    case = write_case(
        tmp_path / "c.toml", end=5e-9, time_extra=extra, plots="false", fields="false"
    )
    case.write_text(case.read_text().replace("potential_thermal = 2.0", TRIANGLE))
    out = tmp_path / "out"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    times = [r["t_s"] for r in read_rows(out)]
    for corner in (2e-9, 4e-9):  # the half period is 2 / 1e9 s
        assert min(abs(t - corner) for t in times) < 1e-21, (corner, times)
    # the electrode charge follows the drive: up to the first corner, down to the second
    rows = read_rows(out)
    q = {round(r["t_s"] * 1e10): r["charge_right"] for r in rows}
    assert q[20] > q[0] and q[40] < q[20]


def test_a_table_equals_the_same_ramp(tmp_path: Path) -> None:
    (tmp_path / "drive.csv").write_text("t_s,V\n0,0\n1e-9,0\n3e-9,2.0\n")
    ramp = 'potential_thermal = {shape = "ramp", start = 0.0, end = 2.0, t0 = 1e-9, t1 = 3e-9}'
    table = 'potential_thermal = {shape = "table", file = "drive.csv"}'
    rows = {}
    for name, drive in (("ramp", ramp), ("table", table)):
        case = write_case(tmp_path / f"{name}.toml", end=4e-9, plots="false", fields="false")
        case.write_text(case.read_text().replace("potential_thermal = 2.0", drive))
        assert main(["run", str(case), "--output", str(tmp_path / name), "--quiet"]) == 0
        rows[name] = [
            {k: v for k, v in r.items() if k != "wall_time"} for r in read_rows(tmp_path / name)
        ]
    assert rows["ramp"] == rows["table"]
