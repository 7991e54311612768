"""The FEM PNPF on tetrahedral meshes: meshes, manufactured solutions, conservation, 2D vs 3D.

* `meshing3d.box`: six Kuhn tetrahedra per cube, faces tagged left/right (x), bottom/top (y),
  front/back (z); distributed over 1 and 2 ranks with the same tags.
* Test A in 3D (φ = cos πx cos πy cos πz on the unit cube, sources derived by UFL): observed
  orders P1 ≥ 1.8, P2 ≥ 2.7.
* A charging cell in 3D: masses to round-off, entropy non-decreasing (P1, vertex quadrature), the
  same on 1 and 2 ranks to 1e-8; the box one cell thick in z charges as the 2D square does, to
  discretization level (the two meshes differ; their difference falls with h).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from pnpf_fem.fem.accuracy import l2_errors, run_mms
from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.mesh import from_triangulation, gather_vertex_values
from pnpf_fem.fem.snes import SolverOptions
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.meshing import unit_square
from pnpf_fem.meshing3d import BOX_TAGS, box
from pnpf_fem.model.cases import charging_cell, charging_model

ITERATIVE = SolverOptions(linear_solver="iterative")  # MUMPS takes 4 s per 3D solve at n = 16


def _integral(fmesh, form) -> float:
    return fmesh.comm.allreduce(fem.assemble_scalar(fem.form(form)), op=MPI.SUM)


@pytest.mark.mpi
def test_box_faces_and_volume() -> None:
    tets = box(4, 3, 2, lengths=(1.0, 0.75, 0.5))
    assert tets.tetrahedra.shape == (6 * 24, 4) and dict(tets.tag_names) == BOX_TAGS
    fm = from_triangulation(tets)
    one = fem.Constant(fm.mesh, 1.0)
    ds = ufl.Measure("ds", domain=fm.mesh, subdomain_data=fm.facet_tags)
    areas = {name: _integral(fm, one * ds(fm.tag(name))) for name in BOX_TAGS}
    expected = {"left": 0.375, "right": 0.375, "bottom": 0.5, "top": 0.5}
    expected |= {"front": 0.75, "back": 0.75}
    assert areas == pytest.approx(expected, rel=1e-12)
    assert _integral(fm, one * ufl.dx(domain=fm.mesh)) == pytest.approx(0.375, rel=1e-12)


def test_manufactured_solution_orders_p1() -> None:
    """fem-be, Δt = h², t = 0.025 (measured L2 orders 8 → 16: c¹ 1.85, c² 1.96, ψ 1.98, T 1.90
    at t = 0.1 with the same step rule)."""
    errors = []
    for n in (8, 16):
        steps = round(0.025 * n * n)
        scheme, _ = run_mms("fem-be", n, steps, final_time=0.025, dim=3, options=ITERATIVE)
        errors.append(l2_errors(scheme))
    orders = {k: math.log2(errors[0][k] / errors[1][k]) for k in errors[0]}
    assert min(orders.values()) >= 1.8, (errors, orders)


def test_manufactured_solution_orders_p2() -> None:
    """fem-bdf2 (second order in time), P2, Δt ∝ h^{3/2} (measured with fem-be, Δt = h³:
    2.80, 2.89, 2.94, 2.79 from n = 2 to 4)."""
    errors = []
    for n in (2, 4):
        steps = max(2, round(0.1 * n**1.5 * 4))
        scheme, _ = run_mms("fem-bdf2", n, steps, degree=2, dim=3)
        errors.append(l2_errors(scheme))
    orders = {k: math.log2(errors[0][k] / errors[1][k]) for k in errors[0]}
    assert min(orders.values()) >= 2.7, (errors, orders)


def _charging_3d(n: int, nz: int | None = None, depth: float = 1.0, method: str = "fem-be"):
    mesh = box(n, n, nz, lengths=(1.0, 1.0, depth))
    scheme = build_scheme(charging_cell(mesh, voltage=2.0, model=charging_model()), method)
    rows = [scheme.initial_observables()]
    integrate(scheme, 0.5, FixedSteps(0.05), observers=[lambda r, _dt: rows.append(r)])
    return scheme, rows


@pytest.mark.mpi
def test_charging_conserves_mass_increases_entropy_and_is_rank_independent() -> None:
    """A 4×4×4 box charged between left and right (P1 fem-be): each species' amount to
    Newton's tolerance (1.1e-12 measured), S non-decreasing, and the vertex values gathered by
    input vertex equal to those of a serial run of the same mesh to 1e-8 (under mpirun -n 2 the
    serial run is done on COMM_SELF of every rank)."""
    scheme, rows = _charging_3d(4)
    for name in ("mass_cation", "mass_anion"):
        drift = max(abs(r[name] / rows[0][name] - 1) for r in rows)
        assert drift < 1e-10  # set by Newton's tolerance
    s = np.array([r["S"] for r in rows])
    assert np.all(np.diff(s) >= -1e-12 * np.abs(s[1:])) and s[-1] > s[0]
    assert abs(rows[-1]["charge_left"]) > 0.01  # the cell charged
    fm = scheme.problem.mesh
    distributed = [gather_vertex_values(fm, scheme.u, i) for i in range(4)]
    mesh = box(4)
    serial = build_scheme(
        charging_cell(mesh, voltage=2.0, model=charging_model()),
        "fem-be",
        mesh=from_triangulation(mesh, MPI.COMM_SELF),
    )
    integrate(serial, 0.5, FixedSteps(0.05))
    for i, values in enumerate(distributed):
        reference = gather_vertex_values(serial.problem.mesh, serial.u, i)
        assert np.max(np.abs(values - reference)) < 1e-8


def _charge_2d(n: int) -> float:
    scheme = build_scheme(charging_cell(unit_square(n), voltage=2.0), "fem-be")
    integrate(scheme, 0.5, FixedSteps(0.05))
    return scheme.observables.evaluate(scheme.t, 0.05, 0, 0.0)["charge_left"]


def test_a_slab_uniform_in_z_charges_as_the_2d_cell() -> None:
    """The box n × n × 1 (depth 1/n) against the unit square n × n: the electrode charge per unit
    depth converges at second order to the 2D limit (against the 2D n = 32 run: errors 1.24e-2,
    2.84e-3 at n = 8, 16, order 2.1; against the 2D n = 128 run: 1.33e-2, 3.72e-3, 9.2e-4 at
    n = 8, 16, 32), and the 3D and 2D runs on the same n differ by far less than their
    discretization error (1.7e-4 and 1.1e-4 against 1.2e-2 and 2.7e-3)."""
    reference = _charge_2d(32)
    errors = []
    for n in (8, 16):
        _, rows3 = _charging_3d(n, nz=1, depth=1.0 / n)
        q3, q2 = rows3[-1]["charge_left"] * n, _charge_2d(n)
        errors.append(abs(q3 - reference))
        assert abs(q3 - q2) < 0.1 * abs(q2 - reference), (n, q3, q2, reference)
    assert math.log2(errors[0] / errors[1]) > 1.8, errors


def test_case_files_in_3d(tmp_path) -> None:
    """`pnpf-fem run` on the built-in box and on a gmsh file of tetrahedra with named physical
    surfaces (tags) and volumes (regions, charged from the case file); an FV method runs on
    the box (Kuhn cubes: Delaunay; `compare` puts FEM and FV side by side, measured 8.7e-4 apart
    in c) and refuses the gmsh slab, which is not Delaunay, listing edges."""
    import json

    import gmsh

    from pnpf_fem.app.cli import main
    from pnpf_fem.gmsh_io import gmsh_model
    from test_bad_input import CASE

    box_case = CASE.replace('builtin = "unit_square"\nn = 4', 'builtin = "box"\nn = 3')
    (tmp_path / "box.toml").write_text(box_case)
    out = tmp_path / "box"
    assert main(["run", str(tmp_path / "box.toml"), "--output", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mesh"]["dimension"] == 3 and summary["mesh"]["tetrahedra"] == 6 * 27

    with gmsh_model("slab"):
        occ = gmsh.model.occ
        occ.fragment(
            [(3, occ.addBox(0, 0, 0, 0.5, 1, 0.5))], [(3, occ.addBox(0.5, 0, 0, 0.5, 1, 0.5))]
        )
        occ.synchronize()
        vols = sorted(gmsh.model.getEntities(3), key=lambda e: gmsh.model.getBoundingBox(*e)[0])
        gmsh.model.addPhysicalGroup(3, [vols[0][1]], 1, name="electrolyte")
        gmsh.model.addPhysicalGroup(3, [vols[1][1]], 2, name="membrane")
        for tag, x in ((1, 0.0), (2, 1.0)):
            faces = gmsh.model.getEntitiesInBoundingBox(x - 1e-6, -1, -1, x + 1e-6, 2, 2, 2)
            gmsh.model.addPhysicalGroup(
                2, [t for _, t in faces], tag, name=("left", "right")[tag - 1]
            )
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.3)
        gmsh.model.mesh.generate(3)
        gmsh.write(str(tmp_path / "slab.msh"))
    gmsh_case = CASE.replace(
        'builtin = "unit_square"\nn = 4\nkind = "structured"', 'file = "slab.msh"'
    )
    (tmp_path / "slab.toml").write_text(gmsh_case + "[regions.membrane]\nfixed_charge = -50.0\n")
    out = tmp_path / "slab"
    assert main(["run", str(tmp_path / "slab.toml"), "--output", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mesh"]["regions"] == {"electrolyte": 1, "membrane": 2}

    fv = box_case.replace('method = "fem-be"', 'method = "fv-bdf2"')
    (tmp_path / "fv.toml").write_text(fv)
    assert (
        main(["run", str(tmp_path / "fv.toml"), "--output", str(tmp_path / "fv"), "--quiet"]) == 0
    )
    assert (tmp_path / "fv" / "fields.pvd").is_file()
    cmp = tmp_path / "cmp"  # FEM against FV on the same tetrahedra
    assert (
        main(["compare", str(tmp_path / "box.toml"), "--order", "bdf2", "--output", str(cmp)]) == 0
    )
    result = json.loads((cmp / "comparison.json").read_text())
    assert result["observables"]["mass_cation"]["max_rel_difference"] < 1e-10
    assert all(0 < result["fields"][k]["relative"] < 1e-2 for k in ("c_cation", "psi"))
    fv_slab = (gmsh_case + "[regions.membrane]\nfixed_charge = -50.0\n").replace(
        'method = "fem-be"', 'method = "fv1"'
    )
    (tmp_path / "fv_slab.toml").write_text(fv_slab)
    assert main(["run", str(tmp_path / "fv_slab.toml"), "--output", str(tmp_path / "fvs")]) == 2
    assert not (tmp_path / "fvs").exists()
