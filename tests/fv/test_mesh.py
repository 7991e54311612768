"""Voronoi box data: tiling, Voronoi geometry, admissibility check, generators."""

from __future__ import annotations

import numpy as np
import pytest

from pnpf_fem.errors import InputError
from pnpf_fem.fv import VoronoiMesh
from pnpf_fem.meshing import (
    TaggedTriangulation,
    conform_boundary,
    delaunay_flip,
    rectangle,
    unit_square,
)


@pytest.mark.parametrize("kind", ["structured", "unstructured"])
@pytest.mark.parametrize("n", [3, 8])
def test_boxes_tile_the_domain(kind: str, n: int) -> None:
    tri = rectangle(-1.0, 2.0, 0.5, 1.5, 3 * n, n + 1, kind=kind, seed=n)
    mesh = VoronoiMesh.from_triangulation(tri)
    assert abs(mesh.volumes.sum() - 3.0) < 1e-13
    assert np.all(mesh.volumes > 0)
    assert np.all(mesh.transmissibility >= 0)


def _circumcentres(pts: np.ndarray, tri: np.ndarray) -> np.ndarray:
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    d = 2 * (
        a[:, 0] * (b[:, 1] - c[:, 1])
        + b[:, 0] * (c[:, 1] - a[:, 1])
        + c[:, 0] * (a[:, 1] - b[:, 1])
    )
    sa, sb, sc = (a**2).sum(1), (b**2).sum(1), (c**2).sum(1)
    ux = (sa * (b[:, 1] - c[:, 1]) + sb * (c[:, 1] - a[:, 1]) + sc * (a[:, 1] - b[:, 1])) / d
    uy = (sa * (c[:, 0] - b[:, 0]) + sb * (a[:, 0] - c[:, 0]) + sc * (b[:, 0] - a[:, 0])) / d
    return np.column_stack([ux, uy])


def test_interfaces_are_voronoi_faces(unstructured_mesh: VoronoiMesh) -> None:
    """m(σ) equals the circumcentre-to-circumcentre distance (interior) or circumcentre-to-
    midpoint distance (boundary edges), and σ ⟂ x_i x_j, as for Voronoi faces."""
    mesh = unstructured_mesh
    pts, tri = mesh.points, mesh.tri.triangles
    cc = _circumcentres(pts, tri)
    n = mesh.num_vertices
    loc = np.sort(np.concatenate([tri[:, [1, 2]], tri[:, [2, 0]], tri[:, [0, 1]]]), axis=1)
    key = loc[:, 0] * n + loc[:, 1]
    owner = np.tile(np.arange(tri.shape[0]), 3)
    ekey = mesh.edges[:, 0] * n + mesh.edges[:, 1]
    pos = np.searchsorted(ekey, key)
    first = np.full(mesh.num_edges, -1)
    second = np.full(mesh.num_edges, -1)
    order = np.argsort(pos, kind="stable")
    ps, ow = pos[order], owner[order]
    start = np.r_[True, ps[1:] != ps[:-1]]
    first[ps[start]] = ow[start]
    second[ps[~start]] = ow[~start]
    mid = 0.5 * (pts[mesh.edges[:, 0]] + pts[mesh.edges[:, 1]])
    other = np.where(second[:, None] >= 0, cc[np.maximum(second, 0)], mid)
    face = other - cc[first]
    expected = np.linalg.norm(face, axis=1)
    assert np.allclose(mesh.interface_measure, expected, atol=1e-12)
    edge_dir = pts[mesh.edges[:, 1]] - pts[mesh.edges[:, 0]]
    assert np.allclose(np.einsum("ek,ek->e", face, edge_dir), 0.0, atol=1e-12)


def test_structured_diagonals_have_zero_transmissibility(structured_mesh: VoronoiMesh) -> None:
    d = (
        structured_mesh.points[structured_mesh.edges[:, 1]]
        - structured_mesh.points[structured_mesh.edges[:, 0]]
    )
    diagonal = np.all(np.abs(d) > 1e-12, axis=1)
    assert diagonal.any()
    assert np.allclose(structured_mesh.transmissibility[diagonal], 0.0, atol=1e-14)
    # axis edges: ½ cot 45° from each adjacent triangle (one triangle on the boundary)
    assert np.all(np.isin(np.round(structured_mesh.transmissibility[~diagonal], 12), [0.5, 1.0]))


def _square_with_point(p: tuple[float, float]) -> TaggedTriangulation:
    """Unit square split around one extra vertex p (4 triangles); facets tagged 1..4."""
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1], p], dtype=float)
    tri = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    facets = np.array([[0, 1], [1, 2], [2, 3], [3, 0]])
    return TaggedTriangulation(
        pts, tri, facets, [3, 2, 4, 1], {"left": 1, "right": 2, "bottom": 3, "top": 4}
    )


def test_obtuse_boundary_angle_is_rejected_with_edges_and_fix() -> None:
    tri = _square_with_point((0.5, 0.1))  # angle at p opposite the bottom edge > 90°
    with pytest.raises(InputError) as err:
        VoronoiMesh.from_triangulation(tri)
    msg = str(err.value)
    assert "edge (0, 1)" in msg and "opposite angle > 90°" in msg
    assert "fix:" in msg and "Delaunay" in msg
    # the same data pass without the check, and still tile the square
    mesh = VoronoiMesh.from_triangulation(tri, check=False)
    assert abs(mesh.volumes.sum() - 1.0) < 1e-14


def test_conform_boundary_splits_obtuse_boundary_edges() -> None:
    tri = _square_with_point((0.5, 0.1))
    fixed = conform_boundary(tri)
    mesh = VoronoiMesh.from_triangulation(fixed)  # admissible now
    assert fixed.num_vertices > tri.num_vertices
    assert abs(mesh.volumes.sum() - 1.0) < 1e-14
    # the old vertices are kept in place, new ones lie on the split (bottom) facet
    assert np.array_equal(fixed.points[: tri.num_vertices], tri.points)
    assert np.allclose(fixed.points[tri.num_vertices :, 1], 0.0)
    for name in ("left", "right", "bottom", "top"):
        f = fixed.facets_of(name)
        assert abs(np.linalg.norm(np.diff(fixed.points[f], axis=1)[:, 0], axis=1).sum() - 1) < 1e-14
    assert len(fixed.facets_of("bottom")) > 1
    # an admissible mesh is returned unchanged
    square = unit_square(4, "unstructured", seed=0)
    same = conform_boundary(square)
    assert same.num_vertices == square.num_vertices


def test_non_delaunay_interior_edge_is_rejected_and_flip_fixes_it() -> None:
    # a parallelogram split along its long diagonal: both opposite angles obtuse
    pts = np.array([[0, 0], [1, 0], [1.6, 0.3], [0.6, 0.3]], float)
    skew = TaggedTriangulation(pts, np.array([[0, 1, 2], [0, 2, 3]]), np.zeros((0, 2)), [], {})
    with pytest.raises(InputError, match=r"edge \(0, 2\).*not locally Delaunay"):
        VoronoiMesh.from_triangulation(skew)
    fixed = delaunay_flip(skew)
    assert {tuple(sorted(t)) for t in fixed.triangles.tolist()} == {(0, 1, 3), (1, 2, 3)}
    # the flipped mesh is Delaunay, but the angle opposite the bottom edge is still obtuse,
    # which flips cannot fix: the check still refuses it, naming the boundary edge
    with pytest.raises(InputError, match=r"edge \(0, 1\).*opposite angle > 90°"):
        VoronoiMesh.from_triangulation(fixed)


def test_unknown_tag_name_is_an_input_error(structured_mesh: VoronoiMesh) -> None:
    with pytest.raises(InputError, match="unknown boundary tag name 'east'"):
        structured_mesh.vertices_of("east")
    assert structured_mesh.vertices_of("left").size == 7


def test_boundary_pieces_cover_the_boundary(unstructured_mesh: VoronoiMesh) -> None:
    assert abs(unstructured_mesh.piece_measure.sum() - 4.0) < 1e-13
    for name in ("left", "right", "bottom", "top"):
        sel = unstructured_mesh.piece_marker == unstructured_mesh.tag(name)
        assert abs(unstructured_mesh.piece_measure[sel].sum() - 1.0) < 1e-13


def test_too_anisotropic_unstructured_cells_are_refused() -> None:
    with pytest.raises(ValueError, match="too anisotropic"):
        rectangle(0.0, 3.0, 0.0, 1.0, 3, 4, kind="unstructured")


def test_unstructured_generator_is_reproducible_and_unstructured() -> None:
    a, b = unit_square(10, "unstructured", seed=5), unit_square(10, "unstructured", seed=5)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.triangles, b.triangles)
    valence = np.bincount(a.triangles.ravel())
    assert len(np.unique(valence)) > 3  # not a regular pattern


def test_gmsh_mesh_is_admissible() -> None:
    pytest.importorskip("gmsh")
    from pnpf_fem.gmsh_io import gmsh_rectangle

    tri = gmsh_rectangle(0.0, 2.0, 0.0, 1.0, h=0.15)
    mesh = VoronoiMesh.from_triangulation(tri)
    assert abs(mesh.volumes.sum() - 2.0) < 1e-12
    assert set(mesh.tag_names) == {"left", "right", "bottom", "top"}
