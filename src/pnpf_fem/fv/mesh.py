"""Voronoi (boundary-conforming circumcentric) control volumes of a Delaunay triangulation
(2D) or tetrahedralization (3D).

The vertex-centred finite volumes of the PNPF paper (Ding, Ji, Zhou, arXiv:2407.10050, §3.1;
see docs/theory.md §4) are the Voronoi boxes V_i of the triangulation's vertices, restricted to
Ω. We build them from per-triangle signed circumcentre pieces (the cotangent formula): in a
triangle with angle θ_k at vertex k, the dual edge of the opposite edge has signed length
½|e_k| cot θ_k, so

    τ_σ = m(σ)/d_σ = ½ Σ_{triangles ∋ σ} cot θ_opposite,
    m(V_i ∩ T) = ⅛ (|x_i x_j|² cot θ_k + |x_i x_k|² cot θ_j).

The pieces add up exactly to the triangle areas, so Σ m(V_i) = |Ω| to round-off. The result equals
the restricted Voronoi diagram when the mesh is *admissible*: Delaunay (τ_σ ≥ 0 on every interior
edge) and every angle opposite a boundary edge ≤ 90° (circumcentres of boundary triangles inside
Ω, i.e. τ_σ ≥ 0 on boundary edges as well). `VoronoiMesh` checks this and refuses other meshes.

Every triangulation edge, also one lying on ∂Ω, separates two boxes and is an "interior" edge σ =
V_i|V_j of the scheme; the parts of ∂V_i on ∂Ω are the *boundary pieces*: the two halves of each
tagged boundary facet, with d(x_i, σ) = 0 since x_i lies on ∂Ω.

3D (`pnpf_fem.meshing3d.TaggedTetrahedra`): the same boxes from the per-tetrahedron circumcentric
pieces of `pnpf_fem.fv.dual` (τ^T_ij = signed area of the dual facet inside T over |x_i x_j|; not
the P1 stiffness, which is not a Voronoi quantity in 3D), admissible when τ_σ ≥ 0 on every edge:
Delaunay, with the circumcentres of the boundary tetrahedra in Ω. The boundary pieces of a tagged
boundary triangle are its own circumcentric pieces (the 2D formula in the facet's plane), and
their centroids play the part of the 2D half-facet midpoints. Such a piece is negative in an
obtuse boundary triangle, so the 3D check also refuses a vertex whose summed boundary measure on a
tag is negative (a boundary flux would enter its box with the wrong sign); 2D half facets never
are. 2D results are computed exactly as before (the cotangent formula); nothing here changes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from pnpf_fem.errors import InputError
from pnpf_fem.fv.dual import (
    dual_pieces,
    simplex_gradients,
    simplex_measures,
    triangle_cotangents_and_pieces,
    triangle_piece_centroids,
)
from pnpf_fem.meshing import TaggedTriangulation
from pnpf_fem.meshing3d import TaggedTetrahedra

__all__ = ["VoronoiMesh"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# cot θ of a right angle computed in floating point is ~1e-17, not 0: tolerate that much. In 3D
# τ_σ is a length (area over length), so the tolerance is scaled by the longest edge h there.
_ADMISSIBILITY_TOL = 1e-10
_DEGENERATE_TOL = 1e-12  # a tetrahedron with |T| ≤ this × (its longest edge)³ is degenerate

# The six edges of a tetrahedron as local vertex pairs (3D: a loop over these, not over cells).
_TET_EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])


@dataclass(frozen=True, eq=False)
class VoronoiMesh:
    """Voronoi box data of a `TaggedTriangulation` or `TaggedTetrahedra` (vertices coincide with
    the FEM's); d = `dim` is 2 or 3.

    Attributes
    ----------
    tri: the triangulation (2D) or tetrahedralization (3D) it was built from.
    volumes: (N,) m(V_i).
    edges: (E, 2) vertex pairs (i < j) of all triangulation edges = interfaces σ = V_i|V_j.
    edge_length: (E,) d_σ = |x_i − x_j|.
    transmissibility: (E,) τ_σ = m(σ)/d_σ (≥ 0 on an admissible mesh).
    interface_measure: (E,) m(σ) = τ_σ d_σ.
    piece_vertex, piece_measure, piece_midpoint, piece_marker: the boundary pieces (2D: half
        facets; 3D: the circumcentric pieces of the boundary triangles): owning vertex,
        measure m(σ) (length, area), a point (P, d) to evaluate boundary data at (2D: the
        midpoint; 3D: the centroid, see `pnpf_fem.fv.dual.triangle_piece_centroids`), facet tag.
    gradient: (Gx, Gy[, Gz]) d sparse N×N matrices of the reconstructed cell gradient ∇̃_h
        (3.1), see `pnpf_fem.fv.operators.cell_gradient`.
    gradient_triplets: (rows, cols, values_x, values_y[, values_z]), the same operator as
        unsummed triplets on one common pattern (for Jacobians: row/column scaling without
        sparse products).
    """

    tri: TaggedTriangulation | TaggedTetrahedra
    volumes: FloatArray
    edges: IntArray
    edge_length: FloatArray
    transmissibility: FloatArray
    interface_measure: FloatArray
    piece_vertex: IntArray
    piece_measure: FloatArray
    piece_midpoint: FloatArray
    piece_marker: npt.NDArray[np.int32]
    gradient: tuple[sp.csr_matrix, ...]
    gradient_triplets: tuple[npt.NDArray[Any], ...]

    @property
    def dim(self) -> int:
        """2 (triangles) or 3 (tetrahedra)."""
        return self.tri.dim

    @property
    def points(self) -> FloatArray:
        """(N, d) vertex coordinates."""
        return self.tri.points

    @property
    def num_vertices(self) -> int:
        return self.tri.num_vertices

    @property
    def num_edges(self) -> int:
        return int(self.edges.shape[0])

    @cached_property
    def edge_volumes(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(m(V_i), m(V_j), m(V_i) + m(V_j)) on every edge (i < j): the weights of the harmonic
        averages, gathered once (`pnpf_fem.fv.operators.harmonic_average_with_derivatives`)."""
        mi, mj = self.volumes[self.edges[:, 0]], self.volumes[self.edges[:, 1]]
        return mi, mj, mi + mj

    @property
    def tag_names(self) -> Mapping[str, int]:
        return self.tri.tag_names

    @property
    def area(self) -> float:
        """|Ω| (an area in 2D, a volume in 3D) as the sum of the cell measures."""
        if isinstance(self.tri, TaggedTetrahedra):
            return float(simplex_measures(self.tri.points[self.tri.tetrahedra]).sum())
        p = self.tri.points[self.tri.triangles]
        return float(0.5 * np.abs(_cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])).sum())

    @property
    def h(self) -> float:
        """The longest mesh edge."""
        return float(self.edge_length.max())

    def vertices_of(self, name: str) -> IntArray:
        """Sorted indices of the vertices on the facets carrying the named tag."""
        return np.unique(self.tri.facets[self.tri.facet_markers == self.tag(name)])

    def tag(self, name: str) -> int:
        try:
            return self.tri.tag_names[name]
        except KeyError:
            known = ", ".join(sorted(self.tri.tag_names)) or "none"
            raise InputError(f"unknown boundary tag name {name!r} (known: {known})") from None

    @classmethod
    def from_triangulation(
        cls,
        tri: TaggedTriangulation | TaggedTetrahedra,
        check: bool | Callable[..., None] = True,
    ) -> VoronoiMesh:
        """Build the boxes of a triangulation or a tetrahedralization; with `check`, raise
        `InputError` on a non-admissible mesh. `check` may instead be a function of (edges,
        τ before clipping, volumes) that checks a part
        (`pnpf_fem.fv.partition.Partition.check_admissible`). Negative τ that pass (check=False,
        or round-off) are clipped to 0."""
        if isinstance(tri, TaggedTetrahedra):
            return cls._from_tetrahedra(tri, check)
        pts, n = tri.points, tri.num_vertices
        cells, twice_area = _oriented_cells(tri)
        cot, piece = triangle_cotangents_and_pieces(pts[cells], twice_area)
        volumes = np.bincount(cells.ravel(), weights=piece.ravel(), minlength=n)
        edges, tau, on_boundary = _edges_and_transmissibilities(cells, cot, n)
        d = np.linalg.norm(pts[edges[:, 1]] - pts[edges[:, 0]], axis=1)
        if callable(check):
            check(edges, tau, volumes)
        elif check:
            _check_admissible(pts, edges, tau, on_boundary, volumes)
        tau = np.where(tau < 0, 0.0, tau)  # only round-off negatives survive the check
        _check_tagged_facets(tri, edges, on_boundary)
        triplets = _cell_gradient_triplets(pts, cells, twice_area, piece, volumes)
        return cls._assembled(tri, volumes, edges, d, tau, _boundary_pieces(tri), triplets)

    @classmethod
    def _assembled(cls, tri, volumes, edges, d, tau, pieces: dict, triplets: tuple) -> VoronoiMesh:
        """The mesh from its parts, the gradient matrices from their triplets (any dimension)."""
        n = tri.num_vertices
        rows, cols, *values = triplets
        gradient = tuple(sp.csr_matrix((v, (rows, cols)), shape=(n, n)) for v in values)
        return cls(
            tri=tri,
            volumes=volumes,
            edges=edges,
            edge_length=d,
            transmissibility=tau,
            interface_measure=tau * d,
            **pieces,
            gradient=gradient,
            gradient_triplets=triplets,
        )

    @classmethod
    def _from_tetrahedra(
        cls, tets: TaggedTetrahedra, check: bool | Callable[..., None]
    ) -> VoronoiMesh:
        """The 3D boxes: the steps of the 2D construction with `pnpf_fem.fv.dual`'s
        circumcentric pieces in place of the cotangent formula."""
        pts, n, cells = tets.points, tets.num_vertices, tets.tetrahedra
        p = pts[cells]
        _refuse_degenerate_tetrahedra(p)
        cell_tau, piece = dual_pieces(p)
        volumes = np.bincount(cells.ravel(), weights=piece.ravel(), minlength=n)
        edges, tau, on_boundary, faces = _tetrahedron_edges(cells, cell_tau, n)
        d = np.linalg.norm(pts[edges[:, 1]] - pts[edges[:, 0]], axis=1)
        pieces = _boundary_pieces_3d(tets)
        if callable(check):
            check(edges, tau, volumes)
        elif check:
            _check_admissible(
                pts, edges, tau, on_boundary, volumes, _negative_boundary_lines(tets, pieces)
            )
        tau = np.where(tau < 0, 0.0, tau)  # only round-off negatives survive the check
        _check_tagged_faces(tets, faces)
        triplets = _simplex_gradient_triplets(p, cells, piece, volumes)
        return cls._assembled(tets, volumes, edges, d, tau, pieces, triplets)


def _oriented_cells(tri: TaggedTriangulation) -> tuple[IntArray, FloatArray]:
    """Triangles oriented counter-clockwise and twice their areas; degenerate ones refused."""
    pts, cells = tri.points, tri.triangles
    if cells.shape[0] == 0:
        raise InputError("VoronoiMesh: the triangulation has no triangles")
    p = pts[cells]  # (K, 3, 2)
    twice_area = _cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    flip = twice_area < 0
    if flip.any():
        cells = cells.copy()
        cells[flip] = cells[flip][:, [0, 2, 1]]
        twice_area = np.abs(twice_area)
    if np.any(twice_area <= 1e-14 * np.max(twice_area)):
        bad = np.nonzero(twice_area <= 1e-14 * np.max(twice_area))[0][:10]
        raise InputError(f"VoronoiMesh: degenerate (zero-area) triangles {bad.tolist()}")
    return cells, twice_area


def _edges_and_transmissibilities(
    cells: IntArray, cot: FloatArray, n: int
) -> tuple[IntArray, FloatArray, npt.NDArray[np.bool_]]:
    """Unique edges, τ_σ = ½ Σ cot of the opposite angles, and which edges lie on ∂Ω."""
    loc = np.concatenate([cells[:, [1, 2]], cells[:, [2, 0]], cells[:, [0, 1]]])
    loc.sort(axis=1)  # local edge k is opposite local vertex k
    keys, inverse, counts = np.unique(
        loc[:, 0] * n + loc[:, 1], return_inverse=True, return_counts=True
    )
    edges = np.column_stack([keys // n, keys % n]).astype(np.int64)
    half_cot = 0.5 * cot.T.ravel()  # same ordering as `loc`
    tau = np.bincount(inverse.reshape(-1), weights=half_cot, minlength=edges.shape[0])
    return edges, tau, counts == 1


def _check_tagged_facets(
    tri: TaggedTriangulation, edges: IntArray, on_boundary: npt.NDArray[np.bool_]
) -> None:
    """Tagged facets must be boundary edges of the triangulation."""
    n = tri.num_vertices
    fac = np.sort(tri.facets, axis=1)
    fkey = fac[:, 0] * n + fac[:, 1]
    pos = np.minimum(np.searchsorted(edges[:, 0] * n + edges[:, 1], fkey), edges.shape[0] - 1)
    ok = ((edges[pos, 0] * n + edges[pos, 1]) == fkey) & on_boundary[pos]
    if not np.all(ok):
        bad = tri.facets[~ok][:10].tolist()
        raise InputError(
            f"VoronoiMesh: tagged facets {bad} are not boundary edges of the triangulation"
        )


def _boundary_pieces(tri: TaggedTriangulation) -> dict[str, np.ndarray]:
    """The half-facets σ ⊂ ∂V_i ∩ ∂Ω: vertex, measure, midpoint and tag of each."""
    pts, a, b = tri.points, tri.facets[:, 0], tri.facets[:, 1]
    half = 0.5 * np.linalg.norm(pts[b] - pts[a], axis=1)
    return {
        "piece_vertex": np.concatenate([a, b]),
        "piece_measure": np.concatenate([half, half]),
        "piece_midpoint": np.concatenate(
            [0.75 * pts[a] + 0.25 * pts[b], 0.25 * pts[a] + 0.75 * pts[b]]
        ),
        "piece_marker": np.concatenate([tri.facet_markers, tri.facet_markers]),
    }


def _cross(u: FloatArray, v: FloatArray) -> FloatArray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _check_admissible(
    pts: FloatArray,
    edges: IntArray,
    tau: FloatArray,
    on_boundary: npt.NDArray[np.bool_],
    vol: FloatArray,
    extra: list[str] | None = None,
) -> None:
    """InputError listing the edges with τ_σ < 0 and the non-positive boxes (and, in 3D, the
    `extra` lines of `_negative_boundary_lines`); the fix is named per dimension."""
    dim = pts.shape[1]
    tol = (
        _ADMISSIBILITY_TOL if dim == 2 else _ADMISSIBILITY_TOL * float(np.max(_lengths(pts, edges)))
    )
    bad = np.nonzero(tau < -tol)[0]
    extra = extra or []
    if bad.size == 0 and np.all(vol > 0) and not extra:
        return
    lines = []
    for e in bad[:20]:
        i, j = edges[e]
        kind = _EDGE_KINDS[dim][bool(on_boundary[e])]
        lines.append(
            f"  edge ({i}, {j}) {pts[i].tolist()}–{pts[j].tolist()}: τ = {tau[e]:.3e} ({kind})"
        )
    more = f"\n  ... and {bad.size - 20} more" if bad.size > 20 else ""
    nonpos = np.nonzero(vol <= 0)[0]
    if nonpos.size:
        lines.append(f"  non-positive control volumes at vertices {nonpos[:20].tolist()}")
    raise InputError(
        f"mesh is not admissible for Voronoi finite volumes: {bad.size} edge(s) with τ_σ < 0\n"
        + "\n".join(lines)
        + more
        + "".join("\n" + line for line in extra)
        + _FIX[dim]
    )


# (interior edge, boundary edge) descriptions of τ_σ < 0, and the fix, per dimension
_EDGE_KINDS = {
    2: ("interior edge, not locally Delaunay", "boundary edge, opposite angle > 90°"),
    3: (
        "interior edge, not Delaunay",
        "boundary edge, circumcentres of its tetrahedra outside Ω",
    ),
}
_FIX = {
    2: "\nfix: use a Delaunay triangulation (e.g. gmsh Mesh.Algorithm = 5, or "
    "pnpf_fem.meshing.delaunay_flip), and split boundary edges (refine the boundary) so "
    "that the angle opposite every boundary edge is at most 90°",
    3: "\nfix: use a Delaunay tetrahedralization whose boundary tetrahedra have their "
    "circumcentres in Ω (e.g. pnpf_fem.meshing3d.box, a tensor grid of Kuhn cubes, or a "
    "Delaunay mesher with boundary refinement; optimized gmsh tetrahedra are not Delaunay)",
}


def _lengths(pts: FloatArray, edges: IntArray) -> FloatArray:
    return np.linalg.norm(pts[edges[:, 1]] - pts[edges[:, 0]], axis=1)


def _cell_gradient_triplets(
    pts: FloatArray, cells: IntArray, twice_area: FloatArray, piece: FloatArray, vol: FloatArray
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """(∇̃_h u)_i = (1/m(V_i)) Σ_T m(V_i∩T) ∇(Π_h u)|_T, as two sparse matrices.

    This is (3.1), ∮_{∂V_i} u n ds / m(V_i), with u on each face taken as the exact face mean of
    the piecewise-linear interpolant Π_h u (see `pnpf_fem.fv.operators.cell_gradient`).
    """
    p = pts[cells]
    # ∇φ_k = rot90(x_{k+2} − x_{k+1}) / (2|T|) on a counter-clockwise triangle
    grad = np.empty((cells.shape[0], 3, 2))
    for k in range(3):
        e = p[:, (k + 2) % 3] - p[:, (k + 1) % 3]
        grad[:, k, 0] = -e[:, 1] / twice_area
        grad[:, k, 1] = e[:, 0] / twice_area
    w = piece / vol[cells]  # (K, 3) weights m(V_i∩T)/m(V_i)
    rows = np.repeat(cells, 3, axis=1).ravel()  # (i, l) pairs: row vertex k, column vertex l
    cols = np.tile(cells, (1, 3)).ravel()
    vx = (w[:, :, None] * grad[:, None, :, 0]).ravel()
    vy = (w[:, :, None] * grad[:, None, :, 1]).ravel()
    return rows, cols, vx, vy


def box_fractions(mesh: VoronoiMesh, cells: IntArray) -> FloatArray:
    """m(V_i ∩ ∪_{T ∈ cells} T) / m(V_i) per vertex: the share of each box in a set of cells
    (a mesh region), from the same per-cell box pieces as the volumes."""
    if isinstance(mesh.tri, TaggedTetrahedra):
        tri_cells = mesh.tri.tetrahedra
        piece = dual_pieces(mesh.tri.points[tri_cells])[1]
    else:
        tri_cells, twice_area = _oriented_cells(mesh.tri)
        _, piece = triangle_cotangents_and_pieces(mesh.tri.points[tri_cells], twice_area)
    inside = np.zeros(tri_cells.shape[0])
    inside[cells] = 1.0
    share = np.bincount(
        tri_cells.ravel(), weights=(piece * inside[:, None]).ravel(), minlength=mesh.num_vertices
    )
    return share / mesh.volumes


# --- 3D --------------------------------------------------------------------------------------


def _refuse_degenerate_tetrahedra(p: FloatArray) -> None:
    """InputError on an empty mesh or (nearly) flat tetrahedra: their circumcentres, hence
    their τ, are undefined."""
    if p.shape[0] == 0:
        raise InputError("VoronoiMesh: the mesh has no tetrahedra")
    longest = np.linalg.norm(p[:, _TET_EDGES[:, 1]] - p[:, _TET_EDGES[:, 0]], axis=-1).max(axis=1)
    flat = np.abs(np.linalg.det(p[:, 1:] - p[:, :1])) / 6 <= _DEGENERATE_TOL * longest**3
    if flat.any():
        bad = np.nonzero(flat)[0]
        raise InputError(
            f"VoronoiMesh: {bad.size} degenerate (zero-volume) tetrahedra {bad[:10].tolist()}"
        )


def _tetrahedron_edges(
    cells: IntArray, cell_tau: FloatArray, n: int
) -> tuple[IntArray, FloatArray, npt.NDArray[np.bool_], IntArray]:
    """Unique edges (i < j), τ_σ = Σ_T τ^T_σ, which edges lie on ∂Ω, and the boundary faces
    (sorted vertex triples of the faces of one tetrahedron only)."""
    a, b = _TET_EDGES[:, 0], _TET_EDGES[:, 1]
    loc = np.sort(cells[:, _TET_EDGES].reshape(-1, 2), axis=1)  # (6K, 2), cell-major
    keys, inverse = np.unique(loc[:, 0] * n + loc[:, 1], return_inverse=True)
    edges = np.column_stack([keys // n, keys % n]).astype(np.int64)
    tau = np.bincount(inverse.reshape(-1), weights=cell_tau[:, a, b].ravel(), minlength=keys.size)
    faces = np.sort(np.concatenate([np.delete(cells, m, axis=1) for m in range(4)]), axis=1)
    _, first, counts = np.unique(_face_keys(faces, n), return_index=True, return_counts=True)
    faces = faces[first[counts == 1]]
    fe = np.sort(faces[:, [[0, 1], [0, 2], [1, 2]]].reshape(-1, 2), axis=1)
    on_boundary = np.isin(keys, fe[:, 0] * n + fe[:, 1])
    return edges, tau, on_boundary, faces


def _face_keys(faces: IntArray, n: int) -> npt.NDArray[Any]:
    """One sortable key per sorted vertex triple: an integer (a n + b) n + c while n³ fits in
    int64 (n < 2·10⁶ vertices), else the rows viewed as opaque bytes (slower to sort)."""
    if n < 2_000_000:
        return (faces[:, 0] * n + faces[:, 1]) * n + faces[:, 2]
    rows = np.ascontiguousarray(faces, dtype=np.int64)
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * 3))).ravel()


def _check_tagged_faces(tets: TaggedTetrahedra, faces: IntArray) -> None:
    """Tagged facets must be boundary faces of the tetrahedralization."""
    if tets.facets.shape[0] == 0:
        return
    n = tets.num_vertices
    ok = np.isin(_face_keys(np.sort(tets.facets, axis=1), n), _face_keys(faces, n))
    if not np.all(ok):
        bad = tets.facets[~ok][:10].tolist()
        raise InputError(
            f"VoronoiMesh: tagged facets {bad} are not boundary faces of the tetrahedralization"
        )


def _boundary_pieces_3d(tets: TaggedTetrahedra) -> dict[str, np.ndarray]:
    """The circumcentric pieces σ = V_i ∩ F of the tagged boundary triangles F (the 2D box
    pieces in F's plane; only these close the boxes): vertex, area, centroid and tag of each,
    ordered local corner by corner like the 2D half facets."""
    fac = tets.facets
    q = tets.points[fac]  # (F, 3, 3)
    tau, piece = dual_pieces(q)
    centroid = triangle_piece_centroids(q, tau)
    return {
        "piece_vertex": fac.T.ravel(),
        "piece_measure": piece.T.ravel(),
        "piece_midpoint": centroid.transpose(1, 0, 2).reshape(-1, 3),
        "piece_marker": np.tile(tets.facet_markers, 3),
    }


def _negative_boundary_lines(tets: TaggedTetrahedra, pieces: dict[str, np.ndarray]) -> list[str]:
    """Lines naming the (vertex, tag) pairs whose boundary measure Σ m(σ) is negative. A boundary
    piece of an obtuse boundary triangle is negative; its vertex's total on a tag can be too
    (an obtuse angle opposite an edge of the tagged surface), and a boundary flux m(σ) g would
    then enter that box with the wrong sign. (2D half facets are always positive.)"""
    fac = tets.facets
    if fac.shape[0] == 0:
        return []
    tags, marker = np.unique(pieces["piece_marker"], return_inverse=True)
    n = tets.num_vertices
    total = np.bincount(
        pieces["piece_vertex"] * tags.size + marker.reshape(-1),
        weights=pieces["piece_measure"],
        minlength=n * tags.size,
    )
    scale = float(np.max(simplex_measures(tets.points[fac])))
    bad = np.nonzero(total < -_ADMISSIBILITY_TOL * scale)[0]
    names = {v: k for k, v in tets.tag_names.items()}
    return [
        f"  negative boundary measure {total[b]:.3e} of vertex {b // tags.size} "
        f"{tets.points[b // tags.size].tolist()} on {names[int(tags[b % tags.size])]!r} "
        "(obtuse boundary triangles)"
        for b in bad[:20]
    ]


def _simplex_gradient_triplets(
    p: FloatArray, cells: IntArray, piece: FloatArray, vol: FloatArray
) -> tuple[npt.NDArray[Any], ...]:
    """(rows, cols, values per component) of (∇̃_h u)_i = (1/m(V_i)) Σ_T m(V_i∩T) ∇(Π_h u)|_T,
    the 2D definition (`_cell_gradient_triplets`) on simplices of any dimension. In 3D the
    weights m(V_i∩T)/m(V_i) may be negative (circumcentre outside T); they still add up to 1,
    so the gradient is exact for linear u."""
    grad = simplex_gradients(p)  # (K, d+1, d)
    k = cells.shape[1]
    w = piece / vol[cells]
    rows = np.repeat(cells, k, axis=1).ravel()
    cols = np.tile(cells, (1, k)).ravel()
    values = [(w[:, :, None] * grad[:, None, :, c]).ravel() for c in range(grad.shape[2])]
    return (rows, cols, *values)
