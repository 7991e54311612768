"""`reproduce porous-heating` (quick): the pore-resolved temperature converges to the upscaled
model with the derived heat source c g·Πg, and not with the naive one c|Πg|²/p, which misses the
heat the tortuosity correctors dissipate (21 % of the Joule heat for this cell). The full study
(s down to 1/64) is in the README; here s = 1/4, 1/8 at t = 0.02, 0.1. Runs on 1 and 2 ranks."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from mpi4py import MPI

from pnpf_fem.studies.porous_heating import CASES, reproduce_porous_heating, s_study


@pytest.mark.mpi
def test_temperature_converges_with_the_derived_source_only() -> None:
    case = replace(CASES["charging"], times=(0.02, 0.1))
    study = s_study(case, (1 / 4, 1 / 8))
    e, r = study["errors"], study["rates"]
    assert r["derived"]["T"] > 1.5, (e, r)  # measured 1.77 (7.0e-2 → 2.0e-2)
    assert min(e["naive"]["T"]) > 0.15, e  # 0.244, 0.215: the naive source stays ~20 % off
    assert e["derived"]["T"][-1] < e["naive"]["T"][-1] / 5
    assert r["derived"]["psi"] > 1.0, r  # 1.29 (pre-asymptotic; 1.9 on the finest cells)
    assert 0.25 < study["results"][-1]["max_dT"] < 0.4  # the resolved cell heats by ~0.31


def test_quick_command_writes_its_outputs(tmp_path) -> None:
    out = MPI.COMM_WORLD.bcast(tmp_path, root=0) / "heating"
    info = reproduce_porous_heating(quick=True, output=out, quiet=True)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["studies"]) == {"charging", "cv", "reversible"}
    reversible = info["studies"]["reversible"]["errors"]
    assert reversible["derived"]["T"] == reversible["naive"]["T"]  # no Joule heat: one model
    assert reversible["derived"]["T"][-1] < reversible["derived"]["T"][0]
    assert (out / "porous_heating.png").stat().st_size > 0
    assert (out / "errors.csv").read_text().count("\n") == 1 + 3 * 2
