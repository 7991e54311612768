"""`reproduce porous-impedance --quick`: the pore-resolved spectrum converges to the perforated
(tortuosity) closure at a rate ≥ 1.5 in s, and not to the closure without tortuosity (its error
stays near 11 %: the layer's ionic resistance lacks the tortuosity factor). Runs on 1 and 2
ranks (the study distributes every solver)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mpi4py import MPI

from pnpf_fem.studies.porous_impedance import porous_impedance_study, reproduce_porous_impedance


@pytest.mark.mpi
def test_resolved_spectrum_converges_to_the_perforated_closure() -> None:
    study = porous_impedance_study((1 / 4, 1 / 8), np.logspace(-2, 3, 6))
    e = study["errors"]
    assert e["perforated"][1] < 0.03 and study["rates"]["perforated"] > 1.5, e  # 2.1e-2, 1.8
    assert min(e["schmuck"]) > 0.08, e  # 0.109, 0.110
    z = np.array([complex(*v) for v in study["spectra"]["resolved_1/8"]])
    assert np.all(z.real > 0) and np.all(z.imag < 0)  # a passive, capacitive layer


def test_quick_command_writes_its_outputs(tmp_path) -> None:
    out = MPI.COMM_WORLD.bcast(tmp_path, root=0) / "pimp"
    study = reproduce_porous_impedance(quick=True, output=out, quiet=True)
    assert "perforated (tortuosity) closure reproduces" in study["verdict"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["s"] == [0.25, 0.125]
    assert (out / "porous_impedance.png").stat().st_size > 0
    assert len((out / "spectra.csv").read_text().splitlines()) == 12
