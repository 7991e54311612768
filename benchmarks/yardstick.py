"""The speed yardstick of the benchmarks: one scalar P1 Poisson solve on a mesh.

A benchmark times it in its own process and reports its costs in units of it, since this
machine is shared and noisy: a ratio survives the noise that seconds do not. Imported by the
scripts beside it (run as `python3 benchmarks/NAME.py`, whose folder is then on sys.path).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from mpi4py import MPI

__all__ = ["poisson_yardstick"]


def poisson_yardstick(fm: Any) -> tuple[float, int]:
    """Seconds of one scalar P1 Poisson solve on the mesh of `fm` (a `pnpf_fem.fem.FEMMesh`
    with "left" and "right" tags, u = 0 there): assembly of matrix and vector + CG/BoomerAMG
    setup and solve to rtol 1e-8, forms compiled beforehand; and its CG iterations."""
    import ufl
    from dolfinx import fem
    from dolfinx.fem import petsc
    from petsc4py import PETSc

    V = fem.functionspace(fm.mesh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
    L = fem.form(fem.Constant(fm.mesh, 1.0) * v * ufl.dx)
    fdim = fm.mesh.topology.dim - 1
    sides = np.concatenate([fm.facets("left"), fm.facets("right")])
    bc = fem.dirichletbc(0.0, fem.locate_dofs_topological(V, fdim, sides), V)
    fm.comm.barrier()
    start = time.perf_counter()
    A = petsc.assemble_matrix(a, bcs=[bc])
    A.assemble()
    b = petsc.assemble_vector(L)
    petsc.apply_lifting(b, [a], [[bc]])
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    petsc.set_bc(b, [bc])
    ksp = PETSc.KSP().create(fm.comm)
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.getPC().setType("hypre")
    ksp.getPC().setHYPREType("boomeramg")
    ksp.setTolerances(rtol=1e-8)
    x = b.duplicate()
    ksp.solve(b, x)
    elapsed = fm.comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    its = ksp.getIterationNumber()
    for obj in (ksp, A, b, x):
        obj.destroy()
    return elapsed, its
