"""The cell benchmark script runs end to end on a tiny level and prints its figures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("dolfinx_mpc")
pytest.importorskip("gmsh")

from mpi4py import MPI

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cell_benchmark.py"


def test_cell_benchmark_tiny(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("cell_benchmark", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = MPI.COMM_WORLD.bcast(tmp_path, root=0) / "bench.json"
    assert mod.main(["--dofs", "800", "1600", "--degree", "1", "--json", str(out)]) == 0
    if MPI.COMM_WORLD.rank == 0:
        text = capsys.readouterr().out
        assert "growth: cell_seconds ~ dofs^" in text
        rows = json.loads(out.read_text())
        assert len(rows) == 2 and rows[1]["dofs"] > rows[0]["dofs"]
        assert all(min(r["iterations_xi3"]) > 0 for r in rows)
        assert all(r["peak_mb_max_rank"] > 0 for r in rows)
