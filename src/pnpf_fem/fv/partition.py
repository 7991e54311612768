"""Finite volumes on several MPI ranks: each rank assembles the box equations of the vertices it
owns on an overlapping local mesh, and PETSc solves the distributed Newton systems.

Ownership: every vertex of the triangulation belongs to one rank — the rank DOLFINx gives its P1
degree of freedom when it distributes the same triangulation (`owners_from_dolfinx`), so the
FEM and the FV share one distribution — or any given owner array (`Partition.from_owners`).

Local mesh: the triangles that touch an owned vertex (one layer beyond the rank's part). Every
quantity of an owned vertex — its box volume, the transmissibilities of its edges, its boundary
pieces, its reconstructed gradient ∇̃_h (3.1), the region shares of its box — is a sum over these
triangles, so it is complete on the rank, and the serial code (`VoronoiMesh`, the schemes'
terms, `pnpf_fem.fv.assembly.Assembler`) computes the residual and Jacobian rows of the owned
vertices exactly as the serial run does (up to the order of floating-point sums). The rows of
the other local vertices (the ghost layer, owned elsewhere) are incomplete and dropped: no row
is split between ranks, so nothing is accumulated across them. This is one layer of overlap, as
PETSc's DMPlex finite volumes use. The ghost layer's values come from their owners
(`ghost_values`) before every residual evaluation.

Numbering: rank r owns the PETSc unknowns [B·o_r, B·o_{r+1}) of B blocks (fields), field-major
within the rank: block b of its k-th owned vertex is B·o_r + b·n_r + k. On one rank this is the
serial ordering.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from mpi4py import MPI

from pnpf_fem.errors import InputError
from pnpf_fem.fem.mesh import from_triangulation
from pnpf_fem.fv.mesh import _ADMISSIBILITY_TOL, VoronoiMesh
from pnpf_fem.fv.solver import PETScAlgebra
from pnpf_fem.meshing import TaggedTriangulation
from pnpf_fem.meshing3d import TaggedTetrahedra

__all__ = ["Partition", "owners_from_dolfinx"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TaggedMesh = TaggedTriangulation | TaggedTetrahedra


def _displacements(counts: IntArray) -> IntArray:
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Partition:
    """The rank's share of a triangulation: owned vertices, local mesh, ghost exchange.

    owner: (N,) the rank of every vertex of the whole triangulation.
    local: (n_local,) whole-mesh indices of the local vertices: the owned ones (ascending), then
        the ghost layer (by owner, then index).
    num_owned: how many of `local` the rank owns.
    offsets: (size + 1,) the first PETSc vertex of every rank (o_r above).
    position: (N,) each vertex's place among its owner's vertices.
    order: (N,) the whole-mesh vertex of each PETSc vertex number (by owner, then index).
    tri: the local triangulation (vertices numbered as `local`).
    """

    comm: Any
    owner: IntArray
    local: IntArray
    num_owned: int
    offsets: IntArray
    position: IntArray
    order: IntArray
    tri: TaggedMesh
    send_positions: IntArray  # owned positions to send, grouped by the receiving rank
    send_counts: IntArray
    recv_counts: IntArray
    solver_cache: dict = dataclasses.field(default_factory=dict)  # fields → the kept LU

    @classmethod
    def from_owners(cls, tri: TaggedMesh, owner: IntArray, comm: Any) -> Partition:
        """The partition of `tri` (held whole by every rank) with vertex owners `owner`."""
        rank, size, n = comm.rank, comm.size, tri.num_vertices
        owner = np.asarray(owner, dtype=np.int64)
        if owner.shape != (n,) or owner.min(initial=0) < 0 or owner.max(initial=0) >= size:
            raise InputError(f"Partition: owner must give a rank 0..{size - 1} to each vertex")
        counts = np.bincount(owner, minlength=size)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        order = np.lexsort((np.arange(n), owner))  # by owner, then index
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n) - offsets[owner[order]]
        mine = owner == rank
        cells = np.any(mine[tri.cells], axis=1)
        ghosts = np.setdiff1d(np.unique(tri.cells[cells]), np.flatnonzero(mine))
        ghosts = ghosts[np.lexsort((position[ghosts], owner[ghosts]))]
        local = np.concatenate([np.flatnonzero(mine), ghosts])
        recv_counts = np.bincount(owner[ghosts], minlength=size).astype(np.int64)
        send_counts = np.asarray(comm.alltoall(recv_counts.tolist()), dtype=np.int64)
        send_positions = np.empty(int(send_counts.sum()), dtype=np.int64)
        requests = np.ascontiguousarray(position[ghosts])
        comm.Alltoallv(
            [requests, (recv_counts, _displacements(recv_counts)), MPI.INT64_T],
            [send_positions, (send_counts, _displacements(send_counts)), MPI.INT64_T],
        )
        return cls(
            comm,
            owner,
            local,
            int(mine.sum()),
            offsets,
            position,
            order,
            _local_triangulation(tri, local, cells, mine),
            send_positions,
            send_counts,
            recv_counts,
        )

    @property
    def num_local(self) -> int:
        return int(self.local.size)

    @property
    def num_global(self) -> int:
        return int(self.owner.size)

    # -- values ------------------------------------------------------------------------------
    def extend(self, owned: FloatArray) -> FloatArray:
        """(..., n_owned) owned values → (..., n_local) with the ghost layer's from its owners."""
        lead = owned.shape[:-1]
        flat = owned.reshape(-1, self.num_owned)
        b = flat.shape[0]
        send = np.ascontiguousarray(flat[:, self.send_positions].T)
        recv = np.empty((int(self.recv_counts.sum()), b))
        self.comm.Alltoallv(
            [send, (self.send_counts * b, _displacements(self.send_counts) * b), MPI.DOUBLE],
            [recv, (self.recv_counts * b, _displacements(self.recv_counts) * b), MPI.DOUBLE],
        )
        return np.concatenate([flat, recv.T], axis=1).reshape(*lead, self.num_local)

    def owned(self, values: FloatArray) -> FloatArray:
        """The owned part of local vertex values (..., n_local)."""
        return values[..., : self.num_owned]

    def gather(self, local_values: FloatArray) -> FloatArray:
        """Whole-mesh vertex values (..., N) on every rank from each rank's owned ones."""
        own = np.ascontiguousarray(self.owned(local_values))
        lead = own.shape[:-1]
        flat = own.reshape(-1, self.num_owned)
        counts = np.diff(self.offsets)
        out = np.empty((flat.shape[0], self.num_global))
        buf = np.empty(self.num_global)
        for k, row in enumerate(flat):
            self.comm.Allgatherv(
                [np.ascontiguousarray(row), MPI.DOUBLE],
                [buf, (counts, self.offsets[:-1]), MPI.DOUBLE],
            )
            out[k, self.order] = buf
        return out.reshape(*lead, self.num_global)

    def scatter(self, whole: FloatArray) -> FloatArray:
        """Local vertex values (..., n_local) of whole-mesh values (..., N)."""
        return np.asarray(whole)[..., self.local]

    # -- reductions ----------------------------------------------------------------------------
    def sum(self, values: FloatArray) -> float:
        """Σ over the owned vertices of all ranks (values shaped (..., n_local))."""
        return float(self.comm.allreduce(float(np.sum(self.owned(values))), op=MPI.SUM))

    def min(self, values: FloatArray) -> float:
        return float(self.comm.allreduce(float(np.min(self.owned(values))), op=MPI.MIN))

    def max(self, values: FloatArray) -> float:
        return float(self.comm.allreduce(float(np.max(self.owned(values))), op=MPI.MAX))

    def any_rank(self, flag: bool) -> bool:
        return bool(self.comm.allreduce(bool(flag), op=MPI.LOR))

    # -- unknowns and Newton systems ---------------------------------------------------------------
    def unknowns(self, blocks: int) -> IntArray:
        """(blocks, n_local) PETSc indices of the local unknowns (block-major per rank)."""
        v = self.local
        counts = np.diff(self.offsets)
        base = blocks * self.offsets[self.owner[v]] + self.position[v]
        return base[None, :] + np.arange(blocks)[:, None] * counts[self.owner[v]][None, :]

    def owned_system(
        self, residual: Callable[[FloatArray, bool], tuple[FloatArray, Any]], blocks: int
    ) -> Callable[[FloatArray, bool], tuple[FloatArray, Any]]:
        """The residual closure on the owned unknowns (blocks·n_owned, block-major): the ghost
        layer filled from its owners, the local residual's owned rows, the Jacobian's owned rows
        with PETSc column indices."""
        n, n_own = self.num_local, self.num_owned
        rows = (np.arange(blocks)[:, None] * n + np.arange(n_own)[None, :]).ravel()
        columns = self.unknowns(blocks).ravel()
        size = blocks * self.num_global

        def owned_residual(x: FloatArray, jac: bool) -> tuple[FloatArray, Any]:
            x_local = self.extend(x.reshape(blocks, n_own)).ravel()
            r, j = residual(x_local, jac)
            r_own = r.reshape(blocks, n)[:, :n_own].ravel()
            if j is None:
                return r_own, None
            j = sp.csr_matrix(j)[rows]
            j = sp.csr_matrix((j.data, columns[j.indices], j.indptr), shape=(rows.size, size))
            j.sort_indices()
            return r_own, j

        return owned_residual

    def solve_local(
        self, matrix: sp.spmatrix, rhs: FloatArray, algebra: PETScAlgebra
    ) -> FloatArray:
        """Solve a local vertex system (one block; its owned rows are the global system's) and
        return the local solution with the ghost layer from its owners."""
        system = self.owned_system(lambda x, jac: (rhs, matrix), 1)
        r, j = system(np.zeros(self.num_owned), True)
        return self.extend(algebra.factorize(j)(r))

    def algebra(self, control: Any, blocks: int, dim: int = 2) -> PETScAlgebra:
        """The Newton algebra of `blocks` fields (its solver kept per number of fields)."""
        cache = self.solver_cache.setdefault(blocks, {})
        size = blocks * self.num_global
        return PETScAlgebra(self.comm, control, size, blocks, cache, dim)

    def voronoi_mesh(self) -> Any:
        """The `VoronoiMesh` of the local triangulation, checked on the owned part. The ghost
        layer's box volumes are taken from their owners: the local triangles hold only part of
        those boxes, and the harmonic edge averages 𝒜_σ of §3.1 weigh both ends' volumes."""
        mesh = VoronoiMesh.from_triangulation(self.tri, check=self.check_admissible)
        return dataclasses.replace(mesh, volumes=self.extend(self.owned(mesh.volumes)))

    def check_admissible(self, edges: IntArray, tau: FloatArray, volumes: FloatArray) -> None:
        """Every edge with an owned end has its whole neighbourhood here: refuse τ_σ < 0 on
        them, and non-positive owned boxes, on every rank together (one line)."""
        own = self.num_owned
        mine = (edges[:, 0] < own) | (edges[:, 1] < own)
        pts = self.tri.points
        tol = _ADMISSIBILITY_TOL
        if pts.shape[1] == 3:  # τ is a length in 3D: relative to the longest edge, as serially
            longest = float(np.max(np.linalg.norm(pts[edges[:, 1]] - pts[edges[:, 0]], axis=1)))
            tol *= self.comm.allreduce(longest, op=MPI.MAX)
        bad = np.flatnonzero(mine & (tau < -tol))
        lines = [
            f"edge {pts[edges[e, 0]].tolist()}–{pts[edges[e, 1]].tolist()}: τ = {tau[e]:.3e}"
            for e in bad[:5]
        ]
        count = int(bad.size)
        small = np.flatnonzero(volumes[:own] <= 0)
        lines += [f"box at {pts[i].tolist()}: volume {volumes[i]:.3e}" for i in small[:5]]
        total = self.comm.allreduce(count + int(small.size), op=MPI.SUM)
        if total:
            first = [line for part in self.comm.allgather(lines) for line in part][:5]
            raise InputError(
                f"mesh is not admissible for Voronoi finite volumes: {total} defect(s), e.g. "
                + "; ".join(first)
            )


def _local_triangulation(
    tri: TaggedMesh, local: IntArray, cells: npt.NDArray[np.bool_], mine
) -> TaggedMesh:
    """The cells `cells` of `tri` with vertices renumbered as `local`; the tagged facets with
    an owned vertex (their cell touches it, so it is local)."""
    number = np.full(tri.num_vertices, -1, dtype=np.int64)
    number[local] = np.arange(local.size)
    facets = np.any(mine[tri.facets], axis=1) if tri.facets.size else np.zeros(0, bool)
    return type(tri)(
        tri.points[local],
        number[tri.cells[cells]],
        number[tri.facets[facets]],
        tri.facet_markers[facets],
        dict(tri.tag_names),
        tri.cell_markers[cells],
        dict(tri.region_names),
    )


def owners_from_dolfinx(tri: TaggedMesh, comm: Any) -> IntArray:
    """The rank of every vertex of `tri` as DOLFINx distributes it (`pnpf_fem.fem.mesh`): the
    owner of the vertex's P1 degree of freedom. Every rank gets the whole array."""
    fmesh = from_triangulation(tri, comm)
    domain = fmesh.mesh
    tdim = domain.topology.dim
    domain.topology.create_connectivity(tdim, 0)
    num_owned = domain.topology.index_map(0).size_local  # vertices, owned first
    c2v = domain.topology.connectivity(tdim, 0).array.reshape(-1, tdim + 1)
    nodes = domain.geometry.dofmap.reshape(-1, tdim + 1)
    vertex_node = np.empty(
        domain.topology.index_map(0).size_local + domain.topology.index_map(0).num_ghosts, np.int64
    )
    vertex_node[c2v.ravel()] = nodes.ravel()
    mine = fmesh.input_vertex[vertex_node[:num_owned]]
    owner = np.full(tri.num_vertices, -1, dtype=np.int64)
    for rank, part in enumerate(comm.allgather(mine)):
        owner[part] = rank
    if np.any(owner < 0):
        raise InputError("owners_from_dolfinx: some vertices are owned by no rank")
    return owner
