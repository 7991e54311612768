"""Periodic cell meshes: refusal of impossible requests, periodic node matching, user files."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("dolfinx_mpc")
gmsh = pytest.importorskip("gmsh")

from mpi4py import MPI  # noqa: E402

from pnpf_fem.errors import InputError  # noqa: E402
from pnpf_fem.homogenization import (  # noqa: E402
    FLUID_TAG,
    SOLID_TAG,
    cell_from_gmsh_file,
    check_periodic_matching,
    make_cell,
    porosity_range,
)
from pnpf_fem.homogenization.cells import inclusion_size  # noqa: E402


@pytest.mark.parametrize(
    ("shape", "porosity", "kwargs"),
    [
        ("circle", 0.2, {}),  # disc would overlap the cell boundary (p_min = 1 - π/4)
        ("circle", 1.0 - math.pi / 4.0, {}),  # exactly touching: not supported
        ("sphere", 0.4, {}),  # p_min = 1 - π/6
        ("square", 0.0, {}),
        ("circle", 1.5, {}),
        ("circle", float("nan"), {}),
        ("circle", -0.1, {}),
        ("ellipse", 0.5, {"aspect": 4.0}),  # long semi-axis beyond 1/2
        ("ellipse", 0.8, {"aspect": -1.0}),
        ("hexagon", 0.5, {}),
        ("laminate", 0.5, {"axis": 2}),  # 2D laminate has axes 0, 1
        ("sphere", 0.8, {"dim": 2}),
        ("circle", 0.6, {"mesh_size": 0.0}),
        ("circle", "abc", {}),
        ("laminate", 0.5, {"at_corner": True}),
    ],
)
def test_impossible_cells_are_refused(shape, porosity, kwargs):
    with pytest.raises(InputError):
        make_cell(shape, porosity, **kwargs)


def test_porosity_range_and_sizes():
    assert porosity_range("circle") == pytest.approx((1 - math.pi / 4, 1.0))
    assert porosity_range("sphere") == pytest.approx((1 - math.pi / 6, 1.0))
    assert porosity_range("laminate") == (0.0, 1.0)
    (r,) = inclusion_size("circle", 0.6)
    assert math.pi * r**2 == pytest.approx(0.4)
    rx, ry = inclusion_size("ellipse", 0.7, aspect=2.0)
    assert rx / ry == pytest.approx(2.0) and math.pi * rx * ry == pytest.approx(0.3)
    (r,) = inclusion_size("sphere", 0.9)
    assert 4 / 3 * math.pi * r**3 == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("shape", "porosity", "kwargs"),
    [
        ("circle", 0.5, {"mesh_size": 0.1}),
        ("square", 0.3, {"mesh_size": 0.1}),
        ("ellipse", 0.8, {"mesh_size": 0.1, "aspect": 0.5}),
        ("laminate", 0.4, {"mesh_size": 0.25, "dim": 3, "axis": 1}),
        ("sphere", 0.8, {"mesh_size": 0.25}),
        ("sphere", 0.8, {"mesh_size": 0.25, "at_corner": True}),
        ("circle", 0.5, {"mesh_size": 0.1, "at_corner": True}),
    ],
)
@pytest.mark.mpi
def test_cells_are_meshed_periodically_with_both_phases(shape, porosity, kwargs):
    cell = make_cell(shape, porosity, **kwargs)
    assert check_periodic_matching(cell) == ""
    assert cell.has_solid()
    tags = set(np.unique(cell.cell_tags.values).tolist())
    tags = set().union(*cell.mesh.comm.allgather(tags))
    assert tags == {FLUID_TAG, SOLID_TAG}


def test_cell_without_solid():
    cell = make_cell("circle", 1.0, 0.2)
    assert not cell.has_solid()
    assert check_periodic_matching(cell) == ""


def _write_square_cell(path, periodic: bool, fluid=1, solid=2, save_all=False) -> None:
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("user_cell")
        occ = gmsh.model.occ
        box = occ.addRectangle(0, 0, 0, 2.0, 1.0)
        disk = occ.addDisk(1.0, 0.5, 0, 0.3, 0.3)
        _, mp = occ.fragment([(2, box)], [(2, disk)])
        occ.synchronize()
        solid_tags = [t for _, t in mp[1]]
        fluid_tags = [t for _, t in mp[0] if t not in solid_tags]
        gmsh.model.addPhysicalGroup(2, fluid_tags, fluid)
        if solid is not None:
            gmsh.model.addPhysicalGroup(2, solid_tags, solid)
        if periodic:

            def on(x0, y0, x1, y1):
                return [
                    t
                    for _, t in gmsh.model.getEntitiesInBoundingBox(
                        x0 - 1e-6, y0 - 1e-6, -1e-6, x1 + 1e-6, y1 + 1e-6, 1e-6, 1
                    )
                ]

            gmsh.model.mesh.setPeriodic(
                1, on(2, 0, 2, 1), on(0, 0, 0, 1), [1, 0, 0, 2, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
            )
            gmsh.model.mesh.setPeriodic(
                1, on(0, 1, 2, 1), on(0, 0, 2, 0), [1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1]
            )
        else:  # refine the left edge only, so the left and right faces no longer match
            gmsh.model.mesh.setSize(
                gmsh.model.getEntitiesInBoundingBox(-1e-6, -1e-6, -1e-6, 1e-6, 1 + 1e-6, 1e-6, 0),
                0.03,
            )
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.15)
        gmsh.model.mesh.generate(2)
        gmsh.option.setNumber("Mesh.SaveAll", int(save_all))  # also the cells of no group
        gmsh.write(str(path))
    finally:
        gmsh.finalize()


@pytest.fixture
def shared_tmp(tmp_path):
    """One directory name on all ranks (rank 0's tmp_path)."""
    return MPI.COMM_WORLD.bcast(tmp_path, root=0)


@pytest.mark.mpi
def test_user_gmsh_file(shared_tmp):
    good = shared_tmp / "cell.msh"
    bad = shared_tmp / "nonperiodic.msh"
    wrong = shared_tmp / "tags.msh"
    if MPI.COMM_WORLD.rank == 0:
        _write_square_cell(good, periodic=True)
        _write_square_cell(bad, periodic=False)
        _write_square_cell(wrong, periodic=True, fluid=7, solid=9)
    MPI.COMM_WORLD.barrier()
    cell = cell_from_gmsh_file(good)
    assert cell.dim == 2 and cell.lower == (0.0, 0.0) and cell.upper == pytest.approx((2.0, 1.0))
    assert cell.has_solid()
    with pytest.raises(InputError, match="not meshed periodically"):
        cell_from_gmsh_file(bad)
    with pytest.raises(InputError, match="cell tags"):
        cell_from_gmsh_file(wrong)
    assert cell_from_gmsh_file(wrong, fluid_tag=7, solid_tag=9).has_solid()
    with pytest.raises(InputError, match="does not exist"):
        cell_from_gmsh_file(shared_tmp / "missing.msh")


@pytest.mark.mpi
def test_user_gmsh_file_refusals(shared_tmp):
    untagged = shared_tmp / "untagged.msh"
    garbage = shared_tmp / "garbage.msh"
    if MPI.COMM_WORLD.rank == 0:
        _write_square_cell(untagged, periodic=True, solid=None, save_all=True)
        garbage.write_text("this is not a mesh\n")
    MPI.COMM_WORLD.barrier()
    with pytest.raises(InputError, match="cells carry no electrolyte/solid tag"):
        cell_from_gmsh_file(untagged)
    with pytest.raises(InputError, match=r"cell mesh file .*garbage\.msh.*gmsh cannot read it"):
        cell_from_gmsh_file(garbage)
    with pytest.raises(InputError, match="is a 2D mesh, expected 3D"):
        cell_from_gmsh_file(untagged, dim=3)
