"""The upscaled PNPF system with heat (docs/porous_heating.md, "The upscaled model").

For two monovalent ions c^1 (z = +1), c^2 (z = −1), the potential ψ and the temperature T on the
macroscopic domain Ω, in the units of the porous-medium solvers (ion-flux coefficient ε/ν = 1):

    p ∂_t c^ℓ − ∇·(c^ℓ Π g^ℓ) = 0,                g^ℓ = T∇η^ℓ + ∇(z^ℓψ + T),  η = log c,
    −∇·(ε⁰∇ψ) = p (c^1 − c^2),
    C̄ ∂_t T = ∇·(K∇T) + T P̄ + Q_J,               P̄ = Σ_ℓ [−∇·(c^ℓ Π g^ℓ η^ℓ) + (1 + η^ℓ) p ∂_t c^ℓ],

with the perforated-domain (tortuosity Π) closure of `pnpf_fem.porous.macroscale`, the
volume-averaged heat capacity C̄ = p C_e + (1 − p) C_s and the effective conductivity K (the ε⁰
cell problem with k_e, k_s in place of the permittivities: `effective_conductivity`). The Joule
source Q_J is

* ``"derived"``: Σ c g·Πg, the cell average of the resolved dissipation c|g_micro|²;
* ``"naive"``: Σ c |Πg|²/p, the Joule heat of the averaged flux carried uniformly by the pores
  (smaller by Π_xx/p for an isotropic Π; equal to the derived one when Π = pI).

Discretization as the FEM core's backward Euler (`pnpf_fem.fem.schemes.BackwardEulerScheme`):
unknowns (η^1, η^2, ψ, ξ = log T) in one blocked Lagrange space, every term at t^{n+1}, one SNES
solve per step; storage and charge with the vertex quadrature `dxL` (P1), the heat equation tested
with θ w, θ = e^{−ξ} (`forms.heat_residual`). Testing with v = 1 conserves the ion amounts
∫ p c^ℓ dxL to round-off under zero ion flux; for P1, testing the heat equation with w = 1 and
the convexity of c log c, concavity of log T give the discrete form of the entropy balance

    S̄ = ∫ C̄ (ξ + 1) dxL − Σ ∫ p c^ℓ η^ℓ dxL  does not decrease

in a closed (no ion flux), insulated medium, whatever the electrode potentials do (Q_J ≥ 0 for
both sources since Π is positive semidefinite).

Boundary data by facet tag: ``potential`` (Dirichlet ψ; without one ψ is pinned at a node, as in
`MacroscaleSolver`), ``temperature`` (Dirichlet T); elsewhere zero ion flux, zero displacement
and insulation. Data are `pnpf_fem.fem.problem.Value`s (numbers, callables t -> float, Fields).
``joule=False`` drops Q_J, leaving the reversible heat T P̄ (to check it separately).

Everything else — tags, Dirichlet machinery, initial ψ, `evaluate`/`box_average` (with T),
`small_signal` (the linearization of the whole (η, ψ, ξ) system) — is `MacroscaleSolver`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from pnpf_fem.compat import blocked_lagrange_space, lagrange_space
from pnpf_fem.errors import InputError
from pnpf_fem.fem import forms
from pnpf_fem.fem.problem import Value
from pnpf_fem.fem.snes import NonlinearSolver, SolverOptions
from pnpf_fem.fem.transient import TransientProblem
from pnpf_fem.homogenization.cells import PeriodicCell
from pnpf_fem.homogenization.effective import compute_effective_tensors
from pnpf_fem.model import check_data
from pnpf_fem.porous.macroscale import (
    SPECIES,
    VALENCES,
    EffectiveMedium,
    MacroscaleSolver,
    Tag,
    _check_choices,
    _coefficients,
)

__all__ = ["HEAT_SOURCES", "HeatMedium", "UpscaledPNPF", "effective_conductivity"]

HEAT_SOURCES = ("derived", "naive")
Matrix = tuple[tuple[float, ...], ...]


# -- the thermal medium ---------------------------------------------------------------------------
def _positive(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"HeatMedium.{name} must be a number, got {value!r}") from err
    if not (math.isfinite(v) and v > 0.0):
        raise InputError(f"HeatMedium.{name} must be positive and finite, got {value!r}")
    return v


def _spd(name: str, value: Any) -> Matrix:
    """`value` as a nested tuple after checking it is a symmetric positive definite 1–3D matrix."""
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise InputError(f"HeatMedium.{name} must be a square matrix of numbers") from err
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] not in (1, 2, 3):
        raise InputError(f"HeatMedium.{name} must be a 1x1, 2x2 or 3x3 matrix, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"HeatMedium.{name} has non-finite entries")
    asym = float(np.max(np.abs(a - a.T))) / (float(np.max(np.abs(a))) or 1.0)
    if asym > 1e-8:
        raise InputError(f"HeatMedium.{name} must be symmetric (relative asymmetry {asym:.2e})")
    eig = np.linalg.eigvalsh(0.5 * (a + a.T))
    if not np.all(eig > 0.0):
        raise InputError(f"HeatMedium.{name} must be positive definite (eigenvalues {eig})")
    return tuple(tuple(float(v) for v in row) for row in a)


@dataclass(frozen=True)
class HeatMedium:
    """Heat parameters of the upscaled model: the per-phase heat capacities C_e (electrolyte),
    C_s (solid), the effective conductivity K (symmetric positive definite, stored as nested
    tuples) and the porosity p ∈ (0, 1] (that of the `EffectiveMedium` it is used with)."""

    heat_capacity_electrolyte: float
    heat_capacity_solid: float
    conductivity: Matrix
    porosity: float

    def __post_init__(self) -> None:
        for name in ("heat_capacity_electrolyte", "heat_capacity_solid"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        p = _positive("porosity", self.porosity)
        if p > 1.0:
            raise InputError(f"HeatMedium.porosity must lie in (0, 1], got {self.porosity!r}")
        object.__setattr__(self, "porosity", p)
        object.__setattr__(self, "conductivity", _spd("conductivity", self.conductivity))

    @property
    def heat_capacity(self) -> float:
        """C̄ = p C_e + (1 − p) C_s, the volume-averaged heat capacity."""
        p = self.porosity
        return p * self.heat_capacity_electrolyte + (1.0 - p) * self.heat_capacity_solid

    @property
    def dim(self) -> int:
        return len(self.conductivity)

    def conductivity_array(self) -> npt.NDArray[np.float64]:
        """K as a numpy array."""
        return np.asarray(self.conductivity, dtype=float)


def effective_conductivity(cell: PeriodicCell, k_e: float, k_s: float) -> npt.NDArray[np.float64]:
    """K of the periodic `cell`: the ε⁰ cell tensor (26)_3 with the electrolyte's and the solid's
    conductivities in place of λ², α (heat crosses both phases as the displacement does).

    Per unit total cell volume: k I when k_e = k_s = k. Symmetrized (the cell solver's tensor is
    symmetric to round-off)."""
    for name, k in (("k_e", k_e), ("k_s", k_s)):
        if not (isinstance(k, (int, float)) and math.isfinite(k) and k > 0):
            raise InputError(f"effective_conductivity: {name} must be positive, got {k!r}")
    K = np.asarray(compute_effective_tensors(cell, k_e, k_s).tensors.eps_eff, dtype=float)
    return 0.5 * (K + K.T)


# -- the solver -----------------------------------------------------------------------------------
def _check_initial(initial: Mapping[str, Value]) -> dict[str, Value]:
    initial = dict(initial)
    if set(initial) - {"u1", "u2", "psi", "T"} or not {"u1", "u2"} <= set(initial):
        raise InputError(
            f"initial must give 'u1' and 'u2' (optionally 'psi', 'T'), got {sorted(initial)}"
        )
    for key, value in initial.items():
        check_data(f"initial[{key}]", value)
    initial.setdefault("T", 1.0)
    return initial


def _check_heat(heat: Any, medium: EffectiveMedium, heat_source: str) -> None:
    if not isinstance(heat, HeatMedium):
        raise InputError(f"heat must be a HeatMedium, got {type(heat).__name__}")
    if heat.dim != medium.dim:
        raise InputError(f"HeatMedium is {heat.dim}D but the EffectiveMedium is {medium.dim}D")
    if abs(heat.porosity - medium.porosity) > 1e-8:
        raise InputError(
            f"HeatMedium.porosity {heat.porosity} differs from the medium's {medium.porosity}"
        )
    if heat_source not in HEAT_SOURCES:
        raise InputError(f"heat_source must be one of {HEAT_SOURCES}, got {heat_source!r}")


class UpscaledPNPF(MacroscaleSolver):
    """Backward-Euler solver of the upscaled PNPF system on a tagged DOLFINx mesh.

    mesh, facet_tags, degree, options as `MacroscaleSolver`; medium: an `EffectiveMedium` with a
    tortuosity (the perforated closure); heat: `HeatMedium`. initial: {"u1", "u2"} and optionally
    "psi" (default: Poisson with the initial charge) and "T" (default 1). potential /
    temperature: {tag: Value}; heat_source: "derived" | "naive"; joule=False drops Q_J (T then
    changes by conduction and the reversible heat T P̄ alone). State u = (η^1, η^2, ψ, ξ);
    `step(dt)` is one implicit Euler step whose record holds `observables()`.
    """

    def __init__(
        self,
        mesh: Any,
        medium: EffectiveMedium,
        heat: HeatMedium,
        *,
        initial: Mapping[str, Value],
        facet_tags: Any = None,
        degree: int = 1,
        potential: Mapping[Tag, Value] | None = None,
        temperature: Mapping[Tag, Value] | None = None,
        heat_source: str = "derived",
        joule: bool = True,
        options: SolverOptions | None = None,
    ) -> None:
        _check_choices(medium, "perforated", degree)
        _check_heat(heat, medium, heat_source)
        if not isinstance(joule, bool):
            raise InputError(f"joule must be True or False, got {joule!r}")
        # MacroscaleSolver's set-up, with the heat data in place of sources and ion conditions
        TransientProblem.__init__(self, self._define_mesh(mesh, facet_tags), options)
        self._define_medium(medium, "perforated", degree)
        self.heat, self.heat_source, self.joule = heat, heat_source, joule
        initial = _check_initial(initial)
        self._define_boundary_data(potential, None, None, None)
        self._temperature = {self._tag(t): v for t, v in (temperature or {}).items()}
        for tag, value in self._temperature.items():
            check_data(f"temperature[{tag}]", value)
        self.f: dict[str, Any] = {}
        self._create_spaces()
        self._set_initial_state(initial)
        self._build()
        self._build_observables()

    def _create_spaces(self) -> None:
        """W = (η^1, η^2, ψ, ξ), the scalar space V, the state, measures and coefficients."""
        domain = self.domain
        self.W = blocked_lagrange_space(domain, self.degree, 4)
        self.V = lagrange_space(domain, self.degree)
        self.u = fem.Function(self.W, name="eta1_eta2_psi_xi")
        self.u_n = fem.Function(self.W, name="state_old")
        self._track_state(self.u, self.u_n)
        self.m = forms.measures(domain, self.facet_tags, self.degree)
        self.k = _coefficients(domain, self.medium)
        self.C = fem.Constant(domain, PETSc.ScalarType(self.heat.heat_capacity))
        self.K = fem.Constant(domain, PETSc.ScalarType(self.heat.conductivity_array()))
        # forms.heat_residual's scaling: keeps this block's round-off below Newton's tolerances
        # when C̄ or K is large (the nearly isothermal limit)
        K_max = float(np.max(np.abs(self.heat.conductivity_array())))
        self._heat_scale = 1.0 / max(self.heat.heat_capacity, K_max, 1.0)
        self._joule_on = fem.Constant(domain, PETSc.ScalarType(1.0 if self.joule else 0.0))

    def _set_initial_state(self, initial: Mapping[str, Value]) -> None:
        self._set_times(0.0)
        cols = self.u.x.array.reshape(-1, 4)
        for r, name in enumerate(SPECIES):
            cols[:, r] = self._interpolate_initial(initial[name], self.V, ufl.ln)
        cols[:, 3] = self._interpolate_initial(initial["T"], self.V, ufl.ln)
        if not np.all(np.isfinite(cols[:, [0, 1, 3]])):
            raise InputError("initial concentrations and temperature must be positive")
        if "psi" in initial:
            cols[:, 2] = self._interpolate_initial(initial["psi"], self.V)
        else:
            cols[:, 2] = self._solve_initial_potential(
                [cols[:, 0], cols[:, 1]], self.V, "upscaled_psi0"
            )
        self.u.x.scatter_forward()
        self._commit()

    # -- fluxes and heat sources ---------------------------------------------------------------
    def driving_force(self, r: int, state: fem.Function | None = None) -> ufl.core.expr.Expr:
        """g^r = T∇η^r + ∇(z_r ψ + T) of species r (0 or 1) at `state` (default the current)."""
        u = self.u if state is None else state
        T = ufl.exp(u[3])
        return T * ufl.grad(u[r]) + ufl.grad(VALENCES[r] * u[2] + T)

    def flux(self, r: int, transport: str | None = None, coefficients=None) -> ufl.core.expr.Expr:
        """F_r = c^r Π g^r (minus the particle flux, `MacroscaleSolver`'s sign) at the current
        state: the perforated closure with the thermal driving force (the only closure here)."""
        if transport not in (None, "perforated"):
            raise InputError(f"UpscaledPNPF has the perforated closure only, got {transport!r}")
        k = coefficients or self.k
        return ufl.exp(self.u[r]) * ufl.dot(k.Pi, self.driving_force(r))

    def particle_flux(self, r: int) -> ufl.core.expr.Expr:
        """−c^r Π g^r, the averaged particle flux of species r at the current state."""
        return -self.flux(r)

    def joule_heat(self, source: str | None = None) -> ufl.core.expr.Expr:
        """Q_J at the current state: "derived" Σ c g·Πg or "naive" Σ c |Πg|²/p (default: the
        solver's `heat_source`)."""
        source = self.heat_source if source is None else source
        if source not in HEAT_SOURCES:
            raise InputError(f"heat source must be one of {HEAT_SOURCES}, got {source!r}")
        k, q = self.k, 0
        for r in range(2):
            c, g = ufl.exp(self.u[r]), self.driving_force(r)
            Pg = ufl.dot(k.Pi, g)
            q += c * ufl.inner(g, Pg) if source == "derived" else c * ufl.inner(Pg, Pg) / k.p
        return q

    def released_joule_heat(self) -> ufl.core.expr.Expr:
        """The Q_J of the heat equation: `joule_heat()`, or 0 when the solver runs without it."""
        return self._joule_on * self.joule_heat()

    def temperature(self) -> ufl.core.expr.Expr:
        """T = e^ξ of the current state (UFL)."""
        return ufl.exp(self.u[3])

    # -- forms ---------------------------------------------------------------------------------
    def _heat(self, species: list, w) -> ufl.Form:
        """C̄ ∂_t T = ∇·(K∇T) + T P̄ + Q_J tested with θ w, θ = e^{−ξ} (the FEM core's
        `_implicit_heat` with the medium's C̄, K and storage p c)."""
        xi, T = self.u[3], self.temperature()
        return forms.heat_residual(
            T_new=T,
            T_old=ufl.exp(self.u_n[3]),
            dt=self.dt,
            theta=ufl.exp(-xi),
            grad_log_theta=-ufl.grad(xi),
            T_diff=T,
            species=species,
            joule=self.released_joule_heat(),
            heat_capacity=self.C,
            conductivity=self.K,
            w=w,
            m=self.m,
            source=None,
            scale=self._heat_scale,
        )

    def _build(self) -> None:
        u, un, k, m = self.u, self.u_n, self.k, self.m
        v = ufl.TestFunction(self.W)
        c = [ufl.exp(u[0]), ufl.exp(u[1])]
        F, species = 0, []
        for r in range(2):
            stored, stored_old = k.p * c[r], k.p * ufl.exp(un[r])
            flux = self.particle_flux(r)
            F += forms.ion_residual(stored, stored_old, self.dt, flux, v[r], m, None)
            species.append((u[r], flux, stored, stored_old))
        F += self._poisson_residual(u[2], c, v[2])
        F += self._heat(species, v[3])
        bcs = self._potential_bcs(self.W, 2)
        bcs += [
            self._dirichlet_bc(self.W, 3, self._facets(tag), value, log=True)
            for tag, value in self._temperature.items()
        ]
        self._set_times(self.t)
        self.residual = F
        self.bcs = bcs
        self.solver = NonlinearSolver(F, u, bcs, f"upscaled_pnpf_{self.heat_source}", self.options)

    # -- observables ---------------------------------------------------------------------------
    def _build_observables(self) -> None:
        super()._build_observables()
        k, dxL = self.k, self.m.dxL
        xi = self.u[3]
        mixing = sum(k.p * ufl.exp(self.u[r]) * self.u[r] for r in range(2))
        self._entropy = fem.form((self.C * (xi + 1.0) - mixing) * dxL)
        self._joule = fem.form(self.released_joule_heat() * self.m.dx)

    def observables(self) -> dict[str, float]:
        """amount_u1, amount_u2 (∫ p c^ℓ dxL), charge, min_u1, min_u2, entropy S̄, joule
        (∫ Q_J dx of the solver's source, 0 without Joule heat), min_T, max_T (nodal), t."""
        a = [self._scalar(f) for f in self._amount]
        n_owned = self.W.dofmap.index_map.size_local
        vals = self.u.x.array.reshape(-1, 4)[:n_owned]
        lows = vals.min(axis=0) if n_owned else np.full(4, np.inf)
        high = float(vals[:, 3].max()) if n_owned else -np.inf
        out: dict[str, float] = {"t": float(self.t)}
        for r, name in enumerate(SPECIES):
            out[f"amount_{name}"] = a[r]
            out[f"min_{name}"] = float(np.exp(self.comm.allreduce(float(lows[r]), op=MPI.MIN)))
        out["charge"] = a[0] - a[1]
        out["entropy"] = self._scalar(self._entropy)
        out["joule"] = self._scalar(self._joule)
        out["min_T"] = float(np.exp(self.comm.allreduce(float(lows[3]), op=MPI.MIN)))
        out["max_T"] = float(np.exp(self.comm.allreduce(high, op=MPI.MAX)))
        return out

    def _point_values(self, vals: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.float64]]:
        return super()._point_values(vals) | {"T": np.exp(vals[:, 3])}
