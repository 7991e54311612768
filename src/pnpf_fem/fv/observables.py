"""Per-step observables, with the names the FEM uses too.

mass_<name> = ⟨c^ℓ, 1⟩; S = S_h of (3.11) = S1 + S2 with S1 = ⟨C_T(log T + 1), 1⟩ (temperature
part) and S2 = −Σ_ℓ⟨c^ℓ, log c^ℓ⟩ (ionic part), the discrete forms of (2.4)/(2.10).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pnpf_fem.fv.problem import FVState, PNPFProblem

__all__ = ["entropy", "observables"]


def entropy(problem: PNPFProblem, state: FVState) -> tuple[float, float, float]:
    """(S, S1, S2) of (3.11)/(2.4)."""
    m = problem.mesh.volumes
    s1 = float(problem.params.heat_capacity * np.dot(m, np.log(state.T) + 1.0))
    s2 = float(-np.sum((state.c * np.log(state.c)) @ m))
    return s1 + s2, s1, s2


def observables(
    problem: PNPFProblem,
    state: FVState,
    dt: float,
    newton_iterations: int,
    wall_time: float,
) -> dict[str, Any]:
    """The per-step record: t, dt, mass_<species>, S, S1, S2, min_c, min_T,
    newton_iterations, wall_time."""
    m = problem.mesh.volumes
    out: dict[str, Any] = {"t": float(state.t), "dt": float(dt)}
    for name, c in zip(problem.params.species_names, state.c, strict=True):
        out[f"mass_{name}"] = float(np.dot(m, c))
    s, s1, s2 = entropy(problem, state)
    out.update(
        S=s,
        S1=s1,
        S2=s2,
        min_c=float(state.c.min()),
        min_T=float(state.T.min()),
        newton_iterations=int(newton_iterations),
        wall_time=float(wall_time),
    )
    return out
