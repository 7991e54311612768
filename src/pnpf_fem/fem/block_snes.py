"""PETSc glue for a block nonlinear system [F_0(u_0, u_1, …), F_1(…), …] = 0 solved by SNES.

The unknowns are several Functions, possibly on different meshes (e.g. ion densities on a
codim-0 submesh, the potential on its parent): the residual forms and the Jacobian blocks
∂F_i/∂u_j are compiled with the `entity_maps` of mixed-domain assembly and assembled into one
monolithic (non-nest) PETSc vector/matrix by `pnpf_fem.compat.BlockAssembler`, in the pattern of
DOLFINx's block Newton tests (NonlinearPDE_SNESProblem.F_block/J_block).

`BlockNonlinearSolver` has the semantics of `pnpf_fem.fem.snes.NonlinearSolver`: a unique
options prefix, `SolverOptions`, a diverged solve raises `SolverError(reason=…)` and leaves every
unknown as it was, and a converged solve copies the iterate into the Functions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import ufl
from dolfinx import fem
from petsc4py import PETSc

from pnpf_fem.compat import BlockAssembler
from pnpf_fem.fem.snes import SolverOptions, converged_or_raise, make_snes, release

__all__ = ["BlockNonlinearSolver", "BlockSNESProblem"]


class BlockSNESProblem:
    """F/J callbacks for SNES over the block vector of several Functions."""

    def __init__(
        self,
        F: Sequence[ufl.Form],
        u: Sequence[fem.Function],
        bcs: Sequence[fem.DirichletBC],
        entity_maps=None,
    ) -> None:
        self.u = list(u)
        self.bcs = list(bcs)
        du = [ufl.TrialFunction(ui.function_space) for ui in self.u]
        J = [[ufl.derivative(Fi, uj, duj) for uj, duj in zip(self.u, du, strict=True)] for Fi in F]
        # An empty derivative (block not coupled) compiles to None; the diagonal must exist.
        self.L = fem.form(list(F), entity_maps=entity_maps)
        self.a = fem.form(J, entity_maps=entity_maps)
        for i, row in enumerate(self.a):
            if row[i] is None:
                raise ValueError(f"diagonal Jacobian block ({i}, {i}) is empty")
        self.assembler = BlockAssembler(self.L, self.a, self.bcs)
        self.assembly_time = 0.0

    def F(self, snes: PETSc.SNES, x: PETSc.Vec, b: PETSc.Vec) -> None:
        start = time.perf_counter()
        x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        self.assembler.to_functions(x, self.u)
        self.assembler.residual(b, x)
        self.assembly_time += time.perf_counter() - start

    def J(self, snes: PETSc.SNES, x: PETSc.Vec, A: PETSc.Mat, P: PETSc.Mat) -> None:
        start = time.perf_counter()
        self.assembler.jacobian(A)
        self.assembly_time += time.perf_counter() - start


class BlockNonlinearSolver:
    """One SNES (newtonls + line search) for the block system, unique options prefix."""

    def __init__(
        self, problem: BlockSNESProblem, name: str, options: SolverOptions | None = None
    ) -> None:
        options = options or SolverOptions()
        self.u = problem.u
        self.problem = problem
        asm = self.problem.assembler
        self._b = asm.create_vector()
        self._A = asm.create_matrix()
        self._x = asm.create_vector()
        self.snes, self.prefix, self._option_keys = make_snes(
            self.u[0].function_space.mesh.comm,
            name,
            options,
            1,
            self.problem.F,
            self.problem.J,
            self._b,
            self._A,
        )
        self.solve_time = 0.0
        self.iterations = 0
        self.linear_iterations = 0
        self.last_iterations = 0

    def solve(self) -> int:
        """Newton from the current Functions; returns the iteration count or raises SolverError."""
        asm = self.problem.assembler
        backup = [ui.x.array.copy() for ui in self.u]
        asm.from_functions(self.u, self._x)
        start = time.perf_counter()
        try:
            self.snes.solve(None, self._x)
        finally:
            self.solve_time += time.perf_counter() - start

        def restore() -> None:
            for ui, arr in zip(self.u, backup, strict=True):
                ui.x.array[:] = arr

        converged_or_raise(self.snes, self.prefix, restore)
        self._x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        asm.to_functions(self._x, self.u)
        its = int(self.snes.getIterationNumber())
        self.last_iterations = its
        self.iterations += its
        self.linear_iterations += int(self.snes.getLinearSolveIterations())
        return its

    def __del__(self) -> None:
        release(self)
