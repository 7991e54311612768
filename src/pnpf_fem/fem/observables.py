"""Per-step observables (names shared with the FV module), reduced correctly in parallel.

Keys: ``t``, ``dt``, ``mass_<species>`` (∫ c dx, same quadrature as the storage term), ``S``,
``S1``, ``S2`` (entropy (2.10)/(3.11) and its parts (2.4)), ``min_c``, ``min_T``,
``current_<tag>`` for each Dirichlet tag, ``newton_iterations``, ``wall_time``.

``current_<tag>`` is dQ_Γ/dt (difference quotient over the step), the displacement current into
the blocking electrode Γ, where Q_Γ = ∫_Γ ε² ∂ψ/∂n ds is the electrode charge, computed
variationally as the Poisson residual tested with the indicator χ_Γ of Γ's nodes:
Q_Γ = ∫ ε² ∇ψ·∇χ_Γ dx − ∫ (Σ z c + ρ^f) χ_Γ dxL − Σ_N ∫ ψ^N χ_Γ ds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI

from pnpf_fem.fem.forms import Measures

__all__ = ["Observables"]


class Observables:
    """Compiled functionals of the state Function `u` = (η^1..η^M, ψ, ξ) (blocked space)."""

    def __init__(
        self,
        u: fem.Function,
        species_names: Sequence[str],
        heat_capacity: float,
        charge: ufl.core.expr.Expr,
        eps: float,
        measures: Measures,
        indicators: Sequence[tuple[str, fem.Function]],
        neumann: Sequence[tuple[int, ufl.core.expr.Expr]],
    ) -> None:
        self.u = u
        self.names = tuple(species_names)
        M = len(self.names)
        self.M = M
        self.comm = u.function_space.mesh.comm
        dxL = measures.dxL
        eta = [u[i] for i in range(M)]
        psi, xi = u[M], u[M + 1]
        self._mass = [fem.form(ufl.exp(e) * dxL) for e in eta]
        self._S1 = fem.form(heat_capacity * (xi + 1.0) * dxL)
        self._S2 = fem.form(-sum(ufl.exp(e) * e for e in eta) * dxL)
        self._charge = []
        for tag, chi in indicators:
            q = eps**2 * ufl.inner(ufl.grad(psi), ufl.grad(chi)) * measures.dx
            q -= charge * chi * dxL
            for ntag, value in neumann:
                q -= value * chi * measures.ds(ntag)
            self._charge.append((tag, fem.form(q)))
        self._q_prev: dict[str, float] | None = None

    def _scalar(self, f: fem.Form) -> float:
        return float(self.comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM))

    def restart(self) -> None:
        """Take the current charges as the previous ones (the state was replaced)."""
        self._q_prev = self.charges()

    def charges(self) -> dict[str, float]:
        """Electrode charges Q_Γ of the Dirichlet tags at the current state."""
        return {tag: self._scalar(f) for tag, f in self._charge}

    def evaluate(self, t: float, dt: float, newton_iterations: int, wall_time: float) -> dict:
        """The observables of the current state; `dt` = 0 at the initial state."""
        out: dict[str, float] = {"t": float(t), "dt": float(dt)}
        for name, f in zip(self.names, self._mass, strict=True):
            out[f"mass_{name}"] = self._scalar(f)
        s1, s2 = self._scalar(self._S1), self._scalar(self._S2)
        out["S"], out["S1"], out["S2"] = s1 + s2, s1, s2
        V = self.u.function_space
        n_owned = V.dofmap.index_map.size_local
        vals = self.u.x.array.reshape(-1, self.M + 2)[:n_owned]
        local_c = float(np.exp(vals[:, : self.M].min())) if n_owned else np.inf
        local_T = float(np.exp(vals[:, self.M + 1].min())) if n_owned else np.inf
        out["min_c"] = float(self.comm.allreduce(local_c, op=MPI.MIN))
        out["min_T"] = float(self.comm.allreduce(local_T, op=MPI.MIN))
        q = self.charges()
        for tag, value in q.items():
            prev = self._q_prev.get(tag) if self._q_prev is not None else None
            out[f"current_{tag}"] = (value - prev) / dt if (prev is not None and dt > 0) else 0.0
        self._q_prev = q
        out["newton_iterations"] = int(newton_iterations)
        out["wall_time"] = float(wall_time)
        return out
