"""Voronoi boxes of tetrahedral meshes (fv/dual.py, `VoronoiMesh` in 3D).

* one simplex: the circumcentric τ is the signed dual-facet area over the edge length (explicit
  construction from circumcentres); the pieces tile the simplex and close with the facet pieces;
  in 2D τ is the cotangent formula / P1 stiffness, in 3D it is not the P1 stiffness;
* meshes (Kuhn box, graded Kuhn box, jittered Delaunay cube): Σ m(V_i) = |Ω|, closed boxes
  (Σ_j τ_ij (x_j − x_i) + Σ_{σ ⊂ ∂Ω} m(σ) n_σ = 0, n_σ the outward normal), the pyramid identity,
  boundary pieces covering each tag, ∇̃_h exact for linear u, the FV Laplacian exact for
  u = α|x|² + linear, the FV Poisson vertex error of second order;
* refusal of slivers, flat cells, interior tagged faces, negative boundary measures;
* 2D: the cotangent path equals the generic formulas, and keeps its two gradient components.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.spatial import Delaunay

from pnpf_fem.errors import InputError
from pnpf_fem.fv import VoronoiMesh
from pnpf_fem.fv.dual import (
    circumcentres,
    circumcentric_transmissibilities,
    dual_pieces,
    simplex_gradients,
    simplex_measures,
    triangle_cotangents_and_pieces,
    triangle_piece_centroids,
)
from pnpf_fem.fv.mesh import box_fractions
from pnpf_fem.meshing import unit_square
from pnpf_fem.meshing3d import BOX_TAGS, TaggedTetrahedra, box

LENGTHS = (1.0, 0.75, 0.5)
NORMALS = {
    "left": (-1, 0, 0),
    "right": (1, 0, 0),
    "bottom": (0, -1, 0),
    "top": (0, 1, 0),
    "front": (0, 0, -1),
    "back": (0, 0, 1),
}
TAG_AXIS = {"left": 0, "right": 0, "bottom": 1, "top": 1, "front": 2, "back": 2}


# --- meshes ------------------------------------------------------------------------------------


def _graded(n: int, lengths: tuple[float, float, float] = LENGTHS) -> TaggedTetrahedra:
    """`box` with every axis mapped by s ↦ s(1 + s)/2 (cells 3× longer at the far side): still
    rectangular bricks of Kuhn tetrahedra, hence Delaunay with zero τ on the brick diagonals."""
    t = box(n, lengths=lengths)
    s = t.points / np.asarray(lengths)
    return TaggedTetrahedra(
        s * (1 + s) / 2 * np.asarray(lengths), t.tetrahedra, t.facets, t.facet_markers, BOX_TAGS
    )


def _jittered(n: int, amplitude: float, seed: int) -> TaggedTetrahedra:
    """scipy's Delaunay tetrahedra of an (n+1)³ grid of the unit cube, every coordinate not on a
    face moved by up to `amplitude`·h (face points move in their face, corners stay); the convex
    hull triangles tagged by `BOX_TAGS`."""
    g = np.linspace(0.0, 1.0, n + 1)
    x = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    shift = np.random.default_rng(seed).uniform(-amplitude / n, amplitude / n, x.shape)
    shift[(x < 1e-12) | (x > 1 - 1e-12)] = 0.0
    x = x + shift
    triangulation = Delaunay(x)
    facets = triangulation.convex_hull
    centre = x[facets].mean(axis=1)
    markers = np.zeros(facets.shape[0], dtype=np.int32)
    for name, axis in TAG_AXIS.items():
        side = 1.0 if NORMALS[name][axis] > 0 else 0.0
        markers[np.abs(centre[:, axis] - side) < 1e-12] = BOX_TAGS[name]
    assert np.all(markers > 0)
    return TaggedTetrahedra(x, triangulation.simplices, facets, markers, BOX_TAGS)


CASES: dict[str, tuple[Callable[[], TaggedTetrahedra], tuple[float, float, float]]] = {
    "box": (lambda: box(3, 4, 2, lengths=LENGTHS), LENGTHS),
    "graded": (lambda: _graded(3), LENGTHS),
    "jittered": (lambda: _jittered(5, 0.25, seed=1), (1.0, 1.0, 1.0)),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[VoronoiMesh, tuple[float, float, float]]:
    make, lengths = CASES[request.param]
    return VoronoiMesh.from_triangulation(make()), lengths


def _piece_normals(mesh: VoronoiMesh) -> np.ndarray:
    """(P, 3) outward normal of each boundary piece, from its tag (faces of a box)."""
    names = {tag: name for name, tag in mesh.tag_names.items()}
    return np.array([NORMALS[names[int(m)]] for m in mesh.piece_marker], dtype=float)


def _edge_flux(mesh: VoronoiMesh, values: np.ndarray) -> np.ndarray:
    """Σ_j τ_ij (v_j − v_i) per vertex, for vertex values (N,) or vectors (N, k)."""
    i, j = mesh.edges.T
    t = mesh.transmissibility.reshape(-1, *([1] * (values.ndim - 1)))
    out = np.zeros((mesh.num_vertices, *values.shape[1:]))
    np.add.at(out, i, t * (values[j] - values[i]))
    np.add.at(out, j, t * (values[i] - values[j]))
    return out


def _piece_sum(mesh: VoronoiMesh, values: np.ndarray) -> np.ndarray:
    """Σ_{pieces of V_i} m(σ) v_σ per vertex, for piece values (P,) or vectors (P, k)."""
    out = np.zeros((mesh.num_vertices, *values.shape[1:]))
    m = mesh.piece_measure.reshape(-1, *([1] * (values.ndim - 1)))
    np.add.at(out, mesh.piece_vertex, m * values)
    return out


# --- one simplex -------------------------------------------------------------------------------


def _circumcentre(p: np.ndarray) -> np.ndarray:
    """Circumcentre of a tetrahedron (4, 3) or of a triangle (3, 3) in its plane."""
    if p.shape[0] == 4:
        return np.linalg.solve(2 * (p[1:] - p[0]), (p[1:] ** 2).sum(1) - (p[0] ** 2).sum())
    u, w = p[1] - p[0], p[2] - p[0]
    n = np.cross(u, w)
    return p[0] + np.cross(u @ u * w - w @ w * u, n) / (2 * n @ n)


def _dual_facet_area(p: np.ndarray, i: int, j: int) -> float:
    """Signed area of σ_ij ∩ T: the polygon (m_ij, c_F, c_T, c_F') of circumcentres, its sign
    taken from the same polygon through centroids (which is always positive)."""
    k, m = (v for v in range(4) if v not in (i, j))
    e = (p[j] - p[i]) / np.linalg.norm(p[j] - p[i])

    def area(centre: Callable[[np.ndarray], np.ndarray]) -> float:
        poly = [0.5 * (p[i] + p[j]), centre(p[[i, j, k]]), centre(p), centre(p[[i, j, m]])]
        return 0.5 * sum(np.cross(poly[a], poly[(a + 1) % 4]) for a in range(4)) @ e

    return area(_circumcentre) * np.sign(area(lambda q: q.mean(axis=0)))


def _random_simplices(count: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.uniform(-1.0, 1.0, (count, dim + 1, dim))
    return p[np.abs(np.linalg.det(p[:, 1:] - p[:, :1])) > 0.05]


def test_circumcentric_tau_is_the_dual_facet_area_over_the_edge_length() -> None:
    p = _random_simplices(8, 3, seed=1)
    tau = circumcentric_transmissibilities(p)
    for s in range(p.shape[0]):
        for i, j in itertools.combinations(range(4), 2):
            expected = _dual_facet_area(p[s], i, j) / np.linalg.norm(p[s, j] - p[s, i])
            assert tau[s, i, j] == pytest.approx(expected, rel=1e-12, abs=1e-12)
            assert tau[s, j, i] == tau[s, i, j]
    assert np.all(np.einsum("kii->ki", tau) == 0)
    c = circumcentres(p)
    radius = np.linalg.norm(p - c[:, None], axis=2)
    assert np.allclose(radius, radius[:, :1], rtol=1e-12)


def test_pieces_tile_the_simplex_and_close_with_the_face_pieces() -> None:
    """Σ_i m(V_i ∩ T) = |T|; Σ_j τ_ij (x_j − x_i) + Σ_{F ∋ i} m(∂V_i ∩ F) n_F = 0 (each box
    piece is a closed polyhedron; its faces on T's faces are the circumcentric face pieces)."""
    p = _random_simplices(8, 3, seed=2)
    tau, pieces = dual_pieces(p)
    volume = np.abs(np.linalg.det(p[:, 1:] - p[:, :1])) / 6
    assert np.allclose(pieces.sum(axis=1), volume, rtol=1e-12, atol=0)
    assert np.allclose(simplex_measures(p), volume, rtol=1e-12, atol=0)
    closure = np.einsum("kij,kijx->kix", tau, p[:, None, :, :] - p[:, :, None, :])
    for m in range(4):  # face opposite vertex m, outward normal
        face = [v for v in range(4) if v != m]
        n = np.cross(p[:, face[1]] - p[:, face[0]], p[:, face[2]] - p[:, face[0]])
        n *= -np.sign(np.einsum("kx,kx->k", n, p[:, m] - p[:, face[0]]))[:, None]
        n /= np.linalg.norm(n, axis=1)[:, None]
        face_pieces = dual_pieces(p[:, face])[1]
        assert np.allclose(face_pieces.sum(axis=1), simplex_measures(p[:, face]), rtol=1e-12)
        closure[:, face] += face_pieces[:, :, None] * n[:, None, :]
    assert np.abs(closure).max() < 1e-12 * np.abs(tau).max()


def test_2d_tau_is_the_cotangent_formula_and_the_p1_stiffness_3d_tau_is_not() -> None:
    p = _random_simplices(20, 2, seed=3)
    tau, pieces = dual_pieces(p)
    e = p[:, 1:] - p[:, :1]
    twice_area = np.abs(np.linalg.det(e))
    grad = simplex_gradients(p)
    stiffness = -0.5 * twice_area[:, None, None] * grad @ grad.swapaxes(1, 2)
    off = ~np.eye(3, dtype=bool)
    assert np.allclose(tau[:, off], stiffness[:, off], rtol=1e-12, atol=1e-12)
    # the closed form of the 2D path (on counter-clockwise triangles)
    ccw = np.where((np.linalg.det(e) > 0)[:, None, None], p, p[:, [0, 2, 1]])
    cot, closed = triangle_cotangents_and_pieces(ccw, twice_area)
    tau_ccw = dual_pieces(ccw)
    for k in range(3):
        i, j = (k + 1) % 3, (k + 2) % 3
        assert np.allclose(0.5 * cot[:, k], tau_ccw[0][:, i, j], rtol=1e-12, atol=1e-12)
    assert np.allclose(closed, tau_ccw[1], rtol=1e-12, atol=1e-14)
    assert np.allclose(pieces.sum(axis=1), 0.5 * twice_area, rtol=1e-12)
    # the corner tetrahedron: P1 stiffness 1/6 on the edges at the origin, Voronoi facet 1/4
    corner = np.array([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]])
    tau3 = circumcentric_transmissibilities(corner)[0]
    assert tau3[0, 1:] == pytest.approx([0.25] * 3, rel=1e-14)
    assert tau3[1, 2] == pytest.approx(-1 / 24, rel=1e-14)  # P1 stiffness: 0
    grad3 = simplex_gradients(corner)[0]
    assert -grad3[1] @ grad3[2] / 6 == 0.0


def test_3d_delaunay_gives_nonnegative_tau_where_the_p1_stiffness_is_negative() -> None:
    """On the interior edges of a random Delaunay tetrahedralization the summed circumcentric
    τ are the Voronoi facets' m(σ)/d_σ ≥ 0; the P1 stiffness has negative ones there."""
    pts = np.random.default_rng(4).uniform(0.0, 1.0, (150, 3))
    triangulation = Delaunay(pts)
    cells = triangulation.simplices
    p = pts[cells]
    grad = simplex_gradients(p)
    stiffness = -simplex_measures(p)[:, None, None] * grad @ grad.swapaxes(1, 2)
    inside = np.ones(len(pts), dtype=bool)
    inside[triangulation.convex_hull.ravel()] = False  # edges between these are interior
    rows, cols = np.repeat(cells, 4, axis=1).ravel(), np.tile(cells, (1, 4)).ravel()
    keep = inside[rows] & inside[cols] & (rows < cols)
    shape = (len(pts), len(pts))

    def summed(tau: np.ndarray) -> np.ndarray:
        return sp.coo_matrix((tau.ravel()[keep], (rows[keep], cols[keep])), shape).tocsr().data

    assert summed(circumcentric_transmissibilities(p)).min() > -1e-12
    assert summed(stiffness).min() < -0.1


def _polygon_centroid(poly: np.ndarray) -> tuple[float, np.ndarray]:
    """Signed area and centroid of a polygon of the xy-plane (shoelace formula)."""
    a, c = 0.0, np.zeros(2)
    for k in range(len(poly)):
        x0, x1 = poly[k], poly[(k + 1) % len(poly)]
        w = x0[0] * x1[1] - x1[0] * x0[1]
        a += w / 2
        c += (x0 + x1) * w / 6
    return a, c / a


def test_triangle_piece_centroids_are_the_quadrilaterals_centroids() -> None:
    """In acute triangles (3D, tilted): the centroid of (x_i, m_ij, c_F, m_ik), computed in 2D
    coordinates of the plane; in obtuse triangles the point stays on the triangle."""
    flat = _random_simplices(60, 2, seed=5)
    q, _ = np.linalg.qr(np.random.default_rng(6).normal(size=(3, 3)))
    lifted = np.concatenate([flat, np.zeros((*flat.shape[:2], 1))], axis=2) @ q.T + 0.3
    centroids = triangle_piece_centroids(lifted)
    _, pieces = dual_pieces(lifted)
    acute = np.all(dual_pieces(flat)[0][:, [0, 0, 1], [1, 2, 2]] > 0, axis=1)
    assert acute.sum() > 3 and (~acute).sum() > 3
    for s in np.nonzero(acute)[0]:
        p = flat[s]
        c = _circumcentre(np.column_stack([p, np.zeros(3)]))[:2]
        for i in range(3):
            j, k = (i + 1) % 3, (i + 2) % 3
            quadrilateral = np.array([p[i], (p[i] + p[j]) / 2, c, (p[i] + p[k]) / 2])
            area, centroid = _polygon_centroid(quadrilateral)
            assert abs(area) == pytest.approx(pieces[s, i], rel=1e-12)
            expected = np.append(centroid, 0.0) @ q.T + 0.3
            assert np.allclose(centroids[s, i], expected, rtol=0, atol=1e-12)
    # every point lies on its triangle: non-negative barycentric coordinates
    e = lifted[:, 1:] - lifted[:, :1]
    rel = centroids - lifted[:, :1]
    lam = np.linalg.solve(e @ e.swapaxes(1, 2), (e @ rel.swapaxes(1, 2))).swapaxes(1, 2)
    assert lam.min() > -1e-12 and lam.sum(axis=2).max() < 1 + 1e-12
    assert np.abs(np.cross(e[:, 0], e[:, 1])[:, None] @ rel.swapaxes(1, 2)).max() < 1e-12


# --- meshes: geometry --------------------------------------------------------------------------


def test_boxes_tile_the_domain(case) -> None:
    mesh, lengths = case
    volume = math.prod(lengths)
    assert abs(mesh.volumes.sum() - volume) < 1e-12 * volume
    assert mesh.area == pytest.approx(volume, rel=1e-12)
    assert np.all(mesh.volumes > 0) and np.all(mesh.transmissibility >= 0)
    assert mesh.dim == 3 and mesh.points.shape == (mesh.num_vertices, 3)
    # the pyramids over the facets: m(V_i) = (1/6) Σ_j τ_ij |x_i − x_j|²
    pyramids = np.bincount(
        mesh.edges.ravel(), np.repeat(mesh.interface_measure * mesh.edge_length, 2)
    )
    assert np.abs(pyramids / 6 - mesh.volumes).max() < 1e-12 * mesh.volumes.max()


def test_boxes_close_with_their_boundary_pieces(case) -> None:
    """Σ_j τ_ij (x_j − x_i) + Σ_{σ ⊂ ∂V_i ∩ ∂Ω} m(σ) n_σ = 0 at every vertex (the divergence
    theorem for a constant field on V_i, n_σ the outward normal of Ω); at interior vertices the
    edge sum alone vanishes."""
    mesh, _ = case
    flux = _edge_flux(mesh, mesh.points)
    scale = mesh.h**2
    boundary = np.zeros(mesh.num_vertices, dtype=bool)
    boundary[mesh.tri.facets] = True
    assert (~boundary).sum() > 0
    assert np.abs(flux[~boundary]).max() < 1e-12 * scale
    assert np.abs(flux[boundary]).max() > 0.1 * scale  # not trivially closed
    closed = flux + _piece_sum(mesh, _piece_normals(mesh))
    assert np.abs(closed).max() < 1e-12 * scale


def test_boundary_pieces_cover_each_tag(case) -> None:
    mesh, lengths = case
    assert mesh.piece_midpoint.shape == (mesh.piece_vertex.size, 3)
    assert mesh.piece_measure.sum() == pytest.approx(
        2 * (lengths[0] * lengths[1] + lengths[1] * lengths[2] + lengths[0] * lengths[2]),
        rel=1e-12,
    )
    for name, axis in TAG_AXIS.items():
        sel = mesh.piece_marker == mesh.tag(name)
        area = math.prod(lengths) / lengths[axis]
        assert mesh.piece_measure[sel].sum() == pytest.approx(area, rel=1e-12)
        side = lengths[axis] if NORMALS[name][axis] > 0 else 0.0
        assert np.abs(mesh.piece_midpoint[sel, axis] - side).max() < 1e-12
        # per vertex and tag the boundary measure is positive (pieces may be negative alone)
        vertex_area = np.bincount(mesh.piece_vertex[sel], mesh.piece_measure[sel])
        assert vertex_area[mesh.vertices_of(name)].min() > 0


def test_boundary_pieces_are_the_faces_of_the_brick_voronoi_cells() -> None:
    """On a graded tensor grid the Voronoi cell of a vertex is a brick between the midpoints of
    its grid neighbours, so ∂V_i ∩ (a face of Ω) is a rectangle: per vertex and tag, Σ m(σ) is its
    area and Σ m(σ) x_σ its first moment (the midpoints are the pieces' true centroids)."""
    mesh = VoronoiMesh.from_triangulation(_graded(3))
    grid = [np.unique(mesh.points[:, a]) for a in range(3)]  # exact: one map per axis
    index = np.column_stack([np.searchsorted(grid[a], mesh.points[:, a]) for a in range(3)])
    cuts = [np.concatenate([g[:1], (g[1:] + g[:-1]) / 2, g[-1:]]) for g in grid]
    lo = np.column_stack([cuts[a][index[:, a]] for a in range(3)])
    hi = np.column_stack([cuts[a][index[:, a] + 1] for a in range(3)])
    for name, axis in TAG_AXIS.items():
        sel = mesh.piece_marker == mesh.tag(name)
        vertices = mesh.vertices_of(name)
        others = [a for a in range(3) if a != axis]
        area = np.prod(hi[vertices][:, others] - lo[vertices][:, others], axis=1)
        centre = (hi[vertices] + lo[vertices]) / 2
        centre[:, axis] = mesh.points[vertices, axis]
        measure = np.bincount(mesh.piece_vertex[sel], mesh.piece_measure[sel], mesh.num_vertices)
        moment = np.zeros((mesh.num_vertices, 3))
        np.add.at(
            moment,
            mesh.piece_vertex[sel],
            mesh.piece_measure[sel, None] * mesh.piece_midpoint[sel],
        )
        assert np.abs(measure[vertices] - area).max() < 1e-14
        assert np.abs(moment[vertices] - area[:, None] * centre).max() < 1e-14


def test_kuhn_box_transmissibilities_are_those_of_the_cubic_voronoi_cells() -> None:
    """Voronoi cells of a cubic grid are cubes: τ = h on interior axis edges, h/2 on face edges,
    h/4 on the box's edges, and 0 on every diagonal of the Kuhn subdivision."""
    mesh = VoronoiMesh.from_triangulation(box(3))
    h = 1 / 3
    axis = np.sum(np.abs(mesh.points[mesh.edges[:, 1]] - mesh.points[mesh.edges[:, 0]]) > 1e-12, 1)
    tau = mesh.transmissibility
    assert np.abs(tau[axis > 1]).max() < 1e-14
    assert np.all(np.isin(np.round(tau[axis == 1] / h, 12), [0.25, 0.5, 1.0]))
    assert np.abs(mesh.volumes[mesh.volumes.argmax()] - h**3) < 1e-15
    assert mesh.h == pytest.approx(math.sqrt(3) * h, rel=1e-14)


# --- meshes: operators -------------------------------------------------------------------------


def test_gradient_is_exact_for_linear_functions(case) -> None:
    mesh, _ = case
    a = np.array([0.7, -1.3, 2.1])
    u = mesh.points @ a + 0.4
    assert len(mesh.gradient) == 3
    for c, g in enumerate(mesh.gradient):
        assert np.abs(g @ u - a[c]).max() < 1e-11
    # Σ_i m(V_i) (∇̃_h u)_i = Σ_T |T| ∇(Π_h u)|_T = ∫_Ω ∇(Π_h u) for any u: the box pieces
    # weigh each cell's gradient with its whole measure
    w = np.random.default_rng(7).normal(size=mesh.num_vertices)
    p = mesh.points[mesh.tri.tetrahedra]
    cells = np.einsum("kvx,kv->kx", simplex_gradients(p), w[mesh.tri.tetrahedra])
    integral = simplex_measures(p) @ cells
    boxes = np.array([mesh.volumes @ (g @ w) for g in mesh.gradient])
    assert np.allclose(boxes, integral, rtol=1e-12, atol=1e-12 * np.abs(integral).max())
    rows, cols, *values = mesh.gradient_triplets
    assert len(values) == 3
    for v, g in zip(values, mesh.gradient, strict=True):
        same = sp.coo_matrix((v, (rows, cols)), shape=g.shape).tocsr() - g
        assert np.abs(same.data).max(initial=0.0) < 1e-14 * np.abs(g.data).max()


def test_fv_laplacian_of_a_radial_quadratic_is_exact(case) -> None:
    """u = α|x|² + b·x + c: Σ_j τ_ij (u_j − u_i) + Σ_σ m(σ) ∇u(x_σ)·n_σ = m(V_i) Δu at every
    vertex. Proof: u_j − u_i = ∇u(x_i)·(x_j − x_i) + α|x_j − x_i|²; the first terms cancel with
    the boundary fluxes by the closure (∇u(x_σ)·n_σ = ∇u(x_i)·n_σ, x_σ − x_i lying in the
    facet), the second give 2α·3 m(V_i) by the pyramid identity, and Δu = 6α."""
    mesh, _ = case
    alpha, b = 0.8, np.array([0.3, -1.2, 0.5])
    u = alpha * np.sum(mesh.points**2, axis=1) + mesh.points @ b - 0.2
    grad_at_pieces = 2 * alpha * mesh.piece_midpoint + b
    boundary_flux = _piece_sum(mesh, np.sum(grad_at_pieces * _piece_normals(mesh), axis=1))
    residual = _edge_flux(mesh, u) + boundary_flux - mesh.volumes * 6 * alpha
    assert np.abs(residual).max() < 1e-12 * mesh.volumes.max()


def _exact(x: np.ndarray) -> np.ndarray:
    return np.prod(np.sin(np.pi * x), axis=1) + x[:, 0] ** 2 + x[:, 1] ** 2 - 2 * x[:, 2] ** 2


def _source(x: np.ndarray) -> np.ndarray:
    return 3 * np.pi**2 * np.prod(np.sin(np.pi * x), axis=1)  # −Δ of _exact


def _poisson_error(tets: TaggedTetrahedra) -> float:
    """Max vertex error of Σ_j τ_ij (u_i − u_j) = m(V_i) f(x_i), u = exact on ∂Ω."""
    mesh = VoronoiMesh.from_triangulation(tets)
    n, (i, j), t = mesh.num_vertices, mesh.edges.T, mesh.transmissibility
    a = sp.coo_matrix(
        (np.concatenate([t, t, -t, -t]), (np.r_[i, j, i, j], np.r_[i, j, j, i])), (n, n)
    ).tocsr()
    fixed = np.zeros(n, dtype=bool)
    fixed[tets.facets] = True
    g = _exact(mesh.points)
    rhs = mesh.volumes * _source(mesh.points) - a[:, fixed] @ g[fixed]
    u = g.copy()
    u[~fixed] = spla.spsolve(a[~fixed][:, ~fixed].tocsc(), rhs[~fixed])
    return float(np.abs(u - g).max())


@pytest.mark.parametrize(
    "make", [box, lambda n: _jittered(n, 0.25, seed=n)], ids=["box", "jittered"]
)
def test_fv_poisson_vertex_error_is_second_order(make) -> None:
    errors = [_poisson_error(make(n)) for n in (4, 8, 16)]
    orders = [math.log2(e0 / e1) for e0, e1 in itertools.pairwise(errors)]
    assert min(orders) >= 1.8, (errors, orders)


def test_box_fractions_of_a_region() -> None:
    tets = box(4)
    mesh = VoronoiMesh.from_triangulation(tets)
    all_cells = np.arange(tets.tetrahedra.shape[0])
    assert np.allclose(box_fractions(mesh, all_cells), 1.0, rtol=0, atol=1e-13)
    left = np.nonzero(tets.points[tets.tetrahedra].mean(axis=1)[:, 0] < 0.5)[0]
    share = box_fractions(mesh, left)
    assert np.dot(share, mesh.volumes) == pytest.approx(0.5, rel=1e-12)
    assert np.all((share > -1e-12) & (share < 1 + 1e-12))
    assert np.allclose(share[mesh.points[:, 0] < 0.49], 1.0, atol=1e-12)


def test_tags_and_vertices_3d() -> None:
    mesh = VoronoiMesh.from_triangulation(box(3, 4, 2, lengths=LENGTHS))
    assert set(mesh.tag_names) == set(BOX_TAGS)
    assert mesh.vertices_of("left").size == 5 * 3
    assert np.all(mesh.points[mesh.vertices_of("back"), 2] == 0.5)
    with pytest.raises(InputError, match="unknown boundary tag name 'east'"):
        mesh.vertices_of("east")


# --- refusals ----------------------------------------------------------------------------------


def _sliver(apex: float = 0.5) -> tuple[TaggedTetrahedra, TaggedTetrahedra]:
    """Six points, a flat tetrahedron (0, 1, 2, 3) between two apexes (its circumsphere holds
    the lower one), and the Delaunay tetrahedra of the same points (from scipy)."""
    pts = np.array(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.9, 0.9, 0.02], [0.5, 0.5, apex], [0.5, 0.5, -apex]]
    )
    tets = np.array([[0, 1, 2, 3], [4, 0, 1, 3], [4, 0, 2, 3], [5, 0, 1, 2], [5, 1, 2, 3]])
    delaunay = Delaunay(pts).simplices
    assert {0, 1, 2, 3} not in [set(t) for t in delaunay.tolist()]
    return tuple(TaggedTetrahedra(pts, t, np.zeros((0, 3)), [], {}) for t in (tets, delaunay))


def test_sliver_is_refused_with_the_offending_edges() -> None:
    sliver, delaunay = _sliver()
    with pytest.raises(InputError) as err:
        VoronoiMesh.from_triangulation(sliver)
    message = str(err.value)
    assert message.startswith(
        "mesh is not admissible for Voronoi finite volumes: 4 edge(s) with τ_σ < 0\n"
    )
    for edge in ("(0, 1)", "(0, 2)", "(1, 3)", "(2, 3)"):
        assert f"  edge {edge} " in message
    assert "fix:" in message and "Delaunay tetrahedralization" in message
    unchecked = VoronoiMesh.from_triangulation(sliver, check=False)  # still tiles the hull
    assert unchecked.volumes.sum() == pytest.approx(0.3, rel=1e-12)
    mesh = VoronoiMesh.from_triangulation(delaunay)  # the same points, Delaunay: admissible
    assert mesh.volumes.sum() == pytest.approx(0.3, rel=1e-12)
    points = sliver.points.copy()
    points[3] = (1.0, 1.0, 0.0)  # the sliver flattened: refused before any τ is computed
    flat = TaggedTetrahedra(points, sliver.tetrahedra, np.zeros((0, 3)), [], {})
    with pytest.raises(InputError, match=r"^VoronoiMesh: 1 degenerate \(zero-volume\) tetra"):
        VoronoiMesh.from_triangulation(flat)


def test_check_callback_receives_the_unclipped_data() -> None:
    sliver, _ = _sliver()
    seen = {}

    def check(edges: np.ndarray, tau: np.ndarray, volumes: np.ndarray) -> None:
        seen.update(edges=edges, tau=tau, volumes=volumes)

    mesh = VoronoiMesh.from_triangulation(sliver, check=check)
    assert seen["tau"].min() < -0.1 and mesh.transmissibility.min() == 0.0
    assert np.array_equal(seen["edges"], mesh.edges)


def test_jittered_boundary_tetrahedra_with_outside_circumcentres_are_refused() -> None:
    """A stronger jitter gives boundary tetrahedra whose circumcentres leave the cube: τ < 0 on
    edges in ∂Ω, named as boundary edges."""
    with pytest.raises(InputError, match=r"circumcentres of its tetrahedra outside Ω"):
        VoronoiMesh.from_triangulation(_jittered(8, 0.35, seed=4))


def test_obtuse_boundary_triangle_is_refused_with_its_negative_boundary_measure() -> None:
    p = np.array([[-1, 0, 0], [1, 0, 0], [0, 0.1, 0], [0, 0.05, 1]], dtype=float)
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    tags = {"a": 1, "b": 2, "c": 3, "d": 4}
    tet = TaggedTetrahedra(p, np.array([[0, 1, 2, 3]]), faces, [1, 2, 3, 4], tags)
    with pytest.raises(InputError, match=r"negative boundary measure -1\.212e\+00 of vertex 0"):
        VoronoiMesh.from_triangulation(tet)


def test_tagged_interior_face_is_refused() -> None:
    tets = box(2)
    faces = tets.tetrahedra[:, :3]
    centre = tets.points[faces].mean(axis=1)
    inside = faces[np.all((centre > 0.01) & (centre < 0.99), axis=1)][:1]
    faces = np.concatenate([tets.facets, inside])
    bad = TaggedTetrahedra(
        tets.points, tets.tetrahedra, faces, np.r_[tets.facet_markers, 1], BOX_TAGS
    )
    with pytest.raises(InputError, match="not boundary faces of the tetrahedralization"):
        VoronoiMesh.from_triangulation(bad)


# --- 2D ----------------------------------------------------------------------------------------


def test_2d_boxes_equal_the_generic_circumcentric_formulas() -> None:
    """The 2D path (cotangent formula, unchanged) against `dual_pieces` summed per edge and
    vertex; 2D keeps two gradient components and (N, 2) points."""
    tri = unit_square(7, "unstructured", seed=3)
    mesh = VoronoiMesh.from_triangulation(tri)
    p = tri.points[tri.triangles]
    tau, pieces = dual_pieces(p)
    n = tri.num_vertices
    volumes = np.bincount(tri.triangles.ravel(), pieces.ravel(), minlength=n)
    assert np.abs(volumes - mesh.volumes).max() < 1e-14
    summed = sp.coo_matrix(
        (tau.ravel(), (np.repeat(tri.triangles, 3, 1).ravel(), np.tile(tri.triangles, 3).ravel())),
        shape=(n, n),
    ).tocsr()
    i, j = mesh.edges.T
    raw = np.asarray(summed[i, j]).ravel()
    assert np.abs(np.maximum(raw, 0) - mesh.transmissibility).max() < 1e-12
    assert mesh.dim == 2 and mesh.points.shape == (n, 2) and mesh.piece_midpoint.shape[1] == 2
    assert len(mesh.gradient) == 2 and len(mesh.gradient_triplets) == 4
