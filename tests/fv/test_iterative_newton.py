"""What the FV Newton solver saves on large meshes: the iterative solver keeps the preconditioner
of a field-split block whose values stay within a relative change of those it was built from
(the Poisson block of the PNP systems is constant, the temperature's nearly so) and rebuilds the
others at each set-up; small full updates skip the damping test's linear solve. The solutions
stay those of a direct solver (to the Newton tolerance), or of the solver without the shortcut
(bit for bit)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from mpi4py import MPI
from petsc4py import PETSc

from pnpf_fem.fv import SchemeBDF2, SolverControl, VoronoiMesh, initial_state
from pnpf_fem.fv.problem import PNPFProblem
from pnpf_fem.fv.solver import _PETScSolver
from pnpf_fem.meshing import unit_square
from pnpf_fem.units import nondimensionalize, supercapacitor_parameters


def _hypre_set_ups() -> int:
    """BoomerAMG set-ups so far in this process (each converts its block to hypre's format)."""
    PETSc.Log.begin()  # idempotent
    return PETSc.Log.Event("MatConvert").getPerfInfo()["count"]


def _two_fields(scale0: float, scale1: float) -> sp.csr_matrix:
    """Two coupled 1D diffusion blocks (60 unknowns each), block b scaled by scale_b."""
    n = 60
    lap = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n))
    coupling = 0.1 * sp.eye(n)
    matrix = sp.bmat([[scale0 * lap, coupling], [coupling, scale1 * lap]]).tocsr()
    matrix.sort_indices()
    return matrix


def _same_pattern(scales: tuple[float, float], first: sp.csr_matrix) -> sp.csr_matrix:
    matrix = _two_fields(*scales)
    matrix.indptr, matrix.indices = first.indptr, first.indices
    return matrix


def test_a_changed_block_is_rebuilt_and_a_constant_one_kept() -> None:
    rhs = np.linspace(-1.0, 1.0, 120)
    first = _two_fields(1.0, 1.0)
    solver = _PETScSolver(MPI.COMM_SELF, first, 120, "iterative", 2)  # exactly constant only
    before = _hypre_set_ups()
    solver.set_up()
    assert np.allclose(solver.solve(rhs), spla.spsolve(first.tocsc(), rhs), rtol=1e-6)
    assert _hypre_set_ups() - before == 2
    # block 0 changes: only its hierarchy is rebuilt; then both change; then neither
    for scales, rebuilt in (((2.0, 1.0), 1), ((3.0, 5.0), 2), ((3.0, 5.0), 0)):
        matrix = _same_pattern(scales, first)
        solver.update(matrix)
        before = _hypre_set_ups()
        solver.set_up()
        assert np.allclose(solver.solve(rhs), spla.spsolve(matrix.tocsc(), rhs), rtol=1e-6)
        assert _hypre_set_ups() - before == rebuilt, scales
        assert solver.splits is not None and sum(not k for k in solver.splits.kept) == rebuilt


def test_a_block_is_kept_within_the_relative_change() -> None:
    """`preconditioner_change` 1e-2: a block 0.5 % off the values of its hierarchy keeps it,
    2 % off it is rebuilt — from the values its hierarchy was built from, not the last ones."""
    rhs = np.linspace(-1.0, 1.0, 120)
    first = _two_fields(1.0, 1.0)
    solver = _PETScSolver(MPI.COMM_SELF, first, 120, "iterative", 2, keep_within=1e-2)
    solver.set_up()
    solver.solve(rhs)
    for scales, kept in (((1.005, 1.0), [True, True]), ((1.02, 1.0), [False, True])):
        matrix = _same_pattern(scales, first)
        solver.update(matrix)
        solver.set_up()
        assert np.allclose(solver.solve(rhs), spla.spsolve(matrix.tocsc(), rhs), rtol=1e-6)
        assert solver.splits is not None and solver.splits.kept == kept, scales


def test_the_poisson_block_keeps_its_preconditioner() -> None:
    """fv-bdf2 (fields η⁺, η⁻, ψ, ξ), one set-up per step (lag 4): with `preconditioner_change`
    0 (the default) only ψ's hierarchy, the same matrix throughout, is kept; with 1 % also ξ's
    (the temperature hardly changes) — fewer BoomerAMG set-ups, and GMRES with the kept
    hierarchies gives SuperLU's states either way."""
    mesh = VoronoiMesh.from_triangulation(unit_square(8, "unstructured", seed=2))
    params = nondimensionalize(supercapacitor_parameters())
    problem = PNPFProblem(mesh, params, dirichlet={"left": 0.0, "right": 2.0})
    state = initial_state(problem, [1.0, 1.0], 1.0)
    direct = SchemeBDF2(problem, SolverControl(linear_solver="splu")).start(state)
    for _ in range(5):
        direct.step(0.01)
    set_ups, kept = {}, {}
    for change in (0.0, 1e-2):
        control = SolverControl(linear_solver="iterative", preconditioner_change=change)
        iterative = SchemeBDF2(problem, control).start(state)
        iterative.step(0.01)
        before, kept[change] = _hypre_set_ups(), []
        for _ in range(4):
            iterative.step(0.01)
            kept[change].append(iterative._solvers(4)["iterative"].splits.kept.copy())
        set_ups[change] = _hypre_set_ups() - before
        a, b = direct.state, iterative.state
        assert np.allclose(a.c, b.c, rtol=1e-9) and np.allclose(a.T, b.T, rtol=1e-11)
        assert np.allclose(a.psi, b.psi, atol=1e-9)
    assert kept[0.0] == [[False, False, True, False]] * 4 and set_ups[0.0] == 3 * 4
    assert all(step[2] for step in kept[1e-2]) and any(step[3] for step in kept[1e-2])
    assert set_ups[1e-2] < set_ups[0.0]


def test_small_full_updates_skip_the_damping_test(monkeypatch) -> None:
    """`SolverControl.accept_below`: the full Newton updates below 1e-3 are taken without the
    damping test's simplified correction — fewer linear solves, the same iterates bit for bit."""
    mesh = VoronoiMesh.from_triangulation(unit_square(8, "unstructured", seed=2))
    params = nondimensionalize(supercapacitor_parameters())
    problem = PNPFProblem(mesh, params, dirichlet={"left": 0.0, "right": 2.0})
    state = initial_state(problem, [1.0, 1.0], 1.0)
    solves = []
    solve = _PETScSolver.solve

    def counted(self, b, rtol=None):
        solves.append(rtol)
        return solve(self, b, rtol)

    monkeypatch.setattr(_PETScSolver, "solve", counted)
    runs = {}
    for accept_below in (0.0, 1e-3):
        control = SolverControl(linear_solver="iterative", accept_below=accept_below)
        scheme = SchemeBDF2(problem, control).start(state)
        solves.clear()
        newton = sum(scheme.step(0.05)["newton_iterations"] for _ in range(3))
        runs[accept_below] = (scheme.state, len(solves), newton)
    (full, n_full, it_full), (fast, n_fast, it_fast) = runs[0.0], runs[1e-3]
    assert it_fast == it_full and n_fast <= n_full - 3  # ≥ one test fewer per step
    for name in ("c", "psi", "T"):
        assert np.array_equal(getattr(full, name), getattr(fast, name)), name
