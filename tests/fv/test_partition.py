"""The FV schemes on several MPI ranks (`pnpf_fem.fv.partition`) give the serial results.

Every rank owns the vertices DOLFINx gives it and assembles their box equations on the triangles
around them; PETSc (MUMPS) solves the distributed Newton systems. On a case with every kind of
condition — a reacting electrode behind a Stern layer, reservoirs, a thermostat, heat transfer,
a surface charge, a charged region — fv1, fv2 and fv-bdf2 must give the serial run's states
and observables to 1e-10 on 1 and 2 ranks, also for a partition with a ghost layer around every
vertex (round-robin owners), with MUMPS and with the iterative solver. Measured: 7e-16.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

from pnpf_fem.errors import InputError
from pnpf_fem.fv.build import build_scheme
from pnpf_fem.fv.partition import Partition, owners_from_dolfinx
from pnpf_fem.fv.solver import SolverControl
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.meshing import TaggedTriangulation, mark_region, unit_square
from pnpf_fem.model import (
    Concentration,
    HeatTransfer,
    Initial,
    Potential,
    Problem,
    Reaction,
    Stern,
    SurfaceCharge,
    Temperature,
)
from pnpf_fem.model.cases import charging_model

COMM = MPI.COMM_WORLD
METHODS = ("fv1", "fv2", "fv-bdf2")


def _everything(n: int = 10) -> Problem:
    tri = mark_region(unit_square(n, "unstructured", seed=5), "membrane", (0.4, 0.6, 0.0, 1.0))
    conditions = [
        Stern("left", lambda t: 1.0 - math.exp(-20.0 * t), thickness=0.1),
        Reaction("left", 0.5, "cation", alpha=0.4, entropy=2.0),
        Potential("right", 0.0),
        Concentration("right", 1.0, "cation"),
        Concentration("right", 1.0, "anion"),
        Temperature("right", 1.0),
        HeatTransfer("top", 2.0, ambient=1.1),
        SurfaceCharge("bottom", 0.2),
    ]
    model = charging_model(eps=0.2, heat_capacity=1.0, conductivity=1.0)
    initial = Initial(c={"cation": 1.0, "anion": 1.0})
    return Problem(model, tri, conditions, initial, region_charges={"membrane": -0.5})


def _run(problem: Problem, method: str, partition: Partition | None, linear: str = "auto"):
    scheme = build_scheme(problem, method, SolverControl(linear_solver=linear), partition=partition)
    rows = integrate(scheme, 0.05, FixedSteps(0.01)).records
    return scheme, rows


def _assert_same(problem: Problem, method: str, partition: Partition, linear: str = "auto") -> None:
    serial, rows = _run(problem, method, None)
    parallel, prows = _run(problem, method, partition, linear)
    for name in ("c", "psi", "T"):
        whole = partition.gather(getattr(parallel.state, name))
        assert np.max(np.abs(whole - getattr(serial.state, name))) < 1e-10, (method, name)
    for a, b in zip(rows, prows, strict=True):
        for key, value in a.items():
            if key != "wall_time":
                assert abs(b[key] - value) <= 1e-10 * max(1.0, abs(value)), (method, key)


@pytest.mark.mpi
@pytest.mark.parametrize("method", METHODS)
def test_dolfinx_distribution_gives_the_serial_results(method: str) -> None:
    problem = _everything()
    partition = Partition.from_owners(problem.mesh, owners_from_dolfinx(problem.mesh, COMM), COMM)
    assert COMM.allreduce(partition.num_owned) == problem.mesh.num_vertices
    _assert_same(problem, method, partition)


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["fv1", "fv-bdf2"])
def test_the_iterative_solver_gives_the_serial_results(method: str) -> None:
    """GMRES + field split (BoomerAMG per field) on the distributed system, against SuperLU;
    the Poisson block, the same matrix throughout, keeps its BoomerAMG hierarchy, the ions'
    are rebuilt."""
    problem = _everything()
    partition = Partition.from_owners(problem.mesh, owners_from_dolfinx(problem.mesh, COMM), COMM)
    _assert_same(problem, method, partition, "iterative")
    blocks = 3 if method == "fv1" else 4  # fv1 solves the heat equation apart
    solver = partition.solver_cache[blocks]["iterative"]
    assert solver.splits.kept[:3] == [False, False, True]  # η⁺, η⁻ rebuilt, ψ kept


@pytest.mark.mpi
def test_any_partition_gives_the_serial_results() -> None:
    """Round-robin owners: nearly every vertex has ghosts around it."""
    problem = _everything(6)
    owner = np.arange(problem.mesh.num_vertices) % COMM.size
    _assert_same(problem, "fv-bdf2", Partition.from_owners(problem.mesh, owner, COMM))


@pytest.mark.mpi
def test_an_inadmissible_mesh_is_refused_on_every_rank() -> None:
    """A flipped diagonal (an obtuse pair of opposite angles) in the middle of the square."""
    tri = unit_square(4, "structured")
    pts, cells = tri.points, tri.triangles.copy()
    pts = pts.copy()
    centre = np.argmin(np.linalg.norm(pts - 0.5, axis=1))
    pts[centre] += (0.12, 0.1)  # no longer Delaunay around it
    bad = TaggedTriangulation(pts, cells, tri.facets, tri.facet_markers, dict(tri.tag_names))
    owner = np.arange(bad.num_vertices) % COMM.size
    partition = Partition.from_owners(bad, owner, COMM)
    with pytest.raises(InputError, match="not admissible for Voronoi finite volumes"):
        partition.voronoi_mesh()
