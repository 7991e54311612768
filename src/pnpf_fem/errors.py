"""The two kinds of failure the CLI maps to exit codes: bad input (2) and a failed solve (1)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["InputError", "SolverError"]


class InputError(ValueError):
    """Bad input (configuration, mesh, tags, parameters): a one-line message naming the culprit."""


class SolverError(RuntimeError):
    """A nonlinear or linear solve that did not converge.

    `reason` is the solver's converged reason (e.g. PETSc's SNES/KSP reason name) and `history`
    the residual norms seen; the solver's previous state is left untouched.
    """

    def __init__(self, message: str, reason: str = "", history: Sequence[float] = ()) -> None:
        self.reason = reason
        self.history = tuple(float(r) for r in history)
        detail = f" (reason: {reason})" if reason else ""
        if self.history:
            detail += " residuals: " + ", ".join(f"{r:.3e}" for r in self.history)
        super().__init__(message + detail)
