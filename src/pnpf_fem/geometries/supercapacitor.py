"""The supercapacitor cell of Fig. 3 of the PNPF paper (§4.2), as a parametrized gmsh geometry.

The paper shows the electrolyte inside [−10, 10] × [0, 10] nm² between two electrodes whose
interfaces are branched, but does not give their shapes. We build comb-like electrodes: the
electrolyte fills the central gap |x| ≤ gap/2 and penetrates each electrode through `fingers`
straight pores of width `finger_width` and depth `finger_depth`, each with `branches` pairs of
side pores (width `branch_width`, length `branch_length`) — a tree of depth two, as in the figure.
The left and right electrodes are mirror images.

Boundary parts (§4.2): Γ1 = {y = 0 or H, |x| ≤ gap/2} (zero surface charge), Γ2 = electrode
boundary with x > gap/2 (ψ = ψ*), Γ3 = electrode boundary with x < −gap/2 (ψ = 0). Tag names:
"gamma1", "gamma2", "gamma3". Coordinates are in units of `length_scale` (default: nanometres are
scaled by L = 10 nm, so the box is [−1, 1] × [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gmsh
import numpy as np

from pnpf_fem.errors import InputError
from pnpf_fem.gmsh_io import gmsh_model, read_gmsh_model
from pnpf_fem.meshing import TaggedTriangulation, conform_boundary

__all__ = [
    "DEFAULT_MESH_FILE",
    "CombElectrodes",
    "load_triangulation",
    "save_triangulation",
    "supercapacitor_mesh",
]

# The default comb mesh (CombElectrodes(), size_min 0.15 nm, size_max 0.8 nm, conformed), as
# written by meshes/make_supercapacitor_mesh.py (a source checkout only).
DEFAULT_MESH_FILE = Path(__file__).resolve().parents[3] / "meshes" / "supercapacitor.npz"

TAGS = {"gamma1": 1, "gamma2": 2, "gamma3": 3}


@dataclass(frozen=True)
class CombElectrodes:
    """Geometry parameters in nm (the paper's units)."""

    width: float = 20.0  # box [−width/2, width/2]
    height: float = 10.0  # box [0, height]
    gap: float = 4.0  # central electrolyte gap, Γ1 = {|x| ≤ gap/2}
    fingers: int = 3  # pores per electrode
    finger_width: float = 1.2
    finger_depth: float = 6.0
    branches: int = 2  # pairs of side pores per finger
    branch_width: float = 0.6
    branch_length: float = 0.8

    def __post_init__(self) -> None:
        for name in ("width", "height", "gap", "finger_width", "finger_depth"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise InputError(f"geometry.{name} must be positive, got {v}")
        if self.fingers < 0 or self.branches < 0:
            raise InputError("geometry.fingers and geometry.branches must be >= 0")
        half = self.width / 2
        if self.gap >= self.width:
            raise InputError(f"geometry.gap = {self.gap} must be smaller than width {self.width}")
        if self.gap / 2 + self.finger_depth >= half:
            raise InputError(
                f"geometry.finger_depth = {self.finger_depth} reaches the box edge "
                f"(gap/2 + depth must be < {half})"
            )
        pitch = self.height / max(self.fingers, 1)
        if (
            self.fingers
            and self.finger_width + 2 * self.branch_length * (self.branches > 0) >= pitch
        ):
            raise InputError(
                f"geometry: {self.fingers} fingers of width {self.finger_width} with branches of "
                f"length {self.branch_length} do not fit in height {self.height}"
            )
        if self.branches:
            spacing = self.finger_depth / (self.branches + 1)
            if self.branch_width >= spacing:
                raise InputError(
                    f"geometry.branch_width = {self.branch_width} must be below the branch "
                    f"spacing {spacing:.3g}"
                )

    def pore_rectangles(self) -> list[tuple[float, float, float, float]]:
        """Electrolyte rectangles (x0, y0, dx, dy) in nm: the gap and all pores of both sides."""
        rects = [(-self.gap / 2, 0.0, self.gap, self.height)]
        pitch = self.height / max(self.fingers, 1)
        for side in (1.0, -1.0):
            for k in range(self.fingers):
                yc = (k + 0.5) * pitch
                x_in = self.gap / 2
                # the finger, overlapping the gap slightly so the union is one surface
                x0 = x_in - 1e-3 if side > 0 else -x_in - self.finger_depth
                rects.append(
                    (x0, yc - self.finger_width / 2, self.finger_depth + 1e-3, self.finger_width)
                )
                for b in range(self.branches):
                    xb = x_in + (b + 1) * self.finger_depth / (self.branches + 1)
                    xb = xb if side > 0 else -xb
                    for sy in (1.0, -1.0):
                        y0 = yc + sy * self.finger_width / 2
                        y_lo = y0 if sy > 0 else y0 - self.branch_length
                        rects.append(
                            (
                                xb - self.branch_width / 2,
                                y_lo - (1e-3 if sy > 0 else 0.0),
                                self.branch_width,
                                self.branch_length + 1e-3,
                            )
                        )
        return rects


def supercapacitor_mesh(
    geometry: CombElectrodes | None = None,
    size_min: float = 0.15,
    size_max: float = 0.8,
    refine_distance: float = 1.5,
    length_scale_nm: float = 10.0,
    conform: bool = True,
) -> TaggedTriangulation:
    """Mesh the electrolyte of the comb cell with gmsh (Delaunay), refined near the electrodes.

    Sizes are in nm: `size_min` at the electrode interfaces (resolve the Debye length, ≈ 0.97 nm
    for 0.2 M), growing to `size_max` at `refine_distance` from them. Coordinates of the result
    are divided by `length_scale_nm`.

    With `conform` (default) the gmsh mesh is made admissible for the Voronoi finite volumes by
    `pnpf_fem.meshing.conform_boundary` (Delaunay flips, and midpoint splits of the boundary edges
    with an obtuse opposite angle, which gmsh leaves at the re-entrant pore corners), so FEM and
    FV can run on the same vertices.
    """
    geo = geometry or CombElectrodes()
    if not (0 < size_min <= size_max):
        raise InputError(
            f"mesh sizes must satisfy 0 < size_min <= size_max, got {size_min}, {size_max}"
        )
    with gmsh_model("supercapacitor"):
        occ = gmsh.model.occ
        surfaces = [
            (2, occ.addRectangle(x0, y0, 0.0, dx, dy)) for (x0, y0, dx, dy) in geo.pore_rectangles()
        ]
        if len(surfaces) > 1:
            occ.fuse(surfaces[:1], surfaces[1:])
        occ.removeAllDuplicates()
        occ.synchronize()
        surf = [tag for dim, tag in gmsh.model.getEntities(2)]
        if len(surf) != 1:
            raise InputError(
                f"geometry: the electrolyte is not one connected surface ({len(surf)} parts)"
            )
        groups: dict[str, list[int]] = {"gamma1": [], "gamma2": [], "gamma3": []}
        eps = 1e-6
        for _, c in gmsh.model.getEntities(1):
            xmin, ymin, _, xmax, ymax, _ = gmsh.model.getBoundingBox(1, c)
            xc = 0.5 * (xmin + xmax)
            on_lid = (abs(ymax - ymin) < eps) and (abs(ymin) < eps or abs(ymin - geo.height) < eps)
            if on_lid and xmin >= -geo.gap / 2 - eps and xmax <= geo.gap / 2 + eps:
                groups["gamma1"].append(c)
            elif xc > 0:
                groups["gamma2"].append(c)
            else:
                groups["gamma3"].append(c)
        for name, curves in groups.items():
            gmsh.model.addPhysicalGroup(1, curves, TAGS[name], name=name)
        gmsh.model.addPhysicalGroup(2, surf, 1, name="electrolyte")
        # Size field: fine next to the electrode interfaces (the Debye layers form there).
        field = gmsh.model.mesh.field
        dist = field.add("Distance")
        field.setNumbers(dist, "CurvesList", groups["gamma2"] + groups["gamma3"])
        field.setNumber(dist, "Sampling", 200)
        thr = field.add("Threshold")
        field.setNumber(thr, "InField", dist)
        field.setNumber(thr, "SizeMin", size_min)
        field.setNumber(thr, "SizeMax", size_max)
        field.setNumber(thr, "DistMin", 0.0)
        field.setNumber(thr, "DistMax", refine_distance)
        field.setAsBackgroundMesh(thr)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.option.setNumber("Mesh.Algorithm", 5)  # Delaunay
        gmsh.model.mesh.generate(2)
        mesh = read_gmsh_model(2, source="the supercapacitor mesh")
    tri = mesh.to_triangulation(scale=1.0 / length_scale_nm)
    return conform_boundary(tri) if conform else tri


def save_triangulation(tri: TaggedTriangulation, path: str | Path) -> Path:
    """Write a TaggedTriangulation to a NumPy .npz file (exact float64 coordinates)."""
    path = Path(path)
    names = sorted(tri.tag_names)
    np.savez_compressed(
        path,
        points=tri.points,
        triangles=tri.triangles,
        facets=tri.facets,
        facet_markers=tri.facet_markers,
        tag_names=np.array(names),
        tag_values=np.array([tri.tag_names[n] for n in names], dtype=np.int64),
    )
    return path


def load_triangulation(path: str | Path | None = None) -> TaggedTriangulation:
    """Read a TaggedTriangulation written by `save_triangulation` (default: DEFAULT_MESH_FILE)."""
    path = Path(path) if path is not None else DEFAULT_MESH_FILE
    if not path.is_file():
        raise InputError(
            f"mesh file {path} not found (write it with meshes/make_supercapacitor_mesh.py)"
        )
    with np.load(path, allow_pickle=False) as data:
        missing = {"points", "triangles", "facets", "facet_markers", "tag_names", "tag_values"}
        missing -= set(data.files)
        if missing:
            raise InputError(f"mesh file {path} lacks the arrays {sorted(missing)}")
        names = {str(n): int(v) for n, v in zip(data["tag_names"], data["tag_values"], strict=True)}
        return TaggedTriangulation(
            points=data["points"],
            triangles=data["triangles"],
            facets=data["facets"],
            facet_markers=data["facet_markers"],
            tag_names=names,
        )
