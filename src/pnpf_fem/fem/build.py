"""A FEM scheme from a `pnpf_fem.model.Problem`: the one factory of the FEM discretization."""

from __future__ import annotations

import dataclasses
from typing import Any

from mpi4py import MPI

from pnpf_fem.fem.mesh import FEMMesh, from_triangulation
from pnpf_fem.fem.problem import Field, PNPFProblem, Value
from pnpf_fem.fem.schemes import Scheme, make_scheme
from pnpf_fem.fem.snes import SolverOptions
from pnpf_fem.model import (
    Concentration,
    Data,
    HeatTransfer,
    Initial,
    Potential,
    Problem,
    Sources,
    SpaceTime,
    SurfaceCharge,
)

__all__ = ["build_scheme", "fem_problem", "fem_value"]


def fem_value(value: Data) -> Value:
    """A datum as the FEM takes it: a space-time field becomes a UFL `Field`."""
    return Field(value.ufl) if isinstance(value, SpaceTime) else value


def fem_problem(problem: Problem, mesh: FEMMesh, degree: int = 1) -> PNPFProblem:
    """The FEM form of `problem` on the distributed `mesh` (built from `problem.mesh`)."""
    names = problem.model.species_names
    sources = None
    if problem.sources is not None:
        ions = {n: fem_value(v) for n, v in problem.sources.ions.items()}
        heat = problem.sources.heat
        sources = Sources(ions, None if heat is None else fem_value(heat))
    return PNPFProblem(
        model=problem.model,
        mesh=mesh,
        initial=Initial(
            c={n: fem_value(problem.initial.c[n]) for n in names},
            T=fem_value(problem.initial.T),
        ),
        dirichlet=[Potential(t, fem_value(v)) for t, v in problem.potentials.items()],
        neumann=[SurfaceCharge(t, fem_value(v)) for t, v in problem.surface_charges.items()],
        sources=sources,
        fixed_charge=None if problem.fixed_charge is None else fem_value(problem.fixed_charge),
        degree=degree,
        concentrations=[
            Concentration(c.tag, fem_value(c.value), c.species) for c in problem.concentrations
        ],
        thermal=[
            dataclasses.replace(c, value=fem_value(c.value)) if type(c) is not HeatTransfer else c
            for c in problem.thermal
        ],
        stern=[dataclasses.replace(c, value=fem_value(c.value)) for c in problem.sterns],
        region_charges=problem.region_charges,
        reactions=problem.reactions,
    )


def build_scheme(
    problem: Problem,
    method: str,
    degree: int = 1,
    options: SolverOptions | None = None,
    comm: Any = MPI.COMM_WORLD,
    mesh: FEMMesh | None = None,
) -> Scheme:
    """The scheme `method` ("fem1" | "fem2" | "fem-be") for `problem` at t = 0.

    The mesh is distributed over `comm` from `problem.mesh` unless an already distributed `mesh`
    of the same triangulation is given.
    """
    if mesh is None:
        given = problem.mesh
        mesh = given if isinstance(given, FEMMesh) else from_triangulation(given, comm)
    return make_scheme(method, fem_problem(problem, mesh, degree), options)
