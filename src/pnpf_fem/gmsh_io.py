"""One reader for gmsh meshes: case mesh files, the built-in geometries and periodic cells.

`read_gmsh_model` turns the mesh of the current gmsh model into a `GmshMesh`: the nodes, the
linear simplices of the top dimension with the physical group of each, and the facets (one
dimension lower) of every physical group, with the group names. `read_gmsh_file` does the same
for a file. 2D meshes (triangles, tagged edges) become a `TaggedTriangulation` with
`GmshMesh.to_triangulation`; 3D meshes (tetrahedra, tagged triangles) are read the same way.

    with gmsh_model("my_geometry"):        # gmsh initialized (if needed) and quiet, fresh model
        ...                                # build and mesh with the gmsh API
        tri = read_gmsh_model(2, source="my geometry").to_triangulation()
    tri = read_gmsh_file("m.msh", dim=2).to_triangulation()

Every failure is a one-line `InputError` naming what was read ("mesh file 'm.msh' ...").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import gmsh
import numpy as np
import numpy.typing as npt

from pnpf_fem.errors import InputError
from pnpf_fem.meshing import SIDE_TAGS, TaggedTriangulation, delaunay_flip
from pnpf_fem.meshing3d import TaggedTetrahedra

__all__ = [
    "GmshMesh",
    "gmsh_model",
    "gmsh_rectangle",
    "merge_gmsh_file",
    "physical_groups",
    "read_gmsh_file",
    "read_gmsh_model",
]

# gmsh element type of the linear simplex of each dimension: line, triangle, tetrahedron
_SIMPLEX = {1: 1, 2: 2, 3: 4}
_CELL = {2: "triangle", 3: "tetrahedron"}
_CELLS = {2: "triangles", 3: "tetrahedra"}
_FACETS = {2: "boundary edges", 3: "boundary triangles"}
_GROUPS = {1: "curve", 2: "surface", 3: "volume"}


@dataclass(frozen=True)
class GmshMesh:
    """A linear simplex mesh read from gmsh: nodes numbered from 0, none unused.

    points: (N, dim) coordinates; cells: (K, dim + 1) node indices of the elements of the top
    dimension (triangles in 2D, tetrahedra in 3D); cell_markers: (K,) the physical group of
    each cell (0: in none); facets: (F, dim) node indices of the elements of dimension dim - 1
    in a physical group (edges in 2D, triangles in 3D), once per group holding them;
    facet_markers: (F,) their group tags; facet_names / cell_names: name -> tag of the physical
    groups of dimension dim - 1 / dim (an unnamed group is called "tag<N>"); source: what was
    read, as error messages name it (e.g. "mesh file 'm.msh'").
    """

    points: npt.NDArray[np.float64]
    cells: npt.NDArray[np.int64]
    cell_markers: npt.NDArray[np.int32]
    facets: npt.NDArray[np.int64]
    facet_markers: npt.NDArray[np.int32]
    facet_names: Mapping[str, int]
    cell_names: Mapping[str, int]
    source: str = "the gmsh model"

    def __post_init__(self) -> None:
        object.__setattr__(self, "facet_names", MappingProxyType(dict(self.facet_names)))
        object.__setattr__(self, "cell_names", MappingProxyType(dict(self.cell_names)))

    @property
    def dim(self) -> int:
        """Topological dimension of the cells (2 or 3)."""
        return int(self.cells.shape[1] - 1)

    def to_triangulation(self, scale: float = 1.0) -> TaggedTriangulation:
        """The 2D mesh with its named facet groups as boundary tags and its named surface
        groups as regions, coordinates times `scale`."""
        return self._tagged(2, scale)

    def to_tetrahedra(self, scale: float = 1.0) -> TaggedTetrahedra:
        """The 3D mesh with its named surface groups as boundary tags and its named volume
        groups as regions, coordinates times `scale`."""
        return self._tagged(3, scale)

    def _tagged(self, dim: int, scale: float) -> TaggedTriangulation | TaggedTetrahedra:
        if self.dim != dim:
            wanted = {2: "a triangulation needs 2D", 3: "tetrahedra need 3D"}[dim]
            raise InputError(f"{self.source} is a {self.dim}D mesh; {wanted}")
        if not self.facet_names:
            raise InputError(
                f"{self.source} has no physical {_GROUPS[dim - 1]} groups (boundary tags)"
            )
        cls, cells = (
            (TaggedTriangulation, "triangles") if dim == 2 else (TaggedTetrahedra, "tetrahedra")
        )
        try:
            return cls(
                points=self.points * scale,
                facets=self.facets,
                facet_markers=self.facet_markers,
                tag_names=self.facet_names,
                cell_markers=self.cell_markers,
                region_names=self.cell_names,
                **{cells: self.cells},
            )
        except ValueError as err:
            raise InputError(f"{self.source}: {err}") from None


@contextlib.contextmanager
def gmsh_model(name: str) -> Iterator[None]:
    """A fresh, current gmsh model `name` with gmsh's terminal output off.

    gmsh is initialized here if it is not yet (without the user's gmsh configuration files)
    and finalized on exit; otherwise the model is removed on exit, and the caller's current
    model and terminal setting are restored.
    """
    own = not gmsh.isInitialized()
    if own:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    terminal = gmsh.option.getNumber("General.Terminal")
    previous = gmsh.model.getCurrent()
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.add(name)
    try:
        yield
    finally:
        if own:
            gmsh.finalize()
        else:
            gmsh.model.setCurrent(name)
            gmsh.model.remove()
            if previous in gmsh.model.list():
                gmsh.model.setCurrent(previous)
            gmsh.option.setNumber("General.Terminal", terminal)


def merge_gmsh_file(path: str | Path, what: str = "mesh file") -> str:
    """Read the gmsh file `path` into the current model; returns how messages name it.

    `what` names the kind of file in the messages ("mesh file 'm.msh' does not exist").
    """
    path = Path(path)
    source = f"{what} {str(path)!r}"
    if not path.is_file():
        raise InputError(f"{source} does not exist")
    try:
        gmsh.merge(str(path))
    except Exception as err:  # gmsh raises bare Exceptions
        detail = "; ".join(s.strip() for s in str(err).splitlines() if s.strip())
        raise InputError(f"{source}: gmsh cannot read it ({detail})") from None
    return source


def physical_groups(dim: int, source: str = "the gmsh model") -> dict[str, int]:
    """Name -> tag of the physical groups of dimension `dim` in the current model."""
    names: dict[str, int] = {}
    for _, tag in gmsh.model.getPhysicalGroups(dim):
        name = gmsh.model.getPhysicalName(dim, tag) or f"tag{tag}"
        if name in names:
            raise InputError(
                f"{source}: the physical {_GROUPS[dim]} groups {names[name]} and {tag} "
                f"are both named {name!r}"
            )
        names[name] = int(tag)
    return names


def read_gmsh_model(dim: int | None = None, *, source: str = "the gmsh model") -> GmshMesh:
    """The mesh of the current gmsh model (of dimension `dim`, default: the model's)."""
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    if node_tags.size == 0:
        raise InputError(f"{source} has no nodes")
    top = gmsh.model.getDimension()
    if top not in _CELLS:
        raise InputError(f"{source} is a {top}D mesh; only 2D and 3D meshes are read")
    if dim is not None and dim != top:
        raise InputError(f"{source} is a {top}D mesh, expected {dim}D")
    index = np.full(int(node_tags.max()) + 1, -1, dtype=np.int64)
    index[node_tags.astype(np.int64)] = np.arange(node_tags.size)

    cell_names = physical_groups(top, source)
    cells, cell_markers = [], []
    for _, entity in gmsh.model.getEntities(top):
        groups = gmsh.model.getPhysicalGroupsForEntity(top, entity)
        if len(groups) > 1:
            raise InputError(
                f"{source}: {_GROUPS[top]} {entity} lies in several physical groups "
                f"{sorted(int(g) for g in groups)}; cell regions must not overlap"
            )
        nodes = index[_simplices(top, entity, source)]
        cells.append(nodes)
        cell_markers.append(np.full(nodes.shape[0], groups[0] if len(groups) else 0, np.int32))
    cell_array = np.concatenate(cells) if cells else np.empty((0, top + 1), dtype=np.int64)
    if cell_array.shape[0] == 0:
        raise InputError(f"{source} has no linear {_CELLS[top]}")

    facet_names = physical_groups(top - 1, source)
    facets, facet_markers = [], []
    for tag in facet_names.values():
        for entity in gmsh.model.getEntitiesForPhysicalGroup(top - 1, tag):
            nodes = index[_simplices(top - 1, entity, source)]
            facets.append(nodes)
            facet_markers.append(np.full(nodes.shape[0], tag, dtype=np.int32))
    facet_array = np.concatenate(facets) if facets else np.empty((0, top), dtype=np.int64)

    # drop the nodes of no cell (gmsh keeps the geometry points) and number the rest from 0
    used = np.unique(cell_array)
    renumber = np.full(node_tags.size, -1, dtype=np.int64)
    renumber[used] = np.arange(used.size)
    facet_array = renumber[facet_array]
    if np.any(facet_array < 0):
        raise InputError(f"{source}: tagged {_FACETS[top]} use nodes of no {_CELL[top]}")
    return GmshMesh(
        points=coords.reshape(-1, 3)[used, :top],
        cells=renumber[cell_array],
        cell_markers=np.concatenate(cell_markers),
        facets=facet_array,
        facet_markers=(
            np.concatenate(facet_markers) if facet_markers else np.empty(0, dtype=np.int32)
        ),
        facet_names=facet_names,
        cell_names=cell_names,
        source=source,
    )


def read_gmsh_file(path: str | Path, dim: int | None = None, what: str = "mesh file") -> GmshMesh:
    """The mesh of the gmsh file `path` (see `read_gmsh_model`; `what` as `merge_gmsh_file`)."""
    path = Path(path)
    with gmsh_model(f"pnpf_fem:{path.name}"):
        source = merge_gmsh_file(path, what)
        return read_gmsh_model(dim, source=source)


def _simplices(dim: int, entity: int, source: str) -> npt.NDArray[np.int64]:
    """(n, dim + 1) gmsh node tags of the elements of one entity; only linear simplices."""
    types, _, nodes = gmsh.model.mesh.getElements(dim, entity)
    blocks = []
    for etype, enodes in zip(types, nodes, strict=True):
        if etype != _SIMPLEX[dim]:
            name = gmsh.model.mesh.getElementProperties(etype)[0]
            raise InputError(
                f"{source} has {name} elements; only linear triangles and tetrahedra are read"
            )
        blocks.append(np.asarray(enodes, dtype=np.int64).reshape(-1, dim + 1))
    return np.concatenate(blocks) if blocks else np.empty((0, dim + 1), dtype=np.int64)


def gmsh_rectangle(
    x0: float, x1: float, y0: float, y1: float, h: float, algorithm: int = 5
) -> TaggedTriangulation:
    """Unstructured triangulation of a rectangle by gmsh (default: its 2D Delaunay algorithm 5).

    Sides are tagged "left", "right", "bottom", "top" (the tags of `meshing.unit_square`).
    gmsh's output is made exactly Delaunay by `meshing.delaunay_flip`; check admissibility with
    `pnpf_fem.fv.VoronoiMesh` (it raises with the offending edges).
    """
    with gmsh_model("pnpf_rectangle"):
        geo = gmsh.model.geo
        p = [geo.addPoint(x, y, 0, h) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
        sides = {"bottom": (0, 1), "right": (1, 2), "top": (2, 3), "left": (3, 0)}
        lines = {name: geo.addLine(p[a], p[b]) for name, (a, b) in sides.items()}
        geo.addPlaneSurface([geo.addCurveLoop(list(lines.values()))])
        geo.synchronize()
        for name, line in lines.items():
            gmsh.model.addPhysicalGroup(1, [line], SIDE_TAGS[name], name=name)
        gmsh.option.setNumber("Mesh.Algorithm", algorithm)
        gmsh.model.mesh.generate(2)
        mesh = read_gmsh_model(2, source="gmsh_rectangle")
    return delaunay_flip(mesh.to_triangulation())
