"""Tagged input mesh → distributed DOLFINx mesh with named facet tags, regions and a vertex map.

The input (a 2D `pnpf_fem.meshing.TaggedTriangulation` or a 3D
`pnpf_fem.meshing3d.TaggedTetrahedra`) is read on rank 0 and distributed by
DOLFINx; the tagged boundary facets are matched by their input vertex numbers on every rank, so
`FEMMesh.facet_tags` carries the same integer tags and `FEMMesh.tag_names` the same names.
`input_vertex` maps each local mesh vertex (geometry node) back to its index in the
triangulation, which lets FEM nodal values be compared with FV vertex values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
from dolfinx import fem, mesh
from mpi4py import MPI

from pnpf_fem.compat import create_simplex_mesh
from pnpf_fem.errors import InputError
from pnpf_fem.meshing import TaggedTriangulation, tag_of, unit_square
from pnpf_fem.meshing3d import TaggedTetrahedra

TaggedMeshInput = TaggedTriangulation | TaggedTetrahedra

__all__ = ["FEMMesh", "from_triangulation", "gather_vertex_values", "unit_square_mesh"]


@dataclass(frozen=True, eq=False)
class FEMMesh:
    """A DOLFINx mesh with facet MeshTags and the names of the tags; cell MeshTags and the
    names of the regions (cells in no region carry no tag)."""

    mesh: mesh.Mesh
    facet_tags: mesh.MeshTags
    tag_names: Mapping[str, int]
    num_input_vertices: int
    cell_tags: mesh.MeshTags | None = None
    region_names: Mapping[str, int] = MappingProxyType({})

    @property
    def comm(self) -> MPI.Comm:
        return self.mesh.comm

    def tag(self, name: str) -> int:
        """The integer tag of a named boundary part (InputError for an unknown name)."""
        return tag_of(self.tag_names, name)

    def facets(self, name: str) -> npt.NDArray[np.int32]:
        """Local facet indices carrying the named tag."""
        return self.facet_tags.find(self.tag(name))

    def cells(self, region: str) -> npt.NDArray[np.int32]:
        """Local cell indices (ghosts included) of the named region."""
        if region not in self.region_names:
            known = ", ".join(sorted(self.region_names)) or "none"
            raise InputError(f"unknown region name {region!r} (known: {known})")
        return self.cell_tags.find(self.region_names[region])

    @property
    def input_vertex(self) -> npt.NDArray[np.int64]:
        """Input (triangulation) vertex index of each local geometry node."""
        return np.asarray(self.mesh.geometry.input_global_indices, dtype=np.int64)


def from_triangulation(tri: TaggedMeshInput, comm: MPI.Comm = MPI.COMM_WORLD) -> FEMMesh:
    """Distribute `tri` (a 2D `TaggedTriangulation` or a 3D `TaggedTetrahedra`) over `comm` and
    tag its boundary facets and cells by the input's tags and regions."""
    root = comm.rank == 0
    gdim = tri.points.shape[1]
    cells = tri.cells if root else np.empty((0, gdim + 1), dtype=np.int64)
    points = tri.points if root else np.empty((0, gdim), dtype=np.float64)
    domain = create_simplex_mesh(comm, cells, points)
    tdim = domain.topology.dim
    fdim = tdim - 1
    domain.topology.create_connectivity(fdim, tdim)
    domain.topology.create_connectivity(fdim, 0)

    # Tagged facets keyed by their sorted input vertices (every rank holds the small list).
    keys = np.sort(tri.facets, axis=1)
    lookup = {tuple(k): int(m) for k, m in zip(keys.tolist(), tri.facet_markers, strict=True)}

    boundary = mesh.exterior_facet_indices(domain.topology)
    nodes = mesh.entities_to_geometry(domain, fdim, boundary)
    igi = np.asarray(domain.geometry.input_global_indices, dtype=np.int64)
    found = [
        (f, lookup[key])
        for f, key in zip(boundary, map(tuple, np.sort(igi[nodes], axis=1).tolist()), strict=True)
        if key in lookup
    ]
    found.sort()
    facets = np.asarray([f for f, _ in found], dtype=np.int32)
    markers = np.asarray([m for _, m in found], dtype=np.int32)
    tags = mesh.meshtags(domain, fdim, facets, markers)
    return FEMMesh(
        domain,
        tags,
        MappingProxyType(dict(tri.tag_names)),
        tri.num_vertices,
        _cell_tags(domain, tri.cell_markers),
        MappingProxyType(dict(tri.region_names)),
    )


def _cell_tags(domain: mesh.Mesh, markers: npt.NDArray[np.int32]) -> mesh.MeshTags:
    """The triangulation's cell markers (held by every rank) on the distributed cells (local
    and ghost), found by their input index; untagged cells (marker 0) are left out."""
    tdim = domain.topology.dim
    imap = domain.topology.index_map(tdim)
    num_cells = imap.size_local + imap.num_ghosts
    original = np.asarray(domain.topology.original_cell_index, dtype=np.int64)[:num_cells]
    local = markers[original]
    cells = np.nonzero(local)[0].astype(np.int32)
    return mesh.meshtags(domain, tdim, cells, local[cells].astype(np.int32))


def unit_square_mesh(n: int, comm: MPI.Comm = MPI.COMM_WORLD, kind: str = "structured") -> FEMMesh:
    """[0,1]² with n intervals per side, sides tagged left/right/bottom/top (via meshing)."""

    return from_triangulation(unit_square(n, kind=kind), comm)


def gather_vertex_values(
    fmesh: FEMMesh, u: fem.Function, component: int | None = None
) -> np.ndarray:
    """Nodal values of a P1 function (or one component of a blocked P1 function) by input vertex.

    Returns the array indexed like `TaggedTriangulation.points` on every rank.
    """
    V = u.function_space
    if V.element.basix_element.degree != 1:
        raise InputError("gather_vertex_values needs a degree-1 Lagrange function")
    bs = V.dofmap.index_map_bs
    domain = fmesh.mesh
    tdim = domain.topology.dim
    ncells = domain.topology.index_map(tdim).size_local
    cell_dofs = V.dofmap.list[:ncells]
    cell_nodes = domain.geometry.dofmap[:ncells]
    igi = fmesh.input_vertex
    values = u.x.array.reshape(-1, bs)[:, 0 if component is None else component]
    out = np.zeros(fmesh.num_input_vertices)
    seen = np.zeros(fmesh.num_input_vertices, dtype=np.int32)
    out[igi[cell_nodes].ravel()] = values[cell_dofs].ravel()
    seen[igi[cell_nodes].ravel()] = 1
    out = fmesh.comm.allreduce(out * seen, op=MPI.SUM)
    count = fmesh.comm.allreduce(seen, op=MPI.SUM)
    if np.any(count == 0):
        raise InputError("gather_vertex_values: some input vertices are not in the mesh")
    return out / count
