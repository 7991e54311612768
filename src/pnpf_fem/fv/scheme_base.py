"""What Scheme I and Scheme II share: the problem, the Newton control, the current state.

The schemes' functional core is ``advance(state, dt) -> (state, record)`` (the state passed in is
never modified); holding a current state makes a scheme a `pnpf_fem.integrate.Stepper`.
"""

from __future__ import annotations

from pnpf_fem.errors import InputError
from pnpf_fem.fv.observables import observables
from pnpf_fem.fv.problem import FVState, PNPFProblem
from pnpf_fem.fv.solver import SolverControl
from pnpf_fem.integrate import StepRecord

__all__ = ["FVScheme"]


class FVScheme:
    """What Scheme I and Scheme II share: the problem, the Newton control, the Poisson matrix."""

    name = "fv"

    def __init__(
        self,
        problem: PNPFProblem,
        control: SolverControl | None = None,
        state: FVState | None = None,
    ) -> None:
        self.problem = problem
        self.control = control or SolverControl()
        self._poisson = problem.poisson_matrix()
        self.state = state

    # The functional core is `advance(state, dt) -> (state, record)` (Scheme I / II); the
    # scheme also holds a current state so that it is a `pnpf_fem.integrate.Stepper`.
    def advance(self, state: FVState, dt: float) -> tuple[FVState, StepRecord]:
        raise NotImplementedError

    def start(self, state: FVState) -> FVScheme:
        """Hold `state` as the current state (e.g. `initial_state(problem, ...)`)."""
        self.state = state
        return self

    def _current(self) -> FVState:
        if self.state is None:
            raise InputError(f"{type(self).__name__}: no state; call start(initial_state(...))")
        return self.state

    @property
    def t(self) -> float:
        return float(self._current().t)

    def step(self, dt: float) -> StepRecord:
        """Advance the current state by dt (kept unchanged when the solve fails)."""
        self.state, record = self.advance(self._current(), dt)
        return record

    def initial_observables(self) -> StepRecord:
        """The record of the current state with dt = 0."""
        return StepRecord.from_observables(observables(self.problem, self._current(), 0.0, 0, 0.0))
