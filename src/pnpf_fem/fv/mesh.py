"""Voronoi (boundary-conforming circumcentric) control volumes of a 2D Delaunay triangulation.

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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from pnpf_fem.errors import InputError
from pnpf_fem.meshing import TaggedTriangulation

__all__ = ["VoronoiMesh"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# cot θ of a right angle computed in floating point is ~1e-17, not 0: tolerate that much.
_ADMISSIBILITY_TOL = 1e-10


@dataclass(frozen=True, eq=False)
class VoronoiMesh:
    """Voronoi box data of a `TaggedTriangulation` (vertices coincide with the FEM's).

    Attributes
    ----------
    tri: the triangulation it was built from.
    volumes: (N,) m(V_i).
    edges: (E, 2) vertex pairs (i < j) of all triangulation edges = interfaces σ = V_i|V_j.
    edge_length: (E,) d_σ = |x_i − x_j|.
    transmissibility: (E,) τ_σ = m(σ)/d_σ (≥ 0 on an admissible mesh).
    interface_measure: (E,) m(σ) = τ_σ d_σ.
    piece_vertex, piece_measure, piece_midpoint, piece_marker: the boundary pieces (half
        facets): owning vertex, length m(σ), midpoint, facet tag.
    gradient: (Gx, Gy) sparse N×N matrices of the reconstructed cell gradient ∇̃_h (3.1), see
        `pnpf_fem.fv.operators.cell_gradient`.
    gradient_triplets: (rows, cols, values_x, values_y), the same operator as unsummed
        triplets on one common pattern (for Jacobians: row/column scaling without sparse
        products).
    """

    tri: TaggedTriangulation
    volumes: FloatArray
    edges: IntArray
    edge_length: FloatArray
    transmissibility: FloatArray
    interface_measure: FloatArray
    piece_vertex: IntArray
    piece_measure: FloatArray
    piece_midpoint: FloatArray
    piece_marker: npt.NDArray[np.int32]
    gradient: tuple[sp.csr_matrix, sp.csr_matrix]
    gradient_triplets: tuple[IntArray, IntArray, FloatArray, FloatArray]

    @property
    def points(self) -> FloatArray:
        return self.tri.points

    @property
    def num_vertices(self) -> int:
        return self.tri.num_vertices

    @property
    def num_edges(self) -> int:
        return int(self.edges.shape[0])

    @property
    def tag_names(self) -> Mapping[str, int]:
        return self.tri.tag_names

    @property
    def area(self) -> float:
        """|Ω| as the sum of the triangle areas."""
        p = self.tri.points[self.tri.triangles]
        return float(0.5 * np.abs(_cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])).sum())

    @property
    def h(self) -> float:
        """The longest triangulation edge."""
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
        cls, tri: TaggedTriangulation, check: bool | Callable[..., None] = True
    ) -> VoronoiMesh:
        """Build the boxes; with `check`, raise `InputError` on a non-admissible mesh. `check`
        may instead be a function of (edges, τ before clipping, volumes) that checks a part
        (`pnpf_fem.fv.partition.Partition.check_admissible`)."""
        pts, n = tri.points, tri.num_vertices
        cells, twice_area = _oriented_cells(tri)
        cot, piece = _cotangents_and_pieces(pts[cells], twice_area)
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
        rows, cols, vx, vy = triplets
        gradient = (
            sp.csr_matrix((vx, (rows, cols)), shape=(n, n)),
            sp.csr_matrix((vy, (rows, cols)), shape=(n, n)),
        )
        return cls(
            tri=tri,
            volumes=volumes,
            edges=edges,
            edge_length=d,
            transmissibility=tau,
            interface_measure=tau * d,
            **_boundary_pieces(tri),
            gradient=gradient,
            gradient_triplets=triplets,
        )


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


def _cotangents_and_pieces(p: FloatArray, twice_area: FloatArray) -> tuple[FloatArray, FloatArray]:
    """cot of the angle at each local vertex k and the box pieces m(V_i ∩ T)."""
    cot = np.empty((p.shape[0], 3))
    len2 = np.empty((p.shape[0], 3))  # squared length of the edge opposite k
    for k in range(3):  # three local positions, not a loop over mesh entities
        a, b, c = p[:, k], p[:, (k + 1) % 3], p[:, (k + 2) % 3]
        cot[:, k] = _dot(b - a, c - a) / twice_area
        len2[:, k] = _dot(c - b, c - b)
    # m(V_i ∩ T) = ⅛(|e_opp(k+1)|² cot θ_{k+1} + |e_opp(k+2)|² cot θ_{k+2})
    k1, k2 = [1, 2, 0], [2, 0, 1]
    return cot, 0.125 * (len2[:, k1] * cot[:, k1] + len2[:, k2] * cot[:, k2])


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


def _dot(u: FloatArray, v: FloatArray) -> FloatArray:
    return u[..., 0] * v[..., 0] + u[..., 1] * v[..., 1]


def _check_admissible(
    pts: FloatArray, edges: IntArray, tau: FloatArray, on_boundary: npt.NDArray[np.bool_], vol
) -> None:
    bad = np.nonzero(tau < -_ADMISSIBILITY_TOL)[0]
    if bad.size == 0 and np.all(vol > 0):
        return
    lines = []
    for e in bad[:20]:
        i, j = edges[e]
        kind = (
            "boundary edge, opposite angle > 90°"
            if on_boundary[e]
            else "interior edge, not locally Delaunay"
        )
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
        + "\nfix: use a Delaunay triangulation (e.g. gmsh Mesh.Algorithm = 5, or "
        "pnpf_fem.meshing.delaunay_flip), and split boundary edges (refine the boundary) so "
        "that the angle opposite every boundary edge is at most 90°"
    )


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
    """m(V_i ∩ ∪_{T ∈ cells} T) / m(V_i) per vertex: the share of each box in a set of triangles
    (a mesh region), from the same per-triangle box pieces as the volumes."""
    tri_cells, twice_area = _oriented_cells(mesh.tri)
    _, piece = _cotangents_and_pieces(mesh.tri.points[tri_cells], twice_area)
    inside = np.zeros(tri_cells.shape[0])
    inside[cells] = 1.0
    share = np.bincount(
        tri_cells.ravel(), weights=(piece * inside[:, None]).ravel(), minlength=mesh.num_vertices
    )
    return share / mesh.volumes
