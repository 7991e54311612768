"""A 2D triangulation with named boundary tags: the one mesh object FEM and FV both read.

FEM converts it to a DOLFINx mesh (vertices coincide), FV builds its Voronoi boxes from it, so the
two discretizations can be compared vertex by vertex.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
from scipy.spatial import Delaunay

from pnpf_fem.errors import InputError

__all__ = [
    "SIDE_TAGS",
    "TaggedCells",
    "TaggedTriangulation",
    "conform_boundary",
    "delaunay_flip",
    "mark_region",
    "rectangle",
    "strip",
    "tag_of",
    "unit_square",
]


def tag_of(tag_names: Mapping[str, int], name: str) -> int:
    """The integer tag of the boundary part `name` (InputError naming the known ones)."""
    try:
        return tag_names[name]
    except KeyError:
        known = ", ".join(sorted(tag_names)) or "none"
        raise InputError(f"unknown boundary tag name {name!r} (known: {known})") from None


class TaggedCells:
    """What the tagged meshes of every dimension share (`TaggedTriangulation`,
    `pnpf_fem.meshing3d.TaggedTetrahedra`): named boundary tags and regions of `cells`."""

    points: npt.NDArray[np.float64]
    facets: npt.NDArray[np.int64]
    facet_markers: npt.NDArray[np.int32]
    tag_names: Mapping[str, int]
    cell_markers: npt.NDArray[np.int32]
    region_names: Mapping[str, int]

    @property
    def cells(self) -> npt.NDArray[np.int64]:
        """The cells of the top dimension (triangles, tetrahedra)."""
        raise NotImplementedError

    @property
    def num_vertices(self) -> int:
        return int(self.points.shape[0])

    def tag(self, name: str) -> int:
        """The integer tag of a named boundary part; a clear error for an unknown name."""
        return tag_of(self.tag_names, name)

    def region(self, name: str) -> int:
        """The integer tag of a named region (InputError naming the known ones)."""
        try:
            return self.region_names[name]
        except KeyError:
            known = ", ".join(sorted(self.region_names)) or "none"
            raise InputError(f"unknown region name {name!r} (known: {known})") from None

    def cells_of(self, name: str) -> npt.NDArray[np.int64]:
        """Indices of the cells of the named region."""
        return np.nonzero(self.cell_markers == self.region(name))[0]

    def facets_of(self, name: str) -> npt.NDArray[np.int64]:
        """(F_name, dim) vertex indices of the facets carrying the named tag."""
        return self.facets[self.facet_markers == self.tag(name)]

    def parts(self) -> tuple:
        """The constructor arguments, as plain arrays and dicts (to send between ranks)."""
        return (
            self.points,
            self.cells,
            self.facets,
            self.facet_markers,
            dict(self.tag_names),
            self.cell_markers,
            dict(self.region_names),
        )

    def _set_regions(self, num_cells: int) -> None:
        """Check cell_markers (default all 0: no region) against region_names and store them."""
        what = type(self).__name__
        cm = self.cell_markers
        cm = np.zeros(num_cells, np.int32) if cm is None else np.asarray(cm, dtype=np.int32)
        if cm.shape != (num_cells,):
            raise ValueError(f"{what}.cell_markers has shape {cm.shape} for {num_cells} cells")
        regions = dict(self.region_names)
        unnamed = sorted(set(np.unique(cm).tolist()) - set(regions.values()) - {0})
        if unnamed:
            raise ValueError(f"{what}.cell_markers has unnamed regions {unnamed}")
        object.__setattr__(self, "cell_markers", np.ascontiguousarray(cm))
        object.__setattr__(self, "region_names", MappingProxyType(regions))


@dataclass(frozen=True, eq=False)
class TaggedTriangulation(TaggedCells):
    """Vertices, triangles and tagged boundary facets (edges) of a 2D mesh.

    points: (N, 2) float coordinates; triangles: (K, 3) vertex indices; facets: (F, 2) vertex
    indices of tagged boundary edges; facet_markers: (F,) integer tags; tag_names: name → tag.
    cell_markers: (K,) the region of each triangle (0: none; default all 0) and region_names:
    name → region tag (gmsh physical surfaces, or regions marked by `mark_region`).
    """

    points: npt.NDArray[np.float64]
    triangles: npt.NDArray[np.int64]
    facets: npt.NDArray[np.int64]
    facet_markers: npt.NDArray[np.int32]
    tag_names: Mapping[str, int]
    cell_markers: npt.NDArray[np.int32] | None = None
    region_names: Mapping[str, int] = MappingProxyType({})

    def __post_init__(self) -> None:
        pts = np.ascontiguousarray(self.points, dtype=np.float64)
        tri = np.ascontiguousarray(self.triangles, dtype=np.int64)
        fac = np.ascontiguousarray(self.facets, dtype=np.int64).reshape(-1, 2)
        mk = np.ascontiguousarray(self.facet_markers, dtype=np.int32).reshape(-1)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"TaggedTriangulation.points must have shape (N, 2), got {pts.shape}")
        if tri.ndim != 2 or tri.shape[1] != 3:
            raise ValueError(
                f"TaggedTriangulation.triangles must have shape (K, 3), got {tri.shape}"
            )
        if not np.all(np.isfinite(pts)):
            raise ValueError("TaggedTriangulation.points contains non-finite coordinates")
        n = pts.shape[0]
        for name, arr in (("triangles", tri), ("facets", fac)):
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise ValueError(
                    f"TaggedTriangulation.{name} refers to a vertex outside 0..{n - 1}"
                )
        if mk.shape[0] != fac.shape[0]:
            raise ValueError(
                f"TaggedTriangulation.facet_markers has {mk.shape[0]} entries for "
                f"{fac.shape[0]} facets"
            )
        names = dict(self.tag_names)
        unknown = sorted(set(np.unique(mk).tolist()) - set(names.values()))
        if unknown:
            raise ValueError(f"TaggedTriangulation.facet_markers has unnamed tags {unknown}")
        self._set_regions(tri.shape[0])
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "triangles", tri)
        object.__setattr__(self, "facets", fac)
        object.__setattr__(self, "facet_markers", mk)
        object.__setattr__(self, "tag_names", MappingProxyType(names))

    dim = 2

    @property
    def cells(self) -> npt.NDArray[np.int64]:
        """The triangles."""
        return self.triangles

    def with_triangles(
        self,
        points: npt.NDArray[np.float64],
        triangles: npt.NDArray[np.int64],
        facets: npt.NDArray[np.int64],
        facet_markers: npt.NDArray[np.int32],
        cell_markers: npt.NDArray[np.int32],
    ) -> TaggedTriangulation:
        """The same tags and regions on new points, triangles and facets."""
        return TaggedTriangulation(
            points,
            triangles,
            facets,
            facet_markers,
            dict(self.tag_names),
            cell_markers,
            dict(self.region_names),
        )


# --- Mesh generators for tests and demos (admissible for the Voronoi finite volumes) -----------

SIDE_TAGS = {"left": 1, "right": 2, "bottom": 3, "top": 4}


def _rectangle_boundary(nx: int, ny: int, index) -> tuple[np.ndarray, np.ndarray]:
    """Facets and markers of the four sides of a rectangle from a vertex-index function."""
    i, j = np.arange(nx), np.arange(ny)
    sides = {
        "bottom": (index(i, 0), index(i + 1, 0)),
        "right": (index(nx, j), index(nx, j + 1)),
        "top": (index(i + 1, ny), index(i, ny)),
        "left": (index(0, j + 1), index(0, j)),
    }
    facets = np.vstack([np.column_stack(np.broadcast_arrays(*ab)) for ab in sides.values()])
    markers = np.concatenate([np.full(len(ab[0]), SIDE_TAGS[k]) for k, ab in sides.items()])
    return facets.astype(np.int64), markers.astype(np.int32)


def rectangle(
    x0: float,
    x1: float,
    y0: float,
    y1: float,
    nx: int,
    ny: int,
    kind: str = "structured",
    jitter: float = 0.25,
    seed: int = 0,
) -> TaggedTriangulation:
    """A triangulated rectangle with sides tagged "left", "right", "bottom", "top".

    kind="structured": an nx×ny grid of squares, each cut along one diagonal, alternating so that
    neighbouring squares mirror each other ("criss-cross"). All angles are ≤ 90°, so the mesh is
    Delaunay and admissible; the diagonals have τ_σ = 0 (cocircular vertices).

    kind="unstructured": the boundary vertices of the same grid, interior vertices moved randomly
    by up to `jitter`·(spacing) in each direction (seeded, reproducible), then the Delaunay
    triangulation (scipy.spatial.Delaunay). Interior vertices stay at least (1 − jitter)·spacing
    from the boundary, i.e. outside every boundary edge's diametral circle for jitter < 1/2, so
    every angle opposite a boundary edge is < 90°: the mesh is admissible by construction (this
    needs (1 − jitter)·min(hx, hy) ≥ max(hx, hy)/2, else ValueError).
    """
    if nx < 1 or ny < 1:
        raise ValueError(f"rectangle needs nx, ny >= 1, got {nx}, {ny}")
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"rectangle needs x1 > x0 and y1 > y0, got {(x0, x1, y0, y1)}")
    xs = np.linspace(x0, x1, nx + 1)
    ys = np.linspace(y0, y1, ny + 1)
    X, Y = np.meshgrid(xs, ys, indexing="ij")  # vertex (i, j) has index i*(ny+1)+j
    pts = np.column_stack([X.ravel(), Y.ravel()])

    def index(i: int, j: int) -> int:
        return i * (ny + 1) + j

    if kind == "structured":
        i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
        i, j = i.ravel(), j.ravel()
        a, b = index(i, j), index(i + 1, j)
        c, d = index(i + 1, j + 1), index(i, j + 1)
        flip = (i + j) % 2 == 1
        t1 = np.where(flip[:, None], np.column_stack([a, b, d]), np.column_stack([a, b, c]))
        t2 = np.where(flip[:, None], np.column_stack([b, c, d]), np.column_stack([a, c, d]))
        tri = np.vstack([t1, t2])
    elif kind == "unstructured":
        if not 0.0 <= jitter < 0.5:
            raise ValueError(f"rectangle: jitter must be in [0, 0.5), got {jitter}")

        hx, hy = (x1 - x0) / nx, (y1 - y0) / ny
        if (1.0 - jitter) * min(hx, hy) < 0.5 * max(hx, hy):
            raise ValueError(
                f"rectangle(kind='unstructured'): cells {hx:g}×{hy:g} are too anisotropic for "
                f"jitter {jitter}; need (1 − jitter)·min(hx, hy) ≥ max(hx, hy)/2 so that no "
                "interior vertex enters a boundary edge's diametral circle"
            )
        rng = np.random.default_rng(seed)
        interior = (X[1:-1, 1:-1].ravel(), Y[1:-1, 1:-1].ravel())
        Xi = X.copy()
        Yi = Y.copy()
        Xi[1:-1, 1:-1] = (interior[0] + jitter * hx * rng.uniform(-1, 1, interior[0].size)).reshape(
            nx - 1, ny - 1
        )
        Yi[1:-1, 1:-1] = (interior[1] + jitter * hy * rng.uniform(-1, 1, interior[1].size)).reshape(
            nx - 1, ny - 1
        )
        pts = np.column_stack([Xi.ravel(), Yi.ravel()])
        tri = Delaunay(pts).simplices.astype(np.int64)
        # drop degenerate slivers Qhull may return on the straight boundary
        p = pts[tri]
        area2 = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (
            p[:, 1, 1] - p[:, 0, 1]
        ) * (p[:, 2, 0] - p[:, 0, 0])
        tri = tri[np.abs(area2) > 1e-12 * hx * hy]
    else:
        raise ValueError(f"rectangle: kind must be 'structured' or 'unstructured', got {kind!r}")
    tri = _orient_counterclockwise(pts, tri)
    facets, markers = _rectangle_boundary(nx, ny, index)
    return TaggedTriangulation(pts, tri, facets, markers, dict(SIDE_TAGS))


def unit_square(n: int, kind: str = "structured", **kwargs) -> TaggedTriangulation:
    """[0,1]² with n intervals per side (h = 1/n); see `rectangle` for `kind`."""
    return rectangle(0.0, 1.0, 0.0, 1.0, n, n, kind=kind, **kwargs)


def mark_region(
    mesh: TaggedTriangulation, name: str, box: tuple[float, float, float, float]
) -> TaggedTriangulation:
    """`mesh` with the triangles whose centroids lie in box = (x0, x1, y0, y1) forming the
    region `name` (a new region, or added to the one of that name). For built-in meshes: align
    the box with mesh lines, or the region is the staircase of the triangles it holds."""
    x0, x1, y0, y1 = box
    if not (x0 < x1 and y0 < y1):
        raise InputError(f"region {name!r}: box {list(box)} must have x0 < x1 and y0 < y1")
    centroid = mesh.points[mesh.triangles].mean(axis=1)
    inside = (
        (centroid[:, 0] > x0)
        & (centroid[:, 0] < x1)
        & (centroid[:, 1] > y0)
        & (centroid[:, 1] < y1)
    )
    if not inside.any():
        raise InputError(
            f"region {name!r}: no triangle of the mesh has its centroid in {list(box)}"
        )
    regions = dict(mesh.region_names)
    tag = regions.setdefault(name, max(regions.values(), default=0) + 1)
    markers = np.where(inside, tag, mesh.cell_markers).astype(np.int32)
    return TaggedTriangulation(
        mesh.points,
        mesh.triangles,
        mesh.facets,
        mesh.facet_markers,
        dict(mesh.tag_names),
        markers,
        regions,
    )


def _orient_counterclockwise(pts: np.ndarray, tri: np.ndarray) -> np.ndarray:
    p = pts[tri]
    area2 = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (
        p[:, 2, 0] - p[:, 0, 0]
    )
    tri = tri.copy()
    neg = area2 < 0
    tri[neg] = tri[neg][:, [0, 2, 1]]
    return tri


def delaunay_flip(mesh: TaggedTriangulation, max_sweeps: int = 100) -> TaggedTriangulation:
    """Lawson edge flips until every interior edge is locally Delaunay (α + β ≤ π).

    For meshes from generators (e.g. gmsh) that are only nearly Delaunay. Boundary facets are
    never flipped, so tags are kept; a boundary edge whose opposite angle exceeds 90° cannot be
    fixed by flips (split that boundary edge instead). Edges between two regions are never
    flipped either, so regions keep their shapes.
    """
    pts = mesh.points
    tri = _orient_counterclockwise(pts, mesh.triangles)
    regions = mesh.cell_markers
    for _ in range(max_sweeps):
        e = np.sort(np.concatenate([tri[:, [1, 2]], tri[:, [2, 0]], tri[:, [0, 1]]]), axis=1)
        k = tri.shape[0]
        owner = np.tile(np.arange(k), 3)
        local = np.repeat(np.arange(3), k)  # local index of the opposite vertex
        key = e[:, 0] * pts.shape[0] + e[:, 1]
        order = np.argsort(key, kind="stable")
        ks = key[order]
        pair = np.nonzero(ks[1:] == ks[:-1])[0]
        a_idx, b_idx = order[pair], order[pair + 1]
        ta, tb = owner[a_idx], owner[b_idx]
        va = tri[ta, local[a_idx]]
        vb = tri[tb, local[b_idx]]
        p, q = e[a_idx, 0], e[a_idx, 1]
        cot_a = _cot(pts[va], pts[p], pts[q])
        cot_b = _cot(pts[vb], pts[p], pts[q])
        bad = np.nonzero((cot_a + cot_b < -1e-12) & (regions[ta] == regions[tb]))[0]
        if bad.size == 0:
            return mesh.with_triangles(pts, tri, mesh.facets, mesh.facet_markers, regions)
        used = np.zeros(k, dtype=bool)
        for b in bad:  # flips touching a triangle twice in one sweep are deferred
            t1, t2 = ta[b], tb[b]
            if used[t1] or used[t2]:
                continue
            used[t1] = used[t2] = True
            tri[t1] = [va[b], p[b], vb[b]]
            tri[t2] = [vb[b], q[b], va[b]]
        tri = _orient_counterclockwise(pts, tri)
    raise RuntimeError("delaunay_flip: no Delaunay triangulation after max_sweeps sweeps")


def conform_boundary(mesh: TaggedTriangulation, max_rounds: int = 30) -> TaggedTriangulation:
    """Make a triangulation admissible for Voronoi finite volumes: Delaunay inside, and every
    angle opposite a boundary edge ≤ 90°.

    Each boundary edge whose opposite angle is obtuse (typical at re-entrant corners of gmsh
    meshes) is split at its midpoint (the tagged facet is split too, keeping its tag), then
    `delaunay_flip` restores the Delaunay property; repeated until none is left. Vertices are
    only added on ∂Ω, so FEM meshes built from the result still coincide with the FV vertices.
    """
    pts = mesh.points
    tri = _orient_counterclockwise(pts, mesh.triangles)
    mesh = delaunay_flip(
        mesh.with_triangles(pts, tri, mesh.facets, mesh.facet_markers, mesh.cell_markers)
    )
    for _ in range(max_rounds):
        pts, tri = mesh.points, _orient_counterclockwise(mesh.points, mesh.triangles)
        n, k = pts.shape[0], tri.shape[0]
        # local edge opposite vertex l is (v[l+1], v[l+2]); boundary edges occur once
        a = np.concatenate([tri[:, 1], tri[:, 2], tri[:, 0]])
        b = np.concatenate([tri[:, 2], tri[:, 0], tri[:, 1]])
        c = np.concatenate([tri[:, 0], tri[:, 1], tri[:, 2]])
        owner = np.tile(np.arange(k), 3)
        key = np.minimum(a, b) * n + np.maximum(a, b)
        _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        boundary = counts[inv.reshape(-1)] == 1
        bad = np.nonzero(boundary & (_cot(pts[c], pts[a], pts[b]) < -1e-12))[0]
        if bad.size == 0:
            return mesh
        bad = bad[np.unique(owner[bad], return_index=True)[1]]  # at most one per triangle
        a, b, c, t = a[bad], b[bad], c[bad], owner[bad]
        mid = np.arange(n, n + bad.size)
        pts = np.vstack([pts, 0.5 * (pts[a] + pts[b])])
        tri = tri.copy()
        tri[t] = np.column_stack([c, a, mid])
        tri = np.vstack([tri, np.column_stack([c, mid, b])])
        regions = np.concatenate([mesh.cell_markers, mesh.cell_markers[t]])
        # split the tagged facets {a, b} as well, keeping orientation and tag
        fac, mk = mesh.facets, mesh.facet_markers
        fkey = np.minimum(fac[:, 0], fac[:, 1]) * n + np.maximum(fac[:, 0], fac[:, 1])
        skey = np.minimum(a, b) * n + np.maximum(a, b)
        order = np.argsort(skey)
        pos = np.searchsorted(skey[order], fkey)
        pos = np.minimum(pos, skey.size - 1)
        hit = skey[order][pos] == fkey
        m_of = mid[order][pos]
        keep = ~hit
        new_fac = np.vstack(
            [
                fac[keep],
                np.column_stack([fac[hit, 0], m_of[hit]]),
                np.column_stack([m_of[hit], fac[hit, 1]]),
            ]
        )
        new_mk = np.concatenate([mk[keep], mk[hit], mk[hit]])
        mesh = delaunay_flip(mesh.with_triangles(pts, tri, new_fac, new_mk, regions))
    raise RuntimeError(f"conform_boundary: obtuse boundary angles left after {max_rounds} rounds")


def _cot(apex: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Cotangent of the angle at `apex` of the triangles (apex, p, q)."""
    u, v = p - apex, q - apex
    dot = u[:, 0] * v[:, 0] + u[:, 1] * v[:, 1]
    cross = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])
    return dot / cross


def strip(n: int, height: float = 0.05, graded: bool = False) -> TaggedTriangulation:
    """[0, 1] × [0, height] as one row of n cells, each cut along the same diagonal: a 2D mesh
    for 1D problems. Every triangle has its right angle opposite the diagonal, so the P1
    stiffness of a field constant in y is the 3-point Laplacian and the mesh is Voronoi
    admissible. `graded` clusters the nodes at both ends (x_i = (1 − cos(πi/n))/2), where
    electrode double layers sit. Sides are tagged as by `unit_square`."""
    if n < 1 or not height > 0:
        raise ValueError(f"strip needs n >= 1 and height > 0, got {n}, {height}")
    k = np.arange(n + 1)
    x = 0.5 * (1 - np.cos(np.pi * k / n)) if graded else k / n
    points = np.concatenate([np.column_stack([x, 0 * x]), np.column_stack([x, 0 * x + height])])
    i = np.arange(n)
    a, b, c, d = i, i + 1, n + 2 + i, n + 1 + i  # (i, 0), (i+1, 0), (i+1, 1), (i, 1)
    triangles = np.concatenate([np.column_stack([a, b, c]), np.column_stack([a, c, d])])
    facets = np.concatenate(
        [[[0, n + 1]], [[n, 2 * n + 1]], np.column_stack([a, b]), np.column_stack([d, c])]
    )
    markers = np.concatenate(
        [
            [SIDE_TAGS["left"]],
            [SIDE_TAGS["right"]],
            np.full(n, SIDE_TAGS["bottom"]),
            np.full(n, SIDE_TAGS["top"]),
        ]
    )
    return TaggedTriangulation(points, triangles, facets, markers, dict(SIDE_TAGS))
