"""Scheme II (3.14)–(3.15): modified Crank–Nicolson, second order in time, entropy increasing.

Newton unknowns per step: η^ℓ = log c^{ℓ,n+1}, ψ^{n+1}, ξ = log T^{n+1}, fully coupled. With
c_m = e^{(η^n+η)/2}, T_m = e^{(ξ^n+ξ)/2}, ψ_m = (ψ^n+ψ)/2 (3.15), Q^ℓ and R of (3.15), the
equations per box V_i are

    m(V_i)(e^{η_i} − c^n_i)/Δt + Σ_σ F^ℓ_{i,σ} = m(V_i) f_ℓ(x_i, t^{n+1/2}),
    F^ℓ_{i,σ} = −(ε/ν^ℓ) τ_σ [𝒜_σ(c_m T_m) DQ^ℓ_{i,σ} + 𝒜_σ(c_m) D(z^ℓψ_m + T_m)_{i,σ}],
    ε² Σ_σ τ_σ(ψ_i − ψ_j) − Σ m(σ)ψ^N = m(V_i)(Σ_ℓ z^ℓ e^{η_i} + ρ^f_i),   ψ_i = ψ^D_i on Γ_D,
    C_T m(V_i)(e^{ξ_i} − T^n_i)/Δt + k Σ_σ τ_σ 𝒜_σ(T_m) D(log R)_{i,σ}
        = m(V_i) P_i/R_i + ε m(V_i) Σ_ℓ ν^ℓ c_{m,i} |ǔ^ℓ_i|² + m(V_i) f_3(x_i, t^{n+1/2}),
    m(V_i) P_i = Σ_ℓ [Σ_σ F^ℓ_{i,σ} ½(Q^ℓ_i + Q^ℓ_j) + m(V_i)(1 + Q^ℓ_i)(e^{η_i} − c^n_i)/Δt],
    ǔ^ℓ = −(1/ν^ℓ)[T_m ∇̃_h Q^ℓ + ∇̃_h(z^ℓψ_m + T_m)],

the (ion, Poisson, heat) lines of (3.14), plus the boundary conditions of `pnpf_fem.fv.problem`:
η^ℓ = log c_b(t^{n+1}) at reservoir vertices and ξ = log T_b(t^{n+1}) at thermostat vertices
(Dirichlet rows), and −Σ_{σ ⊂ ∂V_i} m(σ) q_σ in the heat line with the heat flux q(t^{n+1/2}) or
the heat transfer h (T_a − T_{m,i}). The heat line is the energy form; multiplied by R_i and
summed (the proof of (3.16)) the boundary heat gives the entropy flux Σ_i R_i Q_i, the analogue
of the FEM's heat equation tested with R w. A Stern layer adds −Σ_σ m(σ)(ε²/λ_S)(V − ψ_i) (at
t^{n+1}) to the Poisson line; an electrode reaction, at the midpoint like fem2 (rate
r_i = r(c_{m,i}, ψ_{m,i}, T_{m,i}, V(t^{n+1/2}))), adds −Σ_σ m(σ) s r_i to the reacting species'
line, −Σ_σ m(σ) s r_i Q_i to m(V_i)P_i and −Σ_σ m(σ) r_i (n η_i − T_{m,i} ΔS) to the heat line.
Mean values on edges are the harmonic averages 𝒜_σ of §3.1 (of c_m T_m = e^{η_m + ξ_m}, c_m
and T_m); the edge value of Q in P is the arithmetic mean (conservative, as (3.16)'s proof
needs). Boundary data and sources are taken at t^{n+1/2} (ψ^D enters via ψ_m and the Poisson
line at t^{n+1}). The Jacobian is exact: each term below is a
per-edge flux or per-vertex term with its derivatives, summed by `pnpf_fem.fv.assembly`.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from pnpf_fem.fv.assembly import Dirichlet, EdgeFlux, NodeTerm, Scaled, Storage, Term
from pnpf_fem.fv.operators import harmonic_average_with_derivatives
from pnpf_fem.fv.problem import FVState, PNPFProblem
from pnpf_fem.fv.scheme_base import FVScheme, StepPhysics
from pnpf_fem.integrate import StepRecord

__all__ = ["SchemeII"]

FloatArray = npt.NDArray[np.float64]


class _Step(StepPhysics):
    """The callbacks of one Scheme II step: unknowns u = [η¹..η^M, ψ, ξ]."""

    def __init__(self, problem: PNPFProblem, state: FVState, dt: float) -> None:
        super().__init__(problem, state, dt, t_source=state.t + 0.5 * dt)
        self.eta0, self.xi0 = np.log(state.c), np.log(state.T)

    def terms(self, u: FloatArray) -> list[Term]:
        nsp, xb = self.nsp, self.xi_block
        eta, psi, xi = u[:nsp], u[nsp], u[xb]
        c = np.exp(eta)
        tm = np.exp(0.5 * (self.xi0 + xi))  # T_m (3.15)
        psim = 0.5 * (self.state.psi + psi)  # ψ_m
        # electrode reactions at the midpoint: log c_m, ψ_m, T_m, V(t^{n+1/2})
        rates = self.reaction_rates(0.5 * (self.eta0 + eta), psim, tm, 0.5, 0.5, {xb: 0.5 * tm})
        ions: list[Term] = self.reaction_inflow(rates)
        reversible: list[Term] = []
        joule: list[Term] = []
        for ell in range(nsp):  # loop over species (M), not over mesh entities
            q, dq = self.q(ell, eta[ell])
            cm = np.exp(0.5 * (self.eta0[ell] + eta[ell]))  # c_m (3.15)
            phi = self.z[ell] * psim + tm
            flux = self.ion_flux(ell, cm, tm, q, dq, phi)
            ions += [self.ion_storage(ell, c[ell]), flux, *self.ion_source(ell)]
            reversible += self.reversible_heat(xb, flux, c[ell], q, dq, rates)
            joule.append(self.joule_heat(ell, cm, tm, q, dq, phi))
        return [
            *ions,
            *self.poisson(psi, c),
            *self.heat(xi, tm, reversible),
            *self.reaction_heat(xb, rates, tm, {xb: 0.5 * tm}),
            *joule,
            *self.reservoirs(eta),
        ]

    def q(self, ell: int, eta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Q^ℓ of (3.15) with r = c^n/c^{n+1}: η − (1−r)/2 − (1−r)²/6, and dQ/dη."""
        r = np.exp(self.eta0[ell] - eta)
        return eta - 0.5 * (1.0 - r) - (1.0 - r) ** 2 / 6.0, 1.0 - 0.5 * r - r * (1.0 - r) / 3.0

    def ion_flux(
        self, ell: int, cm: FloatArray, tm: FloatArray, q: FloatArray, dq: FloatArray, phi
    ) -> EdgeFlux:
        """F^ℓ_{i,σ} = −(ε/ν^ℓ)τ_σ[𝒜_σ(c_m T_m) DQ^ℓ + 𝒜_σ(c_m) D(z^ℓψ_m + T_m)]  (3.14)₁."""
        i, j, mesh = self.i, self.j, self.mesh
        ke = -(self.params.eps / self.nu[ell]) * self.tau
        w = cm * tm
        aw, daw_i, daw_j = harmonic_average_with_derivatives(mesh, w, check=False)
        ac, dac_i, dac_j = harmonic_average_with_derivatives(mesh, cm, check=False)
        dq_e, dphi_e = q[j] - q[i], phi[j] - phi[i]
        # ∂c_m/∂η = c_m/2, ∂T_m/∂ξ = T_m/2, ∂ψ_m/∂ψ = 1/2
        d_eta = (
            ke * (daw_i * 0.5 * w[i] * dq_e - aw * dq[i] + dac_i * 0.5 * cm[i] * dphi_e),
            ke * (daw_j * 0.5 * w[j] * dq_e + aw * dq[j] + dac_j * 0.5 * cm[j] * dphi_e),
        )
        zl = self.z[ell]
        d_psi = (ke * ac * (-0.5 * zl), ke * ac * (0.5 * zl))
        d_xi = (
            ke * (daw_i * 0.5 * w[i] * dq_e - ac * 0.5 * tm[i]),
            ke * (daw_j * 0.5 * w[j] * dq_e + ac * 0.5 * tm[j]),
        )
        value = ke * (aw * dq_e + ac * dphi_e)
        return EdgeFlux(ell, value, {ell: d_eta, self.psi_block: d_psi, self.xi_block: d_xi})

    def heat(self, xi: FloatArray, tm: FloatArray, reversible: list[Term]) -> list[Term]:
        """(3.14)₄: C_T m(V_i)(e^{ξ_i} − T^n_i)/Δt + k Σ_σ τ_σ 𝒜_σ(T_m) D(log R)_{i,σ}
        − m(V_i)P_i/R_i − m(V_i) f_3 (the Joule heat is `joule_heat`)."""
        i, j, xb = self.i, self.j, self.xi_block
        ct = self.params.heat_capacity
        t_new = np.exp(xi)
        # R of (3.15) with s = T^n/T^{n+1}: R = (1/T)[1 + (1−s)/2 + (1−s)²/3], and dR/dξ
        s = np.exp(self.xi0 - xi)
        inv_t = np.exp(-xi)
        big_r = inv_t * (1.0 + 0.5 * (1.0 - s) + (1.0 - s) ** 2 / 3.0)
        d_big_r = -big_r + inv_t * (0.5 * s + 2.0 * (1.0 - s) * s / 3.0)
        log_r = np.log(big_r)
        dlr = d_big_r / big_r
        at, dat_i, dat_j = harmonic_average_with_derivatives(self.mesh, tm, check=False)
        k = self.params.conductivity * self.tau
        dlog_r = log_r[j] - log_r[i]
        d_flux = (
            k * (dat_i * 0.5 * tm[i] * dlog_r - at * dlr[i]),
            k * (dat_j * 0.5 * tm[j] * dlog_r + at * dlr[j]),
        )
        return [
            Storage(xb, ct * t_new, ct * self.state.T, {xb: ct * t_new}),
            EdgeFlux(xb, k * at * dlog_r, {xb: d_flux}),
            Scaled(-1.0 / big_r, {xb: d_big_r / big_r**2}, reversible),  # −m(V)P/R
            *self.heat_source(xb),
            self.boundary_heat(xb, tm, {xb: 0.5 * tm}),  # heat transfer with T_m
            Dirichlet(xb, self.t_idx, xi[self.t_idx] - np.log(self.t_val)),
        ]

    def joule_heat(
        self, ell: int, cm: FloatArray, tm: FloatArray, q: FloatArray, dq: FloatArray, phi
    ) -> NodeTerm:
        """−ε m(V_i) ν^ℓ c_{m,i}|ǔ^ℓ_i|², ǔ^ℓ = −(1/ν^ℓ)[T_m ∇̃_h Q^ℓ + ∇̃_h(z^ℓψ_m + T_m)]
        (3.14)₄."""
        eps = self.params.eps
        value, d_c, d_t, wg = self.joule(ell, cm, tm, q, phi)
        w = tuple(-eps * wk for wk in wg)
        return NodeTerm(
            self.xi_block,
            -eps * value,
            {ell: -eps * d_c * 0.5 * cm, self.xi_block: -eps * d_t * 0.5 * tm},
            {
                ell: (tuple(tm * wk for wk in w), dq),  # through Q^ℓ
                self.psi_block: (w, np.full(tm.size, 0.5 * self.z[ell])),  # through ψ_m
                self.xi_block: (w, 0.5 * tm),  # through T_m in ∇̃_h T_m
            },
        )


class SchemeII(FVScheme):
    """Scheme II on a Voronoi mesh: `advance(state, dt)` → (new state, record)."""

    name = "fv2"
    order = 2
    coupled_temperature = True

    def physics(self, state: FVState, dt: float) -> _Step:
        return _Step(self.problem, state, dt)

    def advance(self, state: FVState, dt: float) -> tuple[FVState, StepRecord]:
        """The state one step of size dt after `state` (which is never modified) and its
        record; a failed solve raises SolverError."""
        start = time.perf_counter()
        u, sol = self.solve_step(self.physics(state, dt))
        nsp = self.problem.params.num_species
        new = FVState(t=state.t + dt, c=np.exp(u[:nsp]), psi=u[nsp].copy(), T=np.exp(u[nsp + 1]))
        return new, self.record(new, dt, sol.iterations, start, state)
