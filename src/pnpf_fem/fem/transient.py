"""One transient base for the FEM solvers: time, bound data, Dirichlet data and the step.

`TransientProblem` is what the FEM schemes (`pnpf_fem.fem.schemes.Scheme`), the upscaled
porous-medium solver (`pnpf_fem.porous.MacroscaleSolver`) and the pore-resolved one
(`pnpf_fem.porous.ResolvedPNP`) share. It owns

* the time ``t`` and its UFL Constants t^{n+1} (`t_new`), t^{n+1/2} (`t_mid`) and Δt (`dt`);
* the binding of data (`_bind`): numbers, callables t -> float and `Field`s become UFL
  expressions evaluated at t^{n+1} or t^{n+1/2}, refreshed by `_set_times`;
* the Dirichlet-condition factory (`_dirichlet_bc`): a boundary Function holding the datum (or
  its logarithm, for log variables) at t^{n+1}, refreshed by `_set_times`;
* the initial data: nodal values of a datum at t = 0 (`_interpolate_initial`) and the initial
  potential ψ^0 solving the discrete Poisson equation with the initial charge
  (`_solve_initial_potential`);
* the state, pairs (current, previous) of Functions (`_track_state`), and the `Stepper` contract
  of `pnpf_fem.integrate`: `step(dt)` sets the times, solves (`_advance`), and on any error
  restores the state and the time before re-raising (a `SolverError` leaves the state as it
  was), otherwise commits the state and returns the record of the new state (`_record`).

A subclass builds its spaces, forms and solvers, registers its state and supplies `_advance` and
`_record`; `_poisson_residual` and `_potential_bcs` when it uses `_solve_initial_potential`, and
`_accepted` to book-keep accepted steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import ufl
from dolfinx import fem
from dolfinx.mesh import Mesh
from petsc4py import PETSc

from pnpf_fem.compat import interpolation_points
from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fem.impedance import SmallSignal
from pnpf_fem.fem.problem import Field, Value, bind
from pnpf_fem.fem.snes import NonlinearSolver, SolverOptions
from pnpf_fem.integrate import StepRecord

__all__ = ["TransientProblem"]

Transform = Callable[[ufl.core.expr.Expr], ufl.core.expr.Expr]


@dataclass(eq=False)
class _DirichletDatum:
    """A boundary Function `g` and the datum it holds (its logarithm if `log`)."""

    g: fem.Function
    value: Value
    log: bool
    expr: fem.Expression | None  # for a Field: the UFL datum at t^{n+1}, interpolated into g

    def refresh(self, t: float) -> None:
        if self.expr is not None:
            self.g.interpolate(self.expr)
        else:
            v = float(self.value) if isinstance(self.value, (int, float)) else float(self.value(t))
            self.g.x.array[:] = (math.log(v) if v > 0 else math.nan) if self.log else v
        if not np.all(np.isfinite(self.g.x.array)):
            what = " (concentrations positive)" if self.log else ""
            raise InputError(f"Dirichlet data at t = {t:g} must be finite{what}")


def _check_dt(dt: float) -> float:
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise InputError(f"time step must be a positive number, got {dt!r}")
    return float(dt)


class TransientProblem:
    """Time, time Constants, bound data, Dirichlet data, state and `step` of a FEM solver.

    domain: the mesh the time Constants live on; options: the Newton options of the solves.
    """

    def __init__(self, domain: Mesh, options: SolverOptions | None = None) -> None:
        self.domain = domain
        self.comm = domain.comm
        self.options = options or SolverOptions()
        self.t = 0.0
        self.dt = fem.Constant(domain, PETSc.ScalarType(1.0))
        self.t_new = fem.Constant(domain, PETSc.ScalarType(0.0))
        self.t_mid = fem.Constant(domain, PETSc.ScalarType(0.0))
        self._updates: list[tuple[Callable[[float], None], bool]] = []
        self._dirichlet_data: list[_DirichletDatum] = []
        self._states: list[tuple[fem.Function, fem.Function]] = []

    # -- data ---------------------------------------------------------------------------------
    def _bind(self, value: Value, at: str = "new") -> ufl.core.expr.Expr:
        """A UFL expression for `value` at t^{n+1} (at="new") or t^{n+1/2} (at="mid")."""
        if at not in ("new", "mid"):
            raise ValueError(f"at must be 'new' or 'mid', got {at!r}")
        mid = at == "mid"
        expr, update = bind(value, self.domain, self.t_mid if mid else self.t_new)
        self._updates.append((update, mid))
        return expr

    def _set_times(self, t_new: float, t_mid: float | None = None) -> None:
        """Set t^{n+1}, t^{n+1/2} (default t^{n+1}) and refresh the bound and Dirichlet data."""
        t_mid = t_new if t_mid is None else t_mid
        self.t_new.value = t_new
        self.t_mid.value = t_mid
        for update, mid in self._updates:
            update(t_mid if mid else t_new)
        for datum in self._dirichlet_data:
            datum.refresh(t_new)

    def _dirichlet_bc(
        self,
        space: fem.FunctionSpace,
        component: int | None,
        facets: npt.NDArray[np.int32],
        value: Value,
        log: bool = False,
    ) -> fem.DirichletBC:
        """value(t^{n+1}) (its logarithm if `log`) on `facets`, for component `component` of
        `space` (None: the scalar space itself); the datum follows `_set_times`."""
        fdim = self.domain.topology.dim - 1
        if component is None:
            Vc = space
            g = fem.Function(Vc)
            bc = fem.dirichletbc(g, fem.locate_dofs_topological(Vc, fdim, facets))
        else:
            sub = space.sub(component)
            Vc = sub.collapse()[0]
            g = fem.Function(Vc)
            bc = fem.dirichletbc(g, fem.locate_dofs_topological((sub, Vc), fdim, facets), sub)
        expr = None
        if isinstance(value, Field):
            e = value(ufl.SpatialCoordinate(self.domain), self.t_new)
            expr = fem.Expression(ufl.ln(e) if log else e, interpolation_points(Vc))
        datum = _DirichletDatum(g, value, log, expr)
        datum.refresh(float(self.t_new.value))
        self._dirichlet_data.append(datum)
        return bc

    # -- initial data -------------------------------------------------------------------------
    def _interpolate_initial(
        self, value: Value, space: fem.FunctionSpace, transform: Transform | None = None
    ) -> npt.NDArray[np.float64]:
        """Nodal values of transform(value) on the scalar `space` at t = 0 (Fields use `t_new`,
        which the caller sets to 0)."""
        if isinstance(value, Field):
            e = value(ufl.SpatialCoordinate(self.domain), self.t_new)
        else:
            v0 = float(value) if isinstance(value, (int, float)) else float(value(0.0))
            e = fem.Constant(self.domain, PETSc.ScalarType(v0))
        f = fem.Function(space)
        f.interpolate(fem.Expression(transform(e) if transform else e, interpolation_points(space)))
        return f.x.array.copy()

    def _solve_initial_potential(
        self, log_c: Sequence[npt.NDArray[np.float64]], space: fem.FunctionSpace, name: str
    ) -> npt.NDArray[np.float64]:
        """ψ^0 on `space` from the discrete Poisson equation with the initial concentrations
        exp(log_c[r]) (`_poisson_residual`) and the potential conditions (`_potential_bcs`)."""
        c = []
        for values in log_c:
            f = fem.Function(space)
            f.x.array[:] = np.exp(values)
            c.append(f)
        psi = fem.Function(space)
        w = ufl.TestFunction(space)
        F = self._poisson_residual(psi, c, w)
        bcs = self._potential_bcs(space, None)
        self._set_times(0.0)
        NonlinearSolver(F, psi, bcs, name, self.options).solve()
        return psi.x.array.copy()

    def _poisson_residual(self, psi: fem.Function, c: Sequence, w) -> ufl.Form:
        """The Poisson residual with the concentrations c (UFL expressions), test function w."""
        raise NotImplementedError

    def _potential_bcs(self, space: fem.FunctionSpace, component: int | None) -> list:
        """The Dirichlet conditions of ψ, the component `component` of `space` (None: all)."""
        raise NotImplementedError

    # -- state and stepping -------------------------------------------------------------------
    def _track_state(self, current: fem.Function, previous: fem.Function) -> None:
        """Register a state Function and its value at t^n (committed after each step)."""
        self._states.append((current, previous))

    def _commit(self) -> None:
        for current, previous in self._states:
            previous.x.array[:] = current.x.array

    def _restore(self) -> None:
        for current, previous in self._states:
            current.x.array[:] = previous.x.array

    def _advance(self) -> int:
        """Solve for the state at t^{n+1}; the Newton iteration count. The default: one solve
        of `self.solver` (a `NonlinearSolver` or `BlockNonlinearSolver` the subclass built)."""
        return self.solver.solve()

    def _predict(self, dt: float) -> bool:
        """Set the Newton start of the step to t + dt in the current Functions (they hold the
        state at t); True if it differs from that state. The default keeps the state at t."""
        return False

    def _record(self, dt: float, iterations: int, seconds: float) -> StepRecord:
        """The record of the current state (time `t`)."""
        raise NotImplementedError

    def _accepted(self, record: StepRecord) -> None:
        """Called with the record of every accepted step."""

    def step(self, dt: float) -> StepRecord:
        """Advance by Δt = dt; the record of the state at t + dt. On an error (`SolverError` for
        a failed solve) the state and the time are left at t."""
        dt = _check_dt(dt)
        start = time.perf_counter()
        t_new = self.t + dt
        self.dt.value = dt
        try:
            self._set_times(t_new, self.t + 0.5 * dt)
            try:
                predicted = self._predict(dt)
                its = self._advance()
            except SolverError:
                if not predicted:
                    raise
                self._restore()  # the predicted start failed: Newton again from the state at t
                its = self._advance()
        except Exception:
            self._restore()
            self._set_times(self.t)
            raise
        self._commit()
        self.t = t_new
        record = self._record(dt, its, time.perf_counter() - start)
        self._accepted(record)
        return record

    def initial_observables(self) -> StepRecord:
        """The record of the current state with dt = 0."""
        self._set_times(self.t)
        return self._record(0.0, 0, 0.0)

    # -- linearization (`pnpf_fem.fem.impedance`) -------------------------------------------
    def _small_signal(
        self,
        drive: npt.ArrayLike,
        charge: ufl.Form,
        potentials: Sequence[ufl.core.expr.Expr] = (),
        faradaic: ufl.Form | None = None,
    ) -> SmallSignal:
        """The `SmallSignal` of a one-Function backward-Euler problem (`u`, `u_n`, `residual`,
        `bcs`) at the state now in `u`, driven on the local dofs `drive` of `u`."""
        self.u_n.x.array[:] = self.u.x.array  # the linearization point of F(u, u_n)
        return SmallSignal(
            unknowns=[self.u],
            previous=[self.u_n],
            dt=self.dt,
            residuals=[self.residual],
            bcs=self.bcs,
            drive=(0, np.asarray(drive, dtype=np.int32)),
            potentials=list(potentials),
            charge=charge,
            faradaic=faradaic,
        )

    # -- what error control needs (`pnpf_fem.integrate.ErrorControl`) ----------------------
    order = 1  # of the time discretization; a second-order scheme sets 2

    def snapshot(self) -> tuple[float, list[np.ndarray]]:
        """The time and a copy of the state Functions' values."""
        return self.t, [current.x.array.copy() for current, _ in self._states]

    def restore(self, snapshot: tuple[float, list[np.ndarray]]) -> None:
        """Go back to a `snapshot` (its time, its state)."""
        t, arrays = snapshot
        for (current, _), values in zip(self._states, arrays, strict=True):
            current.x.array[:] = values
        self.restart_from(t)

    def state_vector(self) -> np.ndarray:
        """The owned values of the state Functions (this rank's part)."""
        parts = []
        for current, _ in self._states:
            imap = current.function_space.dofmap.index_map
            parts.append(
                current.x.array[: imap.size_local * current.function_space.dofmap.index_map_bs]
            )
        return np.concatenate(parts)

    def restart_from(self, t: float) -> None:
        """Continue from the state now in the current Functions (e.g. a loaded checkpoint) at
        time t."""
        for current, previous in self._states:
            current.x.scatter_forward()
            previous.x.array[:] = current.x.array
        self.t = float(t)
        self._set_times(self.t)
