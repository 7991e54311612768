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
from typing import Any

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
    """Residual and Jacobian parts summed per (row block, column block), in place: fluxes
    (2, E) as their entries (ji, ij) = (−∂F/∂u_i, ∂F/∂u_j), whose negatives go to the diagonal
    entries (ii, jj); general edge quadruples (4, E) in the order (ii, jj, ij, ji) (row-scaled
    fluxes, `Scaled`); diagonals (N,); cell-gradient entries on the condensed pattern of
    `Assembler.gradient` (one value per entry (i, k))."""

    def __init__(self, asm: Assembler, jac: bool, pool: dict | None = None) -> None:
        self.asm, self.jac, self.pool = asm, jac, pool
        self.res = np.zeros((asm.num_blocks, asm.n))
        self.flux: dict[tuple[int, int], FloatArray] = {}
        self.edge: dict[tuple[int, int], FloatArray] = {}
        self.diag: dict[tuple[int, int], FloatArray] = {}
        self.grad: dict[tuple[int, int], FloatArray] = {}
        self.dirichlet: list[Dirichlet] = []
        self.rows: set[int] = set()  # block rows with residual contributions

    def _new(self, kind: str, key: tuple[int, int]) -> FloatArray:
        """A new part of `kind` (flux, edge, diag or grad; uninitialized), taken from `pool` if
        there is one: the arrays of the previous assembly, whose memory is mapped already."""
        shape = {
            "flux": (2, self.asm.mesh.num_edges),
            "edge": (4, self.asm.mesh.num_edges),
            "diag": (self.asm.n,),
            "grad": (self.asm.gradient[0].size,),
        }[kind]
        if self.pool is None:
            part = np.empty(shape)
        else:
            part = self.pool.get((kind, key))
            if part is None or part.shape != shape:
                part = self.pool[kind, key] = np.empty(shape)
        getattr(self, kind)[key] = part
        return part

    def _add(self, kind: str, key: tuple[int, int], values: FloatArray) -> None:
        parts = getattr(self, kind)
        if key in parts:
            parts[key] += values
        else:
            self._new(kind, key)[...] = values

    def add(self, term: Term, dt: float) -> None:
        mesh = self.asm.mesh
        m = mesh.volumes
        if not isinstance(term, Scaled):
            self.rows.add(term.row)
        if isinstance(term, EdgeFlux):
            self.res[term.row] += scatter_edges(mesh, term.value)
            for b, (di, dj) in term.d.items() if self.jac else ():
                key = (term.row, b)
                if key in self.flux:
                    f = self.flux[key]
                    f[0] -= di
                    f[1] += dj
                else:
                    f = self._new("flux", key)
                    np.negative(di, out=f[0])
                    f[1] = dj
        elif isinstance(term, Storage):
            self.res[term.row] += m * (term.value - term.old) / dt
            for b, ds in term.d.items() if self.jac else ():
                self._add("diag", (term.row, b), m * ds / dt)
        elif isinstance(term, NodeTerm):
            self.res[term.row] += m * term.value
            for b, dr in term.d.items() if self.jac else ():
                self._add("diag", (term.row, b), m * dr)
            rows, cols, *gk = self.asm.gradient
            for b, (w, v) in term.grad.items() if self.jac else ():
                wm = [m * wd for wd in w]  # m(V_i) w_i
                wg = sum(wd[rows] * gd for wd, gd in zip(wm, gk, strict=True))
                wg *= np.asarray(v)[cols] if np.ndim(v) else v
                self._add("grad", (term.row, b), wg)
        elif isinstance(term, BoundaryFlux):
            self.res[term.row] += term.value
            for b, dq in term.d.items() if self.jac else ():
                self._add("diag", (term.row, b), dq)
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
        si, sj = s[i], s[j]
        for key, f in inner.flux.items():  # row i scaled by s_i, row j by s_j
            self._add("edge", key, np.stack([-si * f[0], -sj * f[1], si * f[1], sj * f[0]]))
        for key, g in inner.edge.items():
            self._add("edge", key, np.stack([si * g[0], sj * g[1], si * g[2], sj * g[3]]))
        for key, vals in inner.diag.items():
            self._add("diag", key, s * vals)
        s_grad = s[self.asm.gradient[0]]
        for key, vals in inner.grad.items():
            self._add("grad", key, s_grad * vals)
        for r in sorted(inner.rows):
            for b, ds in term.d.items():
                self._add("diag", (r, b), inner.res[r] * ds)


@dataclass(frozen=True)
class _Slots:
    """Where a block pair's summed parts go in `_Pattern.values`: the segments of its fluxes'
    entries ji and ij (per edge, or None), of its diagonal (per vertex, or None) and of its
    cell-gradient entries that no other part has (zeroed, then summed into); and the slot of
    each of its cell-gradient entries (or None)."""

    ji: slice | None
    ij: slice | None
    dd: slice | None
    extra: slice
    gg: IntArray | None


@dataclass(frozen=True)
class _Pattern:
    """CSR structure of one term structure and how its values are put together: every entry
    of every block pair has one slot in `values` (a work array kept with the pattern; its
    last slot holds the 1 of the Dirichlet rows' identity entries), the parts are written
    there segment by segment (`slots`), and the CSR values are `values[source]`. The entries of
    Dirichlet rows other than the identity are dropped. `buffers`: the two arrays of
    `Assembler.assemble(..., buffered=True)`."""

    indptr: IntArray
    indices: IntArray
    slots: dict[tuple[int, int], _Slots]
    source: IntArray
    values: FloatArray
    buffers: list[FloatArray] = field(default_factory=list)


class Assembler:
    """The generic loop for `num_blocks` blocks of unknowns on `mesh`.

    `assemble(terms, jac, dt)` → (residual, CSR Jacobian or None). The CSR structure of a given
    term structure (which blocks couple through which kind of term, the Dirichlet rows) is
    computed once and cached; later calls only put the summed values into it. Memory traffic
    decides the cost on large meshes, so the sums are kept in place per block pair: a flux's
    derivatives as two edge arrays (its four entries are ± them, the diagonal ones summed per
    vertex by np.bincount), the cell-gradient entries on the condensed pattern of ∇̃_h (one
    value per matrix entry, `gradient`); each block pair's parts are copied into contiguous
    segments of a work array, and the CSR values gathered from it in their order (fv-bdf2 on
    1e6 vertices: a Jacobian 1.7 s with its parts added into the CSR values where they belong,
    1.0 s so; 0.78 s with the earlier concatenation of every entry's value and np.bincount
    over all of them at 262 144 vertices, now 0.25 s).
    """

    def __init__(self, mesh: VoronoiMesh, num_blocks: int) -> None:
        self.mesh = mesh
        self.num_blocks = num_blocks
        self.n = mesh.num_vertices
        self._patterns: dict[tuple, _Pattern] = {}
        self._pool: dict[tuple[str, tuple[int, int]], FloatArray] = {}  # `_Sums` parts, reused
        i, j = mesh.edges.T
        self._ends = np.concatenate([i, j])  # the diagonal entries (ii, jj) of every edge
        self._gradient: tuple[npt.NDArray[np.int64 | np.float64], ...] | None = None

    @property
    def gradient(self) -> tuple[npt.NDArray[Any], ...]:
        """(rows, cols, values_x, values_y[, values_z]) of ∇̃_h on one common pattern with one
        entry per (row, col): `VoronoiMesh.gradient_triplets` summed (computed once)."""
        if self._gradient is None:
            gradient = [g.tocsr() for g in self.mesh.gradient]
            for g in gradient:
                g.sum_duplicates()
            first = gradient[0]
            if all(
                np.array_equal(g.indptr, first.indptr) and np.array_equal(g.indices, first.indices)
                for g in gradient
            ):  # the summed matrices share the triplets' pattern (zeros are kept)
                rows = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(first.indptr))
                cols = first.indices.astype(np.int64)
                self._gradient = (rows, cols, *(g.data for g in gradient))
            else:
                rows, cols, *values = self.mesh.gradient_triplets
                keys, inverse = np.unique(
                    rows.astype(np.int64) * self.n + cols, return_inverse=True
                )
                inverse = inverse.ravel()
                self._gradient = (
                    keys // self.n,
                    keys % self.n,
                    *(np.bincount(inverse, v, keys.size) for v in values),
                )
        return self._gradient

    def assemble(
        self, terms: Sequence[Term], jac: bool, dt: float = 1.0, buffered: bool = False
    ) -> tuple[FloatArray, sp.csr_matrix | None]:
        """The residual (blocks·N,) of the sum of `terms` and, if `jac`, its Jacobian (CSR).

        `buffered`: the Jacobian's values go to one of two arrays kept with the pattern, in
        turn, so a Jacobian stays valid only until the second-next buffered one (Newton's
        method needs the last two). New memory for every Jacobian costs where memory is slow
        to map (measured in the 2-core VM of benchmarks/fv_scaling.py at 262 144 vertices:
        0.57 → 0.29 s per Jacobian, peak RSS 4.2 → 3.4 GB)."""
        sums = _Sums(self, jac, self._pool)
        for term in terms:
            sums.add(term, dt)
        for d in sums.dirichlet:
            sums.res[d.row, d.vertices] = d.value
        res = sums.res.ravel()
        if not jac:
            return res, None
        key = (
            tuple(sums.flux),
            tuple(sums.edge),
            tuple(sums.diag),
            tuple(sums.grad),
            tuple((d.row, d.vertices.tobytes()) for d in sums.dirichlet),
        )
        if key not in self._patterns:
            self._patterns[key] = self._pattern(sums)
        pat = self._patterns[key]
        n, values = self.n, pat.values
        for pair, slot in pat.slots.items():
            f, g = sums.flux.get(pair), sums.edge.get(pair)
            diag = sums.diag.get(pair)
            if f is not None or g is not None:
                if f is None:
                    values[slot.ij], values[slot.ji] = g[2], g[3]
                elif g is None:
                    values[slot.ij], values[slot.ji] = f[1], f[0]
                else:
                    np.add(f[1], g[2], out=values[slot.ij])
                    np.add(f[0], g[3], out=values[slot.ji])
                d = None
                if f is not None:  # the diagonal entries are the negatives of ij, ji
                    d = np.bincount(self._ends, f.ravel(), n)
                    np.negative(d, out=d)
                if g is not None:
                    dg = np.bincount(self._ends, g[:2].ravel(), n)
                    d = dg if d is None else d + dg
                diag = d if diag is None else d + diag
            if diag is not None:
                values[slot.dd] = diag
            values[slot.extra] = 0.0
            if slot.gg is not None:
                values[slot.gg] += sums.grad[pair]
        if buffered:  # alternately into the two arrays kept with the pattern
            if not pat.buffers:
                pat.buffers.extend(np.empty(pat.source.size) for _ in range(2))
            pat.buffers.reverse()
            data = np.take(values, pat.source, out=pat.buffers[0])
        else:
            data = values[pat.source]
        size = self.num_blocks * n
        jacobian = sp.csr_matrix((data, pat.indices, pat.indptr), shape=(size, size))
        jacobian.has_sorted_indices = True  # by construction (`_pattern`): no scan for it
        return res, jacobian

    def _pattern(self, sums: _Sums) -> _Pattern:
        """The CSR of the block pairs' local patterns, put together row by row (block pairs
        in column order, no global sort), and each entry's slot in the work array."""
        n, size = self.n, self.num_blocks * self.n
        kinds: dict[tuple[int, int], set[str]] = {}
        for atoms, parts in (
            (("ij", "ji", "dd"), sums.flux),
            (("ij", "ji", "dd"), sums.edge),
            (("dd",), sums.diag),
            (("gg",), sums.grad),
        ):
            for key in parts:
                kinds.setdefault(key, set()).update(atoms)
        fixed = np.unique(
            np.concatenate(
                [np.zeros(0, np.int64)] + [d.row * n + d.vertices for d in sums.dirichlet]
            )
        )
        free = np.ones(size, dtype=bool)  # Dirichlet rows keep only their identity entries
        free[fixed] = False
        local = self._local_patterns({frozenset(atoms) for atoms in kinds.values()})
        lengths = np.zeros(size, dtype=np.int64)
        for (r, _c), atoms in kinds.items():
            lengths[r * n : (r + 1) * n] += np.diff(local[frozenset(atoms)][0])
        lengths[~free] = 0
        lengths[fixed] = 1
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        nnz = int(indptr[-1])
        itype = np.int32 if max(nnz, size) < 2**31 else np.int64
        indices = np.empty(nnz, dtype=itype)
        indices[indptr[fixed]] = fixed
        cursor = indptr[:-1].copy()  # the next free entry of every row
        source = np.empty(nnz, dtype=np.int64)
        slots: dict[tuple[int, int], _Slots] = {}
        top = 0
        for r, c in sorted(kinds):  # in each row: the column blocks in ascending order
            lp, li, row_of, within, slot, segments, gg = local[frozenset(kinds[r, c])]
            ji, ij, dd, extra = (
                None if segment is None else slice(top + segment[0], top + segment[1])
                for segment in segments
            )
            slots[r, c] = _Slots(ji, ij, dd, extra, None if gg is None else gg + top)
            rows = slice(r * n, (r + 1) * n)
            where = cursor[rows][row_of]
            where += within
            if free[rows].all():
                indices[where] = li + c * n
                source[where] = slot + top
                cursor[rows] += np.diff(lp)
            else:
                keep = free[rows][row_of]
                indices[where[keep]] = li[keep] + c * n
                source[where[keep]] = slot[keep] + top
                cursor[rows] += np.diff(lp) * free[rows]
            top = extra.stop
        source[indptr[fixed]] = top  # the identity entries: the last slot, 1
        values = np.empty(top + 1)
        values[top] = 1.0
        return _Pattern(indptr.astype(itype), indices, slots, source, values)

    def _local_patterns(self, combos: set[frozenset[str]]) -> dict[frozenset[str], tuple]:
        """For each combination of parts, the N×N CSR pattern (indptr, sorted indices) of a block
        pair with these parts, the row of each entry and its place in the row, and the layout
        of the pair's slots (from 0): the slot of each entry, the segments (start, stop) of the
        parts ji, ij (per edge), dd (per vertex) and of the cell-gradient entries no other part
        has (the last, possibly empty), and the slot of each cell-gradient entry (or None).
        All patterns are subsets of the union of the parts, which is sorted once."""
        n = self.n
        i, j = self.mesh.edges.T
        diag = np.arange(n)
        triplets = {"ij": (i, j), "ji": (j, i), "dd": (diag, diag), "gg": self.gradient[:2]}
        names = sorted(set().union(*combos))
        rows = np.concatenate([triplets[p][0] for p in names]).astype(np.int64, copy=False)
        cols = np.concatenate([triplets[p][1] for p in names]).astype(np.int64, copy=False)
        union = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
        union.sum_duplicates()
        row_of = np.repeat(np.arange(n, dtype=np.int64), np.diff(union.indptr))
        keys = row_of * n + union.indices  # ascending
        entry = np.searchsorted(keys, rows * n + cols)
        bounds = np.cumsum([0] + [triplets[p][0].size for p in names])
        in_union = {p: entry[bounds[m] : bounds[m + 1]] for m, p in enumerate(names)}
        out = {}
        for combo in combos:
            mask = np.zeros(keys.size, dtype=bool)
            for p in combo:
                mask[in_union[p]] = True
            number = np.cumsum(mask) - 1  # the entry of the union in the combination's pattern
            rows = row_of[mask]
            lp = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
            li = union.indices[mask].astype(np.int64)
            within = np.arange(li.size) - lp[rows]
            slot = np.full(li.size, -1, dtype=np.int64)
            segments, top = [], 0
            for p in ("ji", "ij", "dd"):
                if p in combo:
                    size = triplets[p][0].size
                    slot[number[in_union[p]]] = np.arange(top, top + size)
                    segments.append((top, top + size))
                    top += size
                else:
                    segments.append(None)
            alone = np.nonzero(slot < 0)[0]  # cell-gradient entries only
            slot[alone] = np.arange(top, top + alone.size)
            segments.append((top, top + alone.size))
            gg = slot[number[in_union["gg"]]] if "gg" in combo else None
            out[combo] = (lp, li, rows, within, slot, segments, gg)
        return out
