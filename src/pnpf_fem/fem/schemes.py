"""Time schemes for the log-variable PNPF system, each step one or two SNES solves.

* `FirstOrderScheme` ("fem1") mirrors Scheme I (3.3)–(3.5): a coupled (η, ψ) solve with the
  mobility c^n and T^n lagged, then the temperature step (3.3)₄ with P^{n+1} of (3.4) and û.
* `CrankNicolsonScheme` ("fem2") mirrors Scheme II (3.14)–(3.15): modified Crank–Nicolson in
  (η, ψ, ξ), fully coupled, with Q, R, P of (3.15) and midpoint exponentials e^{f^{n+1/2}}.
* `BackwardEulerScheme` ("fem-be"): fully implicit, fully coupled backward Euler of (2.13).

All share the state Function ``u = (η^1..η^M, ψ, ξ)`` in one blocked Lagrange space. `step(dt)`
accepts a variable Δt, returns a `StepRecord` with the observables of
`pnpf_fem.fem.observables`, and on a failed solve raises `SolverError` with the previous state
intact; `pnpf_fem.integrate.integrate` drives them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem

from pnpf_fem.compat import blocked_lagrange_space, lagrange_space
from pnpf_fem.errors import InputError
from pnpf_fem.fem import forms
from pnpf_fem.fem.impedance import SmallSignal
from pnpf_fem.fem.observables import Observables
from pnpf_fem.fem.problem import PNPFProblem, Value
from pnpf_fem.fem.quantities import (
    ElectrodeCharges,
    Entropy,
    Extremes,
    FaradaicCurrents,
    JouleHeat,
    Masses,
    Quantity,
    faradaic_currents,
    gauss_charge,
)
from pnpf_fem.fem.snes import NonlinearSolver, SolverOptions
from pnpf_fem.fem.transient import TransientProblem
from pnpf_fem.integrate import StepRecord
from pnpf_fem.model import HeatFlux, HeatTransfer, Temperature

__all__ = [
    "SCHEMES",
    "BDF2Scheme",
    "BackwardEulerScheme",
    "CrankNicolsonScheme",
    "FirstOrderScheme",
    "Scheme",
    "make_scheme",
]


@dataclass(frozen=True)
class ReactionRate:
    """One electrode reaction at the level of a scheme: where, which species, its anodic rate r
    and overpotential η (UFL), electrons n = s z, stoichiometry s and entropy ΔS (k_B)."""

    tag: int
    species: int
    rate: ufl.core.expr.Expr
    overpotential: ufl.core.expr.Expr
    electrons: float
    stoichiometry: float
    entropy: float

    def heat(self, T: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        """The heat released at the electrode, r (n η − T ΔS): the overpotential (irreversible)
        and the reversible (Peltier) parts."""
        return self.rate * (self.electrons * self.overpotential - T * self.entropy)


class Scheme(TransientProblem):
    """Common set-up: spaces, state, bound data, Dirichlet conditions, observables."""

    name = "base"

    def __init__(self, problem: PNPFProblem, options: SolverOptions | None = None) -> None:
        super().__init__(problem.mesh.mesh, options)
        self.problem = problem
        self.M = problem.num_species
        self.electrode_potentials: dict[str, list[ufl.core.expr.Expr]] = {}
        self._create_spaces()
        self._define_data()
        self._set_initial_state()
        self.observables = Observables(self._quantities())
        self._build()

    def _create_spaces(self) -> None:
        """The blocked state space W = (η^1..η^M, ψ, ξ), the scalar space V, the state u, u_n."""
        p, domain = self.problem, self.domain
        self.fdim = domain.topology.dim - 1
        self.W = blocked_lagrange_space(domain, p.degree, self.M + 2)
        self.V = lagrange_space(domain, p.degree)
        if not np.array_equal(self.W.tabulate_dof_coordinates(), self.V.tabulate_dof_coordinates()):
            raise RuntimeError("blocked and scalar Lagrange spaces have different dof layouts")
        self.u = fem.Function(self.W, name="state")
        self.u_n = fem.Function(self.W, name="state_old")
        self._track_state(self.u, self.u_n)
        self.m = forms.measures(domain, p.mesh.facet_tags, p.degree)

    def _define_data(self) -> None:
        """Model constants and the bound data: ρ^f, ψ^N, the sources at t^{n+1} and t^{n+1/2}."""
        p, model = self.problem, self.problem.model
        self.z, self.nu = model.valences, model.frictions
        self.eps, self.CT, self.k = model.eps, model.heat_capacity, model.conductivity
        rho = p.fixed_charge if p.fixed_charge is not None else model.fixed_charge
        self.rho_new = self._bind(rho, "new")  # Poisson is imposed at t^{n+1} in every scheme
        if p.region_charges:
            self.rho_new = self._region_charge(self.rho_new)
        self.neumann_new = [(p.mesh.tag(bc.tag), self._bind(bc.value, "new")) for bc in p.neumann]
        self.stern_new = [
            (
                p.mesh.tag(s.tag),
                self._bind_potential(s.tag, s.value, "new"),
                self.eps**2 / s.thickness,
            )
            for s in p.stern
        ]
        src = p.sources
        self.f_ion = {
            at: [
                self._bind(src.ions[n], at) if src and n in src.ions else None
                for n in model.species_names
            ]
            for at in ("new", "mid")
        }
        self.f_heat = {
            at: (self._bind(src.heat, at) if src and src.heat is not None else None)
            for at in ("new", "mid")
        }

    def _bind_potential(self, tag: str, value: Value, at: str) -> ufl.core.expr.Expr:
        """`_bind` for an electrode potential V, remembered by tag in `electrode_potentials`
        (the small-signal analysis perturbs V: `pnpf_fem.fem.impedance`)."""
        expr = self._bind(value, at)
        self.electrode_potentials.setdefault(tag, []).append(expr)
        return expr

    def _reaction_rates(
        self,
        log_c: Callable[[int], ufl.core.expr.Expr],
        psi: ufl.core.expr.Expr,
        T: ufl.core.expr.Expr,
        at: str = "new",
    ) -> list[ReactionRate]:
        """The Butler–Volmer rates (`forms.butler_volmer_rate`) of the problem's reactions with
        log c^ℓ = log_c(ℓ), ψ and T of the scheme's flux level and V bound at `at`."""
        p = self.problem
        electrodes = {bc.tag: bc.value for bc in (*p.dirichlet, *p.stern)}
        names = p.model.species_names
        out = []
        for rx in p.reactions:
            i = names.index(rx.species)
            n = rx.stoichiometry * self.z[i]
            V = self._bind_potential(rx.tag, electrodes[rx.tag], at)
            rate = forms.butler_volmer_rate(
                log_c(i),
                psi,
                T,
                V,
                k0=float(rx.value),
                alpha=rx.alpha,
                n=n,
                s=rx.stoichiometry,
                equilibrium=rx.equilibrium,
                log_reference=float(np.log(rx.reference)),
            )
            eta = V - psi - rx.equilibrium
            tag = p.mesh.tag(rx.tag)
            out.append(ReactionRate(tag, i, rate, eta, n, rx.stoichiometry, rx.entropy))
        return out

    @staticmethod
    def _inflow(rates: Sequence[ReactionRate], i: int) -> list[tuple[int, ufl.core.expr.Expr]]:
        """(tag, s r): the rate at which species i enters through each reacting electrode."""
        return [(r.tag, r.stoichiometry * r.rate) for r in rates if r.species == i]

    def _region_charge(self, background: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        """ρ^f with the values of `region_charges` on their regions' cells (piecewise constant:
        a DG0 indicator of the regions and a DG0 field of their charges)."""
        p = self.problem
        Q = fem.functionspace(self.domain, ("DG", 0))
        inside, charge = fem.Function(Q), fem.Function(Q)
        for name, value in p.region_charges.items():
            dofs = Q.dofmap.list[p.mesh.cells(name)].ravel()  # DG0: one dof per cell
            inside.x.array[dofs] = 1.0
            charge.x.array[dofs] = value
        return (1.0 - inside) * background + charge

    def _quantities(self) -> list[Quantity]:
        """The derived quantities every step reports (`pnpf_fem.fem.quantities`)."""
        p, u = self.problem, self.u
        quantities = [
            Masses(u, p.model.species_names, self.m),
            Entropy(u, self.CT, self.m),
            Extremes(u),
            ElectrodeCharges(u, list(self.electrode_charges().items())),
            JouleHeat(u, p.model, self.m),
        ]
        if p.reactions:
            quantities.append(FaradaicCurrents(u, self.m, self._faradaic_rates()))
        return quantities

    def electrode_charges(self) -> dict[str, ufl.Form]:
        """Tag → the charge Q_Γ = ∫_Γ ε² ∂ψ/∂n ds of each electrode as a functional of the state
        `u`: Gauss's law on the Dirichlet electrodes (`quantities.gauss_charge`), the Robin flux
        (ε²/λ_S)(V − ψ) behind a Stern layer."""
        p, u = self.problem, self.u
        charge = self.rho_new + sum(z * ufl.exp(u[i]) for i, z in enumerate(self.z))
        out = {}
        for bc in p.dirichlet:
            chi = fem.Function(self.V)
            dofs = fem.locate_dofs_topological(self.V, self.fdim, p.mesh.facets(bc.tag))
            chi.x.array[dofs] = 1.0
            walls = self._wall_charges(u[self.M])
            out[bc.tag] = gauss_charge(u[self.M], charge, self.eps, self.m, chi, walls)
        for s, (tag, v, cs) in zip(p.stern, self.stern_new, strict=True):
            out[s.tag] = cs * (v - u[self.M]) * self.m.ds(tag)
        return out

    def faradaic_currents(self) -> dict[str, ufl.Form]:
        """Tag → the anodic Faradaic current ∫_Γ n r ds of its reactions, a functional of `u`."""
        return faradaic_currents(self.m, self._faradaic_rates())

    def _faradaic_rates(self) -> list[tuple[str, int, ufl.core.expr.Expr, ufl.core.expr.Expr]]:
        """(tag name, tag id, n r, r (ΔS + s log c_ref)) of every reaction at the state `u`."""
        p, u = self.problem, self.u
        rates = self._reaction_rates(lambda i: u[i], u[self.M], ufl.exp(u[self.M + 1]))
        out = []
        for rx, r in zip(p.reactions, rates, strict=True):
            exchange = rx.stoichiometry * float(np.log(rx.reference)) + rx.entropy
            out.append((rx.tag, r.tag, r.electrons * r.rate, r.rate * exchange))
        return out

    # -- boundary and initial data --------------------------------------------------------------
    def dirichlet_bcs(self, space: fem.FunctionSpace, component: int | None) -> list:
        """ψ = ψ_D(t^{n+1}) on the Dirichlet tags, for the ψ component of `space`; in the blocked
        spaces (component given) also η^ℓ = log c^ℓ_b on the reservoir tags."""
        mesh, names = self.problem.mesh, self.problem.model.species_names
        bcs = [
            self._dirichlet_bc(space, component, mesh.facets(bc.tag), bc.value)
            for bc in self.problem.dirichlet
        ]
        if component is not None:
            bcs += [
                self._dirichlet_bc(
                    space, names.index(c.species), mesh.facets(c.tag), c.value, log=True
                )
                for c in self.problem.concentrations
            ]
        if component is not None and space.dofmap.index_map_bs == self.M + 2:
            bcs += self.temperature_bcs(space, self.M + 1)
        return bcs

    def temperature_bcs(self, space: fem.FunctionSpace, component: int | None) -> list:
        """ξ = log T_b on the tags held at a temperature (component of ξ in `space`)."""
        mesh = self.problem.mesh
        return [
            self._dirichlet_bc(space, component, mesh.facets(c.tag), c.value, log=True)
            for c in self.problem.thermal
            if isinstance(c, Temperature)
        ]

    def _potential_bcs(self, space: fem.FunctionSpace, component: int | None) -> list:
        return self.dirichlet_bcs(space, component)

    def _wall_charges(self, psi: ufl.core.expr.Expr) -> list[tuple[int, ufl.core.expr.Expr]]:
        """(tag, ε² ∂ψ/∂n) where it is given: ψ^N on charged walls, (ε²/λ_S)(V − ψ) behind a
        Stern layer (`pnpf_fem.model.Stern`), with ψ the potential being solved for."""
        return self.neumann_new + [(tag, cs * (v - psi)) for tag, v, cs in self.stern_new]

    def _poisson_residual(self, psi: fem.Function, c: Sequence, w) -> ufl.Form:
        """The Poisson equation (2.8)₃ with the charge of the concentrations c (for ψ^0)."""
        charge = sum(z * ci for z, ci in zip(self.z, c, strict=True)) + self.rho_new
        return forms.poisson_residual(psi, charge, self.eps, w, self.m, self._wall_charges(psi))

    def _set_initial_state(self) -> None:
        p, M = self.problem, self.M
        self._set_times(0.0)
        cols = self.u.x.array.reshape(-1, M + 2)
        for i, name in enumerate(p.model.species_names):
            cols[:, i] = self._interpolate_initial(p.initial.c[name], self.V, ufl.ln)
        cols[:, M + 1] = self._interpolate_initial(p.initial.T, self.V, ufl.ln)
        if not np.all(np.isfinite(cols[:, [*range(M), M + 1]])):
            raise InputError("initial concentrations and temperature must be positive")
        # ψ is not an independent datum: ψ^0 solves the discrete Poisson equation with c^0, so
        # that every level, including n = 0 in ψ^{n+1/2} of (3.15), is a discrete solution.
        cols[:, M] = self._solve_initial_potential([cols[:, i] for i in range(M)], self.V, "psi0")
        self.u.x.scatter_forward()
        self._commit()

    # -- stepping -------------------------------------------------------------------------------
    def _build(self) -> None:
        """Forms and solvers of the scheme (`self.solver` for a one-solve scheme)."""
        raise NotImplementedError

    def _record(self, dt: float, iterations: int, seconds: float) -> StepRecord:
        obs = self.observables.evaluate(self.t, dt, iterations, seconds)
        return StepRecord.from_observables(obs)

    # Newton starts from the state extrapolated linearly from the last two accepted states,
    # u⁰ = u^n + ω (u^n − u^{n−1}), ω = Δt_n/Δt_{n−1} capped at MAX_EXTRAPOLATION (a larger jump
    # in Δt, as in pseudo-transient continuation, makes the line a poor guess). The solution
    # does not change (Newton converges to the same discrete solution), only its cost; a start
    # that fails is retried from u^n (`TransientProblem.step`).
    MAX_EXTRAPOLATION = 2.0
    last_step: tuple[np.ndarray, float] | None = None
    _start: np.ndarray | None = None

    def _predict(self, dt: float) -> bool:
        self._start = self.u_n.x.array.copy()
        if self.last_step is None:
            return False
        previous, dt_previous = self.last_step
        omega = min(dt / dt_previous, self.MAX_EXTRAPOLATION)
        self.u.x.array[:] = self._start + omega * (self._start - previous)
        return True

    def _accepted(self, record: StepRecord) -> None:
        if self._start is not None:
            self.last_step = (self._start, record.dt)

    def restart_from(self, t: float) -> None:
        """Continue from the state now in `u` at time t (a checkpoint was loaded into `u`)."""
        super().restart_from(t)
        self.last_step = None  # no history to extrapolate from
        self.observables.restart()  # electrode currents continue from the loaded charges

    def _heat_residual(
        self,
        *,
        T_new,
        theta,
        grad_log_theta,
        T_diff,
        species,
        joule,
        w,
        source,
        T_old=None,
        dt=None,
        reactions: Sequence[ReactionRate] = (),
        T_reaction=None,
        at: str = "new",
    ) -> ufl.Form:
        """The temperature equation (`forms.heat_residual`) with T^n, Δt, C_T and k of this
        scheme (a multistep scheme passes its history and effective step; boundary data at
        `at`). `reactions` add their heat r (n η − T ΔS) (T = `T_reaction`) and the boundary term
        of P with the species' μ taken from `species`; reservoirs add theirs (`_reservoir_flux`)."""
        boundary_heat = [(r.tag, r.heat(T_reaction)) for r in reactions]
        boundary_species = [
            (r.tag, r.stoichiometry * r.rate, species[r.species][0]) for r in reactions
        ]
        dt = self.dt if dt is None else dt
        for c in self.problem.thermal:
            tag = self.problem.mesh.tag(c.tag)
            if isinstance(c, HeatFlux):
                boundary_heat.append((tag, self._bind(c.value, at)))
            elif isinstance(c, HeatTransfer):
                boundary_heat.append((tag, c.value * (c.ambient - T_diff)))
        return forms.heat_residual(
            boundary_heat=boundary_heat,
            boundary_species=boundary_species,
            T_new=T_new,
            T_old=ufl.exp(self.u_n[self.M + 1]) if T_old is None else T_old,
            dt=dt,
            extra=self._reservoir_flux(species, dt, w, at),
            theta=theta,
            grad_log_theta=grad_log_theta,
            T_diff=T_diff,
            species=species,
            joule=joule,
            heat_capacity=self.CT,
            conductivity=self.k,
            w=w,
            m=self.m,
            source=source,
        )

    def _reservoir_flux(self, species, dt, w, at: str) -> ufl.Form | None:
        """The boundary term ∫_Γ μ (ε c u·n) w of P at the reservoirs, where the ion flux through
        the wall is not given: by the consistent flux, −R^ℓ(χ^ℓ μ^ℓ w), with R^ℓ the ion
        residual (`forms.ion_residual`) and χ^ℓ the indicator of the species' reservoir nodes.
        Exact for a uniform flux (an Ohmic conductor between reservoirs); without it P would
        hold a spurious heat source T μ_b (−ε c u·n) at every reservoir. Returns R-terms to add
        to the heat residual (which subtracts ⟨P, w⟩), None without reservoirs."""
        terms = None
        for i, chi in self._reservoir_nodes().items():
            mu, flux, c_new, c_old = species[i]
            source = self.f_ion[at][i]
            r = forms.ion_residual(c_new, c_old, dt, flux, chi * mu * w, self.m, source)
            terms = r if terms is None else terms + r
        return terms

    def _reservoir_nodes(self) -> dict[int, fem.Function]:
        """Species index → the P1 indicator of the nodes of its reservoir tags."""
        if not hasattr(self, "_reservoir_chi"):
            p, names = self.problem, self.problem.model.species_names
            self._reservoir_chi: dict[int, fem.Function] = {}
            for c in p.concentrations:
                i = names.index(c.species)
                chi = self._reservoir_chi.setdefault(i, fem.Function(self.V))
                dofs = fem.locate_dofs_topological(self.V, self.fdim, p.mesh.facets(c.tag))
                chi.x.array[dofs] = 1.0
        return self._reservoir_chi

    def _implicit_heat(self, xi, species, joule, w, T_old=None, dt=None, reactions=()) -> ufl.Form:
        """The temperature equation tested with θ = 1/T = e^{−ξ} at t^{n+1} (3.3)₄, the form
        of fem1's temperature step, backward Euler and BDF2."""
        T = ufl.exp(xi)
        return self._heat_residual(
            T_new=T,
            theta=ufl.exp(-xi),
            grad_log_theta=-ufl.grad(xi),
            T_diff=T,
            species=species,
            joule=joule,
            w=w,
            source=self.f_heat["new"],
            T_old=T_old,
            dt=dt,
            reactions=reactions,
            T_reaction=T,
        )

    # -- convenience ----------------------------------------------------------------------------
    @property
    def nonlinear_solvers(self) -> list[NonlinearSolver]:
        """The SNES solvers of one step (timings and iteration counters for benchmarks)."""
        return [v for v in vars(self).values() if isinstance(v, NonlinearSolver)]

    def fields(self) -> tuple[list, ufl.core.expr.Expr, ufl.core.expr.Expr]:
        """UFL expressions (c^ℓ list, ψ, T) of the current state."""
        M = self.M
        return [ufl.exp(self.u[i]) for i in range(M)], self.u[M], ufl.exp(self.u[M + 1])


class BackwardEulerScheme(Scheme):
    """Fully implicit, fully coupled backward Euler of (2.13) in (η, ψ, ξ)."""

    name = "fem-be"

    def _build(self) -> None:
        M, un = self.M, self.u_n
        self.residual = self._implicit_residual(lambda i: ufl.exp(un[i]), self.dt)
        self.bcs = self.dirichlet_bcs(self.W, M)
        self.solver = NonlinearSolver(self.residual, self.u, self.bcs, "be", self.options)

    def small_signal(self, tag: str) -> SmallSignal:
        """The linearization at the state now in `u` (a steady state), driven by the potential of
        the electrode `tag` (a potential or a Stern condition): `pnpf_fem.fem.impedance`."""
        if not hasattr(self, "residual"):
            raise InputError(f"the small-signal analysis linearizes fem-be, not {self.name}")
        p = self.problem
        charges = self.electrode_charges()
        if tag not in charges:
            raise InputError(
                f"tag {tag!r} is no electrode (one with a potential): choose from "
                f"{', '.join(sorted(charges)) or 'none'}"
            )
        drive = np.zeros(0, dtype=np.int32)
        if tag in {bc.tag for bc in p.dirichlet}:
            sub = (self.W.sub(self.M), self.V)
            drive = fem.locate_dofs_topological(sub, self.fdim, p.mesh.facets(tag))[0]
        potentials = self.electrode_potentials.get(tag, [])
        if not all(isinstance(v, fem.Constant) for v in potentials):
            raise InputError(f"the potential of {tag!r} must be spatially uniform")
        faradaic = self.faradaic_currents().get(tag)
        return self._small_signal(drive, charges[tag], potentials, faradaic)

    def _implicit_residual(
        self, old: Callable[[int], ufl.core.expr.Expr], dt: ufl.core.expr.Expr
    ) -> ufl.Form:
        """(2.13) with every term at t^{n+1} and ∂t s ≈ (s^{n+1} − old(s))/dt for the stored
        quantities s = c^ℓ (index ℓ) and T (index M + 1): backward Euler with old = s^n, BDF2
        with its history and effective step."""
        M, u, m = self.M, self.u, self.m
        v = ufl.TestFunction(self.W)
        T, psi, xi = ufl.exp(u[M + 1]), u[M], u[M + 1]
        F, heat_species, joule, charge = 0, [], 0, self.rho_new
        rates = self._reaction_rates(lambda i: u[i], psi, T)
        for i in range(M):
            eta, c = u[i], ufl.exp(u[i])
            flux = forms.ion_flux(c, T, eta, psi, self.z[i], self.nu[i], self.eps)
            source, inflow = self.f_ion["new"][i], self._inflow(rates, i)
            F += forms.ion_residual(c, old(i), dt, flux, v[i], m, source, inflow)
            heat_species.append((eta, flux, c, old(i)))
            joule += forms.joule_heat(c, T, eta, psi, self.z[i], self.nu[i], self.eps)
            charge += self.z[i] * c
        F += forms.poisson_residual(psi, charge, self.eps, v[M], m, self._wall_charges(psi))
        return F + self._implicit_heat(
            xi, heat_species, joule, v[M + 1], old(M + 1), dt, reactions=rates
        )


class BDF2Scheme(BackwardEulerScheme):
    """Variable-step BDF2 of (2.13) in (η, ψ, ξ), fully implicit and coupled: second order and
    L-stable (stiff modes of thin layers are damped, unlike Crank–Nicolson). The first step, and
    the first after a restart, is backward Euler.

    The time derivative of a stored quantity s ∈ {c^ℓ, T} is (a0 s^{n+1} + a1 s^n + a2 s^{n−1})/Δt
    with ω = Δt_n/Δt_{n−1}: a0 = (1+2ω)/(1+ω), a1 = −(1+ω), a2 = ω²/(1+ω). Since a0 + a1 + a2 = 0,
    testing with 1 gives ⟨c^{n+1}, 1⟩ = ⟨c^n, 1⟩ exactly when ⟨c^n, 1⟩ = ⟨c^{n−1}, 1⟩: the masses
    are conserved as in backward Euler. It is written a0 (s^{n+1} − s_h)/Δt with the history
    s_h = −(a1 s^n + a2 s^{n−1})/a0, so the forms of backward Euler serve with Δt/a0.
    Positivity holds by the log variables; the entropy inequality is not proven for BDF2 (it is
    measured in the tests).
    """

    name = "fem-bdf2"
    order = 2

    def _build(self) -> None:
        M, un = self.M, self.u_n
        self.u_nm1 = fem.Function(self.W, name="state_older")
        self.u_nm1.x.array[:] = un.x.array
        self._history = [fem.Constant(self.domain, 1.0), fem.Constant(self.domain, 0.0)]
        self.dt_bdf = fem.Constant(self.domain, 1.0)
        self._dt_prev: float | None = None
        b1, b2 = self._history

        def history(i: int) -> ufl.core.expr.Expr:
            return b1 * ufl.exp(un[i]) + b2 * ufl.exp(self.u_nm1[i])

        F = self._implicit_residual(history, self.dt_bdf)
        self.solver = NonlinearSolver(
            F, self.u, self.dirichlet_bcs(self.W, M), "bdf2", self.options
        )

    def _advance(self) -> int:
        dt = float(self.dt.value)
        omega = 0.0 if self._dt_prev is None else dt / self._dt_prev
        a0 = (1 + 2 * omega) / (1 + omega)
        self._history[0].value = (1 + omega) ** 2 / (1 + 2 * omega)  # −a1/a0
        self._history[1].value = -(omega**2) / (1 + 2 * omega)  # −a2/a0
        self.dt_bdf.value = dt / a0
        return self.solver.solve()

    def _commit(self) -> None:
        if hasattr(self, "u_nm1"):  # (the initial state is committed before _build)
            self.u_nm1.x.array[:] = self.u_n.x.array
            self._dt_prev = float(self.dt.value)
        super()._commit()

    def restart_from(self, t: float) -> None:
        super().restart_from(t)
        self.forget_history()

    def forget_history(self) -> None:
        """The next step is backward Euler (after a restart; in pseudo-transient steps)."""
        self.u_nm1.x.array[:] = self.u_n.x.array
        self._dt_prev = None

    def snapshot(self) -> tuple:
        return super().snapshot(), self.u_nm1.x.array.copy(), self.u_n.x.array.copy(), self._dt_prev

    def restore(self, snapshot: tuple) -> None:
        base, older, previous, dt_prev = snapshot
        super().restore(base)
        self.u_n.x.array[:] = previous
        self.u_nm1.x.array[:] = older
        self._dt_prev = dt_prev


class CrankNicolsonScheme(Scheme):
    """Scheme II (3.14)–(3.15): modified Crank–Nicolson in (η, ψ, ξ), fully coupled."""

    name = "fem2"
    order = 2

    def _build(self) -> None:
        M, u, un, m = self.M, self.u, self.u_n, self.m
        v = ufl.TestFunction(self.W)
        xi, xin = u[M + 1], un[M + 1]
        T, Tn = ufl.exp(xi), ufl.exp(xin)
        T_h = ufl.exp(0.5 * (xi + xin))  # e^{ξ^{n+1/2}} (3.15)
        psi = u[M]
        psi_h = 0.5 * (psi + un[M])
        F = 0
        heat_species, joule = [], 0
        charge = self.rho_new
        rates = self._reaction_rates(lambda i: 0.5 * (u[i] + un[i]), psi_h, T_h, "mid")
        for i in range(M):
            eta, etan = u[i], un[i]
            c, cn = ufl.exp(eta), ufl.exp(etan)
            c_h = ufl.exp(0.5 * (eta + etan))
            Q = forms.q_midpoint(c, cn, eta)
            flux = forms.ion_flux(c_h, T_h, Q, psi_h, self.z[i], self.nu[i], self.eps)
            source, inflow = self.f_ion["mid"][i], self._inflow(rates, i)
            F += forms.ion_residual(c, cn, self.dt, flux, v[i], m, source, inflow)
            heat_species.append((Q, flux, c, cn))
            joule += forms.joule_heat(c_h, T_h, Q, psi_h, self.z[i], self.nu[i], self.eps)
            charge += self.z[i] * c
        F += forms.poisson_residual(psi, charge, self.eps, v[M], m, self._wall_charges(psi))
        R = forms.log_entropy_weight_R(T, Tn, xi)
        F += self._heat_residual(
            T_new=T,
            theta=R,
            grad_log_theta=ufl.grad(ufl.ln(R)),
            T_diff=T_h,
            species=heat_species,
            joule=joule,
            w=v[M + 1],
            source=self.f_heat["mid"],
            reactions=rates,
            T_reaction=T_h,
            at="mid",
        )
        self.solver = NonlinearSolver(F, u, self.dirichlet_bcs(self.W, M), "cn", self.options)


class FirstOrderScheme(Scheme):
    """Scheme I (3.3): coupled (η, ψ) step with c^n, T^n lagged, then the temperature step."""

    name = "fem1"

    def _build(self) -> None:
        M, un, m = self.M, self.u_n, self.m
        self.W1 = blocked_lagrange_space(self.domain, self.problem.degree, M + 1)
        self.u1 = fem.Function(self.W1, name="eta_psi")
        self.xi = fem.Function(self.V, name="xi")
        v1 = ufl.TestFunction(self.W1)
        Tn = ufl.exp(un[M + 1])
        psi = self.u1[M]
        F1 = 0
        charge = self.rho_new
        fluxes = []
        rates = self._reaction_rates(lambda i: self.u1[i], psi, Tn)  # T^n lagged, as the flux
        for i in range(M):
            eta = self.u1[i]
            c, cn = ufl.exp(eta), ufl.exp(un[i])
            flux = forms.ion_flux_scheme1(cn, Tn, eta, psi, self.z[i], self.nu[i], self.eps)
            fluxes.append((eta, flux, c, cn))
            source, inflow = self.f_ion["new"][i], self._inflow(rates, i)
            F1 += forms.ion_residual(c, cn, self.dt, flux, v1[i], m, source, inflow)
            charge += self.z[i] * c
        F1 += forms.poisson_residual(psi, charge, self.eps, v1[M], m, self._wall_charges(psi))
        self.solver1 = NonlinearSolver(
            F1, self.u1, self.dirichlet_bcs(self.W1, M), "s1_etapsi", self.options
        )
        # Temperature step: P^{n+1} (3.4) and û (T^n, η^{n+1}, ψ^{n+1}).
        xi = self.xi
        joule = sum(
            forms.joule_heat(c, Tn, eta, psi, self.z[i], self.nu[i], self.eps)
            for i, (eta, _f, c, _cn) in enumerate(fluxes)
        )
        F2 = self._implicit_heat(xi, fluxes, joule, ufl.TestFunction(self.V), reactions=rates)
        self.solver2 = NonlinearSolver(
            F2, xi, self.temperature_bcs(self.V, None), "s1_xi", self.options
        )

    def _advance(self) -> int:
        M = self.M
        start = self.u.x.array.reshape(-1, M + 2)  # u^n, or the extrapolated start
        self.u1.x.array.reshape(-1, M + 1)[:] = start[:, : M + 1]
        self.xi.x.array[:] = start[:, M + 1]
        its = self.solver1.solve()
        its += self.solver2.solve()
        new = self.u.x.array.reshape(-1, M + 2)
        new[:, : M + 1] = self.u1.x.array.reshape(-1, M + 1)
        new[:, M + 1] = self.xi.x.array
        return its


SCHEMES: dict[str, type[Scheme]] = {
    "fem1": FirstOrderScheme,
    "fem2": CrankNicolsonScheme,
    "fem-be": BackwardEulerScheme,
    "fem-bdf2": BDF2Scheme,
}


def make_scheme(method: str, problem: PNPFProblem, options: SolverOptions | None = None) -> Scheme:
    """The scheme named `method` ("fem1" | "fem2" | "fem-be") for `problem`."""
    try:
        cls = SCHEMES[method]
    except KeyError:
        raise InputError(
            f"unknown FEM method {method!r} (choose from {', '.join(SCHEMES)})"
        ) from None
    return cls(problem, options)
