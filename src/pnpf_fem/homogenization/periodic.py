"""Fully periodic constraints on a box cell with dolfinx_mpc, corners and edges included.

Every dof with some coordinate x_i = upper_i is a slave of exactly one constraint, and every
master lies strictly below `upper` in all coordinates, so no master is itself a slave
(dolfinx_mpc issue 21; docs/theory.md §7). Axis i constrains the dofs with x_i = upper_i and
x_j < upper_j for all j > i; its map translates x_i by -L_i and, for j < i, also wraps any
coordinate x_j = upper_j to lower_j. Thus in 2D the corner (1, 1) maps straight to (0, 0).

The constant null space of the periodic problems is removed by pinning one dof strictly inside
the cell (`pin_dof`), or by attaching the null space (cell_problems.py). The right-hand sides of
(44) and (45) vanish on constants, so pinning and then subtracting the mean is legitimate
(docs/theory.md §7). Never pin a dof on the cell boundary: a pinned *master* dof is not
propagated consistently to its slaves by dolfinx_mpc 0.9 (seen here: a wrong corrector near the
pinned corner with a tiny algebraic residual; cell_problems.py's Galerkin check catches it).
"""

from __future__ import annotations

from collections.abc import Sequence

import dolfinx_mpc
import numpy as np
import numpy.typing as npt
from mpi4py import MPI

__all__ = ["create_periodic_mpc", "interior_mask", "pin_dof"]


def _tol(lower: Sequence[float], upper: Sequence[float]) -> float:
    return 1e-8 * float(np.max(np.asarray(upper) - np.asarray(lower)))


def create_periodic_mpc(V, lower: Sequence[float], upper: Sequence[float], bcs=()):
    """A finalized `dolfinx_mpc.MultiPointConstraint` making V periodic on [lower, upper].

    `bcs` are Dirichlet conditions whose dofs must not become slaves (e.g. the pinned dof).
    """

    d = len(lower)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    length = hi - lo
    tol = _tol(lower, upper)
    mpc = dolfinx_mpc.MultiPointConstraint(V)
    for axis in range(d):

        def indicator(x: npt.NDArray, axis: int = axis) -> npt.NDArray[np.bool_]:
            mask = np.isclose(x[axis], hi[axis], atol=tol, rtol=0.0)
            for j in range(axis + 1, d):
                mask &= x[j] < hi[j] - tol
            return mask

        def relation(x: npt.NDArray, axis: int = axis) -> npt.NDArray:
            out = x.copy()
            out[axis] = x[axis] - length[axis]
            for j in range(axis):
                wrap = np.isclose(x[j], hi[j], atol=tol, rtol=0.0)
                out[j] = np.where(wrap, x[j] - length[j], x[j])
            return out

        mpc.create_periodic_constraint_geometrical(V, indicator, relation, list(bcs))
    mpc.finalize()
    return mpc


def interior_mask(V, lower: Sequence[float], upper: Sequence[float]) -> npt.NDArray[np.bool_]:
    """Local dofs (owned and ghost) strictly inside the box: neither slaves nor masters."""
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    tol = _tol(lower, upper)
    x = V.tabulate_dof_coordinates()[:, : len(hi)]
    return np.all((x < hi - tol) & (x > lo + tol), axis=1)


def pin_dof(V, lower: Sequence[float], upper: Sequence[float]) -> npt.NDArray[np.int32]:
    """Local indices (owned or ghost) of the one dof pinned to remove the constant null space.

    The pinned dof is the interior dof with the smallest global index, so all ranks agree.
    """
    imap = V.dofmap.index_map
    n_local = imap.size_local + imap.num_ghosts
    glob = imap.local_to_global(np.arange(n_local, dtype=np.int32))
    mask = interior_mask(V, lower, upper)[:n_local]
    owned = np.arange(n_local) < imap.size_local
    cand = glob[mask & owned]
    big = np.iinfo(np.int64).max
    gmin = V.mesh.comm.allreduce(int(cand.min()) if len(cand) else big, op=MPI.MIN)
    if gmin == big:
        raise RuntimeError("no dof strictly inside the periodic cell to pin")
    return np.flatnonzero(glob == gmin).astype(np.int32)
