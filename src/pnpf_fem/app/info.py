"""`pnpf-fem info`: versions of the FEniCSx stack and the MPI layout (rank 0 prints)."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import platform
from typing import Any

__all__ = ["environment_report", "format_report", "register"]


def _version(module: str, distribution: str | None = None) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception as err:  # a missing optional package is reported, not fatal
        return f"not available ({type(err).__name__}: {err})"
    version = getattr(mod, "__version__", None)
    if version is None:  # e.g. dolfinx_mpc 0.9 has no __version__: ask its metadata
        try:
            version = importlib.metadata.version(distribution or module)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    return str(version)


def environment_report() -> dict[str, Any]:
    """Versions of Python, DOLFINx, UFL, Basix, FFCx, PETSc/petsc4py, dolfinx_mpc, mpi4py, MPI."""
    from pnpf_fem import __version__

    report: dict[str, Any] = {
        "pnpf_fem": __version__,
        "python": platform.python_version(),
        "dolfinx": _version("dolfinx"),
        "ufl": _version("ufl"),
        "basix": _version("basix"),
        "ffcx": _version("ffcx"),
        "dolfinx_mpc": _version("dolfinx_mpc"),
        "petsc4py": _version("petsc4py"),
        "mpi4py": _version("mpi4py"),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "gmsh": _version("gmsh"),
    }
    try:
        from petsc4py import PETSc

        major, minor, sub = PETSc.Sys.getVersion()
        report["petsc"] = f"{major}.{minor}.{sub}"
        report["petsc_scalar_type"] = str(PETSc.ScalarType.__name__)
    except Exception as err:
        report["petsc"] = f"not available ({type(err).__name__})"
    try:
        from mpi4py import MPI

        report["mpi_library"] = MPI.Get_library_version().strip().splitlines()[0]
        report["mpi_ranks"] = MPI.COMM_WORLD.size
    except Exception as err:
        report["mpi_library"] = f"not available ({type(err).__name__})"
        report["mpi_ranks"] = 1
    return report


def format_report(report: dict[str, Any]) -> str:
    width = max(len(k) for k in report)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in report.items())


def _run(args: argparse.Namespace) -> int:
    import json

    from pnpf_fem.app.console import emit

    report = environment_report()
    emit(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="print the versions of the FEniCSx stack and MPI")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run)
