"""Every demo is also a regression test."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("dolfinx_mpc")
pytest.importorskip("gmsh")

DEMOS = Path(__file__).resolve().parents[1] / "demos"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, DEMOS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_porous_electrode_demo(tmp_path):
    demo = _load("porous_electrode")
    out = demo.main(["--output", str(tmp_path), "--n", "32", "--t-end", "0.02"])
    res = out["results"]
    for r in res.values():
        assert r["amount_drift"] < 1e-10 and r["min_u"] > 0
        # blocking anode at ψ = 2: anions gather, cations leave
        assert r["anion_near_anode"] > 1.05 and r["cation_near_anode"] < 0.95
    # tortuosity (Π_xx/p ≈ 0.71) slows the charging of the perforated-domain model
    assert res["perforated"]["anion_near_anode"] < res["schmuck"]["anion_near_anode"]
    assert res["schmuck"]["cancellation"] < 1e-10
    assert (tmp_path / "perforated.bp").is_dir() and (tmp_path / "schmuck.bp").is_dir()
