"""The generic assembly loop of the FV schemes: box equations from per-edge fluxes and per-vertex
storage, reaction and source terms, each with its derivatives, into a residual and a Jacobian.

This follows VoronoiFVM.jl, whose physics is a set of callbacks (`flux!` on an edge, `storage!`,
`reaction!` and `source!` on a node, boundary conditions on boundary nodes) summed over the mesh
by one assembly loop. There the derivatives come from automatic differentiation; here every term
carries its own, and every term is evaluated for all edges or all vertices at once (NumPy arrays),
never edge by edge. A scheme is a function from the unknowns to a list of terms; `Assembler` is the
loop. Besides VoronoiFVM's kinds, the PNPF schemes need a vertex term of reconstructed cell
gradients ∇̃_h (the Joule heat, `NodeTerm.grad`) and a group of terms multiplied by a vertex
factor (the reversible heat P/R of Scheme II, `Scaled`).

Unknowns: x = [u^0, ..., u^{B−1}], B blocks of N vertex values; the residual has the same block
layout, row (b, i) being equation b of box V_i. The terms, each adding to block row `row`:

    EdgeFlux      Σ_σ F_σ, F_σ the flux out of V_i through σ = V_i|V_j (i < j): +F_σ in row i,
                  −F_σ in row j; d[b] = (∂F_σ/∂u^b_i, ∂F_σ/∂u^b_j).
    Storage       m(V_i)(s_i − s^n_i)/Δt; d[b] = ∂s_i/∂u^b_i.
    NodeTerm      m(V_i) r_i (reaction, source); d[b] = ∂r_i/∂u^b_i, and grad[b] = (w, v) for
                  r_i depending on cell gradients: ∂r_i/∂u^b_k += w_i·(∇̃_h)_{ik} v_k.
    BoundaryFlux  q_i, the flux out of V_i through its boundary pieces ∂V_i ∩ ∂Ω, already
                  summed over the pieces; d[b] = ∂q_i/∂u^b_i (a flux depending on the vertex
                  value, e.g. heat transfer h (T_i − T_a); VoronoiFVM's boundary reaction).
    Scaled        s_i × (the sum G_i of a group of terms), with ∂s_i/∂u^b_i (product rule).
    Dirichlet     rows (row, vertices) replaced by the given u_i − u^D_i, Jacobian rows by identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from pnpf_fem.fv.mesh import VoronoiMesh
from pnpf_fem.fv.operators import scatter_edges

__all__ = [
    "Assembler",
    "BoundaryFlux",
    "Dirichlet",
    "EdgeFlux",
    "NodeTerm",
    "Scaled",
    "Storage",
    "Term",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
EdgePair = tuple[FloatArray, FloatArray]  # (value or derivative at end i, at end j) per edge


@dataclass(frozen=True)
class EdgeFlux:
    """Per-edge flux F_σ (E,) out of V_i (i < j); d[b] = (∂F_σ/∂u^b_i, ∂F_σ/∂u^b_j)."""

    row: int
    value: FloatArray
    d: Mapping[int, EdgePair] = field(default_factory=dict)

    def times(
        self, a: FloatArray, da: Mapping[int, EdgePair] | None = None, row: int | None = None
    ) -> EdgeFlux:
        """The flux F_σ a_σ for an edge factor a with derivatives da (product rule)."""
        da = da or {}
        d = {b: (di * a, dj * a) for b, (di, dj) in self.d.items()}
        for b, (ai, aj) in da.items():
            di, dj = d.get(b, (0.0, 0.0))
            d[b] = (di + self.value * ai, dj + self.value * aj)
        return EdgeFlux(self.row if row is None else row, self.value * a, d)


@dataclass(frozen=True)
class Storage:
    """m(V_i)(s_i − s^n_i)/Δt for s = `value`, s^n = `old`; d[b] = ∂s_i/∂u^b_i."""

    row: int
    value: FloatArray
    old: FloatArray
    d: Mapping[int, FloatArray]


@dataclass(frozen=True)
class NodeTerm:
    """m(V_i) r_i; d[b] = ∂r_i/∂u^b_i; grad[b] = ((w_x, w_y[, w_z]), v) for cell gradients:
    ∂r_i/∂u^b_k += w_i·(∇̃_h)_{ik} v_k."""

    row: int
    value: FloatArray
    d: Mapping[int, FloatArray] = field(default_factory=dict)
    grad: Mapping[int, tuple[EdgePair, FloatArray]] = field(default_factory=dict)


@dataclass(frozen=True)
class BoundaryFlux:
    """The flux q_i out of V_i through its boundary pieces, already integrated over them;
    d[b] = ∂q_i/∂u^b_i (empty for given data)."""

    row: int
    value: FloatArray
    d: Mapping[int, FloatArray] = field(default_factory=dict)


@dataclass(frozen=True)
class Scaled:
    """factor_i × Σ terms (at their rows), with d[b] = ∂factor_i/∂u^b_i."""

    factor: FloatArray
    d: Mapping[int, FloatArray]
    terms: Sequence[Term]


@dataclass(frozen=True)
class Dirichlet:
    """Strong Dirichlet rows: residual (row, vertices) = `value` (= u_i − u^D_i), Jacobian e_i."""

    row: int
    vertices: IntArray
    value: FloatArray


Term = EdgeFlux | Storage | NodeTerm | BoundaryFlux | Scaled | Dirichlet


class _Sums:
    """Residual and Jacobian parts summed per (row block, column block) and pattern: edge pairs
    (4, E) in the order (ii, ij, ji, jj), diagonals (N,), cell-gradient triplets."""

    def __init__(self, asm: Assembler, jac: bool) -> None:
        self.asm, self.jac = asm, jac
        self.res = np.zeros((asm.num_blocks, asm.n))
        self.edge: dict[tuple[int, int], FloatArray] = {}
        self.diag: dict[tuple[int, int], FloatArray] = {}
        self.grad: dict[tuple[int, int], FloatArray] = {}
        self.dirichlet: list[Dirichlet] = []
        self.rows: set[int] = set()  # block rows with residual contributions

    @staticmethod
    def _add(parts: dict, key: tuple[int, int], values: FloatArray) -> None:
        parts[key] = parts[key] + values if key in parts else values

    def add(self, term: Term, dt: float) -> None:
        mesh = self.asm.mesh
        m = mesh.volumes
        if not isinstance(term, Scaled):
            self.rows.add(term.row)
        if isinstance(term, EdgeFlux):
            self.res[term.row] += scatter_edges(mesh, term.value)
            for b, (di, dj) in term.d.items() if self.jac else ():
                self._add(self.edge, (term.row, b), np.stack([di, dj, -di, -dj]))
        elif isinstance(term, Storage):
            self.res[term.row] += m * (term.value - term.old) / dt
            for b, ds in term.d.items() if self.jac else ():
                self._add(self.diag, (term.row, b), m * ds / dt)
        elif isinstance(term, NodeTerm):
            self.res[term.row] += m * term.value
            for b, dr in term.d.items() if self.jac else ():
                self._add(self.diag, (term.row, b), m * dr)
            rows, cols, *gk = mesh.gradient_triplets
            for b, (w, v) in term.grad.items() if self.jac else ():
                wg = sum(wd[rows] * gd for wd, gd in zip(w, gk, strict=True))
                self._add(self.grad, (term.row, b), m[rows] * wg * v[cols])
        elif isinstance(term, BoundaryFlux):
            self.res[term.row] += term.value
            for b, dq in term.d.items() if self.jac else ():
                self._add(self.diag, (term.row, b), dq)
        elif isinstance(term, Scaled):
            self._add_scaled(term, dt)
        else:
            self.dirichlet.append(term)

    def _add_scaled(self, term: Scaled, dt: float) -> None:
        inner = _Sums(self.asm, self.jac)
        for t in term.terms:
            inner.add(t, dt)
        s = term.factor
        self.res += s * inner.res
        self.dirichlet += inner.dirichlet  # replaces rows after all sums, scaled or not
        self.rows |= inner.rows
        if not self.jac:
            return
        i, j = self.asm.mesh.edges.T
        s_edge = np.stack([s[i], s[i], s[j], s[j]])
        for key, vals in inner.edge.items():
            self._add(self.edge, key, s_edge * vals)
        for key, vals in inner.diag.items():
            self._add(self.diag, key, s * vals)
        s_grad = s[self.asm.mesh.gradient_triplets[0]]
        for key, vals in inner.grad.items():
            self._add(self.grad, key, s_grad * vals)
        for r in sorted(inner.rows):
            for b, ds in term.d.items():
                self._add(self.diag, (r, b), inner.res[r] * ds)


@dataclass(frozen=True)
class _Pattern:
    """CSR structure of one term structure, and where each summed value goes (nnz: dropped)."""

    indptr: IntArray
    indices: IntArray
    position: IntArray


class Assembler:
    """The generic loop for `num_blocks` blocks of unknowns on `mesh`.

    `assemble(terms, jac, dt)` → (residual, CSR Jacobian or None). The CSR structure of a given
    term structure (which blocks couple through which kind of term, the Dirichlet rows) is
    computed once and cached; later calls only sum the values into it (np.bincount).
    """

    def __init__(self, mesh: VoronoiMesh, num_blocks: int) -> None:
        self.mesh = mesh
        self.num_blocks = num_blocks
        self.n = mesh.num_vertices
        self._patterns: dict[tuple, _Pattern] = {}

    def assemble(
        self, terms: Sequence[Term], jac: bool, dt: float = 1.0
    ) -> tuple[FloatArray, sp.csr_matrix | None]:
        """The residual (blocks·N,) of the sum of `terms` and, if `jac`, its Jacobian (CSR)."""
        sums = _Sums(self, jac)
        for term in terms:
            sums.add(term, dt)
        for d in sums.dirichlet:
            sums.res[d.row, d.vertices] = d.value
        res = sums.res.ravel()
        if not jac:
            return res, None
        key = (
            tuple(sums.edge),
            tuple(sums.diag),
            tuple(sums.grad),
            tuple((d.row, d.vertices.tobytes()) for d in sums.dirichlet),
        )
        if key not in self._patterns:
            self._patterns[key] = self._pattern(sums)
        pat = self._patterns[key]
        values = np.concatenate(
            [v.ravel() for v in sums.edge.values()]
            + list(sums.diag.values())
            + list(sums.grad.values())
            + [np.ones(d.vertices.size) for d in sums.dirichlet]
        )
        nnz = pat.indices.size
        data = np.bincount(pat.position, values, nnz + 1)[:nnz]
        size = self.num_blocks * self.n
        return res, sp.csr_matrix((data, pat.indices, pat.indptr), shape=(size, size))

    def _pattern(self, sums: _Sums) -> _Pattern:
        """Block pairs' local patterns → one CSR (SciPy sorts the disjoint blocks' entries, which
        carry their ids as values), then each summed value's position in it."""
        n, size = self.n, self.num_blocks * self.n
        kinds: dict[tuple[int, int], tuple[str, ...]] = {}
        for kind, part in (("edge", sums.edge), ("diag", sums.diag), ("grad", sums.grad)):
            for key in part:
                kinds[key] = (*kinds.get(key, ()), kind)
        local = {combo: self._local_pattern(combo) for combo in set(kinds.values())}
        offset, rows, cols, total = {}, [], [], 0
        for (r, c), combo in kinds.items():  # entries of all block pairs, then identity rows
            offset[r, c] = total
            rows.append(local[combo][0] + r * n)
            cols.append(local[combo][1] + c * n)
            total += rows[-1].size
        fixed = np.concatenate(
            [np.zeros(0, np.int64)] + [d.row * n + d.vertices for d in sums.dirichlet]
        )
        rows_all, cols_all = np.concatenate([*rows, fixed]), np.concatenate([*cols, fixed])
        dropped = np.zeros(size, dtype=bool)
        dropped[fixed] = True
        keep = ~dropped[rows_all]  # Dirichlet rows keep only their identity entries
        keep[total:] = True
        ids = np.nonzero(keep)[0]
        csr = sp.csr_matrix((ids + 1.0, (rows_all[ids], cols_all[ids])), shape=(size, size))
        csr.sum_duplicates()  # sorted indices; there are no duplicates
        where = np.full(rows_all.size, csr.nnz, dtype=np.int64)  # entry id → CSR position
        where[csr.data.astype(np.int64) - 1] = np.arange(csr.nnz)
        position = [
            where[offset[key] + local[kinds[key]][2][kind]]
            for kind, part in (("edge", sums.edge), ("diag", sums.diag), ("grad", sums.grad))
            for key in part  # the order in which `assemble` concatenates the values
        ]
        position.append(where[total:])
        return _Pattern(csr.indptr, csr.indices, np.concatenate(position))

    def _local_pattern(self, combo: tuple[str, ...]) -> tuple[IntArray, IntArray, dict]:
        """The N×N pattern of a block pair with the given kinds of entries: its rows and columns,
        and for each kind the entry of each of its triplets."""
        n = self.n
        i, j = self.mesh.edges.T
        triplets = {
            "edge": (np.concatenate([i, i, j, j]), np.concatenate([i, j, i, j])),
            "diag": (np.arange(n), np.arange(n)),
            "grad": self.mesh.gradient_triplets[:2],
        }
        rows = np.concatenate([triplets[k][0] for k in combo]).astype(np.int64)
        cols = np.concatenate([triplets[k][1] for k in combo]).astype(np.int64)
        keys, inverse = np.unique(rows * n + cols, return_inverse=True)
        bounds = np.cumsum([0] + [triplets[k][0].size for k in combo])
        parts = {k: inverse.ravel()[bounds[m] : bounds[m + 1]] for m, k in enumerate(combo)}
        return keys // n, keys % n, parts
