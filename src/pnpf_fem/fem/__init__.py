"""FEM core: the log-variable PNPF system (2.13) in UFL, solved by PETSc SNES (DOLFINx 0.9)."""

from pnpf_fem.fem.mesh import FEMMesh, from_triangulation, gather_vertex_values, unit_square_mesh
from pnpf_fem.fem.problem import (
    DirichletBC,
    Field,
    InitialState,
    NeumannBC,
    PNPFProblem,
    Sources,
)
from pnpf_fem.fem.schemes import (
    SCHEMES,
    BackwardEulerScheme,
    CrankNicolsonScheme,
    FirstOrderScheme,
    Scheme,
    make_scheme,
)
from pnpf_fem.fem.snes import NonlinearSolver, SolverOptions
from pnpf_fem.fem.transient import TransientProblem

__all__ = [
    "SCHEMES",
    "BackwardEulerScheme",
    "CrankNicolsonScheme",
    "DirichletBC",
    "FEMMesh",
    "Field",
    "FirstOrderScheme",
    "InitialState",
    "NeumannBC",
    "NonlinearSolver",
    "PNPFProblem",
    "Scheme",
    "SolverOptions",
    "Sources",
    "TransientProblem",
    "from_triangulation",
    "gather_vertex_values",
    "make_scheme",
    "unit_square_mesh",
]
