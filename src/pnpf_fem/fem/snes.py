"""PETSc glue: a nonlinear problem F(u) = 0 solved by petsc4py SNES with the exact Jacobian.

DOLFINx 0.9 has no SNES problem class; `SNESProblem` provides the F/J callbacks (assemble, lift
Dirichlet values relative to the current iterate, set_bc) in the pattern of DOLFINx's own Newton
tests. `NonlinearSolver` owns one SNES with a unique options prefix, solves into a work vector and
copies the result back only on success: a diverged solve raises `SolverError` and leaves the
unknown's Function as it was.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ufl
from dolfinx import fem, la
from dolfinx.fem.petsc import (
    apply_lifting,
    assemble_matrix,
    assemble_vector,
    create_vector,
    set_bc,
)
from petsc4py import PETSc

from pnpf_fem.errors import InputError, SolverError

__all__ = [
    "LINEAR_SOLVERS",
    "NonlinearSolver",
    "SNESProblem",
    "SolverOptions",
    "converged_or_raise",
    "converged_or_raise_ksp",
    "make_snes",
    "release",
]

LINEAR_SOLVERS = ("auto", "lu", "iterative")
# "auto": LU up to these global sizes (by dimension), the iterative solver above. Measured with
# benchmarks/fem_scaling.py (charging cell, fem-be, one Newton iteration in units of one Poisson
# solve of the same mesh): LU/iterative 10.2/6.9 at 3e4 DOFs in 2D, 59/7.2 at 1.1e4 in 3D.
AUTO_LU_LIMIT = {1: 100_000, 2: 20_000, 3: 5_000}
# hypre's settings for 3D (HMIS coarsening, ext+i interpolation): a 3D solve 1.8× cheaper
HYPRE_3D = {
    "pc_hypre_boomeramg_coarsen_type": "HMIS",
    "pc_hypre_boomeramg_interp_type": "ext+i",
    "pc_hypre_boomeramg_P_max": 4,
    "pc_hypre_boomeramg_agg_nl": 1,
    "pc_hypre_boomeramg_strong_threshold": 0.5,
}

# BoomerAMG smoothing of every field (2D and 3D): one forward l1-Gauss-Seidel sweep down, one
# backward sweep up — a symmetric V-cycle at half the work of PETSc's default (a symmetric sweep
# both ways) for the same Krylov iterations; the l1 variant stays convergent on any partition
# (fem_scaling, 2D 1e5 DOFs, mean of 3 runs: a Newton iteration 0.253 → 0.238 s)
HYPRE_RELAX = {
    "pc_hypre_boomeramg_relax_type_down": "l1-Gauss-Seidel",
    "pc_hypre_boomeramg_relax_type_up": "backward-l1-Gauss-Seidel",
}

# Newton with the iterative solver (under the solver's options prefix: a user overrides them):
# * inexact Newton, Eisenstat–Walker forcing (version 2): iteration k solves to the relative
#   tolerance γ (‖F_k‖/‖F_{k−1}‖)^α with γ = 0.01, α = 2 — 1 % of the residual that quadratic
#   convergence predicts after this iteration — and never looser than 1e-3 (the first
#   iteration's). GMRES is right-preconditioned, so the tolerance bounds the true linear
#   residual ‖F + J δu‖, as the forcing terms assume: with left preconditioning the
#   preconditioned residual fell by 1e-4 where the true one fell by 7e-3 only. Looser choices
#   cost Newton iterations: PETSc's defaults (γ = 1, α = 1.618, 0.3 first) a 4th per step on the
#   benchmark below, γ = 0.1 with 1e-2 first one more step in three at 1e6 DOFs, 1e-2 first one
#   in three on the graded cells of benchmarks/linear_solvers.py (n = 64, ε = 0.01);
# * the preconditioner (field-split submatrices, BoomerAMG setup) is built at the first Newton
#   iteration of every solve and reused by the next two: one setup per time step at 3 Newton
#   iterations per step; a solve needing more rebuilds it every third iteration.
# benchmarks/fem_scaling.py (fem-be, 2D, 1e5 DOFs, 1 rank): Krylov iterations per Newton
# iteration 8.8 → 6.1, preconditioner setup 2.3 → 1.0 and Krylov 3.6 → 2.4 Poisson solves per
# Newton iteration, still 3 Newton iterations per step to the same final residual;
# benchmarks/linear_solvers.py: the same Newton iterations in every case.
ITERATIVE_NEWTON = {
    "snes_ksp_ew": True,
    "snes_ksp_ew_version": 2,
    "snes_ksp_ew_gamma": 0.01,
    "snes_ksp_ew_alpha": 2.0,
    "snes_ksp_ew_rtol0": 1e-3,
    "snes_ksp_ew_rtolmax": 1e-3,
    "snes_lag_preconditioner": 3,
}

# what "auto" switches a solver to when GMRES fails
LU_FALLBACK = {
    "ksp_type": "preonly",
    "pc_type": "lu",
    "pc_factor_mat_solver_type": "mumps",
    "snes_ksp_ew": False,
    "snes_lag_preconditioner": 1,
}

_counter = itertools.count()


def _reason_names(enum: type) -> dict[int, str]:
    return {getattr(enum, k): k for k in dir(enum) if not k.startswith("_")}


_SNES_REASONS = _reason_names(PETSc.SNES.ConvergedReason)
_KSP_REASONS = _reason_names(PETSc.KSP.ConvergedReason)


@dataclass(frozen=True)
class SolverOptions:
    """Newton/linear-solver configuration.

    `linear_solver`: "lu" (MUMPS), "iterative" (GMRES preconditioned by a multiplicative field
    split over the blocked unknowns with BoomerAMG on each field; hypre's 3D settings in 3D;
    inexact Newton with Eisenstat–Walker tolerances and the preconditioner reused for up to
    three Newton iterations, `ITERATIVE_NEWTON`) or "auto" (the default: LU up to
    `AUTO_LU_LIMIT` DOFs, iterative above).
    `petsc_options` are passed through last and override everything.
    """

    linear_solver: str = "auto"
    rtol: float = 1e-10
    atol: float = 1e-12
    # Newton also ends when the update is at round-off (‖δu‖ < stol ‖u‖): residual tolerances
    # below the residual's round-off floor then cannot make a converged solve fail
    stol: float = 1e-14
    max_it: int = 30
    petsc_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.linear_solver not in LINEAR_SOLVERS:
            raise InputError(
                f"linear_solver must be one of {', '.join(LINEAR_SOLVERS)}, "
                f"got {self.linear_solver!r}"
            )

    def resolved(self, num_dofs: int, dim: int) -> str:
        """ "lu" or "iterative" for a problem of `num_dofs` global unknowns in `dim` dimensions."""
        if self.linear_solver != "auto":
            return self.linear_solver
        return "lu" if num_dofs <= AUTO_LU_LIMIT.get(dim, 5_000) else "iterative"

    def options(self, block_size: int, num_dofs: int = 0, dim: int = 2) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "snes_type": "newtonls",
            "snes_linesearch_type": "bt",
            "snes_rtol": self.rtol,
            "snes_atol": self.atol,
            "snes_stol": self.stol,
            "snes_max_it": self.max_it,
        }
        if self.resolved(num_dofs, dim) == "lu":
            opts |= {
                "ksp_type": "preonly",
                "pc_type": "lu",
                "pc_factor_mat_solver_type": "mumps",
            }
        else:
            opts |= {
                "ksp_type": "gmres",
                "ksp_pc_side": "right",
                "ksp_gmres_restart": 200,
                "ksp_rtol": 1e-10,  # in force only with snes_ksp_ew false
                "ksp_atol": 1e-14,
                "ksp_max_it": 1000,
            } | ITERATIVE_NEWTON
            if block_size > 1:
                opts |= {
                    "pc_type": "fieldsplit",
                    "pc_fieldsplit_type": "multiplicative",
                    "pc_fieldsplit_block_size": block_size,
                }
                # the last field first: the temperature ξ of the coupled schemes (ψ where there is
                # no ξ) — it enters the ion fluxes strongly and hears back from them only through
                # the Joule heat, so the block Gauss–Seidel sweep ξ → η → ψ keeps the strong
                # couplings below the diagonal (fem-be, 2D 1e5 DOFs: 6.1 → 4.9 Krylov iterations
                # per Newton iteration, fem-bdf2 6.0 → 5.0; the graded thin-layer cells of
                # benchmarks/linear_solvers.py within ±0.45 of the natural order)
                order = [block_size - 1, *range(block_size - 1)]
                for i in range(block_size):
                    opts[f"pc_fieldsplit_{i}_fields"] = order[i]
                    opts[f"fieldsplit_{i}_ksp_type"] = "preonly"
                    opts[f"fieldsplit_{i}_pc_type"] = "hypre"
                    opts[f"fieldsplit_{i}_pc_hypre_type"] = "boomeramg"
                    hypre = HYPRE_RELAX | (HYPRE_3D if dim == 3 else {})
                    opts |= {f"fieldsplit_{i}_{k}": v for k, v in hypre.items()}
            else:
                opts |= {"pc_type": "hypre", "pc_hypre_type": "boomeramg"} | HYPRE_RELAX
                if dim == 3:
                    opts |= HYPRE_3D
        return opts | dict(self.petsc_options)


def make_snes(
    comm: Any,
    name: str,
    options: SolverOptions,
    block_size: int,
    F: Callable,
    J: Callable,
    b: PETSc.Vec,
    A: PETSc.Mat,
    dim: int = 2,
    num_dofs: int = 0,
) -> tuple[PETSc.SNES, str, list[str]]:
    """A SNES with the unique options prefix `pnpf_<name>_<n>_`, `options` set under it (for a
    problem of `num_dofs` unknowns in `dim` dimensions: 0 keeps "auto" on LU), the F/J
    callbacks and a residual history; returns (snes, prefix, the option keys set)."""
    prefix = f"pnpf_{name}_{next(_counter)}_"
    snes = PETSc.SNES().create(comm)
    snes.setOptionsPrefix(prefix)
    opts = PETSc.Options()
    keys = []
    for k, v in options.options(block_size, num_dofs, dim).items():
        opts[prefix + k] = v
        keys.append(prefix + k)
    snes.setFunction(F, b)
    snes.setJacobian(J, A)
    snes.setConvergenceHistory(reset=True)
    snes.setFromOptions()
    snes.getKSP().setFromOptions()
    return snes, prefix, keys


def converged_or_raise(snes: PETSc.SNES, prefix: str, restore: Callable[[], None]) -> None:
    """Return if SNES and its last KSP converged; else call `restore()` (put the unknowns back)
    and raise `SolverError` naming the SNES or KSP reason, with the residual history."""
    reason = snes.getConvergedReason()
    ksp_reason = snes.getKSP().getConvergedReason()
    if reason > 0 and ksp_reason >= 0:
        return
    restore()
    history = list(snes.getConvergenceHistory()[0])
    if reason <= 0:
        raise SolverError(
            f"SNES {prefix} did not converge",
            reason=_SNES_REASONS.get(reason, str(reason)),
            history=history,
        )
    raise SolverError(
        f"KSP of SNES {prefix} did not converge",
        reason=_KSP_REASONS.get(ksp_reason, str(ksp_reason)),
        history=history,
    )


def converged_or_raise_ksp(ksp: PETSc.KSP, prefix: str) -> None:
    """Raise `SolverError` naming the KSP reason unless the last linear solve converged."""
    reason = ksp.getConvergedReason()
    if reason < 0:
        raise SolverError(
            f"linear solve {prefix} did not converge", reason=_KSP_REASONS.get(reason, str(reason))
        )


def release(solver: Any) -> None:
    """Drop a solver's PETSc options (by its unique prefix) and destroy its PETSc objects."""
    opts = PETSc.Options()
    for k in getattr(solver, "_option_keys", []):
        opts.delValue(k)
    for name in ("snes", "_A", "_b", "_x"):
        obj = getattr(solver, name, None)
        if obj is not None:
            obj.destroy()


class SNESProblem:
    """F/J callbacks for SNES: residual `F` (a UFL form in the Function `u`) and its Jacobian.

    The Jacobian is assembled into a DOLFINx CSR matrix (`create_matrix`): inserting element
    matrices there costs half of what PETSc's MatSetValuesBlockedLocal does (a 2D P1 Jacobian of
    4 fields at 1e5 DOFs: 0.085 s against 0.112 s, 3D 0.71 s against 0.85 s). The PETSc matrix
    is built on arrays this class owns: on one process the CSR arrays themselves; on several,
    the owned rows split into PETSc's diagonal and off-diagonal blocks, refilled from the CSR
    values by two gathers after each assembly (MatSetValues row by row cost a quarter of the
    assembly)."""

    def __init__(self, F: ufl.Form, u: fem.Function, bcs: Sequence[fem.DirichletBC]) -> None:
        self.u = u
        self.bcs = list(bcs)
        self.L = fem.form(F)
        self.a = fem.form(ufl.derivative(F, u, ufl.TrialFunction(u.function_space)))
        self.assembly_time = 0.0  # seconds spent in F and J (for benchmarks)
        self._csr: la.MatrixCSR | None = None
        # on several processes: (selector of CSR values, PETSc value array) of the diagonal and
        # the off-diagonal block
        self._split: list[tuple[np.ndarray, np.ndarray]] = []

    def create_matrix(self) -> PETSc.Mat:
        """The PETSc AIJ matrix `J` assembles into (block size of the space)."""
        csr = fem.create_matrix(self.a, block_mode=la.BlockMode.expanded)  # point rows
        self._csr = csr
        rows, cols = csr.index_map(0), csr.index_map(1)
        n, m = rows.size_local, cols.size_local  # owned rows and columns come first
        comm = self.a.function_spaces[0].mesh.comm
        size = ((n, rows.size_global), (m, cols.size_global))
        if comm.size == 1:
            indptr = csr.indptr.astype(PETSc.IntType)
            indices = csr.indices.astype(PETSc.IntType, copy=False)
            A = PETSc.Mat().createAIJWithArrays(size, (indptr, indices, csr.data), comm=comm)
        else:
            indptr = csr.indptr[: n + 1]
            local = csr.indices[: indptr[-1]]
            # diagonal block: a row's owned columns (local index < m) come first and sorted;
            # selected by a mask (a boolean gather is 3× faster than an indexed one)
            diagonal = np.zeros(len(csr.data), dtype=bool)
            diagonal[: len(local)] = local < m
            # off-diagonal block (few entries): the ghost columns sorted by global index
            ghost = np.flatnonzero(~diagonal[: len(local)])
            row = np.searchsorted(indptr, ghost, side="right") - 1
            glob = cols.local_to_global(local[ghost])
            order = np.lexsort((glob, row))
            off_counts = np.bincount(row, minlength=n)
            parts = []
            for selector, counts, columns in (
                (diagonal, np.diff(indptr) - off_counts, local[diagonal[: len(local)]]),
                (ghost[order], off_counts, glob[order]),
            ):
                ptr = np.concatenate(([0], np.cumsum(counts))).astype(PETSc.IntType)
                values = np.zeros(len(columns), dtype=PETSc.ScalarType)
                self._split.append((selector, values))
                parts.append((ptr, columns.astype(PETSc.IntType, copy=False), values))
            A = PETSc.Mat().createAIJWithArrays(size, tuple(parts), comm=comm)
        A.setBlockSize(self.a.function_spaces[0].dofmap.index_map_bs)
        A.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
        A.assemble()
        return A

    def F(self, snes: PETSc.SNES, x: PETSc.Vec, b: PETSc.Vec) -> None:
        start = time.perf_counter()
        x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        x.copy(self.u.x.petsc_vec)
        self.u.x.scatter_forward()
        with b.localForm() as b_local:
            b_local.set(0.0)
        assemble_vector(b, self.L)
        apply_lifting(b, [self.a], bcs=[self.bcs], x0=[x], alpha=-1.0)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        set_bc(b, self.bcs, x, -1.0)
        self.assembly_time += time.perf_counter() - start

    def J(self, snes: PETSc.SNES, x: PETSc.Vec, A: PETSc.Mat, P: PETSc.Mat) -> None:
        start = time.perf_counter()
        if self._csr is None:  # a matrix from elsewhere
            A.zeroEntries()
            assemble_matrix(A, self.a, bcs=self.bcs)
        else:
            self._csr.set_value(0.0)
            fem.assemble_matrix(self._csr, self.a, bcs=self.bcs)
            if self._split:
                self._csr.scatter_reverse()
                data = self._csr.data
                for selector, values in self._split:
                    values[:] = data[selector]
        A.assemble()
        self.assembly_time += time.perf_counter() - start


class NonlinearSolver:
    """One SNES (newtonls + line search) for F(u) = 0 with a unique options prefix."""

    def __init__(
        self,
        F: ufl.Form,
        u: fem.Function,
        bcs: Sequence[fem.DirichletBC],
        name: str,
        options: SolverOptions | None = None,
    ) -> None:
        options = options or SolverOptions()
        self.u = u
        self.problem = SNESProblem(F, u, bcs)
        self._b = create_vector(self.problem.L)
        self._A = self.problem.create_matrix()
        self._x = u.x.petsc_vec.copy()
        self.snes, self.prefix, self._option_keys = make_snes(
            u.function_space.mesh.comm,
            name,
            options,
            u.function_space.dofmap.index_map_bs,
            self.problem.F,
            self.problem.J,
            self._b,
            self._A,
            u.function_space.mesh.topology.dim,
            self._b.getSize(),
        )
        # "auto" chose the iterative solver: if it fails, fall back to LU once and for good
        dim = u.function_space.mesh.topology.dim
        self.fallback_to_lu = (
            options.linear_solver == "auto"
            and options.resolved(self._b.getSize(), dim) == "iterative"
        )
        self.fell_back = False
        self.linear = options.resolved(self._b.getSize(), dim)  # "lu" | "iterative"
        self.solve_time = 0.0  # wall time of snes.solve, assembly included (for benchmarks)
        self.iterations = 0  # Newton iterations over all successful solves
        self.linear_iterations = 0
        self.converged_reasons: dict[str, int] = {}  # SNES reason name → solves that ended so

    def solve(self) -> int:
        """Newton from the current `u`; returns the iteration count or raises `SolverError`.

        With `linear_solver = "auto"` on the iterative side, a failed linear solve (GMRES can
        stall on very thin layers in 3D, where MUMPS still solves) switches this solver to
        MUMPS for good and Newton starts again from the same state."""
        try:
            return self._solve()
        except SolverError as err:
            linear = err.reason in ("DIVERGED_LINEAR_SOLVE",) or str(err).startswith("KSP")
            if not (linear and self.fallback_to_lu):
                raise
        # through the options database (petsc4py 3.22 cannot set the lag): MUMPS, and exact
        # Newton again — a lagged factorization would turn Newton into a chord method
        opts = PETSc.Options()
        for key, value in LU_FALLBACK.items():
            opts[self.prefix + key] = value
            self._option_keys.append(self.prefix + key)
        self.snes.setFromOptions()
        self.snes.getKSP().setFromOptions()
        self.fallback_to_lu, self.fell_back = False, True
        self.linear = "lu (after GMRES failed)"
        return self._solve()

    def _solve(self) -> int:
        self.u.x.petsc_vec.copy(self._x)
        backup = self.u.x.petsc_vec.copy()
        start = time.perf_counter()
        self.snes.solve(None, self._x)
        self.solve_time += time.perf_counter() - start

        def restore() -> None:
            backup.copy(self.u.x.petsc_vec)
            self.u.x.scatter_forward()

        try:
            converged_or_raise(self.snes, self.prefix, restore)
        finally:
            backup.destroy()
        self._x.copy(self.u.x.petsc_vec)
        self.u.x.scatter_forward()
        its = int(self.snes.getIterationNumber())
        self.iterations += its
        self.linear_iterations += int(self.snes.getLinearSolveIterations())
        name = _SNES_REASONS.get(self.snes.getConvergedReason(), "?")
        self.converged_reasons[name] = self.converged_reasons.get(name, 0) + 1
        return its

    def __del__(self) -> None:
        release(self)
