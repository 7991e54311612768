"""The linear solver "auto" (the default): MUMPS up to `AUTO_LU_LIMIT` unknowns by dimension,
GMRES + field-split BoomerAMG above — and MUMPS for good once GMRES fails."""

from __future__ import annotations

import pytest

from pnpf_fem.errors import SolverError
from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.snes import AUTO_LU_LIMIT, SolverOptions
from pnpf_fem.meshing import unit_square
from pnpf_fem.model.cases import charging_cell, charging_model


def test_auto_chooses_by_size_and_dimension() -> None:
    auto = SolverOptions()
    assert auto.linear_solver == "auto"
    assert auto.resolved(AUTO_LU_LIMIT[2], 2) == "lu"
    assert auto.resolved(AUTO_LU_LIMIT[2] + 1, 2) == "iterative"
    assert auto.resolved(AUTO_LU_LIMIT[3] + 1, 3) == "iterative"
    assert SolverOptions(linear_solver="lu").resolved(10**9, 3) == "lu"
    assert auto.options(4, 10**6, 3)["fieldsplit_0_pc_hypre_boomeramg_coarsen_type"] == "HMIS"
    assert auto.options(4, 10, 2)["pc_type"] == "lu"


def test_a_failed_iterative_solve_falls_back_to_lu() -> None:
    """GMRES crippled to 2 iterations fails on a 21k-unknown charging cell: "auto" switches that
    solver to MUMPS and the step succeeds; an explicit "iterative" fails with the reason."""
    problem = charging_cell(unit_square(72), model=charging_model())
    crippled = {"ksp_max_it": 2}
    scheme = build_scheme(problem, "fem-be", options=SolverOptions(petsc_options=crippled))
    assert scheme.solver.fallback_to_lu
    scheme.step(1e-2)
    assert scheme.solver.fell_back and not scheme.solver.fallback_to_lu
    with pytest.raises(SolverError, match="DIVERGED_LINEAR_SOLVE"):
        options = SolverOptions(linear_solver="iterative", petsc_options=crippled)
        build_scheme(problem, "fem-be", options=options)
