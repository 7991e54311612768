"""A tiny DOLFINx Poisson problem against its exact solution, in serial and on 2 ranks."""

import numpy as np
import pytest

dolfinx = pytest.importorskip("dolfinx")

import ufl  # noqa: E402
from dolfinx import fem, mesh  # noqa: E402
from dolfinx.fem.petsc import LinearProblem  # noqa: E402
from mpi4py import MPI  # noqa: E402


def solve_poisson(comm: MPI.Comm, n: int, degree: int) -> float:
    """−Δu = f on the unit square with u = 1 + x² + 2y² on the boundary; returns the L2 error."""
    domain = mesh.create_unit_square(comm, n, n)
    V = fem.functionspace(domain, ("Lagrange", degree))
    x = ufl.SpatialCoordinate(domain)
    u_exact = 1 + x[0] ** 2 + 2 * x[1] ** 2
    uD = fem.Function(V)
    uD.interpolate(lambda p: 1 + p[0] ** 2 + 2 * p[1] ** 2)
    tdim = domain.topology.dim
    domain.topology.create_connectivity(tdim - 1, tdim)
    facets = mesh.exterior_facet_indices(domain.topology)
    bc = fem.dirichletbc(uD, fem.locate_dofs_topological(V, tdim - 1, facets))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
    L = fem.Constant(domain, -6.0) * v * ufl.dx
    problem = LinearProblem(a, L, bcs=[bc], petsc_options={"ksp_type": "preonly", "pc_type": "lu"})
    uh = problem.solve()
    if problem.solver.getConvergedReason() <= 0:
        raise RuntimeError(f"KSP failed: {problem.solver.getConvergedReason()}")
    err = fem.assemble_scalar(fem.form((uh - u_exact) ** 2 * ufl.dx))
    return float(np.sqrt(comm.allreduce(err, op=MPI.SUM)))


def test_poisson_p2_is_exact_serial():
    assert solve_poisson(MPI.COMM_SELF, 6, 2) < 1e-11


@pytest.mark.mpi
def test_poisson_p2_is_exact_parallel():
    assert solve_poisson(MPI.COMM_WORLD, 8, 2) < 1e-11


@pytest.mark.mpi
def test_poisson_p1_error_independent_of_ranks():
    distributed = solve_poisson(MPI.COMM_WORLD, 12, 1)
    serial = solve_poisson(MPI.COMM_SELF, 12, 1)
    assert 1e-4 < distributed < 1e-1
    assert abs(distributed - serial) <= 1e-10 * serial
