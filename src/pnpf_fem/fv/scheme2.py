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

the (ion, Poisson, heat) lines of (3.14). Mean values on edges are the harmonic averages 𝒜_σ of
§3.1 (of c_m T_m = e^{η_m + ξ_m}, c_m and T_m); the edge value of Q in P is the arithmetic mean
(conservative, as (3.16)'s proof needs). The Jacobian is exact and assembled from edge arrays.
Boundary data and sources are taken at t^{n+1/2} (ψ^D enters via ψ_m and the Poisson line at
t^{n+1}).
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from pnpf_fem.errors import InputError
from pnpf_fem.fv.assembly import BlockCoo
from pnpf_fem.fv.observables import observables
from pnpf_fem.fv.operators import harmonic_average_with_derivatives, scatter_edges
from pnpf_fem.fv.problem import FVState
from pnpf_fem.fv.scheme_base import FVScheme
from pnpf_fem.fv.solver import newton
from pnpf_fem.integrate import StepRecord

__all__ = ["SchemeII"]

FloatArray = npt.NDArray[np.float64]


class SchemeII(FVScheme):
    """Scheme II on a Voronoi mesh: `step(state, dt)` → (new state, observables)."""

    name = "fv2"

    def residual_function(self, state: FVState, dt: float):
        """The step's residual closure x ↦ (R(x), J(x) or None), x = [η¹..η^M, ψ, ξ]."""
        pb, p = self.problem, self.problem.params
        mesh = pb.mesh
        n, nsp = mesh.num_vertices, p.num_species
        m = mesh.volumes
        i, j = mesh.edges[:, 0], mesh.edges[:, 1]
        tau = mesh.transmissibility
        gx, gy = mesh.gradient
        t1, th = state.t + dt, state.t + 0.5 * dt
        z = np.asarray(p.valences, dtype=np.float64)
        nu = np.asarray(p.frictions, dtype=np.float64)
        eps, ct, kcond = p.eps, p.heat_capacity, p.conductivity
        eta0 = np.log(state.c)
        xi0 = np.log(state.T)
        psi0 = state.psi
        f_ion = pb.ion_source_values(th)
        f3 = pb.heat_source_values(th)
        rho = pb.rho(t1)
        neu = pb.psi_neumann_flux(t1)
        d_idx = pb.dirichlet_vertices
        d_val = pb.psi_dirichlet(t1)
        eps2k = eps**2 * pb.stiffness
        keep = np.ones(n)
        keep[d_idx] = 0.0
        pb_, xb = nsp, nsp + 1  # block offsets: species ℓ → ℓ, ψ → M, ξ → M + 1
        g_rows, g_cols, g_vx, g_vy = mesh.gradient_triplets
        pc = self._poisson.tocoo()
        poisson = (pc.row.astype(np.int64), pc.col.astype(np.int64), pc.data)

        def residual(x: FloatArray, jac: bool):
            eta = x[: nsp * n].reshape(nsp, n)
            psi = x[nsp * n : (nsp + 1) * n]
            xi = x[(nsp + 1) * n :]
            c1 = np.exp(eta)
            t_new = np.exp(xi)
            tm = np.exp(0.5 * (xi0 + xi))
            psim = 0.5 * (psi0 + psi)
            # R of (3.15) with s = T^n/T^{n+1}: R = (1/T)[1 + (1−s)/2 + (1−s)²/3]
            s = np.exp(xi0 - xi)
            inv_t = np.exp(-xi)
            big_r = inv_t * (1.0 + 0.5 * (1.0 - s) + (1.0 - s) ** 2 / 3.0)
            d_big_r = -big_r + inv_t * (0.5 * s + 2.0 * (1.0 - s) * s / 3.0)
            log_r = np.log(big_r)
            at, dat_i, dat_j = harmonic_average_with_derivatives(mesh, tm, check=False)
            res = np.empty_like(x)
            m_p = np.zeros(n)
            joule = np.zeros(n)
            jm = BlockCoo(mesh, nsp + 2, nsp + 2) if jac else None
            # the heat rows carry −m(V)P/R and −ε m(V) ν c_m|ǔ|²: pre-scaled row factors
            s_p = -1.0 / big_r
            s_j = -eps * m
            for ell in range(nsp):  # loop over species (M), not over mesh entities
                zl, nul = z[ell], nu[ell]
                r = np.exp(eta0[ell] - eta[ell])  # c^n / c^{n+1}
                q = eta[ell] - 0.5 * (1.0 - r) - (1.0 - r) ** 2 / 6.0  # Q of (3.15)
                dq = 1.0 - 0.5 * r - r * (1.0 - r) / 3.0
                cm = np.exp(0.5 * (eta0[ell] + eta[ell]))
                w = cm * tm
                aw, daw_i, daw_j = harmonic_average_with_derivatives(mesh, w, check=False)
                ac, dac_i, dac_j = harmonic_average_with_derivatives(mesh, cm, check=False)
                phi = zl * psim + tm
                dq_e = q[j] - q[i]
                dphi_e = phi[j] - phi[i]
                ke = -(eps / nul) * tau
                flux = ke * (aw * dq_e + ac * dphi_e)  # F_{i,σ}, outward from i
                dc = c1[ell] - state.c[ell]
                r_ion = m * dc / dt + scatter_edges(mesh, flux)
                if f_ion is not None:
                    r_ion -= m * f_ion[ell]
                res[ell * n : (ell + 1) * n] = r_ion
                qbar = 0.5 * (q[i] + q[j])
                m_p += scatter_edges(mesh, flux * qbar) + m * (1.0 + q) * dc / dt
                gqx, gqy = gx @ q, gy @ q
                gxv = tm * gqx + gx @ phi
                gyv = tm * gqy + gy @ phi
                g2 = gxv * gxv + gyv * gyv
                joule += cm / nul * g2  # ν c_m |ǔ|²
                if not jac:
                    continue
                # ion flux F: derivatives w.r.t. η_ℓ, ψ, ξ at both edge ends
                dfa_i = ke * (daw_i * 0.5 * w[i] * dq_e - aw * dq[i] + dac_i * 0.5 * cm[i] * dphi_e)
                dfa_j = ke * (daw_j * 0.5 * w[j] * dq_e + aw * dq[j] + dac_j * 0.5 * cm[j] * dphi_e)
                dfp_i = ke * ac * (-0.5 * zl)
                dfp_j = ke * ac * (0.5 * zl)
                dfx_i = ke * (daw_i * 0.5 * w[i] * dq_e - ac * 0.5 * tm[i])
                dfx_j = ke * (daw_j * 0.5 * w[j] * dq_e + ac * 0.5 * tm[j])
                jm.add_diagonal(ell, ell, m * c1[ell] / dt)
                jm.add_edge_flux(ell, ell, dfa_i, dfa_j)
                jm.add_edge_flux(ell, pb_, dfp_i, dfp_j)
                jm.add_edge_flux(ell, xb, dfx_i, dfx_j)
                # m(V)P: edge part F·Q̄ and vertex part m(1+Q)(c1 − c0)/Δt, rows × (−1/R)
                jm.add_edge_flux(
                    xb,
                    ell,
                    dfa_i * qbar + 0.5 * flux * dq[i],
                    dfa_j * qbar + 0.5 * flux * dq[j],
                    s_p,
                )
                jm.add_edge_flux(xb, pb_, dfp_i * qbar, dfp_j * qbar, s_p)
                jm.add_edge_flux(xb, xb, dfx_i * qbar, dfx_j * qbar, s_p)
                jm.add_diagonal(xb, ell, m * (dq * dc + (1.0 + q) * c1[ell]) / dt, s_p)
                # Joule c_m|g|²/ν with g = T_m ∇̃Q + ∇̃(zψ_m + T_m), rows × (−ε m)
                mg = cm[g_rows] * (gxv[g_rows] * g_vx + gyv[g_rows] * g_vy)  # diag(c_m g)·∇̃
                jm.add_triplets(
                    xb, ell, g_rows, g_cols, (2.0 / nul) * tm[g_rows] * mg * dq[g_cols], s_j
                )
                jm.add_diagonal(xb, ell, 0.5 * cm * g2 / nul, s_j)
                jm.add_triplets(xb, pb_, g_rows, g_cols, (zl / nul) * mg, s_j)
                jm.add_triplets(xb, xb, g_rows, g_cols, (1.0 / nul) * mg * tm[g_cols], s_j)
                jm.add_diagonal(xb, xb, cm * tm * (gxv * gqx + gyv * gqy) / nul, s_j)
            # Poisson (3.14) line 3 at t^{n+1}
            rp = eps2k @ psi - neu - m * (z @ c1 + rho)
            rp[d_idx] = psi[d_idx] - d_val
            res[nsp * n : (nsp + 1) * n] = rp
            # heat (3.14) line 4
            heat_flux = kcond * tau * at * (log_r[j] - log_r[i])
            r_heat = ct * m * (t_new - state.T) / dt + scatter_edges(mesh, heat_flux)
            r_heat -= m_p / big_r + eps * m * joule
            if f3 is not None:
                r_heat -= m * f3
            res[(nsp + 1) * n :] = r_heat
            if not jac:
                return res, None
            for ell in range(nsp):
                jm.add_diagonal(pb_, ell, -keep * m * z[ell] * np.exp(eta[ell]))
            jm.add_triplets(pb_, pb_, *poisson)
            dlr = d_big_r / big_r
            jm.add_diagonal(xb, xb, ct * m * t_new / dt + m_p * d_big_r / big_r**2)
            jm.add_edge_flux(
                xb,
                xb,
                kcond * tau * (dat_i * 0.5 * tm[i] * (log_r[j] - log_r[i]) - at * dlr[i]),
                kcond * tau * (dat_j * 0.5 * tm[j] * (log_r[j] - log_r[i]) + at * dlr[j]),
            )
            return res, jm.tocsr()

        return residual

    def advance(self, state: FVState, dt: float) -> tuple[FVState, StepRecord]:
        """The state one step of size dt after `state` (which is never modified) and its
        record; a failed solve raises SolverError."""
        if not dt > 0:
            raise InputError(f"time step must be positive, got {dt}")
        start = time.perf_counter()
        pb = self.problem
        n, nsp = pb.mesh.num_vertices, pb.params.num_species
        m = pb.mesh.volumes
        residual = self.residual_function(state, dt)
        psi0 = state.psi.copy()
        psi0[pb.dirichlet_vertices] = pb.psi_dirichlet(state.t + dt)
        x0 = np.concatenate([np.log(state.c).ravel(), psi0, np.log(state.T)])
        log_mask = np.ones(x0.size, dtype=bool)
        log_mask[nsp * n : (nsp + 1) * n] = False
        scale = np.tile(1.0 / m, nsp + 2)
        scale[nsp * n + pb.dirichlet_vertices] = 1.0
        sol = newton(residual, x0, self.control, scale, log_mask)
        new = FVState(
            t=state.t + dt,
            c=np.exp(sol.x[: nsp * n].reshape(nsp, n)),
            psi=sol.x[nsp * n : (nsp + 1) * n].copy(),
            T=np.exp(sol.x[(nsp + 1) * n :]),
        )
        obs = observables(pb, new, dt, sol.iterations, time.perf_counter() - start, state)
        return new, StepRecord.from_observables(obs)
