"""A 3D tetrahedral mesh with named boundary tags and regions: what the FEM builds 3D runs from.

The 3D counterpart of `pnpf_fem.meshing.TaggedTriangulation` (the finite volumes stay 2D): read on
rank 0 from gmsh (`pnpf_fem.gmsh_io.GmshMesh.to_tetrahedra`) or generated here (`box`), then
distributed by `pnpf_fem.fem.mesh.from_triangulation`, which takes either kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from pnpf_fem.meshing import TaggedCells

__all__ = ["BOX_TAGS", "TaggedTetrahedra", "box"]


@dataclass(frozen=True, eq=False)
class TaggedTetrahedra(TaggedCells):
    """Vertices, tetrahedra and tagged boundary facets (triangles) of a 3D mesh.

    points: (N, 3) coordinates; tetrahedra: (K, 4) vertex indices; facets: (F, 3) vertex indices
    of tagged boundary triangles; facet_markers: (F,) tags; tag_names: name → tag;
    cell_markers: (K,) the region of each tetrahedron (0: none); region_names: name → region.
    """

    points: npt.NDArray[np.float64]
    tetrahedra: npt.NDArray[np.int64]
    facets: npt.NDArray[np.int64]
    facet_markers: npt.NDArray[np.int32]
    tag_names: Mapping[str, int]
    cell_markers: npt.NDArray[np.int32] | None = None
    region_names: Mapping[str, int] = MappingProxyType({})

    def __post_init__(self) -> None:
        pts = np.ascontiguousarray(self.points, dtype=np.float64)
        tets = np.ascontiguousarray(self.tetrahedra, dtype=np.int64)
        fac = np.ascontiguousarray(self.facets, dtype=np.int64).reshape(-1, 3)
        mk = np.ascontiguousarray(self.facet_markers, dtype=np.int32).reshape(-1)
        if pts.ndim != 2 or pts.shape[1] != 3 or tets.ndim != 2 or tets.shape[1] != 4:
            raise ValueError(
                f"TaggedTetrahedra needs points (N, 3) and tetrahedra (K, 4), got {pts.shape} "
                f"and {tets.shape}"
            )
        if not np.all(np.isfinite(pts)):
            raise ValueError("TaggedTetrahedra.points contains non-finite coordinates")
        for name, arr in (("tetrahedra", tets), ("facets", fac)):
            if arr.size and (arr.min() < 0 or arr.max() >= pts.shape[0]):
                raise ValueError(f"TaggedTetrahedra.{name} refers to a vertex outside the mesh")
        if mk.shape[0] != fac.shape[0]:
            raise ValueError("TaggedTetrahedra.facet_markers must have one entry per facet")
        names = dict(self.tag_names)
        unknown = sorted(set(np.unique(mk).tolist()) - set(names.values()))
        if unknown:
            raise ValueError(f"TaggedTetrahedra.facet_markers has unnamed tags {unknown}")
        self._set_regions(tets.shape[0])
        for attr, value in (
            ("points", pts),
            ("tetrahedra", tets),
            ("facets", fac),
            ("facet_markers", mk),
            ("tag_names", MappingProxyType(names)),
        ):
            object.__setattr__(self, attr, value)

    dim = 3

    @property
    def cells(self) -> npt.NDArray[np.int64]:
        """The tetrahedra."""
        return self.tetrahedra


BOX_TAGS = {"left": 1, "right": 2, "bottom": 3, "top": 4, "front": 5, "back": 6}
"""x = x0 | x1, y = y0 | y1, z = z0 | z1 (the 2D names, plus front/back in z)."""

# The six tetrahedra of a cube (Kuhn/Freudenthal): corners as bit patterns (x, y, z) ∈ {0, 1}³
# along every monotone path from (0,0,0) to (1,1,1). Neighbouring cubes split their common
# face along the same diagonal, so the mesh is conforming.
_KUHN = np.array(
    [
        [0b000, 0b100, 0b110, 0b111],
        [0b000, 0b100, 0b101, 0b111],
        [0b000, 0b010, 0b110, 0b111],
        [0b000, 0b010, 0b011, 0b111],
        [0b000, 0b001, 0b101, 0b111],
        [0b000, 0b001, 0b011, 0b111],
    ]
)


def box(
    nx: int,
    ny: int | None = None,
    nz: int | None = None,
    lengths: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> TaggedTetrahedra:
    """[0, Lx] × [0, Ly] × [0, Lz] cut into nx × ny × nz cubes of six tetrahedra each, the faces
    tagged by `BOX_TAGS` (ny, nz default to nx)."""
    ny = nx if ny is None else ny
    nz = nx if nz is None else nz
    if min(nx, ny, nz) < 1 or min(lengths) <= 0:
        raise ValueError(f"box needs n >= 1 and lengths > 0, got {(nx, ny, nz)}, {lengths}")
    axes = [np.linspace(0.0, L, n + 1) for L, n in zip(lengths, (nx, ny, nz), strict=True)]
    X, Y, Z = np.meshgrid(*axes, indexing="ij")
    points = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])

    def index(i, j, k):
        return (np.asarray(i) * (ny + 1) + j) * (nz + 1) + k

    i, j, k = (
        a.ravel() for a in np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    )
    corner = np.stack(
        [index(i + (b >> 2 & 1), j + (b >> 1 & 1), k + (b & 1)) for b in range(8)], axis=1
    )
    tetrahedra = corner[:, _KUHN].reshape(-1, 4)
    facets, markers = _box_faces(tetrahedra, points, lengths)
    return TaggedTetrahedra(points, tetrahedra, facets, markers, BOX_TAGS)


def _box_faces(tets, points, lengths) -> tuple[np.ndarray, np.ndarray]:
    """The boundary triangles of the tetrahedra (faces of one tetrahedron only), tagged by the
    side of the box they lie on."""
    faces = np.concatenate([np.delete(tets, d, axis=1) for d in range(4)])
    key = np.sort(faces, axis=1)
    _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
    faces = faces[first[counts == 1]]
    centre = points[faces].mean(axis=1)
    markers = np.zeros(faces.shape[0], dtype=np.int32)
    for axis, (low, high) in enumerate((("left", "right"), ("bottom", "top"), ("front", "back"))):
        tol = 1e-12 * lengths[axis]
        markers[np.abs(centre[:, axis]) < tol] = BOX_TAGS[low]
        markers[np.abs(centre[:, axis] - lengths[axis]) < tol] = BOX_TAGS[high]
    return faces, markers
