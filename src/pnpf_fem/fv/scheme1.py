"""Scheme I (3.3)–(3.5): first order in time, positivity- and entropy-preserving.

One step from (c^n, ψ^n, T^n) to time t^{n+1} = t^n + Δt (Δt may change every step):

1. The coupled nonlinear (c, ψ) system, with η^ℓ = log c^{ℓ,n+1} and ψ^{n+1} as Newton unknowns
   (so c^{n+1} = e^η > 0 at every iterate). Per box V_i and species ℓ, from (3.3) lines 1–2:

       m(V_i)(e^{η_i} − c^n_i)/Δt + Σ_σ F^ℓ_{i,σ} = m(V_i) f_ℓ(x_i, t^{n+1}),
       F^ℓ_{i,σ} = −(ε/ν^ℓ) τ_σ [𝒜_σ c^{ℓ,n} D(η + z^ℓψ)_{i,σ} + D(c^{ℓ,n}(T^n − 1))_{i,σ}],

   (F is linear in the unknowns: the mobility c^n and T^n are lagged), and the Poisson line
   ε² Σ_σ τ_σ(ψ_i − ψ_j) − Σ m(σ)ψ^N = m(V_i)(Σ_ℓ z^ℓ e^{η_i} + ρ^f_i), ψ_i = ψ^D(x_i) on Γ_D.
   Zero ion flux on ∂Ω (3.5): boundary pieces carry no F (except at reservoirs, below).
2. The linear temperature equation (3.3) line 4 with P^{n+1} of (3.4):

       C_T m(V_i)(T_i − T^n_i)/Δt + k Σ_σ τ_σ(T_i − T_j) − m(V_i) P_i T_i
           = ε m(V_i) Σ_ℓ ν^ℓ c^{ℓ,n+1}_i |û^ℓ_i|² + m(V_i) f_3(x_i, t^{n+1}),
       m(V_i) P_i = Σ_ℓ [Σ_σ F^ℓ_{i,σ} ½(η_i + η_j) + m(V_i)(1 + η_i)(c^{ℓ,n+1}_i − c^{ℓ,n}_i)/Δt],

   û^ℓ = −(1/ν^ℓ)[T^n ∇̃_h η + ∇̃_h(z^ℓψ^{n+1} + T^n)] (3.1). The edge value ½(η_i + η_j) of
   log c is conservative, which is all Theorem 3.5 needs ((3.13), second line).

Joule heat (`SchemeI(joule=...)`, ours): "cell" (default) is the paper's ε ν c|û|² above;
"edge" replaces it by the dissipation of step 1's own fluxes,

       m(V_i) J_i = ½ Σ_ℓ Σ_{σ∋i} (F^ℓ_σ)²/k^ℓ_σ = ½ Σ_ℓ Σ_{σ∋i} −F^ℓ_σ X^ℓ_σ,
       k^ℓ_σ = (ε/ν^ℓ) τ_σ 𝒜_σ c^{ℓ,n},  X^ℓ_σ = D(η + z^ℓψ)_σ + D(c^{ℓ,n}(T^n − 1))_σ/𝒜_σ c^{ℓ,n},

half of each edge's dissipation to each end. The paper's û does not vanish where the two-point
fluxes do (lagged harmonic mobility, explicit drift D(c^n(T^n − 1))), so with "cell" a closed
cell keeps heating at its flux equilibrium (graded ε = 0.05 strip: T + 1e-4 per unit time, edge
fluxes 4e-5 at t = 40…160); with "edge" it settles (edge forces 1e-11, T uniform). The proof of
(3.12) multiplies the heat line by 1/T^{n+1} and needs only J_i ≥ 0 (the ion fluxes cancel from
Σ_i m(V_i)P_i), so Theorems 3.3–3.5 hold for both forms. But "edge" is consistent only on
average (Σ_i m(V_i)J_i = Σ_σ F²/k is exact for a uniform field; its split per box is not on
unstructured boxes): the Ohmic conductor of tests/test_fv_boundaries.py is no longer exact and
the fem1–fv1 reservoir differences in T fall at order 1.3 instead of 1.9; hence not the default.
Its equilibrium is that of X_σ = 0, which at a uniform T* ≠ 1 is not log c + zψ/T* = const
(Dc/𝒜_σc ≠ D log c): an O(h²) spread (6.5e-3 on that strip). tests/fv/test_fv_equilibrium.py.

Boundary conditions (`pnpf_fem.fv.problem`): reservoirs fix η^ℓ = log c_b(t^{n+1}) at their
vertices in step 1 (Dirichlet rows; m(V_i)P_i there takes the ions' boundary outflow B_i with
B_i η_i, see `StepPhysics.reversible_heat`), thermostats fix T = T_b(t^{n+1}) in step 2, and a
heat flux q(t^{n+1}) or heat transfer h (T_a − T_i^{n+1}) adds −Σ_{σ ⊂ ∂V_i} m(σ) q_σ to the
temperature box equation (still linear in T). A Stern layer adds −Σ_σ m(σ)(ε²/λ_S)(V − ψ_i) to
the Poisson line. An electrode reaction (`StepPhysics.reaction_rates`) takes its rate
r_i = r(c^{n+1}_i, ψ^{n+1}_i, T^n_i, V(t^{n+1})) (T lagged, as in the flux) and adds
−Σ_σ m(σ) s r_i to the reacting species' line in step 1, −Σ_σ m(σ) s r_i η_i to m(V_i)P_i and
−Σ_σ m(σ) r_i (n η_i − T_i ΔS) (T = T^{n+1}) to the temperature line in step 2.

Theorem 3.4 guarantees T^{n+1} > 0 only for Δt < C_T/‖P^{n+1}‖_∞ (heat transfer and thermostats
keep its M-matrix argument; a heat flux out of the domain does not); a non-positive T raises
`SolverError(reason="temperature_not_positive")`.

Large steps: the drift part ∇_h[c^n(T^n − 1)] is explicit and the mobility c^n lagged, so once T
departs from 1 a step far beyond the charging time makes the (positive, entropy-increasing)
solution oscillate in time, and Newton may then fail (SolverError); Scheme II has no explicit
part and tolerates much larger steps (see tests/fv/test_schemes.py).
"""

from __future__ import annotations

import time
from functools import cached_property

import numpy as np
import numpy.typing as npt

from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fv.assembly import Assembler, Dirichlet, EdgeFlux, NodeTerm, Storage, Term
from pnpf_fem.fv.operators import harmonic_average_with_derivatives
from pnpf_fem.fv.problem import FVState, PNPFProblem
from pnpf_fem.fv.scheme_base import FVScheme, StepPhysics
from pnpf_fem.fv.solver import SolverControl
from pnpf_fem.integrate import StepRecord

__all__ = ["SchemeI"]

FloatArray = npt.NDArray[np.float64]


class _Step(StepPhysics):
    """The callbacks of one Scheme I step: unknowns u = [η¹..η^M, ψ] (step 1), then T (step 2)."""

    def __init__(
        self, problem: PNPFProblem, state: FVState, dt: float, joule: str = "cell"
    ) -> None:
        super().__init__(problem, state, dt, t_source=state.t + dt)
        self.joule_form = joule
        mesh = self.mesh
        # lagged: the mobility 𝒜_σ c^{ℓ,n} (no sign check: an underflowed c = 0 gives a
        # non-finite residual → SolverError) and the thermal drift D(c^{ℓ,n}(T^n − 1))_σ
        self.mobility = [
            harmonic_average_with_derivatives(mesh, c, check=False)[0] for c in state.c
        ]
        drift = state.c * (state.T - 1.0)
        self.drift = drift[:, self.j] - drift[:, self.i]

    def terms(self, u: FloatArray) -> list[Term]:
        """Step 1, (3.3) lines 1–3, and the ions that electrode reactions make, with the rate
        r(c^{n+1}_i, ψ^{n+1}_i, T^n_i, V(t^{n+1})) (T lagged, as in the flux)."""
        eta, psi = u[: self.nsp], u[self.nsp]
        c = np.exp(eta)
        ions: list[Term] = []
        for ell in range(self.nsp):  # loop over species (M), not over mesh entities
            ions += [self.ion_storage(ell, c[ell]), self.ion_flux(ell, eta, psi)]
            ions += self.ion_source(ell)
        ions += self.reaction_inflow(self.rates(eta, psi, derivatives=True))
        return [*ions, *self.poisson(psi, c), *self.reservoirs(eta)]

    def rates(self, eta: FloatArray, psi: FloatArray, derivatives: bool = False):
        """The reactions' rates at Scheme I's level: c^{n+1}, ψ^{n+1}, T^n, V(t^{n+1})."""
        return self.reaction_rates(eta, psi, self.state.T, d_temp={} if derivatives else None)

    def ion_flux(self, ell: int, eta: FloatArray, psi: FloatArray) -> EdgeFlux:
        """F^ℓ_{i,σ} = −(ε/ν^ℓ)τ_σ[𝒜_σ c^{ℓ,n} D(η^ℓ + z^ℓψ) + D(c^{ℓ,n}(T^n − 1))]  (3.3)₁,
        linear in the unknowns."""
        coef = self.params.eps / self.nu[ell] * self.tau
        k = -coef * self.mobility[ell]
        w = eta[ell] + self.z[ell] * psi
        value = k * (w[self.j] - w[self.i]) - coef * self.drift[ell]
        kz = self.z[ell] * k
        return EdgeFlux(ell, value, {ell: (-k, k), self.psi_block: (-kz, kz)})

    def reversible_heat_step1(self, eta: FloatArray, psi: FloatArray) -> list[Term]:
        """m(V_i)P_i of (3.4) (block row 0), from the solution of step 1."""
        out: list[Term] = []
        rates = self.rates(eta, psi)
        for ell in range(self.nsp):
            flux = self.ion_flux(ell, eta, psi)
            out += self.reversible_heat(0, flux, np.exp(eta[ell]), eta[ell], 1.0, rates)
        return out

    def edge_joule(self, eta: FloatArray, psi: FloatArray) -> FloatArray:
        """The dissipation of step 1's edge fluxes per unit box volume ("edge" Joule heat):
        m(V_i) J_i = ½ Σ_ℓ Σ_{σ ∋ i} (F^ℓ_σ)² / k^ℓ_σ, k^ℓ_σ = (ε/ν^ℓ) τ_σ 𝒜_σ c^{ℓ,n} the
        edge conductance of F^ℓ_σ = −k^ℓ_σ D(η^ℓ + z^ℓψ) − (ε/ν^ℓ)τ_σ D(c^{ℓ,n}(T^n − 1)).
        Equivalently ½ Σ −F^ℓ_σ X^ℓ_σ with the edge force X = D(η + zψ) + D(c^n(T^n − 1))/𝒜_σ c^n
        (the flux's own driving force), the two-point analogue of ε ν c|u|² = J·(−∇μ): ≥ 0 and
        zero exactly where every edge flux vanishes. Edges with k_σ = 0 (τ_σ = 0) carry none."""
        per_edge = np.zeros(self.i.size)
        for ell in range(self.nsp):
            flux = self.ion_flux(ell, eta, psi).value
            k = self.params.eps / self.nu[ell] * self.tau * self.mobility[ell]
            per_edge += np.divide(flux * flux, k, out=np.zeros_like(flux), where=k > 0)
        n = self.mesh.num_vertices
        half = 0.5 * per_edge
        box = np.bincount(self.i, half, minlength=n) + np.bincount(self.j, half, minlength=n)
        return box / self.m

    def cell_joule(self, eta: FloatArray, psi: FloatArray) -> FloatArray:
        """The paper's Joule heat ε Σ_ℓ ν^ℓ c^{ℓ,n+1}_i |û^ℓ_i|² of (3.3)₄ ("cell"), with
        û^ℓ = −(1/ν^ℓ)[T^n ∇̃_h η^ℓ + ∇̃_h(z^ℓψ + T^n)]  (3.1)."""
        t0 = self.state.T
        return self.params.eps * sum(
            self.joule(ell, np.exp(eta[ell]), t0, eta[ell], self.z[ell] * psi + t0)[0]
            for ell in range(self.nsp)
        )

    def joule_heat(self, eta: FloatArray, psi: FloatArray) -> FloatArray:
        """The Joule heat density of step 2: `cell_joule` (the paper's, default) or
        `edge_joule`."""
        if self.joule_form == "edge":
            return self.edge_joule(eta, psi)
        return self.cell_joule(eta, psi)

    def heat(self, temp: FloatArray, p: FloatArray, eta: FloatArray, psi: FloatArray) -> list[Term]:
        """Step 2, (3.3) line 4, linear in T (p = P of (3.4)): C_T m(V_i)(T_i − T^n_i)/Δt
        + k Σ_σ τ_σ(T_i − T_j) − m(V_i)P_i T_i − ε m(V_i) Σ_ℓ ν^ℓ c^{ℓ,n+1}_i|û^ℓ_i|² − m(V_i) f_3
        − Σ_{σ ⊂ ∂V_i ∩ ∂Ω} m(σ) q_σ (heat flux, or h (T_a − T_i)) − Σ_σ m(σ) r_i (n η_i − T_i ΔS)
        (electrode reactions, r and η of step 1), T_i = T_b on thermostats;
        û^ℓ = −(1/ν^ℓ)[T^n ∇̃_h η^ℓ + ∇̃_h(z^ℓψ + T^n)]  (3.1)."""
        ct, k = self.params.heat_capacity, self.params.conductivity * self.tau
        t0 = self.state.T
        return [
            Storage(0, ct * temp, ct * t0, {0: np.full(temp.size, ct)}),
            EdgeFlux(0, -k * (temp[self.j] - temp[self.i]), {0: (k, -k)}),
            NodeTerm(0, -p * temp, {0: -p}),
            NodeTerm(0, -self.joule_heat(eta, psi)),
            *self.heat_source(0),
            self.boundary_heat(0, temp, {0: np.ones(temp.size)}),
            *self.reaction_heat(0, self.rates(eta, psi), temp, {0: np.ones(temp.size)}),
            Dirichlet(0, self.t_idx, temp[self.t_idx] - self.t_val),
        ]


class SchemeI(FVScheme):
    """Scheme I on a Voronoi mesh: `advance(state, dt)` → (new state, record).

    `joule`: the Joule heat of step 2 — "cell" (default), the paper's ε Σ ν c|û|² of the
    reconstructed gradients (3.1), or "edge", the dissipation ½ Σ_σ F_σ²/k_σ of step 1's own
    edge fluxes (`_Step.edge_joule`), which vanishes exactly where every edge flux does, so that
    a closed cell reaches its discrete equilibrium (the paper's û ≠ 0 there, and the cell heats
    forever); not pointwise consistent on unstructured boxes (docstring above)."""

    name = "fv1"
    JOULE_FORMS = ("edge", "cell")

    def __init__(
        self,
        problem: PNPFProblem,
        control: SolverControl | None = None,
        state: FVState | None = None,
        joule: str = "cell",
    ) -> None:
        if joule not in self.JOULE_FORMS:
            raise InputError(f"Scheme I: joule must be 'edge' or 'cell', got {joule!r}")
        super().__init__(problem, control, state)
        self.joule = joule

    @cached_property
    def _heat_assembler(self) -> Assembler:
        """The generic loop for step 2 (one block: T)."""
        return Assembler(self.problem.mesh, 1)

    def physics(self, state: FVState, dt: float) -> _Step:
        return _Step(self.problem, state, dt, self.joule)

    def advance(self, state: FVState, dt: float) -> tuple[FVState, StepRecord]:
        """The state one step of size dt after `state` (which is never modified) and its
        record; a failed solve raises SolverError."""
        start = time.perf_counter()
        physics = self.physics(state, dt)
        u, sol = self.solve_step(physics)
        eta, psi = u[:-1], u[-1]
        # step 2: m(V)P of (3.4), then the heat equation, linear in T: one Newton step from T^n
        m_p = self._heat_assembler.assemble(physics.reversible_heat_step1(eta, psi), False, dt)[0]
        p = m_p / physics.m
        res, jac = self._heat_assembler.assemble(physics.heat(state.T, p, eta, psi), True, dt)
        temp = state.T - self.linear_solve(jac, res)
        pb = self.problem
        if pb.minimum(temp) <= 0:
            ct = pb.params.heat_capacity
            bound = ct / pb.maximum(np.abs(p))
            raise SolverError(
                f"Scheme I: temperature not positive (min {pb.minimum(temp):.3e}); Theorem 3.4 "
                f"needs Δt < C_T/‖P‖∞ = {bound:.3e}, Δt = {dt:.3e} (and no heat "
                "flux drawn out through a wall)",
                reason="temperature_not_positive",
                history=sol.history,
            )
        new = FVState(t=state.t + dt, c=np.exp(eta), psi=psi.copy(), T=temp)
        return new, self.record(new, dt, sol.iterations, start, state)
