"""Newton's method with exact sparse Jacobians and sparse direct solves, and its controls.

`SolverControl` plays the role of VoronoiFVM.jl's SolverControl: one documented place for the
Newton tolerance, iteration cap, damping and the linear solver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from mpi4py import MPI
from petsc4py import PETSc

from pnpf_fem.errors import SolverError

__all__ = [
    "AUTO_LU_LIMIT",
    "NewtonResult",
    "PETScAlgebra",
    "SerialAlgebra",
    "SolverControl",
    "newton",
]

LINEAR_SOLVERS = ("auto", "splu", "spsolve", "mumps", "iterative")
# "auto": a direct solver up to this many unknowns, iterative above. Measured per Newton
# iteration of fv2 (2D, unstructured unit square, 4 fields, one rank): 1089 vertices SuperLU
# 0.024 s, iterative 0.021 s; 4225: 0.17 s against 0.084 s; 16641: 1.6 s against 0.37 s;
# 66049: 21 s against 2.5 s (benchmarks/fv_scaling.py). In 3D the fill of LU grows much faster:
# Test A on box(12) (8788 unknowns) took 35 s with SuperLU, box(16) (19652) 19 s iteratively.
AUTO_LU_LIMIT = {2: 10_000, 3: 2_000}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int_]
ResidualFunction = Callable[[FloatArray, bool], tuple[FloatArray, "sp.spmatrix | None"]]


@dataclass(frozen=True)
class SolverControl:
    """Controls of the per-step Newton solve.

    tol: converged when the max-norm of the Newton update is ≤ tol. The unknowns are
        η = log c, ψ and ξ = log T, all O(1) dimensionless, so this is a relative accuracy; the
        residual after such a step is O(tol²), i.e. round-off, which the mass-conservation
        and entropy tests rely on.
    accept_below: a full Newton update whose max-norm is at most this is taken without the
        damping test, whose simplified correction costs a linear solve (an iterative one on large
        meshes). Updates this small of O(1) logs and potentials lie in Newton's region of
        quadratic convergence, where the test accepts them anyway: in fv-bdf2's steps the
        updates fall like 1e-2, 1e-4, 1e-8, so two of the three tests per step go, and the
        iterates are unchanged (0 disables the shortcut).
    residual_tol: also converged when the max-norm of the volume-scaled residual is ≤ this
        (0 disables it).
    max_iterations: iteration cap; beyond it `SolverError(reason="max_iterations")`.
    damping: damped Newton (halve the step until Deuflhard's natural monotonicity test holds,
        see `newton`); below `min_damping` → SolverError(reason="line_search_failed").
    max_log_step: cap on the max-norm of an update of the log variables (η, ξ) per iteration
        (0 disables it); a stiff first step then cannot overflow exp.
    linear_solver: "auto" (the default: SuperLU on one rank and MUMPS on several up to
        `AUTO_LU_LIMIT` unknowns (by dimension), "iterative" above), "splu" (SciPy's SuperLU),
        "spsolve", "mumps" (MUMPS through petsc4py) or "iterative" (PETSc GMRES preconditioned by a
        multiplicative field split with BoomerAMG on each field, `PETScAlgebra`; its options sit
        under the prefix pnpf_fv_<kind>_<fields>_, e.g. -pnpf_fv_iterative_4_ksp_rtol, where a
        user's own value wins). Direct solves dominate the cost on
        large meshes (SuperLU's fill grows like N^1.5 in 2D).
    permc_spec, diag_pivot_thresh: SuperLU's column ordering and pivot threshold. The Jacobians
        are structurally symmetric with strong diagonals, so a minimum-degree ordering of A + Aᵀ
        with SuperLU's symmetric mode roughly halves the fill (and time) of the default COLAMD.
    preconditioner_lag, preconditioner_change, simplified_rtol, inexact: the iterative solver
        within Newton (direct solvers are exact and ignore them), as the FEM's SNES
        (`pnpf_fem.fem.snes`): the preconditioner (field-split submatrices, BoomerAMG
        hierarchies) is built at the first Newton iteration of a step and reused by the next
        `preconditioner_lag` − 1 (1: rebuilt every iteration; GMRES failing with a reused one
        rebuilds it before anything else); the simplified corrections of the damping test, of
        which only the norm counts, are solved to the relative tolerance `simplified_rtol`; with
        `inexact`, the Newton corrections to Eisenstat–Walker tolerances (version 2): 1e-3 at
        the first iteration, then 0.01 (‖R_k‖/‖R_{k−1}‖)², never above 1e-3 nor below the
        solver's own 1e-8 — so the last corrections, and the converged state, are as exact as
        before. When the preconditioner is rebuilt, a field keeps its own (its BoomerAMG
        hierarchy) while every entry of its diagonal block is within the relative
        `preconditioner_change` of the values it was built from (`_KeptSplits`). The default 0
        keeps exactly constant blocks only, the Poisson block: a quarter of every set-up, and
        the iterates unchanged. Not the default: 1e-2 also keeps the temperature's (and at times
        the ions') for several steps, but GMRES's corrections are then looser and some steps
        take a fifth Newton iteration (fv-bdf2, 65 536 and 1e6 vertices: no faster).
        fv-bdf2 in 2D on 262 144 vertices (benchmarks/fv_scaling.py, 4 Newton iterations per
        step in every case): lag 1 → 4 cut BoomerAMG's setup from 15.2 to 3.9 s in two steps
        at ≤ 1 more GMRES iteration per solve; the simplified corrections take 3 GMRES
        iterations instead of 8 (a step 10 % cheaper); inexact Newton another 9 %. The states
        stay those of exact Newton to round-off (tests/fv/test_partition.py: 1e-15).
    """

    tol: float = 1e-10
    accept_below: float = 1e-3
    residual_tol: float = 0.0
    max_iterations: int = 30
    damping: bool = True
    min_damping: float = 1.0 / 1024.0
    max_log_step: float = 0.0
    linear_solver: str = "auto"
    permc_spec: str = "MMD_AT_PLUS_A"
    diag_pivot_thresh: float = 0.01
    preconditioner_lag: int = 4
    preconditioner_change: float = 0.0
    simplified_rtol: float = 1e-3
    inexact: bool = True

    def __post_init__(self) -> None:
        if not self.tol > 0:
            raise ValueError(f"SolverControl.tol must be positive, got {self.tol}")
        if self.max_iterations < 1:
            raise ValueError(f"SolverControl.max_iterations must be ≥ 1, got {self.max_iterations}")
        if not self.accept_below >= 0:
            raise ValueError(f"SolverControl.accept_below must be ≥ 0, got {self.accept_below}")
        if not 0 < self.min_damping <= 1:
            raise ValueError(f"SolverControl.min_damping must be in (0, 1], got {self.min_damping}")
        if self.preconditioner_lag < 1:
            raise ValueError(
                f"SolverControl.preconditioner_lag must be ≥ 1, got {self.preconditioner_lag}"
            )
        if not self.preconditioner_change >= 0:
            raise ValueError(
                f"SolverControl.preconditioner_change must be ≥ 0, got {self.preconditioner_change}"
            )
        if not 0 < self.simplified_rtol < 1:
            raise ValueError(
                f"SolverControl.simplified_rtol must be in (0, 1), got {self.simplified_rtol}"
            )
        if self.linear_solver not in LINEAR_SOLVERS:
            raise ValueError(
                f"SolverControl.linear_solver must be one of {', '.join(LINEAR_SOLVERS)}, "
                f"got {self.linear_solver!r}"
            )

    def resolved(self, size: int, ranks: int = 1, dim: int = 2) -> str:
        """The solver for `size` global unknowns on `ranks` ranks in `dim` dimensions ("auto"
        resolved; a direct solver on several ranks is MUMPS)."""
        choice = self.linear_solver
        if choice == "auto":
            choice = "splu" if size <= AUTO_LU_LIMIT[dim] else "iterative"
        return "mumps" if ranks > 1 and choice in ("splu", "spsolve") else choice


@dataclass(frozen=True)
class NewtonResult:
    x: FloatArray
    iterations: int
    history: tuple[float, ...]  # max-norm of the scaled residual before each iteration


def factorize(matrix: sp.spmatrix, control: SolverControl) -> Callable[[FloatArray], FloatArray]:
    """Sparse LU of `matrix`, returned as its solve function ("auto" is SuperLU here).

    A singular matrix raises SolverError(reason="singular_matrix")."""
    if control.linear_solver == "mumps":
        return _mumps_factorize(matrix)
    a = sp.csc_matrix(matrix)
    try:
        if control.linear_solver in ("splu", "auto", "iterative"):
            lu = spla.splu(
                a,
                permc_spec=control.permc_spec,
                diag_pivot_thresh=control.diag_pivot_thresh,
                options={"SymmetricMode": True},
            )
            solve = lu.solve
        else:

            def solve(b: FloatArray) -> FloatArray:
                return spla.spsolve(a, b, permc_spec=control.permc_spec)

    except RuntimeError as err:  # SuperLU: "Factor is exactly singular"
        raise SolverError(f"sparse direct solve failed: {err}", reason="singular_matrix") from err

    def checked(b: FloatArray, rtol: float | None = None) -> FloatArray:
        x = solve(b)  # exact: `rtol` is for the iterative solvers
        if not np.all(np.isfinite(x)):
            raise SolverError("sparse direct solve returned non-finite values", reason="non_finite")
        return x

    return checked


def _mumps_factorize(matrix: sp.spmatrix) -> Callable[[FloatArray], FloatArray]:
    """LU by MUMPS via petsc4py (serial), kept for repeated solves."""

    a = sp.csr_matrix(matrix)
    a.sum_duplicates()
    a.sort_indices()
    idx = PETSc.IntType
    mat = PETSc.Mat().createAIJ(
        size=a.shape,
        csr=(a.indptr.astype(idx), a.indices.astype(idx), a.data),
        comm=PETSc.COMM_SELF,
    )
    mat.assemble()
    ksp = PETSc.KSP().create(PETSc.COMM_SELF)
    ksp.setOperators(mat)
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    pc.setFactorSolverType("mumps")
    try:
        ksp.setUp()
    except PETSc.Error as err:
        raise SolverError(f"MUMPS factorization failed: {err}", reason="singular_matrix") from err
    rhs, sol = mat.createVecs()

    def solve(b: FloatArray, rtol: float | None = None) -> FloatArray:
        rhs.setArray(b)
        ksp.solve(rhs, sol)
        if ksp.getConvergedReason() < 0:
            raise SolverError(
                f"MUMPS solve failed (KSP reason {ksp.getConvergedReason()})",
                reason="singular_matrix",
            )
        x = sol.getArray().copy()
        if not np.all(np.isfinite(x)):
            raise SolverError("MUMPS returned non-finite values", reason="non_finite")
        return x

    return solve


def sparse_solve(matrix: sp.spmatrix, rhs: FloatArray, control: SolverControl) -> FloatArray:
    """One sparse direct solve (see `factorize`)."""
    return factorize(matrix, control)(rhs)


class SerialAlgebra:
    """The reductions and the linear solver of `newton` on one rank (NumPy; SciPy/MUMPS, or
    `PETScAlgebra`'s iterative solver for `blocks` fields when the control asks for it).
    `PETScAlgebra` is the same on several ranks."""

    def __init__(
        self, control: SolverControl, blocks: int = 1, cache: dict | None = None, dim: int = 2
    ) -> None:
        self.control, self.blocks, self.dim = control, blocks, dim
        self.cache = {} if cache is None else cache
        self._petsc: PETScAlgebra | None = None  # the iterative solver of this Newton solve

    def max_abs(self, v: FloatArray) -> float:
        return float(np.max(np.abs(v), initial=0.0))

    def norm(self, v: FloatArray) -> float:
        return float(np.linalg.norm(v))

    def all_finite(self, v: FloatArray) -> bool:
        return bool(np.all(np.isfinite(v)))

    def factorize(self, matrix: sp.spmatrix) -> Callable[[FloatArray], FloatArray]:
        if self.control.resolved(matrix.shape[0], 1, self.dim) != "iterative":
            return factorize(matrix, self.control)
        size = matrix.shape[0]
        csr = matrix if sp.isspmatrix_csr(matrix) else sp.csr_matrix(matrix)
        csr.sort_indices()  # a no-op for the assembler's Jacobians (marked sorted)
        if self._petsc is None or self._petsc.size != size:
            self._petsc = PETScAlgebra(
                MPI.COMM_SELF, self.control, size, self.blocks, self.cache, self.dim
            )
        return self._petsc.factorize(csr)


def newton(
    residual: ResidualFunction,
    x0: FloatArray,
    control: SolverControl,
    scale: FloatArray,
    log_mask: npt.NDArray[np.bool_] | None = None,
    algebra: SerialAlgebra | None = None,
) -> NewtonResult:
    """Solve residual(x) = 0 from x0. `residual(x, True)` returns (R, J), `(x, False)` (R, None).

    Damping (if enabled) is Deuflhard's natural monotonicity test: a step λδ is accepted when the
    simplified Newton correction at the trial point, J(x)⁻¹R(x + λδ), is smaller than δ (one more
    back-substitution with the same LU). It is affine invariant, so it does not care how the rows
    of the box equations are scaled, and it copes with the exponentials of the log variables.
    A full update no larger than `control.accept_below` is taken without the test.
    `scale` multiplies R for the reported residual norms (1/m(V_i) turns box integrals into
    densities); `log_mask` marks the log variables for `control.max_log_step`. x0 is not modified.
    `algebra` does the norms and the linear solves (`SerialAlgebra` by default; on several ranks
    x, R and the Jacobian's rows are the rank's own part and the norms are global).
    """
    la = algebra or SerialAlgebra(control)
    x = np.array(x0, dtype=np.float64)
    history: list[float] = []
    r, jac = residual(x, True)
    for it in range(1, control.max_iterations + 1):
        rnorm = la.max_abs(r * scale)
        history.append(rnorm)
        if not np.isfinite(rnorm):
            raise SolverError("Newton: non-finite residual", reason="non_finite", history=history)
        if control.residual_tol > 0 and rnorm <= control.residual_tol:
            return NewtonResult(x, it - 1, tuple(history))
        solve = la.factorize(jac)
        # inexact Newton (iterative solvers): Eisenstat–Walker forcing, version 2
        forcing = None
        if control.inexact:
            forcing = 1e-3
            if it > 1 and history[-2] > 0:
                forcing = min(forcing, 0.01 * (history[-1] / history[-2]) ** 2)
        dx = -solve(r, forcing)
        dx_norm = la.norm(dx)  # the full Newton correction, for the damping test
        clamp = 1.0
        if log_mask is not None and control.max_log_step > 0:
            big = la.max_abs(dx[log_mask])
            if big > control.max_log_step:
                clamp = control.max_log_step / big
                dx *= clamp
        dx_max = la.max_abs(dx)
        # an update within the tolerance ends the solve: no Jacobian is needed after it
        last = dx_max <= control.tol
        step = 1.0
        while True:
            x_new = x + step * dx
            # the full step is usually accepted: assemble its Jacobian at once
            r_new, jac_new = residual(x_new, step == 1.0 and not last)
            if not control.damping:
                break
            small = step * dx_max <= 10 * control.tol or (
                step == 1.0 and dx_max <= control.accept_below
            )
            if la.all_finite(r_new):
                if small:
                    break
                # only its norm is compared: an iterative solve to a looser tolerance
                simplified = solve(r_new, control.simplified_rtol)
                if la.norm(simplified) <= (1.0 - 0.25 * step * clamp) * dx_norm:
                    break
            if step <= control.min_damping:
                history.append(la.max_abs(r_new * scale))
                raise SolverError(
                    f"Newton: no acceptable damped step down to λ = {step:g}",
                    reason="line_search_failed",
                    history=history,
                )
            step *= 0.5
        x = x_new
        update = step * la.max_abs(dx)
        if update <= control.tol and step == 1.0:
            history.append(la.max_abs(r_new * scale))
            return NewtonResult(x, it, tuple(history))
        r, jac = (r_new, jac_new) if jac_new is not None else residual(x, True)
    raise SolverError(
        f"Newton did not converge in {control.max_iterations} iterations "
        f"(tol {control.tol:g} on the update)",
        reason="max_iterations",
        history=history,
    )


class PETScAlgebra:
    """`SerialAlgebra` through PETSc, on one rank or several: global norms (MPI) and the Newton
    systems as AIJ matrices of each rank's rows (`blocks` fields, field-major on every rank),
    solved by MUMPS or — `SolverControl.linear_solver` "iterative", or "auto" above
    `AUTO_LU_LIMIT` unknowns — by GMRES preconditioned with a multiplicative field split,
    BoomerAMG on each field (the FEM's iterative solver). If GMRES fails, the run switches to
    MUMPS for good. The PETSc objects live in `cache` and serve the next matrix of the same
    sparsity pattern (every Newton iteration of a run): MUMPS then redoes only the numerical
    factorization, and GMRES keeps its preconditioner for `SolverControl.preconditioner_lag`
    Newton iterations (counted in this object: one per Newton solve)."""

    def __init__(
        self,
        comm: Any,
        control: SolverControl,
        size: int,
        blocks: int = 1,
        cache: dict | None = None,
        dim: int = 2,
    ) -> None:
        self.comm, self.control, self.size, self.blocks = comm, control, size, blocks
        self.dim = dim
        self.cache = {} if cache is None else cache
        self.factorizations = 0  # in this algebra (one Newton solve): the preconditioner's lag

    def max_abs(self, v: FloatArray) -> float:
        local = float(np.max(np.abs(v), initial=0.0))
        return float(self.comm.allreduce(local, op=MPI.MAX))

    def norm(self, v: FloatArray) -> float:
        return float(np.sqrt(self.comm.allreduce(float(np.dot(v, v)), op=MPI.SUM)))

    def all_finite(self, v: FloatArray) -> bool:
        return bool(self.comm.allreduce(bool(np.all(np.isfinite(v))), op=MPI.LAND))

    @property
    def kind(self) -> str:
        """ "mumps" or "iterative" for this system."""
        if self.cache.get("fallback"):
            return "mumps"
        choice = (self.control or SolverControl()).resolved(self.size, self.comm.size, self.dim)
        return "iterative" if choice == "iterative" else "mumps"

    def factorize(self, matrix: sp.csr_matrix) -> Callable[[FloatArray], FloatArray]:
        """Set up the solver for `matrix` (the rank's rows, global columns); its solve."""
        kind = self.kind
        solver = self.cache.get(kind)
        control = self.control or SolverControl()
        reuse = kind == "iterative" and self.factorizations % control.preconditioner_lag != 0
        if solver is None or not solver.same_pattern(matrix, self.size):
            solver = self.cache[kind] = _PETScSolver(
                self.comm, matrix, self.size, kind, self.blocks, control.preconditioner_change
            )
            reuse = False
        else:
            solver.update(matrix)
        self.factorizations += 1
        solver.set_up(reuse)

        def solve(b: FloatArray, rtol: float | None = None) -> FloatArray:
            nonlocal reuse
            try:
                x = solver.solve(b, rtol)
            except SolverError:
                if kind != "iterative":
                    raise
                if reuse:  # the lagged preconditioner failed: once more with a new one
                    reuse = False
                    solver.set_up(False)
                    return solve(b, rtol)
                self.cache["fallback"] = True  # GMRES failed: MUMPS from now on
                return self.factorize(matrix)(b)
            if not self.all_finite(x):
                raise SolverError("linear solve returned non-finite values", reason="non_finite")
            return x

        return solve


class _PETScSolver:
    """A PETSc AIJ matrix of one pattern and its KSP (MUMPS LU, or GMRES + field split, whose
    fields keep their preconditioners within the relative change `keep_within`: `_KeptSplits`)."""

    def __init__(
        self,
        comm: Any,
        matrix: sp.csr_matrix,
        size: int,
        kind: str,
        blocks: int,
        keep_within: float = 0.0,
    ):
        idx = PETSc.IntType
        self.indptr, self.indices = matrix.indptr.astype(idx), matrix.indices.astype(idx)
        self._seen = (matrix.indptr, matrix.indices)  # the assembler's pattern: same objects
        self.size, self.kind = size, kind
        rows = matrix.shape[0]
        # on one rank the matrix uses `values` as its own: an update is a NumPy copy into it,
        # not MatSetValuesCSR's row-by-row search (fv-bdf2, 1e6 vertices: 0.48 s per Jacobian)
        self.values = np.array(matrix.data, dtype=PETSc.ScalarType) if comm.size == 1 else None
        if self.values is not None:
            self.mat = PETSc.Mat().createAIJWithArrays(
                size=(rows, size), csr=(self.indptr, self.indices, self.values), comm=comm
            )
        else:
            self.mat = PETSc.Mat().createAIJ(
                size=((rows, size), (rows, size)),
                csr=(self.indptr, self.indices, matrix.data),
                comm=comm,
            )
        self.mat.assemble()
        self.ksp = PETSc.KSP().create(comm)
        prefix = f"pnpf_fv_{kind}_{blocks}_"  # e.g. -pnpf_fv_iterative_4_ksp_rtol 1e-8
        self.ksp.setOptionsPrefix(prefix)
        opts = PETSc.Options()
        for key, value in _options(kind, blocks).items():
            if not opts.hasName(prefix + key):  # a user's -pnpf_fv_* option wins
                opts[prefix + key] = value
        self.ksp.setOperators(self.mat)
        self.data = matrix.data if self.values is None else self.values  # the current values
        self.splits: _KeptSplits | None = None
        if kind == "iterative" and blocks > 1:
            self.splits = _KeptSplits(
                comm, self.mat, self.indptr, self.indices, blocks, keep_within
            )
            first = self.mat.getOwnershipRange()[0]
            n = rows // blocks
            pc = self.ksp.getPC()
            pc.setType("fieldsplit")
            pc.setFieldSplitIS(
                *[
                    (str(b), PETSc.IS().createStride(n, first=first + b * n, step=1, comm=comm))
                    for b in range(blocks)
                ]
            )
        self.ksp.setFromOptions()
        self.rtol = self.ksp.getTolerances()[0]
        self.rhs, self.sol = self.mat.createVecs()

    def same_pattern(self, matrix: sp.csr_matrix, size: int) -> bool:
        if size != self.size:
            return False
        if matrix.indptr is self._seen[0] and matrix.indices is self._seen[1]:
            return True  # the arrays compared before (compared again: 0.03 s at 1e6 vertices)
        same = np.array_equal(matrix.indptr, self.indptr) and np.array_equal(
            matrix.indices, self.indices
        )
        if same:
            self._seen = (matrix.indptr, matrix.indices)
        return same

    def update(self, matrix: sp.csr_matrix) -> None:
        if self.values is not None:
            np.copyto(self.values, matrix.data)
        else:
            self.data = matrix.data
            self.mat.zeroEntries()
            self.mat.setValuesCSR(self.indptr, self.indices, matrix.data)
        self.mat.assemble()  # raises the matrix's state: the solver set-up sees new values

    def set_up(self, reuse: bool = False) -> None:
        """Set the solver up for the matrix's current values; with `reuse` the preconditioner
        of the previous values is kept (an iterative solver only)."""
        pc = self.ksp.getPC()
        pc.setReusePreconditioner(reuse)
        if self.splits is not None and not reuse:
            self.splits.before_set_up(pc, self.data)
        self.ksp.setOperators(self.mat)
        try:
            self.ksp.setUp()
        except PETSc.Error as err:
            raise SolverError(
                f"{self.kind} set-up failed: {err}", reason="singular_matrix"
            ) from err

    def solve(self, b: FloatArray, rtol: float | None = None) -> FloatArray:
        """The solution for b; an iterative solver to the relative tolerance `rtol` (None: its
        own, 1e-8)."""
        self.rhs.setArray(b)
        if self.kind == "iterative":
            self.ksp.setTolerances(rtol=self.rtol if rtol is None else max(rtol, self.rtol))
        self.ksp.solve(self.rhs, self.sol)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise SolverError(
                f"{self.kind} linear solve failed (KSP reason {reason})", reason="linear_solve"
            )
        return self.sol.getArray().copy()


class _KeptSplits:
    """Which of the field split's preconditioners a set-up keeps: a field's (its BoomerAMG
    hierarchy) is kept while every entry of its diagonal block stays within a relative
    `tolerance` of the values it was built from, and rebuilt (from the current values) after.

    The Poisson block of the PNP systems is the same matrix at every Newton iteration of every
    step (ε²'s edge weights, Stern and Dirichlet rows); rebuilding its hierarchy with the others
    was a quarter of every set-up. With tolerance 0 only exactly constant blocks are kept, and the
    iterates are those of rebuilding everything (BoomerAMG's set-up is deterministic). All ranks
    decide together."""

    def __init__(
        self,
        comm: Any,
        mat: Any,
        indptr: IntArray,
        indices: IntArray,
        blocks: int,
        tolerance: float,
    ):
        self.comm, self.tolerance = comm, tolerance
        rows = indptr.size - 1
        n = rows // blocks
        # the block of every column: rank r's rows are its `blocks` fields of n_r rows each
        starts = np.array(comm.allgather(mat.getOwnershipRange()[0]))
        sizes = np.array(comm.allgather(n))
        # each field's rows are one contiguous run of the CSR values; its own columns a mask
        self.runs: list[tuple[int, int, npt.NDArray[np.bool_]]] = []
        for b in range(blocks):
            lo, hi = int(indptr[b * n]), int(indptr[(b + 1) * n])
            owner = np.searchsorted(starts, indices[lo:hi], side="right") - 1
            self.runs.append((lo, hi, (indices[lo:hi] - starts[owner]) // sizes[owner] == b))
        self.built: list[FloatArray | None] = [None] * blocks  # the values of each hierarchy
        self.kept = [False] * blocks  # the last set-up's decisions

    def before_set_up(self, pc: Any, data: FloatArray) -> None:
        """Tell each field's preconditioner whether to keep itself for the values `data`."""
        values = [data[lo:hi][mask] for lo, hi, mask in self.runs]
        if self.built[0] is None:  # the first set-up builds every hierarchy
            self.built = values
            return
        subs = pc.getFieldSplitSubKSP()
        for b, (new, old) in enumerate(zip(values, self.built, strict=True)):
            if self.tolerance == 0:
                near = np.array_equal(new, old)
            else:
                near = bool(np.all(np.abs(new - old) <= self.tolerance * np.abs(old)))
            self.kept[b] = bool(self.comm.allreduce(near, op=MPI.LAND))
            subs[b].getPC().setReusePreconditioner(self.kept[b])
            if not self.kept[b]:
                self.built[b] = new


def _options(kind: str, blocks: int) -> dict[str, Any]:
    """The KSP options of a solver kind (set under its prefix unless the user set them)."""
    if kind != "iterative":
        return {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}
    # rtol 1e-8 of the Newton residual: the last Newton updates (≈ 1e-10) stay exact to round-off
    opts: dict[str, Any] = {
        "ksp_type": "gmres",
        "ksp_gmres_restart": 200,
        "ksp_rtol": 1e-8,
        "ksp_atol": 1e-14,
        "ksp_max_it": 1000,
    }
    # one forward and one backward l1-Gauss-Seidel sweep per V-cycle, as the FEM's solver
    # (`pnpf_fem.fem.snes.HYPRE_RELAX`): fv2 on 66 049 vertices 1.64 → 1.39 s per Newton iteration.
    amg = {"pc_type": "hypre", "pc_hypre_type": "boomeramg"} | {
        "pc_hypre_boomeramg_relax_type_down": "l1-Gauss-Seidel",
        "pc_hypre_boomeramg_relax_type_up": "backward-l1-Gauss-Seidel",
    }
    if blocks == 1:  # linear one-field systems (fv1's heat step), solved once per step
        return opts | amg
    # the fields of the Newton systems: HMIS coarsening with ext+i interpolation truncated to 4
    # entries per row, hierarchies of lower complexity, so cheaper V-cycles for the same GMRES
    # iterations (fv-bdf2, 262 144 vertices, one Newton system: 9 → 8 iterations, solve
    # 2.29 → 1.52 s, setup 2.22 → 2.05 s; 16 384 vertices: 8 iterations either way, solve
    # 0.113 → 0.084 s). Not adopted: aggressive coarsening (agg_nl 1: 14-17 iterations),
    # strong_threshold 0.5 (12), PMIS (9; setup 1.69 s, solve 1.58 s), an additive (12) or
    # symmetric multiplicative split, ξ first (same iterations). The one-field systems keep
    # hypre's default (Falgout, classical): fv1's heat step solved to rtol 1e-8 with HMIS
    # moved its states 3e-10 off the direct solver's, against 1e-11 (tests/fv/test_partition.py).
    amg |= {
        "pc_hypre_boomeramg_coarsen_type": "HMIS",
        "pc_hypre_boomeramg_interp_type": "ext+i",
        "pc_hypre_boomeramg_P_max": 4,
    }
    opts |= {"pc_fieldsplit_type": "multiplicative"}
    for b in range(blocks):
        opts |= {f"fieldsplit_{b}_ksp_type": "preonly"}
        opts |= {f"fieldsplit_{b}_{key}": value for key, value in amg.items()}
    return opts
