"""The one gmsh reader (`pnpf_fem.gmsh_io`): 2D and 3D meshes, named groups, sessions, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gmsh
import numpy as np
import pytest

from pnpf_fem.errors import InputError
from pnpf_fem.gmsh_io import GmshMesh, gmsh_model, read_gmsh_file, read_gmsh_model


def _square(named: bool = True, surface_groups: int = 1, quads: bool = False) -> None:
    """The unit square in the current model: four boundary groups and the surface group(s)."""
    geo = gmsh.model.geo
    p = [geo.addPoint(x, y, 0, 0.3) for x, y in ((0, 0), (1, 0), (1, 1), (0, 1))]
    lines = [geo.addLine(p[i], p[(i + 1) % 4]) for i in range(4)]
    geo.addPlaneSurface([geo.addCurveLoop(lines)])
    geo.synchronize()
    for tag, (name, curve) in enumerate(
        zip(("bottom", "right", "top", "left"), lines, strict=True), 1
    ):
        gmsh.model.addPhysicalGroup(1, [curve], tag, name=name if named else "")
    for k in range(surface_groups):
        gmsh.model.addPhysicalGroup(2, [1], 10 + k, name=f"domain{k}")
    if quads:
        gmsh.model.mesh.setRecombine(2, 1)
    gmsh.model.mesh.generate(2)


def _box() -> None:
    """The unit cube cut in two volumes at x = 1/2, with the faces x = 0 and x = 1 tagged."""
    occ = gmsh.model.occ
    occ.fragment([(3, occ.addBox(0, 0, 0, 0.5, 1, 1))], [(3, occ.addBox(0.5, 0, 0, 0.5, 1, 1))])
    occ.synchronize()
    vols = sorted(gmsh.model.getEntities(3), key=lambda e: gmsh.model.getBoundingBox(*e)[0])
    gmsh.model.addPhysicalGroup(3, [vols[0][1]], 1, name="left_half")
    gmsh.model.addPhysicalGroup(3, [vols[1][1]], 2, name="right_half")
    for tag, x in ((5, 0.0), (6, 1.0)):
        faces = gmsh.model.getEntitiesInBoundingBox(x - 1e-6, -1, -1, x + 1e-6, 2, 2, 2)
        name = "west" if x == 0 else "east"
        gmsh.model.addPhysicalGroup(2, [t for _, t in faces], tag, name=name)
    gmsh.option.setNumber("Mesh.MeshSizeMax", 0.4)
    gmsh.model.mesh.generate(3)


def _write(path: Path, build: Callable[[], None]) -> Path:
    with gmsh_model("test"):
        build()
        gmsh.write(str(path))
    return path


def _measure(m: GmshMesh) -> float:
    """Total area (2D) or volume (3D) of the cells."""
    p = m.points[m.cells]
    edges = p[:, 1:] - p[:, :1]
    return float(np.abs(np.linalg.det(edges)).sum()) / (1 if m.dim == 2 else 3) / 2


def test_2d_file_with_named_groups(tmp_path):
    m = read_gmsh_file(_write(tmp_path / "sq.msh", _square), dim=2)
    assert m.dim == 2 and m.points.shape[1] == 2 and m.cells.shape[1] == 3
    assert dict(m.facet_names) == {"bottom": 1, "right": 2, "top": 3, "left": 4}
    assert dict(m.cell_names) == {"domain0": 10}
    assert np.all(m.cell_markers == 10)
    assert _measure(m) == pytest.approx(1.0)
    assert np.array_equal(np.unique(m.cells), np.arange(m.points.shape[0]))  # no unused node
    tri = m.to_triangulation(scale=2.0)
    assert np.array_equal(tri.points, 2.0 * m.points)
    lengths = np.linalg.norm(np.diff(tri.points[tri.facets_of("left")], axis=1)[:, 0], axis=1)
    assert lengths.sum() == pytest.approx(2.0)
    assert "mesh file" in m.source and "sq.msh" in m.source


def test_3d_file_tetrahedra_and_named_surfaces(tmp_path):
    m = read_gmsh_file(_write(tmp_path / "box.msh", _box))
    assert m.dim == 3 and m.points.shape[1] == 3 and m.cells.shape[1] == 4
    assert m.facets.shape[1] == 3
    assert dict(m.cell_names) == {"left_half": 1, "right_half": 2}
    assert dict(m.facet_names) == {"west": 5, "east": 6}
    assert _measure(m) == pytest.approx(1.0)
    x_cells = m.points[m.cells].mean(axis=1)[:, 0]
    assert np.all(x_cells[m.cell_markers == 1] < 0.5) and np.all(x_cells[m.cell_markers == 2] > 0.5)
    x_facets = m.points[m.facets][..., 0]
    assert np.allclose(x_facets[m.facet_markers == 5], 0.0)
    assert np.allclose(x_facets[m.facet_markers == 6], 1.0)
    with pytest.raises(InputError, match="3D mesh; a triangulation needs 2D"):
        m.to_triangulation()
    with pytest.raises(InputError, match="is a 3D mesh, expected 2D"):
        read_gmsh_file(tmp_path / "box.msh", dim=2)


def test_current_model_inside_a_callers_session():
    """gmsh_model leaves a session it did not open running, with the caller's model current."""
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 1)
        gmsh.model.add("callers_model")
        with gmsh_model("inner"):
            _square()
            m = read_gmsh_model(2, source="the square")
        assert gmsh.isInitialized()
        assert gmsh.model.getCurrent() == "callers_model"
        assert "inner" not in gmsh.model.list()
        assert gmsh.option.getNumber("General.Terminal") == 1
    finally:
        gmsh.finalize()
    assert m.source == "the square" and m.to_triangulation().triangles.shape[0] > 0
    with gmsh_model("alone"):
        assert gmsh.isInitialized()
    assert not gmsh.isInitialized()


@pytest.mark.parametrize(
    "content,match",
    [
        (None, "does not exist"),
        ("this is not a mesh\n", "gmsh cannot read it"),
        ("$MeshFormat\n4.1 0 8\n$EndMeshFormat\n", "has no nodes"),
    ],
)
def test_unreadable_files(tmp_path, content, match):
    path = tmp_path / "m.msh"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=match) as info:
        read_gmsh_file(path)
    assert "mesh file" in str(info.value) and "m.msh" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"quads": True}, "Quadrilateral 4 elements; only linear"),
        ({"surface_groups": 2}, "lies in several physical groups"),
    ],
)
def test_meshes_that_are_refused(tmp_path, kwargs, match):
    path = _write(tmp_path / "m.msh", lambda: _square(**kwargs))
    with pytest.raises(InputError, match=match):
        read_gmsh_file(path)


def test_unnamed_and_missing_boundary_groups(tmp_path):
    m = read_gmsh_file(_write(tmp_path / "unnamed.msh", lambda: _square(named=False)))
    assert dict(m.facet_names) == {"tag1": 1, "tag2": 2, "tag3": 3, "tag4": 4}

    def no_boundary_groups() -> None:
        _square()
        gmsh.model.removePhysicalGroups([(1, t) for t in (1, 2, 3, 4)])

    m = read_gmsh_file(_write(tmp_path / "bare.msh", no_boundary_groups))
    assert m.facets.shape == (0, 2) and m.facet_markers.shape == (0,)
    with pytest.raises(InputError, match="no physical curve groups"):
        m.to_triangulation()


def test_duplicate_group_names_are_refused(tmp_path):
    text = _write(tmp_path / "sq.msh", _square).read_text()
    assert '1 2 "right"' in text
    (tmp_path / "dup.msh").write_text(text.replace('1 2 "right"', '1 2 "bottom"'))
    with pytest.raises(InputError, match="groups 1 and 2 are both named 'bottom'"):
        read_gmsh_file(tmp_path / "dup.msh")
