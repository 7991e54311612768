"""Every DOLFINx API difference between 0.9 and 0.10 that pnpf-fem relies on, in one place.

Code elsewhere calls these functions and never branches on the DOLFINx version itself.
"""

from __future__ import annotations

import basix.ufl
import dolfinx
import dolfinx.fem.petsc as fem_petsc
import numpy as np
import numpy.typing as npt
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI
from petsc4py import PETSc

__all__ = [
    "DOLFINX_VERSION",
    "BlockAssembler",
    "Codim0Submesh",
    "blocked_lagrange_space",
    "codim0_submesh",
    "create_simplex_mesh",
    "create_triangle_mesh",
    "interpolation_points",
    "lagrange_space",
]

DOLFINX_VERSION: tuple[int, int] = tuple(int(p) for p in dolfinx.__version__.split(".")[:2])


def create_simplex_mesh(
    comm: MPI.Comm, cells: npt.NDArray[np.int64], points: npt.NDArray[np.float64]
) -> mesh.Mesh:
    """A distributed affine triangle (2D) or tetrahedron (3D) mesh from cells/points given on
    (typically) rank 0; the cell type follows from the points' dimension."""
    gdim = points.shape[1]
    if gdim == 2:
        return create_triangle_mesh(comm, cells, points)
    element = basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,))
    if DOLFINX_VERSION >= (0, 10):
        cmap = fem.coordinate_element(dolfinx.mesh.CellType.tetrahedron, 1)
        return mesh.create_mesh(comm, cells, cmap, points)  # pragma: no cover - 0.10 only
    return mesh.create_mesh(comm, cells, points, ufl.Mesh(element))


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


class Codim0Submesh:
    """A submesh of some cells of `parent` and the maps mixed-domain assembly needs.

    `sub_to_parent_cells[i]`: parent cell of submesh cell i; `parent_to_sub_cells[c]`: submesh
    cell of parent cell c (local + ghost), −1 outside the submesh; likewise for vertices.
    `entity_maps` is what `fem.form(..., entity_maps=...)` takes for forms integrated over the
    parent with arguments/coefficients on the submesh (0.9: {submesh: parent_to_sub};
    0.10: [EntityMap]).
    """

    def __init__(self, parent: mesh.Mesh, cells: npt.NDArray[np.int32]) -> None:
        tdim = parent.topology.dim
        out = mesh.create_submesh(parent, tdim, np.asarray(cells, dtype=np.int32))
        self.parent = parent
        self.mesh = out[0]
        if DOLFINX_VERSION >= (0, 10):  # pragma: no cover - 0.10 only
            cmap, vmap = out[1], out[2]
            nc = self.mesh.topology.index_map(tdim)
            nv = self.mesh.topology.index_map(0)
            sub_c = np.arange(nc.size_local + nc.num_ghosts, dtype=np.int32)
            sub_v = np.arange(nv.size_local + nv.num_ghosts, dtype=np.int32)
            self.sub_to_parent_cells = cmap.sub_topology_to_topology(sub_c, inverse=False)
            self.sub_to_parent_vertices = vmap.sub_topology_to_topology(sub_v, inverse=False)
            self.entity_maps = [cmap]
        else:
            self.sub_to_parent_cells = np.asarray(out[1], dtype=np.int32)
            self.sub_to_parent_vertices = np.asarray(out[2], dtype=np.int32)
        pc = parent.topology.index_map(tdim)
        pv = parent.topology.index_map(0)
        self.parent_to_sub_cells = np.full(pc.size_local + pc.num_ghosts, -1, dtype=np.int32)
        self.parent_to_sub_cells[self.sub_to_parent_cells] = np.arange(
            self.sub_to_parent_cells.size, dtype=np.int32
        )
        self.parent_to_sub_vertices = np.full(pv.size_local + pv.num_ghosts, -1, dtype=np.int32)
        self.parent_to_sub_vertices[self.sub_to_parent_vertices] = np.arange(
            self.sub_to_parent_vertices.size, dtype=np.int32
        )
        if DOLFINX_VERSION < (0, 10):
            self.entity_maps = {self.mesh: self.parent_to_sub_cells}


def codim0_submesh(parent: mesh.Mesh, cells: npt.NDArray[np.int32]) -> Codim0Submesh:
    """Submesh of the given parent cells (pass local and ghost cells) with entity maps."""
    return Codim0Submesh(parent, cells)


class BlockAssembler:
    """Monolithic block assembly of a residual [F_i] and Jacobian [[J_ij]] over several spaces.

    0.9: `create_*_block` / `assemble_*_block` of `dolfinx.fem.petsc` (the block vector holds the
    owned entries of each field in turn, then the ghosts). Dirichlet rows of the Jacobian get 1 on
    the diagonal; the residual gets x − g on Dirichlet rows (lifting with alpha = −1), the
    convention of DOLFINx's Newton tests.
    """

    def __init__(
        self, L: list[fem.Form], a: list[list[fem.Form]], bcs: list[fem.DirichletBC]
    ) -> None:
        self.L, self.a, self.bcs = L, a, list(bcs)
        self.spaces = [form.function_spaces[0] for form in L]
        self.maps = [(V.dofmap.index_map, V.dofmap.index_map_bs) for V in self.spaces]

    def create_matrix(self):
        if DOLFINX_VERSION >= (0, 10):  # pragma: no cover - 0.10 only
            return fem_petsc.create_matrix(self.a, kind="mpi")
        return fem_petsc.create_matrix_block(self.a)

    def create_vector(self):
        if DOLFINX_VERSION >= (0, 10):  # pragma: no cover - 0.10 only
            return fem_petsc.create_vector(self.L, kind="mpi")
        return fem_petsc.create_vector_block(self.L)

    def residual(self, b, x) -> None:
        """b = F(x) with Dirichlet rows x − g (b zeroed first, ghosts accumulated)."""
        with b.localForm() as b_local:
            b_local.set(0.0)
        if DOLFINX_VERSION >= (0, 10):  # pragma: no cover - 0.10 only
            fem_petsc.assemble_vector(b, self.L)
            bcs1 = fem.bcs_by_block(fem.extract_function_spaces(self.a, 1), self.bcs)
            fem_petsc.apply_lifting(b, self.a, bcs=bcs1, x0=x, alpha=-1.0)
            b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            bcs0 = fem.bcs_by_block(fem.extract_function_spaces(self.L), self.bcs)
            fem_petsc.set_bc(b, bcs0, x0=x, alpha=-1.0)
            return
        fem_petsc.assemble_vector_block(b, self.L, self.a, bcs=self.bcs, x0=x, alpha=-1.0)

    def jacobian(self, A) -> None:
        A.zeroEntries()
        if DOLFINX_VERSION >= (0, 10):  # pragma: no cover - 0.10 only
            fem_petsc.assemble_matrix(A, self.a, bcs=self.bcs, diag=1.0)
        else:
            fem_petsc.assemble_matrix_block(A, self.a, bcs=self.bcs, diagonal=1.0)
        A.assemble()

    def owned_sizes(self) -> list[int]:
        return [imap.size_local * bs for imap, bs in self.maps]

    def to_functions(self, x, functions: list[fem.Function]) -> None:
        """Copy the owned block entries of x into the Functions and update their ghosts."""
        offset = 0
        x_array = x.array_r
        for u, size in zip(functions, self.owned_sizes(), strict=True):
            u.x.array[:size] = x_array[offset : offset + size]
            u.x.scatter_forward()
            offset += size

    def from_functions(self, functions: list[fem.Function], x) -> None:
        """Copy the owned entries of the Functions into the block vector x (and its ghosts)."""
        offset = 0
        for u, size in zip(functions, self.owned_sizes(), strict=True):
            # one statement per write: petsc4py bumps the vector state when the view is released
            x.array[offset : offset + size] = u.x.array[:size]
            offset += size
        x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
