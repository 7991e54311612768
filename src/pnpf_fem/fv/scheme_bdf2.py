"""fv-bdf2: variable-step BDF2 of the box equations, fully implicit and coupled (ours, not the
paper's): second order and L-stable, the FV counterpart of the FEM's fem-bdf2.

Scheme II's modified Crank–Nicolson does not damp the stiff modes of thin Debye layers: on a closed
cell graded towards its electrodes it keeps a period-2 oscillation at the electrode vertices and
never reaches its equilibrium. BDF2 damps them. Newton unknowns per step: η^ℓ = log c^{ℓ,n+1},
ψ^{n+1}, ξ = log T^{n+1}; every term at t^{n+1}. With the BDF2 derivative
d_t s = (a0 s^{n+1} + a1 s^n + a2 s^{n−1})/Δt_n, ω = Δt_n/Δt_{n−1}, a0 = (1+2ω)/(1+ω),
a1 = −(1+ω), a2 = ω²/(1+ω), written a0 (s^{n+1} − s_h)/Δt_n with the history
s_h = −(a1 s^n + a2 s^{n−1})/a0, the equations per box V_i are those of Scheme II (3.14) with
c_m, T_m, ψ_m → c^{n+1}, T^{n+1}, ψ^{n+1}, Q^ℓ → η^ℓ, R → 1/T and the step Δt_n/a0 from s_h:

    m(V_i)(e^{η_i} − c_{h,i})a0/Δt + Σ_σ F^ℓ_{i,σ} = m(V_i) f_ℓ(x_i, t^{n+1}),
    F^ℓ_{i,σ} = −(ε/ν^ℓ) τ_σ [𝒜_σ(cT) Dη^ℓ_{i,σ} + 𝒜_σ(c) D(z^ℓψ + T)_{i,σ}],
    ε² Σ_σ τ_σ(ψ_i − ψ_j) − Σ m(σ)ψ^N = m(V_i)(Σ_ℓ z^ℓ e^{η_i} + ρ^f_i),   ψ_i = ψ^D_i on Γ_D,
    C_T m(V_i)(T_i − T_{h,i})a0/Δt − k Σ_σ τ_σ 𝒜_σ(T) Dξ_{i,σ}
        = m(V_i) P_i T_i + ε m(V_i) Σ_ℓ ν^ℓ c_i |û^ℓ_i|² + m(V_i) f_3(x_i, t^{n+1}),
    m(V_i) P_i = Σ_ℓ [Σ_σ F^ℓ_{i,σ} ½(η_i + η_j) + m(V_i)(1 + η_i)(c_i − c_{h,i})a0/Δt],
    û^ℓ = −(1/ν^ℓ)[T ∇̃_h η^ℓ + ∇̃_h(z^ℓψ + T)],

with the boundary conditions, Stern layers and electrode reactions of Scheme II at t^{n+1}. The
first step, and the first after a restart, is backward Euler (ω = 0: a0 = 1, s_h = s^n), and so
is a BDF2 step that has no positive solution (`SchemeBDF2.step`).

What holds: positivity of c and T (log variables); the masses, because a0 + a1 + a2 = 0 makes
Σ_i m(V_i)(a0 c^{n+1} + a1 c^n + a2 c^{n−1}) = 0 give Σ m c^{n+1} = Σ m c^n whenever
Σ m c^n = Σ m c^{n−1} (by induction from the backward Euler start); the exact stationary states
of the box equations (at a steady state s_h = s^{n+1}: the terms that remain are those of
Scheme II's steady state). What is only measured: the entropy inequality (BDF2 is not
B-stable; tests/fv/test_scheme_bdf2.py records the entropy of the runs it checks). The step
ratio ω should stay below 1 + √2 for zero stability of variable-step BDF2; the controllers grow
Δt by at most the factor they are given (`ErrorControl.max_growth`).
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from pnpf_fem.errors import SolverError
from pnpf_fem.fv.assembly import Dirichlet, EdgeFlux, NodeTerm, Scaled, Storage, Term
from pnpf_fem.fv.operators import harmonic_average_with_derivatives
from pnpf_fem.fv.problem import FVState, PNPFProblem
from pnpf_fem.fv.scheme_base import FVScheme, StepPhysics
from pnpf_fem.integrate import StepRecord

__all__ = ["SchemeBDF2", "bdf2_coefficients"]

FloatArray = npt.NDArray[np.float64]


def bdf2_coefficients(dt: float, dt_previous: float | None) -> tuple[float, float, float]:
    """(a0, a1, a2) of the variable-step BDF2 derivative (a0 s^{n+1} + a1 s^n + a2 s^{n−1})/Δt_n;
    backward Euler (1, −1, 0) without a previous step."""
    omega = 0.0 if dt_previous is None else dt / dt_previous
    return (1 + 2 * omega) / (1 + omega), -(1 + omega), omega**2 / (1 + omega)


class _Step(StepPhysics):
    """The callbacks of one BDF2 step: unknowns u = [η¹..η^M, ψ, ξ], all at t^{n+1}."""

    def __init__(
        self,
        problem: PNPFProblem,
        state: FVState,
        dt: float,
        previous: FVState | None,
        dt_previous: float | None,
    ) -> None:
        super().__init__(problem, state, dt, t_source=state.t + dt)
        a0, a1, a2 = bdf2_coefficients(dt, dt_previous if previous is not None else None)
        older = previous if previous is not None else state
        # the storage terms become a0 (s − s_h)/Δt: the history s_h with the step Δt/a0
        self.c_old = -(a1 * state.c + a2 * older.c) / a0
        self.T_old = -(a1 * state.T + a2 * older.T) / a0
        self.dt = dt / a0

    def terms(self, u: FloatArray) -> list[Term]:
        nsp, xb = self.nsp, self.xi_block
        eta, psi, xi = u[:nsp], u[nsp], u[xb]
        c, temp = np.exp(eta), np.exp(xi)
        rates = self.reaction_rates(eta, psi, temp, 1.0, 1.0, {xb: temp})
        ions: list[Term] = self.reaction_inflow(rates)
        reversible: list[Term] = []
        joule: list[Term] = []
        ones = np.ones(temp.size)
        for ell in range(nsp):  # loop over species (M), not over mesh entities
            phi = self.z[ell] * psi + temp
            flux = self.ion_flux(ell, c[ell], temp, eta[ell], phi)
            ions += [self.ion_storage(ell, c[ell]), flux, *self.ion_source(ell)]
            reversible += self.reversible_heat(xb, flux, c[ell], eta[ell], ones, rates)
            joule.append(self.joule_heat(ell, c[ell], temp, eta[ell], phi))
        return [
            *ions,
            *self.poisson(psi, c),
            *self.heat(xi, temp, reversible),
            *self.reaction_heat(xb, rates, temp, {xb: temp}),
            *joule,
            *self.reservoirs(eta),
        ]

    def ion_flux(
        self, ell: int, c: FloatArray, temp: FloatArray, eta: FloatArray, phi: FloatArray
    ) -> EdgeFlux:
        """F^ℓ_{i,σ} = −(ε/ν^ℓ)τ_σ[𝒜_σ(cT) Dη^ℓ + 𝒜_σ(c) D(z^ℓψ + T)] at t^{n+1}."""
        i, j, mesh = self.i, self.j, self.mesh
        ke = -(self.params.eps / self.nu[ell]) * self.tau
        w = c * temp
        aw, daw_i, daw_j = harmonic_average_with_derivatives(mesh, w, check=False)
        ac, dac_i, dac_j = harmonic_average_with_derivatives(mesh, c, check=False)
        deta, dphi = eta[j] - eta[i], phi[j] - phi[i]
        # ∂(cT)/∂η = ∂(cT)/∂ξ = cT, ∂c/∂η = c, ∂φ/∂ψ = z, ∂φ/∂ξ = T
        d_eta = (
            ke * (daw_i * w[i] * deta - aw + dac_i * c[i] * dphi),
            ke * (daw_j * w[j] * deta + aw + dac_j * c[j] * dphi),
        )
        zl = self.z[ell]
        d_psi = (ke * ac * -zl, ke * ac * zl)
        d_xi = (
            ke * (daw_i * w[i] * deta - ac * temp[i]),
            ke * (daw_j * w[j] * deta + ac * temp[j]),
        )
        value = ke * (aw * deta + ac * dphi)
        return EdgeFlux(ell, value, {ell: d_eta, self.psi_block: d_psi, self.xi_block: d_xi})

    def heat(self, xi: FloatArray, temp: FloatArray, reversible: list[Term]) -> list[Term]:
        """C_T m(V_i)(T_i − T_{h,i})a0/Δt − k Σ_σ τ_σ 𝒜_σ(T) Dξ − m(V_i)P_i T_i − m(V_i) f_3
        (the Joule heat is `joule_heat`): Scheme II's heat line with R = 1/T."""
        i, j, xb = self.i, self.j, self.xi_block
        ct = self.params.heat_capacity
        at, dat_i, dat_j = harmonic_average_with_derivatives(self.mesh, temp, check=False)
        k = self.params.conductivity * self.tau
        dlog_r = xi[i] - xi[j]  # D(log R) with log R = −ξ
        d_flux = (
            k * (dat_i * temp[i] * dlog_r + at),
            k * (dat_j * temp[j] * dlog_r - at),
        )
        return [
            Storage(xb, ct * temp, ct * self.T_old, {xb: ct * temp}),
            EdgeFlux(xb, k * at * dlog_r, {xb: d_flux}),
            Scaled(-temp, {xb: -temp}, reversible),  # −m(V)P/R = −m(V)P T
            *self.heat_source(xb),
            self.boundary_heat(xb, temp, {xb: temp}),
            Dirichlet(xb, self.t_idx, xi[self.t_idx] - np.log(self.t_val)),
        ]

    def joule_heat(
        self, ell: int, c: FloatArray, temp: FloatArray, eta: FloatArray, phi: FloatArray
    ) -> NodeTerm:
        """−ε m(V_i) ν^ℓ c_i|û^ℓ_i|², û^ℓ = −(1/ν^ℓ)[T ∇̃_h η^ℓ + ∇̃_h(z^ℓψ + T)]."""
        eps = self.params.eps
        value, d_c, d_t, wg = self.joule(ell, c, temp, eta, phi)
        w = tuple(-eps * wk for wk in wg)
        return NodeTerm(
            self.xi_block,
            -eps * value,
            {ell: -eps * d_c * c, self.xi_block: -eps * d_t * temp},
            {
                ell: (tuple(temp * wk for wk in w), np.ones(temp.size)),  # through η
                self.psi_block: (w, np.full(temp.size, self.z[ell])),  # through ψ
                self.xi_block: (w, temp),  # through T in ∇̃_h T
            },
        )


class SchemeBDF2(FVScheme):
    """Variable-step BDF2 on a Voronoi mesh; the scheme holds the previous state and step."""

    name = "fv-bdf2"
    order = 2
    coupled_temperature = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.previous: FVState | None = None
        self.dt_previous: float | None = None
        self.euler_steps = 0  # BDF2 steps without a solution, taken as backward Euler

    def physics(
        self,
        state: FVState,
        dt: float,
        previous: FVState | None = None,
        dt_previous: float | None = None,
    ) -> _Step:
        """The step from `state` by dt; without `previous` a backward Euler step."""
        return _Step(self.problem, state, dt, previous, dt_previous)

    def advance(
        self,
        state: FVState,
        dt: float,
        previous: FVState | None = None,
        dt_previous: float | None = None,
    ) -> tuple[FVState, StepRecord]:
        """The state one step of size dt after `state` (BDF2 with `previous`, the state a step
        dt_previous before it; backward Euler without) and its record."""
        start = time.perf_counter()
        u, sol = self.solve_step(self.physics(state, dt, previous, dt_previous))
        nsp = self.problem.params.num_species
        new = FVState(t=state.t + dt, c=np.exp(u[:nsp]), psi=u[nsp].copy(), T=np.exp(u[nsp + 1]))
        return new, self.record(new, dt, sol.iterations, start, state)

    def step(self, dt: float) -> StepRecord:
        """Advance the current state by dt; the history moves on only when the solve succeeds.

        A BDF2 step can have no positive solution: where c falls fast, the history
        c_h = ((1+ω)²c^n − ω²c^{n−1})/(1+2ω) is negative and the box equation cannot be met by
        c > 0, so Newton fails. Such a step is taken again as backward Euler (which has a
        positive solution whenever Scheme II's theory gives one), counted in `euler_steps`;
        only if that fails too does the step fail (and the controller cut Δt)."""
        current = self._current()
        try:
            self.state, record = self.advance(current, dt, self.previous, self.dt_previous)
        except SolverError:
            if self.previous is None:
                raise
            self.state, record = self.advance(current, dt)
            self.euler_steps += 1
        self.previous, self.dt_previous = current, dt
        return record

    def start(self, state: FVState) -> SchemeBDF2:
        """Hold `state` as the current state; the next step is backward Euler."""
        self.forget_history()
        return super().start(state)

    def forget_history(self) -> None:
        """The next step is backward Euler (a start; pseudo-transient steps)."""
        self.previous, self.dt_previous = None, None

    def snapshot(self) -> tuple[FVState, FVState | None, float | None]:
        return self._current(), self.previous, self.dt_previous

    def restore(self, snapshot: tuple[FVState, FVState | None, float | None]) -> None:
        self.state, self.previous, self.dt_previous = snapshot
