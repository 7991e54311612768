"""Pore-resolved PNPF on a periodic array: ions in the electrolyte, ψ and T = e^ξ everywhere.

The pore-resolved model of docs/porous_heating.md (units: time L²ν/(k_BT₀), so ε/ν = 1), in
Ω = (0, 1) × (0, rows·s) with electrolyte Ω^s and solid B^s:

    ∂t c^ℓ − ∇·(c^ℓ g^ℓ) = 0                       in Ω^s,  g^ℓ = T∇η^ℓ + ∇(z^ℓψ + T),
    −∇·(κ∇ψ) = Σ z^ℓ c^ℓ χ_{Ω^s}                   in Ω,    κ = λ² in Ω^s, α in B^s,
    C ∂t T = ∇·(k∇T) + χ_{Ω^s} [T P + Σ c^ℓ|g^ℓ|²]   in Ω,    P = Σ [−∇·(c g η) + (1 + η) ∂t c],

C, k = C_e, k_e in Ω^s and C_s, k_s in B^s (DG0 fields); zero ion flux on the interface, T and
k∂nT continuous across it (natural). With T ≡ 1 it is `ResolvedPNP` exactly.

Discretisation: `ResolvedPNP`'s (η = log c on the electrolyte submesh, ψ on the parent mesh,
implicit Euler, one block Newton per step), with ξ = log T (P1, parent mesh) as a third block.
The heat equation is the FEM core's backward-Euler one (`Scheme._implicit_heat`): tested with θw,
θ = e^{−ξ}, written as `forms.heat_residual` over the electrolyte cells (species terms, Joule
heat) plus `forms.heat_residual` over the solid cells (conduction and storage only), both divided
by one `scale` = 1/max(C_e, C_s, k_e, k_s, 1) so that the two halves stay one equation. Every
term uses one vertex rule restricted to the phase (FFCx cannot compile mixed-domain kernels with
two rules; see `pnpf_fem.porous.microscale`), so the FEM core's discrete entropy argument holds
vertex by vertex: with w = 1 (a closed, insulated array: no `temperature_bcs`) the heat residual
and the convexity of c log c and of −log T give S^{n+1} − S^n ≥ Δt [∫ k|∇ξ|² + ∫ Σ c|g|²/T] ≥ 0
for S = ∫_Ω C (ξ + 1) dxL − Σ ∫_{Ω^s} c η dxL, whatever the potentials do; the lumped ion totals
are conserved to round-off. At ion reservoirs (`ion_bcs`) P gets the FEM core's consistent
boundary term (`Scheme._reservoir_flux`), without which it holds a spurious source T μ_b j.

`cell_averages` adds ⟨T⟩ over the whole periodic cell (both phases) to `ResolvedPNP`'s averages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import ufl
from dolfinx import fem, la
from dolfinx import mesh as dmesh
from mpi4py import MPI

from pnpf_fem.compat import lagrange_space
from pnpf_fem.errors import InputError
from pnpf_fem.fem import forms
from pnpf_fem.fem.block_snes import BlockNonlinearSolver, BlockSNESProblem
from pnpf_fem.fem.impedance import SmallSignal
from pnpf_fem.fem.snes import SolverOptions
from pnpf_fem.fem.transient import TransientProblem
from pnpf_fem.integrate import StepRecord
from pnpf_fem.porous.arrays import ELECTROLYTE_TAG, SOLID_TAG, PeriodicArray
from pnpf_fem.porous.microscale import (
    CHARGES,
    VERTEX_RULE,
    CellAverages,
    Initial,
    ResolvedPNP,
    _check_facet_names,
    _check_positive,
    _Timing,
)

__all__ = ["ResolvedPNPF", "ThermalCellAverages"]

Potential = float | Callable[[float], float]


@dataclass(frozen=True)
class ThermalCellAverages(CellAverages):
    """`CellAverages` and T averaged over the whole periodic cell (both phases), shape
    (columns, rows) indexed [i, j]."""

    T: npt.NDArray[np.float64]


def _phase_pair(name: str, value: tuple[float, float]) -> tuple[float, float]:
    """(electrolyte, solid) values of a heat parameter, both positive."""
    try:
        electrolyte, solid = value
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair (electrolyte, solid), got {value!r}") from None
    return _check_positive(f"{name}[0]", electrolyte), _check_positive(f"{name}[1]", solid)


def _finite(name: str, value: object) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise InputError(f"{name} must be a finite number or a function of t, got {value!r}")
    return number


class ResolvedPNPF(ResolvedPNP):
    """Pore-resolved PNPF (docs/porous_heating.md) on a `PeriodicArray`, implicit Euler, one
    block Newton for (η, ψ, ξ) per step.

    Parameters (keywords; as `ResolvedPNP` unless stated)
    ----------
    heat_capacity: (C_e, C_s), the heat capacities of electrolyte and solid.
    conductivity: (k_e, k_s), their thermal conductivities.
    potential_bcs: {facet name: ψ, a number or a callable t -> float (taken at t^{n+1})}.
    temperature_bcs: {facet name: T > 0} (thermostats); other facets are insulated.
    initial_temperature: T at t = 0, a positive number or a callable x ↦ values.
    joule: False drops the Joule heat Σ c|g|² from the heat equation (the reversible heat T P
        alone raises T); the `joule` observable still reports the dissipation.

    `step(dt)` is one implicit Euler step; on `SolverError` the state (η, ξ), the time and
    `timing` are unchanged. `observables()` are those of the current state.
    """

    def __init__(
        self,
        array: PeriodicArray,
        *,
        lambda_sq: float = 0.1,
        alpha: float = 0.01,
        heat_capacity: tuple[float, float] = (1.0, 1.0),
        conductivity: tuple[float, float] = (1.0, 1.0),
        potential_bcs: Mapping[str, Potential] | None = None,
        temperature_bcs: Mapping[str, float] | None = None,
        ion_bcs: Mapping[str, float | tuple[float, float]] | None = None,
        initial_densities: tuple[Initial, Initial] = (1.0, 1.0),
        initial_temperature: Initial = 1.0,
        initial_potential: Initial = 0.0,
        joule: bool = True,
        solver_options: SolverOptions | None = None,
        name: str = "micro_heat",
    ) -> None:
        self.array = array
        self.lambda_sq = _check_positive("lambda_sq", lambda_sq)
        self.alpha = _check_positive("alpha", alpha)
        self.heat_capacity = _phase_pair("heat_capacity", heat_capacity)
        self.conductivity = _phase_pair("conductivity", conductivity)
        self.joule = bool(joule)
        potential_bcs, ion_bcs = dict(potential_bcs or {}), dict(ion_bcs or {})
        temperature_bcs = dict(temperature_bcs or {})
        _check_facet_names(
            array, potential_bcs=potential_bcs, ion_bcs=ion_bcs, temperature_bcs=temperature_bcs
        )
        # ResolvedPNP's set-up steps in its order, with the temperature's in between (its
        # constructor has no place for a third field and its boundary conditions).
        TransientProblem.__init__(self, array.mesh, solver_options)
        self.mesh = array.mesh
        self._define_submesh()
        self._create_spaces()
        self._set_initial_temperature(initial_temperature)
        self._set_initial(initial_densities, initial_potential)
        self._create_connectivities()
        self.potential_values: dict[str, fem.Constant] = {}
        self.ion_values: dict[str, tuple[fem.Constant, fem.Constant]] = {}
        self.bcs = [
            *self._create_potential_bcs(potential_bcs),
            *self._create_ion_bcs(ion_bcs),
            *self._create_temperature_bcs(temperature_bcs),
        ]
        self._define_forms()
        self._create_solver(name)
        self._define_observables()
        self.timing = _Timing()

    # ------------------------------------------------------------------ set-up steps
    def _create_spaces(self) -> None:
        """ResolvedPNP's spaces, ξ = log T on Ω (a state) and the DG0 fields C and k.

        ξ gets its own P1 space, not ψ's `V`: the block assembler applies a Dirichlet condition
        to every block whose space is the condition's, so a shared space would impose the
        potentials on ξ as well."""
        super()._create_spaces()
        self.V_T = lagrange_space(self.mesh, 1)
        self.xi = fem.Function(self.V_T, name="xi")
        self.xi_old = fem.Function(self.V_T, name="xi_old")
        self._track_state(self.xi, self.xi_old)
        self.C = self._phase_field("heat_capacity", self.heat_capacity)
        self.k = self._phase_field("conductivity", self.conductivity)

    def _phase_field(self, name: str, values: tuple[float, float]) -> fem.Function:
        field = fem.Function(fem.functionspace(self.mesh, ("DG", 0)), name=name)
        field.x.array[:] = np.where(self._cell_tag == ELECTROLYTE_TAG, *values)
        field.x.scatter_forward()
        return field

    def _set_initial_temperature(self, value: Initial) -> None:
        """ξ = log T at t = 0 (committed with the densities by `_set_initial`)."""
        if callable(value):
            f = value
            self.xi.interpolate(lambda x: np.log(np.asarray(f(x), dtype=float)))
        else:
            self.xi.x.array[:] = math.log(_check_positive("initial_temperature", value))
        self.xi.x.scatter_forward()
        if not np.all(np.isfinite(self.xi.x.array)):
            raise InputError("initial_temperature must be positive")

    def _create_potential_bcs(self, values: Mapping[str, Potential]) -> list[fem.DirichletBC]:
        """ψ = value(t^{n+1}) on the named facets: a Constant in `potential_values`, which
        `_set_times` refreshes when the value is a callable of t (`TransientProblem._bind`)."""
        fdim = self.mesh.topology.dim - 1
        bcs = []
        for key, value in values.items():
            c = self._bind(value if callable(value) else _finite(f"potential_bcs[{key!r}]", value))
            if not isinstance(c, fem.Constant):  # a Field (space-dependent) is no electrode
                raise InputError(f"potential_bcs[{key!r}] must be a number or a function of t")
            facets = self.array.facet_tags.find(self.array.facet_names[key])
            self.potential_values[key] = c
            bcs.append(
                fem.dirichletbc(c, fem.locate_dofs_topological(self.V, fdim, facets), self.V)
            )
        return bcs

    def _create_temperature_bcs(self, values: Mapping[str, float]) -> list[fem.DirichletBC]:
        """ξ = log T on the named facets (thermostats)."""
        bcs = []
        for key, value in values.items():
            T = _check_positive(f"temperature_bcs[{key!r}]", value)
            facets = self.array.facet_tags.find(self.array.facet_names[key])
            bcs.append(self._dirichlet_bc(self.V_T, None, facets, T, log=True))
        return bcs

    def _define_forms(self) -> None:
        """Poisson as ResolvedPNP; the ion residual with the thermal flux −c g in place of its
        isothermal one; the heat residual of both phases (module docstring)."""
        super()._define_forms()
        dxL = self._dxL
        ds = ufl.Measure("ds", domain=self.mesh, subdomain_data=self.array.facet_tags)
        m_e = forms.Measures(dxL(ELECTROLYTE_TAG), dxL(ELECTROLYTE_TAG), ds)
        m_s = forms.Measures(dxL(SOLID_TAG), dxL(SOLID_TAG), ds)
        v = ufl.TestFunction(self.Q)
        T, psi = ufl.exp(self.xi), self.psi
        F_ions, species, joule = 0, [], 0
        for k, z in enumerate(CHARGES):
            eta, c, c_old = self.eta[k], ufl.exp(self.eta[k]), ufl.exp(self.eta_old[k])
            flux = forms.ion_flux(c, T, eta, psi, z, 1.0, 1.0)  # −c g (ε/ν = 1)
            F_ions += forms.ion_residual(c, c_old, self.dt, flux, v[k], m_e, None)
            species.append((eta, flux, c, c_old))
            joule += forms.joule_heat(c, T, eta, psi, z, 1.0, 1.0)
        self.F_ions, self.joule_density = F_ions, joule
        self.F_heat = self._heat_residual(species, m_e, m_s)

    def _heat_residual(self, species: list, m_e: forms.Measures, m_s: forms.Measures) -> ufl.Form:
        """`forms.heat_residual` (backward Euler, θ = e^{−ξ}) over the electrolyte with the
        species' P and the Joule heat, plus over the solid with neither, one scale for both."""
        w = ufl.TestFunction(self.V_T)
        T = ufl.exp(self.xi)
        common = {
            "T_new": T,
            "T_old": ufl.exp(self.xi_old),
            "dt": self.dt,
            "theta": ufl.exp(-self.xi),
            "grad_log_theta": -ufl.grad(self.xi),
            "T_diff": T,
            "heat_capacity": self.C,
            "conductivity": self.k,
            "w": w,
            "source": None,
            "scale": 1.0 / max(*self.heat_capacity, *self.conductivity, 1.0),
        }
        electrolyte = forms.heat_residual(
            **common,
            species=species,
            joule=self.joule_density if self.joule else 0,
            m=m_e,
            extra=self._reservoir_heat(species, w, m_e),
        )
        return electrolyte + forms.heat_residual(**common, species=(), joule=0, m=m_s)

    def _reservoir_heat(self, species: list, w: ufl.Argument, m: forms.Measures) -> ufl.Form | None:
        """The boundary term ∫_Γ μ (−c g·n) w of P at the ion reservoirs, by the consistent flux:
        Σ_ℓ R^ℓ(χ μ^ℓ w), R^ℓ the ion residual and χ the indicator of the reservoir vertices
        (`Scheme._reservoir_flux` of the FEM core). None without reservoirs."""
        if not self.ion_values:
            return None
        chi = fem.Function(self.Q.sub(0).collapse()[0], name="reservoirs")
        for key in self.ion_values:
            chi.x.array[
                fem.locate_dofs_topological(chi.function_space, 0, self._wet_submesh_vertices(key))
            ] = 1.0
        chi.x.scatter_forward()
        terms = 0
        for mu, flux, c_new, c_old in species:
            terms += forms.ion_residual(c_new, c_old, self.dt, flux, chi * mu * w, m, None)
        return terms

    def _create_solver(self, name: str) -> None:
        """One block Newton for (η, ψ, ξ), options prefix from `name`."""
        residuals = [self.F_ions, self.F_potential, self.F_heat]
        problem = BlockSNESProblem(
            residuals, [self.eta, self.psi, self.xi], self.bcs, self.entity_maps
        )
        self.solver = BlockNonlinearSolver(problem, name=name, options=self.options)

    def _define_observables(self) -> None:
        """ResolvedPNP's forms, the entropy, the Joule power and the per-cell ∫ T."""
        super()._define_observables()
        dxL_all = ufl.Measure("dx", domain=self.mesh, metadata=VERTEX_RULE)
        mixing = sum(ufl.exp(self.eta[k]) * self.eta[k] for k in range(2))
        self._entropy_forms = (
            fem.form(self.C * (self.xi + 1.0) * dxL_all),
            fem.form(mixing * self._dxL_sub),
        )
        self._joule_form = fem.form(
            self.joule_density * self._dxL(ELECTROLYTE_TAG), entity_maps=self.entity_maps
        )
        y = ufl.TestFunction(self._avg_spaces["parent"])
        self._T_form = fem.form(ufl.exp(self.xi) * y * ufl.Measure("dx", domain=self.mesh))

    # ------------------------------------------------------------------ state
    @property
    def dofs(self) -> dict[str, int]:
        """Global numbers of unknowns: ions (both species), potential and temperature."""
        return super().dofs | {"temperature": self.V_T.dofmap.index_map.size_global}

    def temperature(self) -> fem.Function:
        """T = e^ξ as a P1 Function on the whole mesh (a copy)."""
        out = fem.Function(self.V_T, name="T")
        out.x.array[:] = np.exp(self.xi.x.array)
        return out

    # ------------------------------------------------------------------ observables
    def _record(self, dt: float, iterations: int, seconds: float) -> StepRecord:
        return StepRecord(self.t, dt, iterations, seconds, self.observables())

    def _scalar(self, form: fem.Form) -> float:
        return float(self.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM))

    def observables(self) -> dict[str, float]:
        """amount_u1, amount_u2 (the lumped ion totals ∫_{Ω^s} c dxL, conserved in a closed
        array), charge, entropy S = ∫_Ω C (ξ + 1) dxL − Σ ∫_{Ω^s} c η dxL, joule
        = ∫_{Ω^s} Σ c|g|² dxL (the dissipation, also with joule=False), min_T, max_T (nodal), t."""
        plus, minus = self.total_ions()
        heat, mixing = (self._scalar(f) for f in self._entropy_forms)
        n_owned = self.V_T.dofmap.index_map.size_local
        xi = self.xi.x.array[:n_owned]
        low = self.comm.allreduce(float(xi.min()) if n_owned else math.inf, op=MPI.MIN)
        high = self.comm.allreduce(float(xi.max()) if n_owned else -math.inf, op=MPI.MAX)
        return {
            "t": float(self.t),
            "amount_u1": plus,
            "amount_u2": minus,
            "charge": plus - minus,
            "entropy": heat - mixing,
            "joule": self._scalar(self._joule_form),
            "min_T": math.exp(low),
            "max_T": math.exp(high),
        }

    def small_signal(self, facet_name: str) -> SmallSignal:
        """Not available: ResolvedPNP's linearization would freeze T."""
        raise InputError("the small-signal analysis of the pore-resolved heat model is not built")

    def cell_averages(self) -> ThermalCellAverages:
        """ResolvedPNP's averages and ⟨T⟩ = (1/|Y_ij|) ∫_{Y_ij} T dx per periodic cell [i, j].

        Identical on every rank (reduced with MPI_SUM).
        """
        base = super().cell_averages()
        Y = self._avg_spaces["parent"]
        b = fem.assemble_vector(self._T_form)
        b.scatter_reverse(la.InsertMode.add)
        tdim = self.mesh.topology.dim
        cells = np.arange(self.mesh.topology.index_map(tdim).size_local, dtype=np.int32)
        i, j = self.array.cell_index(dmesh.compute_midpoints(self.mesh, tdim, cells).T)
        local = np.zeros((self.array.columns, self.array.rows))
        np.add.at(local, (i, j), b.array[Y.dofmap.list[cells, 0]])
        total = np.zeros_like(local)
        self.comm.Allreduce(local, total, op=MPI.SUM)
        return ThermalCellAverages(**asdict(base), T=total / base.cell_area)
