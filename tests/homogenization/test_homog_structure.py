"""Structure of the cell-problem solves (issue 13): forms compiled once, solver state freed.

`CompiledFunctional` evaluates one compiled scalar form for many Functions; the effective
tensors (26) of M. Schmuck, J. Math. Phys. 54, 021504 (2013) and the Galerkin checks of
`cell_problems.py` use it, so the number of compiled forms no longer grows with N².
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("dolfinx_mpc")
pytest.importorskip("gmsh")

import ufl
from dolfinx import fem
from mpi4py import MPI

from pnpf_fem.errors import SolverError
from pnpf_fem.homogenization import SolverSettings, compute_effective_tensors, make_cell
from pnpf_fem.homogenization.cell_problems import CompiledFunctional


def _direct(form_: ufl.Form, comm: MPI.Comm) -> float:
    return comm.allreduce(fem.assemble_scalar(fem.form(form_)), op=MPI.SUM)


@pytest.mark.mpi
def test_compiled_functional_equals_direct_assembly():
    cell = make_cell("circle", 0.6, 0.1)
    V = fem.functionspace(cell.mesh, ("Lagrange", 1))
    f, g = fem.Function(V), fem.Function(V)
    f.interpolate(lambda x: np.sin(2 * np.pi * x[0]) + x[1] ** 2)
    g.interpolate(lambda x: np.cos(2 * np.pi * x[1]) * x[0])
    e = fem.Constant(cell.mesh, np.zeros(2))
    dx = ufl.Measure("dx", domain=cell.mesh, subdomain_data=cell.cell_tags)
    grad_e = CompiledFunctional(lambda a, b: ufl.inner(e, ufl.grad(a)) * b * dx(1), V, V)
    comm = cell.mesh.comm
    for i in range(2):
        e.value[:] = np.eye(2)[i]
        for a, b in ((f, g), (g, f), (f, f)):
            direct = _direct(a.dx(i) * b * dx(1), comm)
            assert grad_e(a, b) == pytest.approx(direct, rel=1e-14, abs=1e-15)
    with pytest.raises(ValueError):
        grad_e(f)  # one Function per placeholder


def test_effective_tensors_compile_few_forms(monkeypatch):
    """Before issue 13 a 3D cell compiled 266 forms (one per tensor entry and per Galerkin test
    function and direction); now each expression is compiled once: 47."""
    compiled = []
    form = fem.form

    def counting(*args, **kwargs):
        compiled.append(1)
        return form(*args, **kwargs)

    monkeypatch.setattr(fem, "form", counting)
    compute_effective_tensors(make_cell("laminate", 0.5, 0.25, dim=3, axis=2), 1.0, 0.1)
    assert 0 < len(compiled) <= 50


def test_failed_solve_leaves_no_solver_options():
    """The KSP options of a cell problem are removed from PETSc's global database even when a
    solve fails."""
    from petsc4py import PETSc

    settings = SolverSettings(method="cg", rtol=1e-14, max_it=2)
    with pytest.raises(SolverError, match="did not converge"):
        compute_effective_tensors(make_cell("circle", 0.6, 0.1), 1.0, 0.1, settings=settings)
    assert not [k for k in PETSc.Options().getAll() if k.startswith("pnpf_cell_")]
