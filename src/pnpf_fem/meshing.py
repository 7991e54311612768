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

__all__ = ["TaggedTriangulation"]


@dataclass(frozen=True, eq=False)
class TaggedTriangulation:
    """Vertices, triangles and tagged boundary facets (edges) of a 2D mesh.

    points: (N, 2) float coordinates; triangles: (K, 3) vertex indices; facets: (F, 2) vertex
    indices of tagged boundary edges; facet_markers: (F,) integer tags; tag_names: name → tag.
    """

    points: npt.NDArray[np.float64]
    triangles: npt.NDArray[np.int64]
    facets: npt.NDArray[np.int64]
    facet_markers: npt.NDArray[np.int32]
    tag_names: Mapping[str, int]

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
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "triangles", tri)
        object.__setattr__(self, "facets", fac)
        object.__setattr__(self, "facet_markers", mk)
        object.__setattr__(self, "tag_names", MappingProxyType(names))

    @property
    def num_vertices(self) -> int:
        return int(self.points.shape[0])

    def tag(self, name: str) -> int:
        """The integer tag of a named boundary part; a clear error for an unknown name."""
        try:
            return self.tag_names[name]
        except KeyError:
            known = ", ".join(sorted(self.tag_names)) or "none"
            raise ValueError(f"unknown boundary tag name {name!r} (known: {known})") from None

    def facets_of(self, name: str) -> npt.NDArray[np.int64]:
        """(F_name, 2) vertex indices of the facets carrying the named tag."""
        return self.facets[self.facet_markers == self.tag(name)]
