"""Derived quantities of the FEM state, each a small object with `names` and `compute(dt)`.

The state is the blocked Function ``u = (η^1..η^M, ψ, ξ)``; every quantity compiles its forms
once and reduces over all ranks. The names are the ones the FV module uses
(`pnpf_fem.fv.quantities`), so FEM and FV runs write the same columns:

* ``mass_<species>`` ∫ c dx with the storage quadrature `dxL` (conserved to round-off);
* ``S``, ``S1``, ``S2`` the entropy (2.10)/(3.11) and its parts (2.4);
* ``min_c``, ``min_T``, ``max_dT`` nodal extremes (``max_dT`` = max T − 1, in units of T0);
* ``charge_<tag>`` the charge Q_Γ = ∫_Γ ε² ∂ψ/∂n ds on each Dirichlet (electrode) tag, taken
  variationally as the Poisson residual tested with the indicator χ_Γ of the tag's nodes,
  Q_Γ = ∫ ε² ∇ψ·∇χ_Γ dx − ∫ (Σ z c + ρ^f) χ_Γ dxL − Σ_N ∫ ψ^N χ_Γ ds — the discrete Gauss law
  makes Σ_Γ Q_Γ equal minus the ionic, fixed and surface charge (when no node lies on two
  electrodes);
* ``current_<tag>`` dQ_Γ/dt over the last step (the displacement current into the electrode);
* ``joule`` the Joule (frictional) heating rate ε Σ_ℓ ∫ ν^ℓ c^ℓ |u^ℓ|² dx of (2.8);
* ``faradaic_<tag>`` the anodic Faradaic current ∫_Γ n r ds of the reactions on each tag, and
  ``reaction_entropy`` the entropy the reactions carry out, Σ ∫_Γ r (ΔS + s log c_ref) ds, so
  that dS/dt + reaction_entropy is the entropy production (≥ 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI

from pnpf_fem.fem.forms import Measures, joule_heat
from pnpf_fem.units import DimensionlessPNPF

__all__ = [
    "ElectrodeCharges",
    "Entropy",
    "Extremes",
    "FaradaicCurrents",
    "JouleHeat",
    "Masses",
    "Quantity",
    "faradaic_currents",
    "gauss_charge",
]

Expr = ufl.core.expr.Expr


class Quantity:
    """A derived quantity: the column `names` it fills and `compute(dt)` at the current state."""

    names: tuple[str, ...] = ()

    def __init__(self, u: fem.Function) -> None:
        self.u = u
        self.comm = u.function_space.mesh.comm
        self.M = u.function_space.dofmap.index_map_bs - 2

    def _sum(self, form: fem.Form) -> float:
        return float(self.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM))

    def compute(self, dt: float) -> dict[str, float]:
        raise NotImplementedError


class Masses(Quantity):
    """mass_<species> = ∫ c dxL."""

    def __init__(self, u: fem.Function, species: Sequence[str], m: Measures) -> None:
        super().__init__(u)
        self.names = tuple(f"mass_{n}" for n in species)
        self._forms = [fem.form(ufl.exp(u[i]) * m.dxL) for i in range(self.M)]

    def compute(self, dt: float) -> dict[str, float]:
        return {n: self._sum(f) for n, f in zip(self.names, self._forms, strict=True)}


class Entropy(Quantity):
    """S = S1 + S2 with S1 = C_T ∫ (ξ + 1) dxL, S2 = −Σ ∫ c η dxL."""

    names = ("S", "S1", "S2")

    def __init__(self, u: fem.Function, heat_capacity: float, m: Measures) -> None:
        super().__init__(u)
        M = self.M
        self._s1 = fem.form(heat_capacity * (u[M + 1] + 1.0) * m.dxL)
        self._s2 = fem.form(-sum(ufl.exp(u[i]) * u[i] for i in range(M)) * m.dxL)

    def compute(self, dt: float) -> dict[str, float]:
        s1, s2 = self._sum(self._s1), self._sum(self._s2)
        return {"S": s1 + s2, "S1": s1, "S2": s2}


class Extremes(Quantity):
    """min_c, min_T and max_dT over the owned nodes of all ranks."""

    names = ("min_c", "min_T", "max_dT")

    def compute(self, dt: float) -> dict[str, float]:
        n_owned = self.u.function_space.dofmap.index_map.size_local
        vals = self.u.x.array.reshape(-1, self.M + 2)[:n_owned]
        eta, xi = vals[:, : self.M], vals[:, self.M + 1]
        local = (eta.min(), xi.min(), -xi.max()) if n_owned else (np.inf, np.inf, np.inf)
        lo = [float(self.comm.allreduce(float(v), op=MPI.MIN)) for v in local]
        return {"min_c": float(np.exp(lo[0])), "min_T": float(np.exp(lo[1]))} | {
            "max_dT": float(np.exp(-lo[2]) - 1.0)
        }


def gauss_charge(
    psi: Expr,
    charge: Expr,
    eps: float,
    m: Measures,
    chi: fem.Function,
    neumann: Sequence[tuple[int, Expr]],
) -> ufl.Form:
    """Q_Γ of a Dirichlet electrode by Gauss's law tested with the indicator χ of its nodes:
    ∫ ε² ∇ψ·∇χ dx − ∫ (Σ z c + ρ^f) χ dxL − Σ_N ∫ ψ^N χ ds (exact for the discrete solution)."""
    q = eps**2 * ufl.inner(ufl.grad(psi), ufl.grad(chi)) * m.dx - charge * chi * m.dxL
    for ntag, value in neumann:
        q -= value * chi * m.ds(ntag)
    return q


class ElectrodeCharges(Quantity):
    """charge_<tag> = ∫ ε² ∂ψ/∂n ds and current_<tag> = dQ/dt over the last step, per electrode.

    `charges` holds (tag, Q_Γ as a UFL functional of the state): on a Dirichlet electrode
    `gauss_charge`, behind a Stern layer the Robin flux (ε²/λ_S)(V − ψ) ds itself."""

    def __init__(self, u: fem.Function, charges: Sequence[tuple[str, ufl.Form]]) -> None:
        super().__init__(u)
        self._forms = [(tag, fem.form(q)) for tag, q in charges]
        self.names = tuple(
            f"{kind}_{tag}" for tag, _ in self._forms for kind in ("charge", "current")
        )
        self._previous: dict[str, float] | None = None

    def charges(self) -> dict[str, float]:
        """Q_Γ of every electrode tag at the current state."""
        return {tag: self._sum(f) for tag, f in self._forms}

    def restart(self) -> None:
        """Take the current charges as the previous ones (the state was replaced)."""
        self._previous = self.charges()

    def compute(self, dt: float) -> dict[str, float]:
        q = self.charges()
        out = {}
        for tag, value in q.items():
            prev = self._previous.get(tag) if self._previous is not None else None
            out[f"charge_{tag}"] = value
            out[f"current_{tag}"] = (value - prev) / dt if (prev is not None and dt > 0) else 0.0
        self._previous = q
        return out


class JouleHeat(Quantity):
    """joule = ε Σ_ℓ ∫ ν^ℓ c^ℓ |u^ℓ|² dx at the current state."""

    names = ("joule",)

    def __init__(self, u: fem.Function, model: DimensionlessPNPF, m: Measures) -> None:
        super().__init__(u)
        M = self.M
        psi, T = u[M], ufl.exp(u[M + 1])
        heat = sum(
            joule_heat(ufl.exp(u[i]), T, u[i], psi, z, nu, model.eps)
            for i, (z, nu) in enumerate(zip(model.valences, model.frictions, strict=True))
        )
        self._form = fem.form(heat * m.dx)

    def compute(self, dt: float) -> dict[str, float]:
        return {"joule": self._sum(self._form)}


def faradaic_currents(
    m: Measures, rates: Sequence[tuple[str, int, Expr, Expr]]
) -> dict[str, ufl.Form]:
    """Tag name → ∫_Γ n r ds summed over its reactions (`rates` as in `FaradaicCurrents`)."""
    tags = dict.fromkeys(name for name, *_ in rates)
    return {t: sum(j * m.ds(i) for name, i, j, _ in rates if name == t) for t in tags}


class FaradaicCurrents(Quantity):
    """faradaic_<tag> = ∫_Γ n r ds per reacting tag and reaction_entropy = Σ ∫_Γ r (ΔS +
    s log c_ref) ds at the current state; `rates` holds (tag name, tag id, n r, r (ΔS + s log
    c_ref)) per reaction."""

    def __init__(
        self, u: fem.Function, m: Measures, rates: Sequence[tuple[str, int, Expr, Expr]]
    ) -> None:
        super().__init__(u)
        self._current = {t: fem.form(f) for t, f in faradaic_currents(m, rates).items()}
        self._entropy = fem.form(sum(e * m.ds(i) for _, i, _, e in rates))
        self.names = (*(f"faradaic_{t}" for t in self._current), "reaction_entropy")

    def compute(self, dt: float) -> dict[str, float]:
        out = {f"faradaic_{t}": self._sum(f) for t, f in self._current.items()}
        return out | {"reaction_entropy": self._sum(self._entropy)}
