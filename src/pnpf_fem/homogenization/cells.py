"""Periodic reference cells Y: geometry, gmsh meshes with periodic node matching, cell tags.

A cell is the box [lower, upper] with the electrolyte Y^s tagged `FLUID_TAG` and the solid
Y \\ Y^s tagged `SOLID_TAG` (docs/theory.md §6, §7). Opposite faces are meshed periodically
(`gmsh.model.mesh.setPeriodic`), so every node on a face `x_i = upper_i` has a twin on
`x_i = lower_i`: the periodic constraints of `periodic.py` then couple dofs one to one.

Shapes (centred in the unit cell): `circle`, `ellipse`, `square` (2D), `sphere` (3D), `laminate`
(2D or 3D, a solid layer normal to any axis), plus any user gmsh file with electrolyte/solid tags.
Requests that cannot be met (porosity outside the range of the shape, an inclusion touching the
cell boundary) raise `InputError` before anything is meshed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gmsh
import numpy as np
import numpy.typing as npt
from dolfinx.io import gmshio
from mpi4py import MPI
from scipy.spatial import cKDTree

from pnpf_fem.errors import InputError
from pnpf_fem.gmsh_io import GmshMesh, gmsh_model, merge_gmsh_file, read_gmsh_model

__all__ = [
    "FLUID_TAG",
    "MIN_GAP",
    "SHAPES",
    "SOLID_TAG",
    "PeriodicCell",
    "cell_from_gmsh_file",
    "check_periodic_matching",
    "inclusion_size",
    "make_cell",
    "porosity_range",
]

FLUID_TAG = 1
SOLID_TAG = 2
INTERFACE_TAG = 3

SHAPES = ("circle", "ellipse", "square", "sphere", "laminate")

# Smallest distance between an inclusion and the cell boundary that we mesh. A touching or
# near-touching inclusion splits the fluid into pinched necks that no mesh resolves; refused.
MIN_GAP = 1e-3


@dataclass(frozen=True, eq=False)
class PeriodicCell:
    """A meshed periodic cell Y = [lower, upper] with fluid/solid cell tags.

    `mesh` and `cell_tags` are DOLFINx objects (the tags cover every cell: `fluid_tag` in Y^s,
    `solid_tag` in the solid). `target_porosity` is the requested p (None for user meshes); the
    porosity of the polygonal mesh is computed by `effective.py`, never assumed.
    """

    mesh: object  # dolfinx.mesh.Mesh
    cell_tags: object  # dolfinx.mesh.MeshTags
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    shape: str
    target_porosity: float | None = None
    mesh_size: float | None = None
    fluid_tag: int = FLUID_TAG
    solid_tag: int = SOLID_TAG

    @property
    def dim(self) -> int:
        return len(self.lower)

    @property
    def lengths(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.upper, dtype=float) - np.asarray(self.lower, dtype=float)

    @property
    def volume(self) -> float:
        return float(np.prod(self.lengths))

    def has_solid(self) -> bool:
        """True when at least one cell (on any rank) carries the solid tag."""
        local = int(np.count_nonzero(self.cell_tags.values == self.solid_tag))
        return self.mesh.comm.allreduce(local, op=MPI.SUM) > 0


def _shape_dim(shape: str, dim: int | None) -> int:
    if shape in ("circle", "ellipse", "square"):
        if dim not in (None, 2):
            raise InputError(f"shape {shape!r} is a 2D cell, got dim={dim}")
        return 2
    if shape == "sphere":
        if dim not in (None, 3):
            raise InputError(f"shape 'sphere' is a 3D cell, got dim={dim}")
        return 3
    if shape == "laminate":
        d = 2 if dim is None else dim
        if d not in (2, 3):
            raise InputError(f"laminate cells are 2D or 3D, got dim={dim}")
        return d
    raise InputError(f"unknown cell shape {shape!r}; choose one of {', '.join(SHAPES)}")


def porosity_range(shape: str, aspect: float = 2.0) -> tuple[float, float]:
    """Open lower / closed upper porosity limits (p_min, 1] of a centred inclusion.

    p_min is where the inclusion would touch the cell boundary (not supported), e.g.
    1 - π/4 for a disc, 1 - π/6 for a sphere, 0 for a square or a laminate layer.
    """
    _shape_dim(shape, None)
    if shape == "circle":
        return 1.0 - math.pi / 4.0, 1.0
    if shape == "ellipse":
        a = _check_aspect(aspect)
        # the larger semi-axis reaches 1/2 first: π·(1/2)·(1/(2a')) with a' = max(a, 1/a)
        big = max(a, 1.0 / a)
        return 1.0 - math.pi / (4.0 * big), 1.0
    if shape == "sphere":
        return 1.0 - math.pi / 6.0, 1.0
    return 0.0, 1.0  # square, laminate


def _check_aspect(aspect: float) -> float:
    if not (math.isfinite(aspect) and aspect > 0.0):
        raise InputError(f"ellipse aspect ratio must be a positive number, got {aspect!r}")
    return float(aspect)


def inclusion_size(shape: str, porosity: float, aspect: float = 2.0) -> tuple[float, ...]:
    """Half-sizes of the centred solid inclusion giving solid fraction 1 - p in the unit cell.

    circle: (r,), ellipse: (r_x, r_y) with r_x / r_y = aspect, square: (s/2,), sphere: (r,),
    laminate: (t/2,) with t the solid layer thickness. Raises InputError when p is outside the
    achievable range or the inclusion would come closer than `MIN_GAP` to the cell boundary.
    """
    p = _check_porosity(porosity)
    lo, _ = porosity_range(shape, aspect)
    f = 1.0 - p
    if shape == "circle":
        sizes: tuple[float, ...] = (math.sqrt(f / math.pi),)
    elif shape == "ellipse":
        a = _check_aspect(aspect)
        ry = math.sqrt(f / (math.pi * a))
        sizes = (a * ry, ry)
    elif shape == "square":
        sizes = (math.sqrt(f) / 2.0,)
    elif shape == "sphere":
        sizes = ((3.0 * f / (4.0 * math.pi)) ** (1.0 / 3.0),)
    else:  # laminate
        sizes = (f / 2.0,)
    if p < 1.0:
        gap = 0.5 - max(sizes)
        if p <= lo or gap < MIN_GAP:
            raise InputError(
                f"porosity {p:g} is not achievable with a centred {shape} inclusion in the unit "
                f"cell: the inclusion would touch the cell boundary (gap {gap:.2e} < {MIN_GAP:g}); "
                f"use p in ({lo:.4f}, 1]" + (" or a laminate" if shape != "laminate" else "")
            )
        if shape == "laminate" and p < 2.0 * MIN_GAP:
            raise InputError(f"laminate porosity {p:g} leaves fluid layers thinner than {MIN_GAP}")
    return sizes


def _check_porosity(porosity: float) -> float:
    try:
        p = float(porosity)
    except (TypeError, ValueError) as err:
        raise InputError(f"porosity must be a number, got {porosity!r}") from err
    if not math.isfinite(p) or p <= 0.0 or p > 1.0:
        raise InputError(f"porosity must lie in (0, 1], got {porosity!r}")
    return p


def _check_mesh_size(mesh_size: float) -> float:
    try:
        h = float(mesh_size)
    except (TypeError, ValueError) as err:
        raise InputError(f"mesh size must be a number, got {mesh_size!r}") from err
    if not math.isfinite(h) or h <= 0.0 or h > 0.5:
        raise InputError(f"mesh size must lie in (0, 0.5], got {mesh_size!r}")
    return h


def _check_cell_request(shape: str, porosity: float, axis: int, at_corner: bool, d: int) -> None:
    if shape == "laminate" and not (0 <= int(axis) < d):
        raise InputError(f"laminate axis must be 0..{d - 1}, got {axis!r}")
    p = float(porosity)
    if shape == "laminate":
        # P1 is exact on a laminate only when every layer holds at least one element across.
        thinnest = min(1.0 - p, p / 2.0) if p < 1.0 else 1.0
        if thinnest < 1e-9:
            raise InputError(f"laminate porosity {p:g} gives a degenerate layer")
    if at_corner and shape == "laminate":
        raise InputError("at_corner applies to inclusions, not to laminates")


def _inclusion(shape: str, sizes: Sequence[float], c: Sequence[float]) -> list[tuple[int, int]]:
    """The OCC entity of one inclusion centred at `c`."""
    occ = gmsh.model.occ
    if shape == "circle":
        return [(2, occ.addDisk(c[0], c[1], 0, sizes[0], sizes[0]))]
    if shape == "ellipse":
        rx, ry = sizes
        if rx >= ry:
            return [(2, occ.addDisk(c[0], c[1], 0, rx, ry))]
        # OCC wants the major radius first: rotate the local x axis onto y
        return [(2, occ.addDisk(c[0], c[1], 0, ry, rx, xAxis=[0, 1, 0]))]
    if shape == "square":
        s = 2.0 * sizes[0]
        return [(2, occ.addRectangle(c[0] - s / 2, c[1] - s / 2, 0, s, s))]
    return [(3, occ.addSphere(c[0], c[1], c[2], sizes[0]))]


def _laminate_layer(d: int, axis: int, thickness: float) -> list[tuple[int, int]]:
    """A solid layer [1/2 - t/2, 1/2 + t/2] along `axis`, full across the cell."""
    org, ext = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    org[axis], ext[axis] = 0.5 - thickness / 2.0, thickness
    occ = gmsh.model.occ
    if d == 2:
        return [(2, occ.addRectangle(org[0], org[1], 0, ext[0], ext[1]))]
    return [(3, occ.addBox(*org, *ext))]


def _solid_entities(
    shape: str, sizes: Sequence[float], d: int, axis: int, at_corner: bool
) -> list[tuple[int, int]]:
    if shape == "laminate":
        return _laminate_layer(d, axis, 2.0 * sizes[0])
    if not at_corner:
        return _inclusion(shape, sizes, (0.5, 0.5, 0.5))
    solid: list[tuple[int, int]] = []
    for corner in np.ndindex(*(2,) * d):
        solid += _inclusion(shape, sizes, (*map(float, corner), 0.0)[:3])
    return solid


def _fluid_and_solid(d: int, box: int, solid: list[tuple[int, int]]) -> tuple[list, list]:
    """Fragment the box by the solid; drop the parts of corner inclusions beyond the cell."""
    occ = gmsh.model.occ
    if not solid:
        occ.synchronize()
        return [box], []
    _, out_map = occ.fragment([(d, box)], solid)
    inside = {t for _, t in out_map[0]}
    tool_parts = {t for m in out_map[1:] for _, t in m}
    outside = sorted(tool_parts - inside)
    if outside:
        occ.remove([(d, t) for t in outside], recursive=True)
    occ.synchronize()
    return sorted(inside - tool_parts), sorted(tool_parts & inside)


def _mesh_cell(d: int, fluid: list, solid: list, h: float) -> _Info:
    """Physical groups, periodic faces and the mesh of size h of the cell in the gmsh model."""
    lower, upper = (0.0,) * d, (1.0,) * d
    gmsh.model.addPhysicalGroup(d, fluid, FLUID_TAG, name="electrolyte")
    if solid:
        gmsh.model.addPhysicalGroup(d, solid, SOLID_TAG, name="solid")
    _add_facet_group(d)
    _set_periodic(d, lower, upper)
    gmsh.option.setNumber("Mesh.MeshSizeMax", h)
    gmsh.option.setNumber("Mesh.MeshSizeMin", 0.0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 24)
    gmsh.model.mesh.generate(d)
    return _Info(d, lower, upper)


def make_cell(
    shape: str,
    porosity: float,
    mesh_size: float = 0.05,
    *,
    dim: int | None = None,
    axis: int = 0,
    aspect: float = 2.0,
    at_corner: bool = False,
    comm: MPI.Comm = MPI.COMM_WORLD,
) -> PeriodicCell:
    """Mesh the unit cell [0, 1]^dim with a centred solid inclusion of the given porosity.

    shape: circle | ellipse | square | sphere | laminate. `axis` is the layer normal of a
    laminate, `aspect` = r_x / r_y of an ellipse, `dim` (2 or 3) picks the laminate dimension.
    `at_corner` centres the inclusion on the cell corner instead (split across the periodic
    faces: the same periodic medium shifted by half a period, which must give the same
    tensors; docs/theory.md §8).
    The mesh is generated on rank 0 and distributed over `comm`.
    """
    d = _shape_dim(shape, dim)
    h = _check_mesh_size(mesh_size)
    sizes = inclusion_size(shape, porosity, aspect)
    _check_cell_request(shape, porosity, axis, at_corner, d)
    p = float(porosity)

    def build() -> _Info:
        occ = gmsh.model.occ
        box = occ.addRectangle(0, 0, 0, 1, 1) if d == 2 else occ.addBox(0, 0, 0, 1, 1, 1)
        solid = _solid_entities(shape, sizes, d, int(axis), at_corner) if p < 1.0 else []
        fluid_tags, solid_tags = _fluid_and_solid(d, box, solid)
        return _mesh_cell(d, fluid_tags, solid_tags, h)

    mesh, cell_tags, _ = _gmsh_to_dolfinx(build, comm)
    return PeriodicCell(
        mesh=mesh,
        cell_tags=cell_tags,
        lower=(0.0,) * d,
        upper=(1.0,) * d,
        shape=f"{shape}" if shape != "laminate" else f"laminate-axis{int(axis)}",
        target_porosity=p,
        mesh_size=h,
    )


def _add_facet_group(d: int) -> None:
    """Tag all facets of dimension d-1 once so that gmshio sees a facet group (harmless)."""
    tags = [t for _, t in gmsh.model.getEntities(d - 1)]
    if tags:
        gmsh.model.addPhysicalGroup(d - 1, tags, INTERFACE_TAG, name="facets")


def _bbox(dim: int, tag: int) -> npt.NDArray[np.float64]:
    return np.asarray(gmsh.model.getBoundingBox(dim, tag), dtype=float)


def _set_periodic(
    d: int, lower: Sequence[float], upper: Sequence[float], tol: float = 1e-6
) -> None:
    """Pair every boundary entity on x_i = upper_i with its translate on x_i = lower_i.

    gmsh then copies the master mesh onto the slave faces (nodes match one to one), and
    propagates periodicity to the bounding curves and points (edges and corners).
    """
    bdim = d - 1
    ents = [t for _, t in gmsh.model.getEntities(bdim)]
    boxes = {t: _bbox(bdim, t) for t in ents}
    for axis in range(d):
        length = upper[axis] - lower[axis]

        def on_plane(t: int, value: float, axis: int = axis) -> bool:
            b = boxes[t]
            return abs(b[axis] - value) < tol and abs(b[3 + axis] - value) < tol

        masters = [t for t in ents if on_plane(t, lower[axis])]
        slaves = [t for t in ents if on_plane(t, upper[axis])]
        if len(masters) != len(slaves):
            raise InputError(
                f"cell faces normal to axis {axis} do not match: {len(slaves)} entities on the "
                f"upper face, {len(masters)} on the lower"
            )
        affine = np.eye(4)
        affine[axis, 3] = length
        for s in slaves:
            shifted = boxes[s].copy()
            shifted[axis] -= length
            shifted[3 + axis] -= length
            match = [
                m for m in masters if np.allclose(boxes[m][: 3 + d], shifted[: 3 + d], atol=tol)
            ]
            if len(match) != 1:
                raise InputError(f"no periodic twin for boundary entity {s} on axis {axis}")
            gmsh.model.mesh.setPeriodic(bdim, [s], [match[0]], affine.ravel().tolist())


def _gmsh_to_dolfinx(build: Callable[[], _Info], comm: MPI.Comm) -> tuple[Any, Any, _Info]:
    """Run `build()` on rank 0 in a fresh gmsh model and distribute the mesh over `comm`.

    `build` fills the model with a mesh and physical cell groups and returns what every rank
    needs to know of it (`_Info`: the dimension, the bounding box). Errors raised while building
    on rank 0 are broadcast so every rank raises the same InputError (no rank is left waiting
    in a collective).
    """

    info: _Info | None = None
    err: str | None = None
    with contextlib.ExitStack() as stack:
        if comm.rank == 0:
            stack.enter_context(gmsh_model("pnpf_periodic_cell"))
            try:
                info = build()
            except InputError as e:
                err = str(e)
            except Exception as e:  # gmsh raises bare Exceptions
                err = f"gmsh failed to mesh the cell: {e}"
        err, info = comm.bcast((err, info), root=0)
        if err is not None or info is None:
            raise InputError(err or "gmsh built no cell mesh")
        model = gmsh.model if comm.rank == 0 else None
        mesh, cell_tags, _ = gmshio.model_to_mesh(model, comm, 0, gdim=info.dim)
    mesh.topology.create_connectivity(info.dim - 1, info.dim)
    return mesh, cell_tags, info


@dataclass(frozen=True)
class _Info:
    """What rank 0 tells the others about the gmsh mesh it built or read."""

    dim: int
    lower: tuple[float, ...]
    upper: tuple[float, ...]


def cell_from_gmsh_file(
    path: str | Path,
    *,
    fluid_tag: int = FLUID_TAG,
    solid_tag: int = SOLID_TAG,
    dim: int | None = None,
    comm: MPI.Comm = MPI.COMM_WORLD,
) -> PeriodicCell:
    """Read a user cell from a gmsh `.msh` file with physical cell groups `fluid_tag`/`solid_tag`.

    The cell Y is the bounding box of the mesh. Every cell must lie in one of the two groups,
    and the file must be meshed periodically (opposite faces match node for node, e.g.
    `gmsh.model.mesh.setPeriodic`); otherwise InputError. `dim`: the expected dimension.
    """
    path = Path(path)
    if fluid_tag == solid_tag:
        raise InputError("electrolyte and solid tags must differ")

    def build() -> _Info:
        source = merge_gmsh_file(path, "cell mesh file")
        m = read_gmsh_model(dim, source=source)
        _check_cell_markers(m, fluid_tag, solid_tag)
        lo, hi = m.points.min(axis=0), m.points.max(axis=0)
        return _Info(m.dim, tuple(map(float, lo)), tuple(map(float, hi)))

    mesh, cell_tags, info = _gmsh_to_dolfinx(build, comm)
    cell = PeriodicCell(
        mesh=mesh,
        cell_tags=cell_tags,
        lower=info.lower,
        upper=info.upper,
        shape=f"file:{path.name}",
        fluid_tag=fluid_tag,
        solid_tag=solid_tag,
    )
    mismatch = check_periodic_matching(cell)
    if mismatch:
        raise InputError(f"{str(path)!r} is not meshed periodically: {mismatch}")
    return cell


def _check_cell_markers(m: GmshMesh, fluid_tag: int, solid_tag: int) -> None:
    """Every cell of `m` in the electrolyte or the solid group, and some electrolyte."""
    if not m.cell_names:
        raise InputError(f"{m.source} has no physical cell groups (electrolyte/solid tags)")
    unknown = sorted(set(np.unique(m.cell_markers).tolist()) - {0, fluid_tag, solid_tag})
    if unknown:
        raise InputError(
            f"{m.source} has cell tags {unknown}; expected only the electrolyte tag "
            f"{fluid_tag} and the solid tag {solid_tag}"
        )
    untagged = int(np.count_nonzero(m.cell_markers == 0))
    if untagged:
        raise InputError(f"{m.source}: {untagged} cells carry no electrolyte/solid tag")
    if not np.any(m.cell_markers == fluid_tag):
        raise InputError(f"{m.source} has no electrolyte cells (tag {fluid_tag})")


def check_periodic_matching(cell: PeriodicCell, rtol: float = 1e-8) -> str:
    """Empty string if the boundary vertices of opposite faces match node for node, else why not.

    Gathers the boundary vertex coordinates to every rank (boundary only, so cheap).
    """
    mesh = cell.mesh
    tdim = mesh.topology.dim
    lo, hi = np.asarray(cell.lower), np.asarray(cell.upper)
    scale = float(np.max(hi - lo))
    tol = rtol * scale * 100
    # geometry nodes on the cell faces (only those are exchanged between ranks)
    x = mesh.geometry.x[:, :tdim]
    on_face = np.any((np.abs(x - lo) < tol) | (np.abs(x - hi) < tol), axis=1)
    pts = x[on_face]
    pts = np.concatenate(mesh.comm.allgather(pts), axis=0)
    for axis in range(tdim):
        a = pts[np.abs(pts[:, axis] - lo[axis]) < tol]
        b = pts[np.abs(pts[:, axis] - hi[axis]) < tol]
        a = np.unique(np.delete(a, axis, axis=1), axis=0)
        b = np.unique(np.delete(b, axis, axis=1), axis=0)
        if len(a) != len(b):
            return f"faces normal to axis {axis} carry {len(a)} and {len(b)} vertices"
        if len(a):
            dist, _ = cKDTree(a).query(b)
            if float(np.max(dist)) > tol:
                return (
                    f"faces normal to axis {axis}: a vertex on the upper face is "
                    f"{float(np.max(dist)):.2e} away from every vertex of the lower face"
                )
    return ""
