"""Derived quantities of an FV state, with the names the FEM uses (`pnpf_fem.fem.quantities`).

* ``mass_<species>`` = ⟨c^ℓ, 1⟩ = Σ m(V_i) c^ℓ_i (conserved to round-off by both schemes in a
  closed cell; with reservoirs or reactions (`PNPFProblem.closed` false) ions cross the reservoir
  and reacting tags and the masses change by that exchange);
* ``S``, ``S1``, ``S2``: S_h of (3.11) = S1 + S2, S1 = ⟨C_T(log T + 1), 1⟩, S2 = −Σ_ℓ⟨c^ℓ, log c^ℓ⟩
  (non-decreasing in an insulated closed cell; heat or ions crossing the boundary carry entropy);
* ``min_c``, ``min_T``, ``max_dT`` (= max T − 1) over the vertices;
* ``charge_<tag>``: the charge Q_Γ on each Dirichlet (electrode) tag by the discrete Gauss law,
  the Poisson balance of the boxes of Γ's vertices,
  Q_Γ = Σ_{i ∈ Γ} [ε² Σ_σ τ_σ (ψ_i − ψ_j) − m(σ∩Γ_N) ψ^N − m(V_i)(Σ z c_i + ρ^f_i)],
  which is ∫_Γ ε² ∂ψ/∂n ds of the boxes (the boundary flux subtracted includes the Stern flux of
  a corner box); on an electrode behind a Stern layer it is the Robin flux
  Q_Γ = Σ_{σ ⊂ Γ} m(σ) (ε²/λ_S)(V_σ − ψ_i), as in the FEM. Σ_Γ Q_Γ is minus the total charge in
  the domain and on Γ_N (when no vertex lies on two electrodes);
* ``current_<tag>`` = (Q_Γ(t^{n+1}) − Q_Γ(t^n))/Δt, the displacement current into the electrode;
* ``joule`` = ε Σ_i m(V_i) Σ_ℓ c^ℓ_i/ν^ℓ |T_i ∇̃η^ℓ + z^ℓ ∇̃ψ + ∇̃T|²_i with the reconstructed
  cell gradient ∇̃_h of (3.1) — the Joule heating rate ε Σ ν c |u|² of (2.8);
* with electrode reactions, ``faradaic_<tag>`` = Σ_{σ ⊂ Γ} m(σ) n r_i, the anodic Faradaic
  current of the tag's reactions, and ``reaction_entropy`` = Σ_rx Σ_σ m(σ) r_i (ΔS + s log c_ref),
  the entropy the reactions carry into the electrodes (dS/dt + reaction_entropy ≥ 0), with r at
  the state's own values (c, ψ, T and V at its time), as the FEM reports them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pnpf_fem.fv.problem import FVState, PNPFProblem

__all__ = ["electrode_charges", "entropy", "faradaic_currents", "joule_heat", "observables"]


def entropy(problem: PNPFProblem, state: FVState) -> tuple[float, float, float]:
    """(S, S1, S2) of (3.11)/(2.4)."""
    m = problem.mesh.volumes
    s1 = problem.params.heat_capacity * problem.total(m * (np.log(state.T) + 1.0))
    s2 = -problem.total(np.sum(state.c * np.log(state.c), axis=0) * m)
    return s1 + s2, s1, s2


def electrode_charges(problem: PNPFProblem, state: FVState) -> dict[str, float]:
    """Q_Γ of every Dirichlet tag at `state` (the Poisson balance of its vertices' boxes),
    then of every Stern electrode (the Robin flux)."""
    p, mesh = problem.params, problem.mesh
    charge = np.tensordot(np.asarray(p.valences), state.c, axes=1)
    balance = p.eps**2 * (problem.stiffness @ state.psi)
    balance -= problem.psi_boundary_flux(state.t, state.psi)
    balance -= mesh.volumes * (charge + problem.rho(state.t))
    out = {}
    for tag in problem.dirichlet:
        on_tag = np.zeros(mesh.num_vertices)
        on_tag[mesh.vertices_of(tag)] = 1.0
        out[tag] = problem.total(on_tag * balance)
    return out | problem.stern_charges(state.t, state.psi)


def faradaic_currents(problem: PNPFProblem, state: FVState) -> dict[str, float]:
    """faradaic_<tag> (Σ_σ m(σ) n r_i per reacting tag) and reaction_entropy
    (Σ m(σ) r_i (ΔS + s log c_ref)) at `state`; empty without reactions."""
    if not problem.reactions:
        return {}
    out: dict[str, float] = {}
    carried = 0.0
    log_c = np.log(state.c)
    for k, rx in enumerate(problem.reactions):
        idx, area, V = problem.reaction_vertices(k, state.t)
        r = rx.rate(log_c[rx.species][idx], state.psi[idx], state.T[idx], V)[0]
        per_box = np.zeros(state.psi.size)
        per_box[idx] = area * r
        key = f"faradaic_{rx.tag}"
        out[key] = out.get(key, 0.0) + rx.electrons * problem.total(per_box)
        exchange = rx.entropy + rx.stoichiometry * rx.log_reference
        carried += exchange * problem.total(per_box)
    return out | {"reaction_entropy": carried}


def joule_heat(problem: PNPFProblem, state: FVState) -> float:
    """ε Σ_i m(V_i) Σ_ℓ c^ℓ_i/ν^ℓ |T_i ∇̃η^ℓ + z^ℓ ∇̃ψ + ∇̃T|²_i."""
    p, mesh = problem.params, problem.mesh
    grad_psi = np.column_stack([gk @ state.psi for gk in mesh.gradient])
    grad_t = np.column_stack([gk @ state.T for gk in mesh.gradient])
    heat = np.zeros(mesh.num_vertices)
    for c, z, nu in zip(state.c, p.valences, p.frictions, strict=True):
        eta = np.log(c)
        g = state.T[:, None] * np.column_stack([gk @ eta for gk in mesh.gradient])
        g = g + z * grad_psi + grad_t
        heat += c / nu * np.einsum("ik,ik->i", g, g)
    return p.eps * problem.total(mesh.volumes * heat)


def observables(
    problem: PNPFProblem,
    state: FVState,
    dt: float,
    newton_iterations: int,
    wall_time: float,
    previous: FVState | None = None,
) -> dict[str, Any]:
    """The per-step record: t, dt, the quantities above, newton_iterations, wall_time.

    The currents need the state before the step (`previous`); without it they are 0.
    """
    m = problem.mesh.volumes
    out: dict[str, Any] = {"t": float(state.t), "dt": float(dt)}
    for name, c in zip(problem.params.species_names, state.c, strict=True):
        out[f"mass_{name}"] = problem.total(m * c)
    s, s1, s2 = entropy(problem, state)
    out.update(S=s, S1=s1, S2=s2)
    out.update(min_c=problem.minimum(state.c), min_T=problem.minimum(state.T))
    out["max_dT"] = problem.maximum(state.T) - 1.0
    charges = electrode_charges(problem, state)
    before = electrode_charges(problem, previous) if previous is not None and dt > 0 else None
    for tag, q in charges.items():
        out[f"charge_{tag}"] = q
        out[f"current_{tag}"] = (q - before[tag]) / dt if before is not None else 0.0
    out["joule"] = joule_heat(problem, state)
    out.update(faradaic_currents(problem, state))
    out.update(newton_iterations=int(newton_iterations), wall_time=float(wall_time))
    return out
