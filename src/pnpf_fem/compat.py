"""Every DOLFINx API difference between 0.9 and 0.10 that pnpf-fem relies on, in one place.

Code elsewhere calls these functions and never branches on the DOLFINx version itself.
"""

from __future__ import annotations

import basix.ufl
import dolfinx
import numpy as np
import numpy.typing as npt
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

__all__ = [
    "DOLFINX_VERSION",
    "blocked_lagrange_space",
    "create_triangle_mesh",
    "interpolation_points",
    "lagrange_space",
]

DOLFINX_VERSION: tuple[int, int] = tuple(int(p) for p in dolfinx.__version__.split(".")[:2])


def create_triangle_mesh(
    comm: MPI.Comm, cells: npt.NDArray[np.int64], points: npt.NDArray[np.float64]
) -> mesh.Mesh:
    """A distributed affine triangle mesh from cells/points given on (typically) rank 0.

    0.9: create_mesh(comm, cells, x, e); 0.10: create_mesh(comm, cells, e, x) with a coordinate
    element.
    """
    element = basix.ufl.element("Lagrange", "triangle", 1, shape=(2,))
    if DOLFINX_VERSION >= (0, 10):
        cmap = fem.coordinate_element(dolfinx.mesh.CellType.triangle, 1)
        return mesh.create_mesh(comm, cells, cmap, points)  # pragma: no cover - 0.10 only
    return mesh.create_mesh(comm, cells, points, ufl.Mesh(element))


def lagrange_space(domain: mesh.Mesh, degree: int) -> fem.FunctionSpace:
    """Scalar continuous Lagrange space of the given degree."""
    return fem.functionspace(domain, ("Lagrange", degree))


def blocked_lagrange_space(domain: mesh.Mesh, degree: int, components: int) -> fem.FunctionSpace:
    """Blocked (vector-valued) Lagrange space with `components` scalar fields sharing one dofmap."""
    element = basix.ufl.element("Lagrange", domain.basix_cell(), degree, shape=(components,))
    return fem.functionspace(domain, element)


def interpolation_points(V: fem.FunctionSpace) -> npt.NDArray[np.float64]:
    """Reference interpolation points of V's element (a method in 0.9, a property in 0.10)."""
    pts = V.element.interpolation_points
    return pts() if callable(pts) else pts
