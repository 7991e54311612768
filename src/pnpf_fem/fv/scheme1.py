"""Scheme I (3.3)–(3.5): first order in time, positivity- and entropy-preserving.

One step from (c^n, ψ^n, T^n) to time t^{n+1} = t^n + Δt (Δt may change every step):

1. The coupled nonlinear (c, ψ) system, with η^ℓ = log c^{ℓ,n+1} and ψ^{n+1} as Newton unknowns
   (so c^{n+1} = e^η > 0 at every iterate). Per box V_i and species ℓ, from (3.3) lines 1–2:

       m(V_i)(e^{η_i} − c^n_i)/Δt + Σ_σ F^ℓ_{i,σ} = m(V_i) f_ℓ(x_i, t^{n+1}),
       F^ℓ_{i,σ} = −(ε/ν^ℓ) τ_σ [𝒜_σ c^{ℓ,n} D(η + z^ℓψ)_{i,σ} + D(c^{ℓ,n}(T^n − 1))_{i,σ}],

   (F is linear in the unknowns: the mobility c^n and T^n are lagged), and the Poisson line
   ε² Σ_σ τ_σ(ψ_i − ψ_j) − Σ m(σ)ψ^N = m(V_i)(Σ_ℓ z^ℓ e^{η_i} + ρ^f_i), ψ_i = ψ^D(x_i) on Γ_D.
   Zero ion flux on ∂Ω (3.5): boundary pieces carry no F.
2. The linear temperature equation (3.3) line 4 with P^{n+1} of (3.4):

       C_T m(V_i)(T_i − T^n_i)/Δt + k Σ_σ τ_σ(T_i − T_j) − m(V_i) P_i T_i
           = ε m(V_i) Σ_ℓ ν^ℓ c^{ℓ,n+1}_i |û^ℓ_i|² + m(V_i) f_3(x_i, t^{n+1}),
       m(V_i) P_i = Σ_ℓ [Σ_σ F^ℓ_{i,σ} ½(η_i + η_j) + m(V_i)(1 + η_i)(c^{ℓ,n+1}_i − c^{ℓ,n}_i)/Δt],

   û^ℓ = −(1/ν^ℓ)[T^n ∇̃_h η + ∇̃_h(z^ℓψ^{n+1} + T^n)] (3.1). The edge value ½(η_i + η_j) of
   log c is conservative, which is all Theorem 3.5 needs ((3.13), second line).

Theorem 3.4 guarantees T^{n+1} > 0 only for Δt < C_T/‖P^{n+1}‖_∞; a non-positive T raises
`SolverError(reason="temperature_not_positive")`.

Large steps: the drift part ∇_h[c^n(T^n − 1)] is explicit and the mobility c^n lagged, so once T
departs from 1 a step far beyond the charging time makes the (positive, entropy-increasing)
solution oscillate in time, and Newton may then fail (SolverError); Scheme II has no explicit
part and tolerates much larger steps (see tests/fv/test_schemes.py).
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fv.assembly import BlockCoo
from pnpf_fem.fv.mesh import VoronoiMesh
from pnpf_fem.fv.observables import observables
from pnpf_fem.fv.operators import (
    harmonic_average_with_derivatives,
    scatter_edges,
    weighted_stiffness,
)
from pnpf_fem.fv.problem import FVState
from pnpf_fem.fv.scheme_base import FVScheme
from pnpf_fem.fv.solver import newton, sparse_solve
from pnpf_fem.integrate import StepRecord

__all__ = ["SchemeI"]

FloatArray = npt.NDArray[np.float64]


def _mobility(mesh: VoronoiMesh, c: FloatArray) -> FloatArray:
    """𝒜_σ c^n; no sign check (an underflowed c = 0 gives a non-finite residual → SolverError)."""
    return harmonic_average_with_derivatives(mesh, c, check=False)[0]


class SchemeI(FVScheme):
    """Scheme I on a Voronoi mesh: `step(state, dt)` → (new state, observables)."""

    name = "fv1"

    def residual_function(self, state: FVState, dt: float):
        """The (c, ψ) step's residual closure x ↦ (R(x), J(x) or None), x = [η¹..η^M, ψ]."""
        pb, p = self.problem, self.problem.params
        mesh = pb.mesh
        n, nsp = mesh.num_vertices, p.num_species
        m = mesh.volumes
        t1 = state.t + dt
        z = np.asarray(p.valences)
        coef = p.eps / np.asarray(p.frictions)  # ε/ν^ℓ
        kc = [weighted_stiffness(mesh, _mobility(mesh, c)) for c in state.c]
        kc_triplets = [
            (k.tocoo().row.astype(np.int64), k.tocoo().col.astype(np.int64), k.tocoo().data)
            for k in kc
        ]
        pc = self._poisson.tocoo()
        poisson = (pc.row.astype(np.int64), pc.col.astype(np.int64), pc.data)
        drift = [pb.stiffness @ (c * (state.T - 1.0)) for c in state.c]  # Σ τ D(c^n(T^n−1))
        f_ion = pb.ion_source_values(t1)
        rho = pb.rho(t1)
        neu = pb.psi_neumann_flux(t1)
        d_idx = pb.dirichlet_vertices
        d_val = pb.psi_dirichlet(t1)
        eps2k = p.eps**2 * pb.stiffness
        keep = np.ones(n)
        keep[d_idx] = 0.0

        def residual(x: FloatArray, jac: bool):
            eta = x[: nsp * n].reshape(nsp, n)
            psi = x[nsp * n :]
            c = np.exp(eta)
            res = np.empty_like(x)
            for ell in range(nsp):  # loop over species (M), not over mesh entities
                r = m * (c[ell] - state.c[ell]) / dt
                r += coef[ell] * (kc[ell] @ (eta[ell] + z[ell] * psi) + drift[ell])
                if f_ion is not None:
                    r -= m * f_ion[ell]
                res[ell * n : (ell + 1) * n] = r
            rp = eps2k @ psi - neu - m * (z @ c + rho)
            rp[d_idx] = psi[d_idx] - d_val
            res[nsp * n :] = rp
            if not jac:
                return res, None
            jm = BlockCoo(mesh, nsp + 1, nsp + 1)
            for ell in range(nsp):
                rows, cols, vals = kc_triplets[ell]
                jm.add_diagonal(ell, ell, m * c[ell] / dt)
                jm.add_triplets(ell, ell, rows, cols, coef[ell] * vals)
                jm.add_triplets(ell, nsp, rows, cols, (coef[ell] * z[ell]) * vals)
                jm.add_diagonal(nsp, ell, -keep * m * z[ell] * c[ell])
            jm.add_triplets(nsp, nsp, *poisson)
            return res, jm.tocsr()

        return residual

    def advance(self, state: FVState, dt: float) -> tuple[FVState, StepRecord]:
        """The state one step of size dt after `state` (which is never modified) and its
        record; a failed solve raises SolverError."""
        if not dt > 0:
            raise InputError(f"time step must be positive, got {dt}")
        start = time.perf_counter()
        pb, p = self.problem, self.problem.params
        mesh = pb.mesh
        n, nsp = mesh.num_vertices, p.num_species
        m = mesh.volumes
        t1 = state.t + dt
        residual = self.residual_function(state, dt)
        coef = p.eps / np.asarray(p.frictions)
        z = np.asarray(p.valences)
        psi0 = state.psi.copy()
        psi0[pb.dirichlet_vertices] = pb.psi_dirichlet(t1)
        x0 = np.concatenate([np.log(state.c).ravel(), psi0])
        log_mask = np.zeros(x0.size, dtype=bool)
        log_mask[: nsp * n] = True
        scale = np.concatenate([np.tile(1.0 / m, nsp), 1.0 / m])
        scale[nsp * n + pb.dirichlet_vertices] = 1.0
        sol = newton(residual, x0, self.control, scale, log_mask)
        eta = sol.x[: nsp * n].reshape(nsp, n)
        psi = sol.x[nsp * n :]
        c = np.exp(eta)

        # temperature step (3.3) line 4, (3.4)
        i, j = mesh.edges[:, 0], mesh.edges[:, 1]
        tau = mesh.transmissibility
        gx, gy = mesh.gradient
        m_p = np.zeros(n)
        joule = np.zeros(n)
        grad_t = np.column_stack([gx @ state.T, gy @ state.T])
        grad_psi = np.column_stack([gx @ psi, gy @ psi])
        for ell in range(nsp):
            a_c = _mobility(mesh, state.c[ell])
            w = eta[ell] + z[ell] * psi
            drift_edge = state.c[ell] * (state.T - 1.0)
            flux = (
                -coef[ell] * tau * (a_c * (w[j] - w[i]) + (drift_edge[j] - drift_edge[i]))
            )  # F_{i,σ}, outward from i
            m_p += scatter_edges(mesh, flux * 0.5 * (eta[ell][i] + eta[ell][j]))
            m_p += m * (1.0 + eta[ell]) * (c[ell] - state.c[ell]) / dt
            g = (
                state.T[:, None] * np.column_stack([gx @ eta[ell], gy @ eta[ell]])
                + z[ell] * grad_psi
                + grad_t
            )
            joule += c[ell] / p.frictions[ell] * np.einsum("ik,ik->i", g, g)  # ν c |û|²
        f3 = pb.heat_source_values(t1)
        rhs = p.heat_capacity * m * state.T / dt + p.eps * m * joule
        if f3 is not None:
            rhs += m * f3
        a = sp.diags(p.heat_capacity * m / dt - m_p) + p.conductivity * pb.stiffness
        temp = sparse_solve(a, rhs, self.control)
        if np.any(temp <= 0):
            raise SolverError(
                f"Scheme I: temperature not positive (min {temp.min():.3e}); Theorem 3.4 needs "
                f"Δt < C_T/‖P‖∞ = {p.heat_capacity / np.max(np.abs(m_p / m)):.3e}, Δt = {dt:.3e}",
                reason="temperature_not_positive",
                history=sol.history,
            )
        new = FVState(t=t1, c=c, psi=psi, T=temp)
        obs = observables(pb, new, dt, sol.iterations, time.perf_counter() - start, state)
        return new, StepRecord.from_observables(obs)
