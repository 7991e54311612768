"""An interdigitated 3D comb: two sets of finger electrodes standing in an electrolyte box.

The electrolyte fills [0, 1] × [0, 1] × [0, height] (units of the length scale L) minus
2·`fingers` rectangular bars on the floor z = 0: anode fingers grow from the wall y = 0, cathode
fingers from y = 1, alternating in x, each `finger_width` wide, `finger_height` high and reaching
to `gap` from the opposite wall. Above and beside the fingers the field is fully 3D (a bar of
finite height), unlike an extruded 2D comb. Tags: "anode" and "cathode" (the fingers' faces in the
electrolyte), "walls" (the rest of the box: insulating); region "electrolyte".
"""

from __future__ import annotations

from dataclasses import dataclass

import gmsh
import numpy as np

from pnpf_fem.errors import InputError
from pnpf_fem.gmsh_io import gmsh_model, read_gmsh_model
from pnpf_fem.meshing3d import TaggedTetrahedra

__all__ = ["Comb3D", "comb3d_mesh"]


@dataclass(frozen=True)
class Comb3D:
    """Geometry parameters in units of L."""

    fingers: int = 2  # fingers per electrode
    height: float = 0.5  # box [0, 1] × [0, 1] × [0, height]
    finger_width: float = 0.1
    finger_height: float = 0.3
    gap: float = 0.2  # from a finger's tip to the opposite wall

    def __post_init__(self) -> None:
        pitch = 1.0 / (2 * self.fingers) if self.fingers > 0 else 0.0
        if self.fingers < 1 or not 0 < self.finger_width < pitch:
            raise InputError(
                f"Comb3D needs fingers >= 1 and 0 < finger_width < 1/(2 fingers), got "
                f"{self.fingers}, {self.finger_width}"
            )
        if not (0 < self.finger_height < self.height and 0 < self.gap < 1):
            raise InputError("Comb3D needs 0 < finger_height < height and 0 < gap < 1")

    def bars(self) -> list[tuple[str, tuple[float, float, float, float, float, float]]]:
        """(electrode, (x0, y0, z0, dx, dy, dz)) of every finger, alternating anode/cathode."""
        pitch = 1.0 / (2 * self.fingers)
        out = []
        for i in range(2 * self.fingers):
            x0 = (i + 0.5) * pitch - 0.5 * self.finger_width
            anode = i % 2 == 0
            y0 = 0.0 if anode else self.gap
            dims = (self.finger_width, 1.0 - self.gap, self.finger_height)
            out.append(("anode" if anode else "cathode", (x0, y0, 0.0, *dims)))
        return out


def comb3d_mesh(geo: Comb3D, size_min: float = 0.04, size_max: float = 0.12) -> TaggedTetrahedra:
    """The tetrahedral mesh of `geo`: size_min on the fingers, growing to size_max (units of L)."""
    if not 0 < size_min <= size_max:
        raise InputError(f"comb3d needs 0 < size_min <= size_max, got {size_min}, {size_max}")
    with gmsh_model("comb3d"):
        occ = gmsh.model.occ
        domain = occ.addBox(0, 0, 0, 1, 1, geo.height)
        bars = [(name, occ.addBox(*box)) for name, box in geo.bars()]
        volumes, _ = occ.cut([(3, domain)], [(3, tag) for _, tag in bars])
        occ.synchronize()
        surfaces = {"anode": [], "cathode": [], "walls": []}
        for _, s in gmsh.model.getBoundary(volumes, oriented=False):
            surfaces[_owner(geo, gmsh.model.occ.getCenterOfMass(2, s))].append(s)
        for tag, (name, ids) in enumerate(surfaces.items(), 1):
            gmsh.model.addPhysicalGroup(2, ids, tag, name=name)
        gmsh.model.addPhysicalGroup(3, [v for _, v in volumes], 1, name="electrolyte")
        _size_field(surfaces["anode"] + surfaces["cathode"], size_min, size_max)
        gmsh.model.mesh.generate(3)
        return read_gmsh_model(3, source="the comb3d geometry").to_tetrahedra()


def _owner(geo: Comb3D, centre: tuple[float, float, float]) -> str:
    """Which boundary part a face with this centre of mass belongs to."""
    x, y, z = centre
    tol = 1e-9
    on_box = min(x, 1 - x, y, 1 - y, z, geo.height - z) < tol
    if on_box:
        return "walls"
    for name, (x0, y0, z0, dx, dy, dz) in geo.bars():
        inside = np.array([x - x0, x0 + dx - x, y - y0, y0 + dy - y, z - z0, z0 + dz - z])
        if np.all(inside > -tol):
            return name
    raise RuntimeError(f"comb3d: a face at {centre} belongs to no finger and to no wall")


def _size_field(faces: list[int], size_min: float, size_max: float) -> None:
    field = gmsh.model.mesh.field
    distance = field.add("Distance")
    field.setNumbers(distance, "SurfacesList", faces)
    threshold = field.add("Threshold")
    field.setNumber(threshold, "InField", distance)
    field.setNumber(threshold, "SizeMin", size_min)
    field.setNumber(threshold, "SizeMax", size_max)
    field.setNumber(threshold, "DistMin", 0.5 * size_min)
    field.setNumber(threshold, "DistMax", 0.3)
    field.setAsBackgroundMesh(threshold)
    for option in ("Mesh.MeshSizeExtendFromBoundary", "Mesh.MeshSizeFromPoints"):
        gmsh.option.setNumber(option, 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
