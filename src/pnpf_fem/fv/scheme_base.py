"""What Scheme I and Scheme II share: the problem, the Newton control, the current state, the
Newton solve of one step, and the physics pieces both use (ion storage and sources, Poisson,
Joule heat).

A scheme is a set of callbacks in the manner of VoronoiFVM.jl: `physics(state, dt)` returns the
step's `StepPhysics`, whose `terms(u)` lists the per-edge fluxes and per-vertex storage, reaction
and source terms (with their derivatives) of the box equations at the unknowns u; the generic
loop `pnpf_fem.fv.assembly.Assembler` sums them into the residual and the Jacobian.

The schemes' functional core is ``advance(state, dt) -> (state, record)`` (the state passed in is
never modified); holding a current state makes a scheme a `pnpf_fem.integrate.Stepper`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from pnpf_fem.errors import InputError
from pnpf_fem.fv.assembly import (
    Assembler,
    BoundaryFlux,
    Dirichlet,
    EdgeFlux,
    NodeTerm,
    Scaled,
    Storage,
    Term,
)
from pnpf_fem.fv.observables import observables
from pnpf_fem.fv.problem import ElectrodeReaction, FVState, PNPFProblem
from pnpf_fem.fv.solver import NewtonResult, SerialAlgebra, SolverControl, newton
from pnpf_fem.integrate import StepRecord

__all__ = ["FVScheme", "ReactionRate", "StepPhysics"]

FloatArray = npt.NDArray[np.float64]
Residual = Callable[[FloatArray, bool], tuple[FloatArray, "sp.csr_matrix | None"]]
Derivatives = Mapping[int, FloatArray]


@dataclass(frozen=True)
class ReactionRate:
    """One electrode reaction at a scheme's level, as vertex arrays (zero off its tag): the
    boundary measure Σ_{σ ⊂ ∂V_i ∩ Γ} m(σ) of each box on the tag (`area`), the rate r and the
    overpotential η = V − ψ − E_eq with their derivatives by block (∂/∂u^b_i; empty when not
    needed)."""

    reaction: ElectrodeReaction
    area: FloatArray
    rate: FloatArray
    d_rate: Derivatives
    overpotential: FloatArray
    d_overpotential: Derivatives


def _add(*parts: Derivatives) -> dict[int, FloatArray]:
    out: dict[int, FloatArray] = {}
    for part in parts:
        for b, v in part.items():
            out[b] = out[b] + v if b in out else v
    return out


def _times(d: Derivatives, a: FloatArray | float) -> dict[int, FloatArray]:
    return {b: v * a for b, v in d.items()}


class StepPhysics:
    """The data of one step from `state` by dt (sources at `t_source`, ψ data at t^{n+1}) and
    the physics pieces both schemes use. Unknown blocks: η^ℓ → ℓ, ψ → M, ξ → M + 1."""

    def __init__(self, problem: PNPFProblem, state: FVState, dt: float, t_source: float) -> None:
        p = problem.params
        self.problem, self.params, self.state, self.dt = problem, p, state, dt
        # the stored quantity's old value in the storage terms m(V_i)(c_i − c_old,i)/Δt: c^n,
        # or BDF2's history with its effective step (`pnpf_fem.fv.scheme_bdf2`)
        self.c_old = state.c
        self.mesh = problem.mesh
        self.m = self.mesh.volumes
        self.i, self.j = self.mesh.edges[:, 0], self.mesh.edges[:, 1]
        self.tau = self.mesh.transmissibility
        self.nsp = p.num_species
        self.psi_block, self.xi_block = self.nsp, self.nsp + 1
        self.z = np.asarray(p.valences, dtype=np.float64)
        self.nu = np.asarray(p.frictions, dtype=np.float64)
        t1 = state.t + dt
        self.f_ion = problem.ion_source_values(t_source)
        self.f3 = problem.heat_source_values(t_source)
        self.rho = problem.rho(t1)
        self.neumann = problem.psi_neumann_flux(t1)
        self.d_idx = problem.dirichlet_vertices
        self.d_val = problem.psi_dirichlet(t1)
        # reservoirs (η^ℓ = log c_b) and thermostats (T = T_b) at t^{n+1}; boundary heat at
        # the time of the sources (t^{n+1} in Scheme I, t^{n+1/2} in Scheme II)
        self.reservoir = [
            (problem.reservoir_vertices(ell), problem.eta_dirichlet(ell, t1))
            for ell in range(self.nsp)
        ]
        self.t_idx = problem.temperature_vertices
        self.t_val = problem.temperature_dirichlet(t1)
        self.t_heat = t_source
        # Stern layers: the flux g_V − g ψ_i into the box at t^{n+1} (Poisson's level); the
        # reactions' boxes with V at the level of the sources (t^{n+1} or t^{n+1/2})
        self.stern_g, self.stern_gv = problem.stern_conductance(t1)
        self.reaction_boxes = [
            problem.reaction_vertices(k, t_source) for k in range(len(problem.reactions))
        ]

    def terms(self, u: FloatArray) -> list[Term]:
        """The box equations' terms at the unknowns u, shape (blocks, N)."""
        raise NotImplementedError

    def ion_storage(self, ell: int, c: FloatArray) -> Storage:
        """m(V_i)(c^{ℓ,n+1}_i − c^{ℓ,n}_i)/Δt with c = e^η  ((3.3)₁, (3.14)₁)."""
        return Storage(ell, c, self.c_old[ell], {ell: c})

    def reservoirs(self, eta: FloatArray) -> list[Term]:
        """η^ℓ_i = log c_b(x_i, t^{n+1}) at the reservoir vertices of each species (strong
        Dirichlet rows replacing the box equations there)."""
        return [
            Dirichlet(ell, idx, eta[ell][idx] - val)
            for ell, (idx, val) in enumerate(self.reservoir)
            if idx.size
        ]

    def boundary_heat(self, row: int, temp: FloatArray, d_temp: Mapping[int, FloatArray]) -> Term:
        """−Σ_{σ ⊂ ∂V_i ∩ ∂Ω} m(σ) q_σ, the heat into V_i through its boundary pieces (given flux
        or heat transfer h (T_a − temp_i)), in the energy form of the box equation; `d_temp`
        holds ∂temp_i/∂u^b_i."""
        q, dq = self.problem.heat_inflow(self.t_heat, temp)
        return BoundaryFlux(row, -q, {b: -dq * dv for b, dv in d_temp.items()})

    def ion_source(self, ell: int) -> list[Term]:
        """−m(V_i) f_ℓ(x_i) (manufactured solutions)."""
        return [] if self.f_ion is None else [NodeTerm(ell, -self.f_ion[ell])]

    def heat_source(self, row: int) -> list[Term]:
        """−m(V_i) f_3(x_i)."""
        return [] if self.f3 is None else [NodeTerm(row, -self.f3)]

    def poisson(self, psi: FloatArray, c: FloatArray) -> list[Term]:
        """ε² Σ_σ τ_σ(ψ_i − ψ_j) − Σ m(σ)ψ^N − m(V_i)(Σ_ℓ z^ℓ c^ℓ_i + ρ^f_i), ψ_i = ψ^D_i on Γ_D
        ((3.3)₃, (3.14)₃, at t^{n+1}; c = e^η)."""
        b, k = self.psi_block, self.params.eps**2 * self.tau
        return [
            EdgeFlux(b, -k * (psi[self.j] - psi[self.i]), {b: (k, -k)}),
            NodeTerm(
                b, -(self.z @ c + self.rho), {ell: -self.z[ell] * c[ell] for ell in range(self.nsp)}
            ),
            BoundaryFlux(b, -self.neumann),
            BoundaryFlux(b, -(self.stern_gv - self.stern_g * psi), {b: self.stern_g}),
            Dirichlet(b, self.d_idx, psi[self.d_idx] - self.d_val),
        ]

    # -- electrode reactions -------------------------------------------------------------------
    def reaction_rates(
        self,
        log_c: FloatArray,
        psi: FloatArray,
        temp: FloatArray,
        d_log_c: float = 1.0,
        d_psi: float = 1.0,
        d_temp: Derivatives | None = None,
    ) -> list[ReactionRate]:
        """The Butler–Volmer rates r(log c^ℓ_i, ψ_i, T_i, V_i) of the problem's reactions at the
        given vertex values (the scheme's level; V at the time of the sources). `d_log_c`,
        `d_psi` are ∂(log c)/∂η, ∂ψ/∂ψ^{n+1} (1 or ½) and `d_temp` maps blocks to ∂T_i/∂u^b_i;
        with d_temp None no derivatives are formed."""
        n, out = self.mesh.num_vertices, []
        for rx, (idx, area, V) in zip(self.problem.reactions, self.reaction_boxes, strict=True):
            ell = rx.species
            r, dx, dpsi, dtemp = rx.rate(log_c[ell][idx], psi[idx], temp[idx], V)

            def full(values: FloatArray, idx=idx) -> FloatArray:
                a = np.zeros(n)
                a[idx] = values
                return a

            d_rate: dict[int, FloatArray] = {}
            d_over: dict[int, FloatArray] = {}
            if d_temp is not None:
                d_rate = {ell: full(d_log_c * dx), self.psi_block: full(d_psi * dpsi)}
                d_rate = _add(d_rate, {b: full(dtemp * dv[idx]) for b, dv in d_temp.items()})
                d_over = {self.psi_block: full(np.full(idx.size, -d_psi))}
            ov = full(rx.overpotential(psi[idx], V))
            out.append(ReactionRate(rx, full(area), full(r), d_rate, ov, d_over))
        return out

    def reaction_inflow(self, rates: Sequence[ReactionRate]) -> list[Term]:
        """−Σ_{σ ⊂ ∂V_i ∩ Γ} m(σ) s r_i in the reacting species' box equation: the ions the
        electrode makes enter V_i through its boundary pieces (the FEM's −∫_Γ s r v ds)."""
        return [
            BoundaryFlux(
                q.reaction.species,
                -q.area * q.reaction.stoichiometry * q.rate,
                _times(q.d_rate, -q.area * q.reaction.stoichiometry),
            )
            for q in rates
        ]

    def reaction_heat(
        self, row: int, rates: Sequence[ReactionRate], temp: FloatArray, d_temp: Derivatives
    ) -> list[Term]:
        """−Σ_σ m(σ) r_i (n η_i − T_i ΔS), the heat released at the electrode into V_i (energy
        form, like `boundary_heat`), with T = `temp` (T^{n+1} in Scheme I, T_m in Scheme II)
        and ∂temp_i/∂u^b_i in `d_temp`."""
        out: list[Term] = []
        for q in rates:
            rx = q.reaction
            h = rx.electrons * q.overpotential - temp * rx.entropy
            d_h = _add(_times(q.d_overpotential, rx.electrons), _times(d_temp, -rx.entropy))
            d = _add(_times(q.d_rate, h), _times(d_h, q.rate))
            out.append(BoundaryFlux(row, -q.area * q.rate * h, _times(d, -q.area)))
        return out

    def reaction_reversible_heat(
        self, row: int, ell: int, rates: Sequence[ReactionRate], q: FloatArray, dq: FloatArray
    ) -> list[Term]:
        """The boundary part of species ℓ's m(V_i)P_i where the electrode makes its ions:
        −Σ_σ m(σ) s r_i Q_i (the FEM's −∫_Γ j μ w ds), except at the species' reservoir vertices,
        whose boundary outflow B_i (`reversible_heat`) already counts every boundary piece."""
        keep = np.ones(q.size)
        keep[self.reservoir[ell][0]] = 0.0
        out: list[Term] = []
        for rr in rates:
            if rr.reaction.species != ell:
                continue
            w = -keep * rr.area * rr.reaction.stoichiometry
            d = _add(_times(rr.d_rate, w * q), {ell: w * rr.rate * dq})
            out.append(BoundaryFlux(row, w * rr.rate * q, d))
        return out

    def reversible_heat(
        self,
        row: int,
        flux: EdgeFlux,
        c: FloatArray,
        q: FloatArray,
        dq: FloatArray | float,
        rates: Sequence[ReactionRate] = (),
    ) -> list[Term]:
        """Species ℓ's part of m(V_i)P_i in block row `row` ((3.4) with Q = η; (3.15)):
        Σ_σ F^ℓ_{i,σ} ½(Q_i + Q_j) + m(V_i)(1 + Q_i)(c_i − c^{ℓ,n}_i)/Δt, with dQ = ∂Q/∂η^ℓ.

        At a reservoir vertex ions also leave the box through its boundary pieces, at the rate
        B_i = −(m(V_i)(c_i − c^n_i)/Δt + Σ_σ F_{i,σ} − m(V_i) f_i) (the residual of the ion box
        equation, which the Dirichlet row replaces), and the box integral of the divergence in
        P = ε∇·(J log c) + (1 + log c)∂_t c has the boundary part B_i Q_i as well. It is added
        there, so that P stays the local reversible heat: with no time change of c it is
        Σ_σ F_{i,σ} ½(Q_j − Q_i) (≈ ε J·∇log c), and uniform reservoirs feed no heat. (Leaving it
        out, as a weak form without the boundary term does, puts a spurious heat source
        T Q_b (−B_i) ∝ T on the reservoir boxes.)

        Where an electrode reaction makes the species' ions (`rates`), they enter through the
        boundary pieces at the rate s r and P has the boundary part −Σ_σ m(σ) s r_i Q_i
        (`reaction_reversible_heat`)."""
        ell, i, j = flux.row, self.i, self.j
        dq = np.broadcast_to(dq, q.shape)
        dc = c - self.c_old[ell]
        terms: list[Term] = [
            flux.times(0.5 * (q[i] + q[j]), {ell: (0.5 * dq[i], 0.5 * dq[j])}, row),
            NodeTerm(row, (1.0 + q) * dc / self.dt, {ell: (dq * dc + (1.0 + q) * c) / self.dt}),
            *self.reaction_reversible_heat(row, ell, rates, q, dq),
        ]
        idx = self.reservoir[ell][0]
        if idx.size:
            chi = np.zeros(q.size)
            chi[idx] = 1.0
            ion_balance = [
                Storage(row, c, self.c_old[ell], {ell: c}),
                EdgeFlux(row, flux.value, flux.d),
                *[NodeTerm(row, t.value) for t in self.ion_source(ell)],
            ]
            terms.append(Scaled(-chi * q, {ell: -chi * dq}, ion_balance))  # + B_i Q_i
        return terms

    def joule(
        self, ell: int, c: FloatArray, temp: FloatArray, q: FloatArray, phi: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, tuple[FloatArray, ...]]:
        """The Joule heat density c ν|u|² = (c/ν)|g|² with g = T ∇̃_h q + ∇̃_h φ (u = −g/ν: û of
        (3.1), ǔ of (3.15)) and its derivatives: (value, ∂/∂c_i, ∂/∂T_i, w) with the vector
        w_i = (2c_i/ν) g_i (one array per dimension), by which ∂/∂φ_k = w_i·(∇̃_h)_{ik} and
        ∂/∂q_k = T_i w_i·(∇̃_h)_{ik}."""
        gq = [gk @ q for gk in self.mesh.gradient]
        g = [temp * gqk + gk @ phi for gqk, gk in zip(gq, self.mesh.gradient, strict=True)]
        g2 = sum(gk * gk for gk in g)
        w = 2.0 * c / self.nu[ell]
        return (
            c / self.nu[ell] * g2,
            g2 / self.nu[ell],
            w * sum(gk * gqk for gk, gqk in zip(g, gq, strict=True)),
            tuple(w * gk for gk in g),
        )


class FVScheme:
    """What Scheme I and Scheme II share: the problem, the Newton control, the current state."""

    name = "fv"
    coupled_temperature = False  # ξ = log T a Newton unknown (Scheme II) or not (Scheme I)

    def __init__(
        self,
        problem: PNPFProblem,
        control: SolverControl | None = None,
        state: FVState | None = None,
    ) -> None:
        self.problem = problem
        self.control = control or SolverControl()
        self.state = state
        self.num_blocks = problem.params.num_species + (2 if self.coupled_temperature else 1)
        self._assembler = Assembler(problem.mesh, self.num_blocks)

    def physics(self, state: FVState, dt: float) -> StepPhysics:
        """The callbacks of the step from `state` by dt."""
        raise NotImplementedError

    def residual_function(self, state: FVState, dt: float) -> Residual:
        """The step's residual closure x ↦ (R(x), J(x) or None), x = [η¹..η^M, ψ(, ξ)]."""
        return self._residual(self.physics(state, dt))

    def _residual(self, physics: StepPhysics, buffered: bool = False) -> Residual:
        """The residual closure; `buffered` (Newton's own): each Jacobian is valid until the
        second-next (`Assembler.assemble`)."""
        shape = (self.num_blocks, self.problem.mesh.num_vertices)

        def residual(x: FloatArray, jac: bool) -> tuple[FloatArray, sp.csr_matrix | None]:
            terms = physics.terms(x.reshape(shape))
            return self._assembler.assemble(terms, jac, physics.dt, buffered)

        return residual

    def solve_step(self, physics: StepPhysics) -> tuple[FloatArray, NewtonResult]:
        """Newton's method for the step's unknowns from (log c^n, ψ^n with ψ^D, log T^n):
        the solution as blocks (blocks, N) and the Newton result."""
        state, dt = physics.state, physics.dt
        if not dt > 0:
            raise InputError(f"time step must be positive, got {dt}")
        pb = self.problem
        n, nsp, m = pb.mesh.num_vertices, pb.params.num_species, pb.mesh.volumes
        # the initial guess takes the Dirichlet data of t^{n+1}; their rows are not scaled
        x0 = np.concatenate([np.log(state.c), state.psi[None]]).ravel()
        if self.coupled_temperature:
            x0 = np.concatenate([x0, np.log(state.T)])
        scale = np.tile(1.0 / m, self.num_blocks)
        fixed = [(nsp, pb.dirichlet_vertices, physics.d_val)]
        fixed += [(ell, idx, val) for ell, (idx, val) in enumerate(physics.reservoir)]
        if self.coupled_temperature:
            fixed.append((nsp + 1, physics.t_idx, np.log(physics.t_val)))
        for block, idx, val in fixed:
            x0[block * n + idx] = val
            scale[block * n + idx] = 1.0
        log_mask = np.ones(x0.size, dtype=bool)  # η and ξ
        log_mask[nsp * n : (nsp + 1) * n] = False
        residual, part = self._residual(physics, buffered=True), pb.partition
        dim = pb.mesh.dim
        algebra = SerialAlgebra(self.control, self.num_blocks, self._solvers(self.num_blocks), dim)
        if part is not None:  # the owned unknowns; the ghost layer follows from them
            blocks = self.num_blocks

            def own(a: np.ndarray) -> np.ndarray:
                return part.owned(a.reshape(blocks, n)).ravel()

            x0, scale, log_mask = own(x0), own(scale), own(log_mask)
            residual = part.owned_system(residual, blocks)
            algebra = part.algebra(self.control, blocks, dim)
        # trial iterates may overflow exp(η); Newton rejects non-finite residuals itself
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            sol = newton(residual, x0, self.control, scale, log_mask, algebra)
        if part is not None:
            return part.extend(sol.x.reshape(self.num_blocks, -1)), sol
        return sol.x.reshape(self.num_blocks, n), sol

    def linear_solve(self, matrix: sp.spmatrix, rhs: np.ndarray) -> np.ndarray:
        """matrix⁻¹ rhs for a one-block vertex system (on several ranks: the owned rows solved
        together, the ghost layer from its owners)."""
        part = self.problem.partition
        if part is None:
            algebra = SerialAlgebra(self.control, 1, self._solvers(1), self.problem.mesh.dim)
            return algebra.factorize(matrix)(rhs)
        return part.solve_local(matrix, rhs, part.algebra(self.control, 1, self.problem.mesh.dim))

    def _solvers(self, blocks: int) -> dict:
        """The PETSc solvers kept between the steps, per number of fields (`PETScAlgebra`)."""
        return self.__dict__.setdefault("_solver_cache", {}).setdefault(blocks, {})

    @property
    def comm(self) -> Any:
        """The communicator of a distributed run (`ErrorControl` reduces over it), or None."""
        part = self.problem.partition
        return None if part is None else part.comm

    def record(
        self, new: FVState, dt: float, iterations: int, start: float, previous: FVState
    ) -> StepRecord:
        """The step record of `new` after `previous` (wall time since `start`, a
        perf_counter value; the electrode currents need the state before the step)."""
        wall = time.perf_counter() - start
        return StepRecord.from_observables(
            observables(self.problem, new, dt, iterations, wall, previous)
        )

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

    # -- what error control needs (`pnpf_fem.integrate.ErrorControl`) ----------------------
    order = 1  # of the time discretization (Scheme II: 2)

    def snapshot(self) -> FVState:
        return self._current()  # states are immutable

    def restore(self, snapshot: FVState) -> None:
        self.state = snapshot

    def state_vector(self) -> np.ndarray:
        """(log c, ψ, log T) of the current state: the unknowns of the schemes."""
        s, part = self._current(), self.problem.partition
        vector = np.concatenate([np.log(s.c), s.psi[None], np.log(s.T)[None]])
        return (vector if part is None else part.owned(vector)).ravel()

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
