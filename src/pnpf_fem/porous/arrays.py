"""Meshes of a domain filled periodically with square cells holding a centred square inclusion.

Ω = (0, 1) × (0, H), H = rows·s, is tiled by `1/s` × `rows` cells of side s. Each cell [0, s]²
holds a centred solid square of side a·s, a = sqrt(1 − p), so that the electrolyte fraction of
every cell is the porosity p (Y^s is the electrolyte, Y \\ Y^s the solid; docs/theory.md §6). The
mesh is a structured DOLFINx triangle mesh (`create_rectangle`) with `cells_per_side` (n)
intervals per periodic cell in each direction; n·(1 − a)/2 must be an integer so that the
inclusion edges are mesh lines and the geometry (hence the porosity) is exact.

Cell tags (by cell midpoint): `ELECTROLYTE_TAG` = 1, `SOLID_TAG` = 2. Facet tags: "left" (x = 0),
"right" (x = 1), "bottom" (y = 0), "top" (y = H).

With rows = 1 and zero-flux / zero-displacement conditions on top and bottom the strip equals,
by the mirror symmetry of each cell about its mid-line, an infinite periodic array in y; rows =
1/s gives the full unit square.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import dolfinx.mesh as dmesh
import numpy as np
import numpy.typing as npt
from mpi4py import MPI

from pnpf_fem.errors import InputError

__all__ = [
    "ELECTROLYTE_TAG",
    "FACET_TAGS",
    "SOLID_TAG",
    "PeriodicArray",
    "periodic_array",
]

ELECTROLYTE_TAG = 1
SOLID_TAG = 2
FACET_TAGS: dict[str, int] = {"left": 1, "right": 2, "bottom": 3, "top": 4}

_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class PeriodicArray:
    """A meshed periodic array of cells: DOLFINx mesh, cell tags (every cell), facet tags."""

    mesh: object  # dolfinx.mesh.Mesh
    cell_tags: object  # dolfinx.mesh.MeshTags, tdim
    facet_tags: object  # dolfinx.mesh.MeshTags, tdim - 1
    s: float
    porosity: float
    rows: int
    cells_per_side: int
    cell_names: dict[str, int] = field(
        default_factory=lambda: {"electrolyte": ELECTROLYTE_TAG, "solid": SOLID_TAG}
    )
    facet_names: dict[str, int] = field(default_factory=lambda: dict(FACET_TAGS))

    @property
    def columns(self) -> int:
        """Number of periodic cells along x (= 1/s)."""
        return round(1.0 / self.s)

    @property
    def height(self) -> float:
        return self.rows * self.s

    @property
    def inclusion_fraction(self) -> float:
        """a = sqrt(1 − p): side of the solid square relative to the cell side."""
        return math.sqrt(max(1.0 - self.porosity, 0.0))

    @property
    def has_solid(self) -> bool:
        return self.porosity < 1.0

    def cell_index(self, points: npt.ArrayLike) -> tuple[npt.NDArray, npt.NDArray]:
        """(column i, row j) of the periodic cell containing each point (shape (gdim or 3, N))."""
        x = np.asarray(points, dtype=float)
        i = np.clip(np.floor(x[0] / self.s + _TOL).astype(np.int64), 0, self.columns - 1)
        j = np.clip(np.floor(x[1] / self.s + _TOL).astype(np.int64), 0, self.rows - 1)
        return i, j

    def cell_centres(self) -> npt.NDArray[np.float64]:
        """Centres of the periodic cells, shape (columns, rows, 2), indexed [i, j]."""
        i, j = np.meshgrid(np.arange(self.columns), np.arange(self.rows), indexing="ij")
        return np.stack([(i + 0.5) * self.s, (j + 0.5) * self.s], axis=-1)


def _validate(s: float, rows: int, porosity: float, n: int) -> tuple[int, int]:
    if not (s > 0.0 and s <= 1.0):
        raise InputError(f"cell size s must be in (0, 1], got {s!r}")
    columns = round(1.0 / s)
    if abs(columns * s - 1.0) > _TOL:
        raise InputError(f"1/s must be an integer, got s = {s!r} (1/s = {1.0 / s!r})")
    if int(rows) != rows or rows < 1:
        raise InputError(f"rows must be a positive integer, got {rows!r}")
    if not (0.0 < porosity <= 1.0):
        raise InputError(f"porosity must be in (0, 1], got {porosity!r}")
    if int(n) != n or n < 2:
        raise InputError(f"cells_per_side must be an integer >= 2, got {n!r}")
    a = math.sqrt(1.0 - porosity)
    margin = n * (1.0 - a) / 2.0  # mesh intervals between the cell edge and the inclusion
    if abs(margin - round(margin)) > 1e-6 or (porosity < 1.0 and round(margin) < 1):
        raise InputError(
            f"cells_per_side = {n} does not resolve the inclusion exactly: "
            f"n·(1 − a)/2 = {margin:.6g} must be an integer >= 1 (a = sqrt(1 − p) = {a:.6g})"
        )
    if porosity < 1.0 and n - 2 * round(margin) < 1:
        raise InputError(f"the inclusion (a = {a:.6g}) is thinner than one mesh interval")
    return columns, int(rows)


def periodic_array(
    s: float,
    rows: int = 1,
    porosity: float = 0.75,
    cells_per_side: int = 8,
    comm: MPI.Comm = MPI.COMM_WORLD,
    diagonal: str = "crossed",
) -> PeriodicArray:
    """Mesh Ω = (0,1) × (0, rows·s) tiled by cells of side s with centred square inclusions.

    `diagonal`: "crossed" (default: four triangles per square, so every cell mesh is mirror
    symmetric and a one-row strip with zero-flux walls is exactly the infinite periodic array) or
    "right" (two triangles per square, half the unknowns, symmetric only up to O(h²)).
    Raises `InputError` if 1/s is not an integer or if `cells_per_side` does not put the
    inclusion edges on mesh lines.
    """

    diagonals = {"crossed": dmesh.DiagonalType.crossed, "right": dmesh.DiagonalType.right}
    if diagonal not in diagonals:
        raise InputError(f"diagonal must be 'crossed' or 'right', got {diagonal!r}")
    columns, rows = _validate(s, rows, porosity, cells_per_side)
    n = int(cells_per_side)
    height = rows * s
    msh = dmesh.create_rectangle(
        comm,
        [np.array([0.0, 0.0]), np.array([1.0, height])],
        [n * columns, n * rows],
        cell_type=dmesh.CellType.triangle,
        diagonal=diagonals[diagonal],
    )
    tdim = msh.topology.dim
    cmap = msh.topology.index_map(tdim)
    num_cells = cmap.size_local + cmap.num_ghosts
    cells = np.arange(num_cells, dtype=np.int32)
    mid = dmesh.compute_midpoints(msh, tdim, cells)
    a = math.sqrt(1.0 - porosity)
    values = np.full(num_cells, ELECTROLYTE_TAG, dtype=np.int32)
    if porosity < 1.0:
        lo, hi = 0.5 * (1.0 - a) * s, 0.5 * (1.0 + a) * s
        xi = np.mod(mid[:, 0], s)
        yi = np.mod(mid[:, 1], s)
        solid = (xi > lo) & (xi < hi) & (yi > lo) & (yi < hi)
        values[solid] = SOLID_TAG
    cell_tags = dmesh.meshtags(msh, tdim, cells, values)
    cell_tags.name = "cell_tags"

    fdim = tdim - 1
    msh.topology.create_connectivity(fdim, tdim)
    markers = {
        "left": lambda x: np.isclose(x[0], 0.0),
        "right": lambda x: np.isclose(x[0], 1.0),
        "bottom": lambda x: np.isclose(x[1], 0.0),
        "top": lambda x: np.isclose(x[1], height),
    }
    facets, fvalues = [], []
    for name, marker in markers.items():
        f = dmesh.locate_entities_boundary(msh, fdim, marker)
        facets.append(f)
        fvalues.append(np.full(f.shape, FACET_TAGS[name], dtype=np.int32))
    all_facets = np.concatenate(facets).astype(np.int32)
    all_values = np.concatenate(fvalues)
    order = np.argsort(all_facets, kind="stable")
    all_facets, all_values = all_facets[order], all_values[order]
    # A facet lies on one side only (corner facets do not exist), but be safe: keep the first.
    keep = np.ones(all_facets.shape, dtype=bool)
    keep[1:] = all_facets[1:] != all_facets[:-1]
    facet_tags = dmesh.meshtags(msh, fdim, all_facets[keep], all_values[keep])
    facet_tags.name = "facet_tags"
    return PeriodicArray(
        mesh=msh,
        cell_tags=cell_tags,
        facet_tags=facet_tags,
        s=float(s),
        porosity=float(porosity),
        rows=rows,
        cells_per_side=n,
    )
