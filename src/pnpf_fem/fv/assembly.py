"""COO triplet accumulation for block sparse Jacobians (vectorized over edges/vertices)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from pnpf_fem.fv.mesh import VoronoiMesh

__all__ = ["BlockCoo"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class BlockCoo:
    """A matrix of N×N blocks filled by triplets (duplicates are summed by `tocsr`).

    Every `add_*` takes an optional `row_scale` (one factor per vertex, applied to the row's
    vertex), so that a block row can be pre-multiplied by a diagonal without sparse products.
    """

    def __init__(self, mesh: VoronoiMesh, row_blocks: int, col_blocks: int) -> None:
        self.mesh = mesh
        self.n = mesh.num_vertices
        self.shape = (row_blocks * self.n, col_blocks * self.n)
        self._rows: list[IntArray] = []
        self._cols: list[IntArray] = []
        self._vals: list[FloatArray] = []

    def add_triplets(
        self,
        rb: int,
        cb: int,
        rows: IntArray,
        cols: IntArray,
        vals: FloatArray,
        row_scale: FloatArray | None = None,
    ) -> None:
        if row_scale is not None:
            vals = vals * row_scale[rows]
        self._rows.append(rows + rb * self.n)
        self._cols.append(cols + cb * self.n)
        self._vals.append(np.asarray(vals, dtype=np.float64))

    def add_diagonal(
        self, rb: int, cb: int, values: FloatArray, row_scale: FloatArray | None = None
    ) -> None:
        idx = np.arange(self.n)
        self.add_triplets(rb, cb, idx, idx, np.broadcast_to(values, (self.n,)), row_scale)

    def add_edge_flux(
        self,
        rb: int,
        cb: int,
        d_i: FloatArray,
        d_j: FloatArray,
        row_scale: FloatArray | None = None,
    ) -> None:
        """Derivatives of an edge flux F_σ (added to row i, subtracted from row j) with respect
        to the block-`cb` unknown at i (d_i) and at j (d_j)."""
        i, j = self.mesh.edges[:, 0], self.mesh.edges[:, 1]
        rows = np.concatenate([i, i, j, j])
        cols = np.concatenate([i, j, i, j])
        self.add_triplets(rb, cb, rows, cols, np.concatenate([d_i, d_j, -d_i, -d_j]), row_scale)

    def add_matrix(self, rb: int, cb: int, matrix: sp.spmatrix) -> None:
        coo = sp.coo_matrix(matrix)
        self.add_triplets(rb, cb, coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data)

    def tocsr(self) -> sp.csr_matrix:
        if not self._rows:
            return sp.csr_matrix(self.shape)
        return sp.csr_matrix(
            (np.concatenate(self._vals), (np.concatenate(self._rows), np.concatenate(self._cols))),
            shape=self.shape,
        )
