"""Every `--json` command prints exactly one JSON document, also under ``mpirun -n 2``.

Under MPI every rank runs the command; rank 0 alone prints, so the output pipes into a JSON
reader. The in-process tests run serially and (marker ``mpi``) on two ranks; one subprocess test
checks the real ``mpirun`` output stream.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mpi4py import MPI

from pnpf_fem.app.cli import main

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "info": ["info", "--json"],
    "accuracy": ["reproduce", "accuracy", "--method", "fem-be", "--levels", "2", "--json"],
    "cell": [
        "cell",
        "--shape",
        "circle",
        "--porosity",
        "0.6",
        "--electrolyte-permittivity",
        "80",
        "--solid-permittivity",
        "4.5",
        "--mesh-size",
        "0.2",
        "--no-correctors",
        "--json",
        "--output",
        "{d}",
    ],
}


def _json_of(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> object:
    d = MPI.COMM_WORLD.bcast(str(tmp_path), root=0)
    argv = [a.format(d=d) for a in COMMANDS[name]]
    assert main(argv) == 0
    out = capsys.readouterr().out
    if MPI.COMM_WORLD.rank != 0:
        assert out == ""
        return None
    return json.loads(out)


@pytest.mark.mpi
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_one_json_document(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json_of(name, tmp_path, capsys)
    if MPI.COMM_WORLD.rank == 0:
        assert isinstance(doc, dict) and doc
        if name == "info":
            assert doc["mpi_ranks"] == MPI.COMM_WORLD.size
        if name == "accuracy":
            assert len(doc["levels"]) == 2
        if name == "cell":
            assert 0 < doc["porosity"] < 1


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="no mpirun")
@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="starts its own processes")
def test_mpirun_stdout_is_one_json_document(tmp_path: Path) -> None:
    argv = [a.format(d=tmp_path) for a in COMMANDS["cell"]]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    cmd = ["mpirun", "-n", "2", sys.executable, "-m", "pnpf_fem", *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert 0 < doc["porosity"] < 1
