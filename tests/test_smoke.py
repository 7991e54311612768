"""Import and CLI smoke tests."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pnpf_fem
from pnpf_fem.app.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_import_and_version():
    assert pnpf_fem.__version__.count(".") == 2
    assert set(pnpf_fem.__all__) <= set(dir(pnpf_fem))


def test_info_reports_the_stack(capsys):
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dolfinx"].startswith("0.9"), report["dolfinx"]
    assert report["dolfinx_mpc"].startswith("0.9"), report["dolfinx_mpc"]
    assert report["petsc"].startswith("3."), report["petsc"]
    for key in ("ufl", "basix", "ffcx", "petsc4py", "mpi4py", "mpi_library"):
        assert "not available" not in str(report[key]), (key, report[key])
    assert report["mpi_ranks"] >= 1


def test_console_script_runs_from_checkout():
    out = subprocess.run(
        [str(ROOT / "env" / "bin" / "pnpf-fem"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"pnpf-fem {pnpf_fem.__version__}"


def test_usage_error_exit_code():
    proc = subprocess.run(
        [sys.executable, "-m", "pnpf_fem", "no-such-command"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


@pytest.mark.parametrize("code", [0, 7])
def test_env_run_propagates_exit_code(code):
    proc = subprocess.run([str(ROOT / "env" / "run"), "sh", "-c", f"exit {code}"])
    assert proc.returncode == code


def test_env_run_without_command_is_a_usage_error():
    proc = subprocess.run([str(ROOT / "env" / "run")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "usage" in proc.stderr
