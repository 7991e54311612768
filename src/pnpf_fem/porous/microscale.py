"""Pore-resolved PNP (20) on a periodic array of cells: ions on the electrolyte submesh only.

Dimensionless microscopic problem (20)–(22) of the porous-medium PNP paper (M. Schmuck, J. Math.
Phys. 54, 021504 (2013); docs/theory.md §6 and §11), in Ω = (0,1) × (0, rows·s):

    ∂t n^± − div(n^± (∇η^± ± ∇ψ)) = 0        in Ω^s (electrolyte), η^± = log n^±,
    −div(ε(x/s) ∇ψ) = (n^+ − n^−) χ_{Ω^s}      in Ω,  ε = λ² in Ω^s, α in the solid B^s,

with zero ion flux on the solid–electrolyte interface I^s, continuity of ψ and of ε ∂nψ across
I^s (all natural: nothing is imposed there), and on the outer boundary Dirichlet values by facet
tag name (ψ and/or the densities, e.g. left/right reservoirs), zero flux elsewhere.

Discretisation. Implicit Euler; all three fields coupled in one block SNES per step
(`pnpf_fem.fem.block_snes`). The log-densities η = (η^+, η^−) are a 2-component P1 Function on
the electrolyte submesh Ω^s_h (`dolfinx.mesh.create_submesh` of the electrolyte cells, a true
codim-0 submesh: no ion dofs exist in the solid); ψ is P1 on the whole mesh; ε is a DG0
coefficient. Mixed-domain assembly: every integral is over cells of the parent mesh, the ion
terms and the charge term over the electrolyte cells only (`dx(ELECTROLYTE_TAG)`), with the
entity map parent cell → submesh cell (`pnpf_fem.compat.codim0_submesh`).

Quadrature. Storage terms and the charge use vertex quadrature (mass lumping, as in
`pnpf_fem.fem.forms`), so that testing the ion equation with 1 gives exact conservation of the
lumped totals ∫_{Ω^s} n dxL in a closed system. Unlike `pnpf_fem.fem.forms`, the flux and the
Poisson terms use the *same* vertex rule: FFCx 0.9 generates C that does not compile (the
geometry Jacobian of each mesh is declared twice: "redefinition of J_c0") for a mixed-domain
kernel that combines two quadrature rules. For P1 the vertex rule is exact for ε∇ψ·∇w (ε is
cellwise constant); in the ion flux n(∇η ± ∇ψ)·∇v it replaces the cell mean of n = e^η by the
arithmetic mean of its three vertex values (still second order, and the discrete scheme is the
same on both sides of the comparison test).

Cell averages (`cell_averages`) for periodic cell (i, j) (column i along x, row j along y):
⟨n^±⟩ = ∫_{Y_ij ∩ Ω^s} n^± dxL / |Y_ij ∩ Ω^s| (the same lumped quadrature as the totals) and
⟨ψ⟩ = (1/|Y_ij|) ∫_{Y_ij} ψ dx, reduced over all ranks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import ufl
from dolfinx import fem, la
from dolfinx import mesh as dmesh
from mpi4py import MPI
from petsc4py import PETSc

from pnpf_fem.compat import blocked_lagrange_space, codim0_submesh, lagrange_space
from pnpf_fem.errors import InputError
from pnpf_fem.fem.block_snes import BlockNonlinearSolver, BlockSNESProblem
from pnpf_fem.fem.impedance import SmallSignal
from pnpf_fem.fem.snes import SolverOptions
from pnpf_fem.fem.transient import TransientProblem
from pnpf_fem.integrate import StepRecord
from pnpf_fem.porous.arrays import ELECTROLYTE_TAG, SOLID_TAG, PeriodicArray

__all__ = ["CellAverages", "ResolvedPNP"]

Initial = float | Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]
CHARGES = (1.0, -1.0)
VERTEX_RULE = {"quadrature_rule": "vertex", "quadrature_degree": 1}


@dataclass(frozen=True)
class CellAverages:
    """Per periodic cell averages, arrays of shape (columns, rows) indexed [i, j]."""

    centres: npt.NDArray[np.float64]  # (columns, rows, 2)
    n_plus: npt.NDArray[np.float64]
    n_minus: npt.NDArray[np.float64]
    psi: npt.NDArray[np.float64]
    electrolyte_area: npt.NDArray[np.float64]
    cell_area: npt.NDArray[np.float64]


@dataclass
class _Timing:
    steps: int = 0
    iterations: int = 0
    seconds: float = 0.0
    records: list[StepRecord] = field(default_factory=list)


def _check_facet_names(array: PeriodicArray, **conditions: Mapping[str, object]) -> None:
    for kind, values in conditions.items():
        for key in values:
            if key not in array.facet_names:
                raise InputError(
                    f"{kind}: unknown facet name {key!r} "
                    f"(known: {', '.join(sorted(array.facet_names))})"
                )


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise InputError(f"{name} must be a positive number, got {value!r}")
    return value


class ResolvedPNP(TransientProblem):
    """Microscopic PNP (20) on a `PeriodicArray`, implicit Euler, one block Newton per step.

    Parameters
    ----------
    array: the mesh with electrolyte/solid cell tags and left/right/bottom/top facet tags.
    lambda_sq: λ², the permittivity of the electrolyte (dimensionless Debye length squared).
    alpha: α, the permittivity of the solid.
    potential_bcs: {facet name: ψ value} (Dirichlet); other facets: zero displacement flux.
    ion_bcs: {facet name: n value or (n^+, n^−)} (Dirichlet on the electrolyte part of those
        facets); other facets: zero ion flux.
    initial_densities: (n^+, n^−) at t = 0, numbers or callables x ↦ values (positive).
    initial_potential: ψ at t = 0 (only a Newton initial guess: ψ has no time derivative).

    `step(dt)` is one implicit Euler step (a `pnpf_fem.integrate.Stepper`); it raises
    `SolverError` with state, time and `timing` unchanged if Newton fails.
    """

    def __init__(
        self,
        array: PeriodicArray,
        *,
        lambda_sq: float = 0.1,
        alpha: float = 0.01,
        potential_bcs: Mapping[str, float] | None = None,
        ion_bcs: Mapping[str, float | tuple[float, float]] | None = None,
        initial_densities: tuple[Initial, Initial] = (1.0, 1.0),
        initial_potential: Initial = 0.0,
        solver_options: SolverOptions | None = None,
        name: str = "micro",
    ) -> None:
        self.array = array
        self.lambda_sq = _check_positive("lambda_sq", lambda_sq)
        self.alpha = _check_positive("alpha", alpha)
        potential_bcs = dict(potential_bcs or {})
        ion_bcs = dict(ion_bcs or {})
        _check_facet_names(array, potential_bcs=potential_bcs, ion_bcs=ion_bcs)
        super().__init__(array.mesh, solver_options)
        self.mesh = array.mesh
        self.comm = self.mesh.comm
        self._define_submesh()
        self._create_spaces()
        self._set_initial(initial_densities, initial_potential)
        self._create_connectivities()
        self.potential_values: dict[str, fem.Constant] = {}
        self.ion_values: dict[str, tuple[fem.Constant, fem.Constant]] = {}
        self.bcs = [*self._create_potential_bcs(potential_bcs), *self._create_ion_bcs(ion_bcs)]
        self._define_forms()
        self._create_solver(name)
        self._define_observables()
        self.timing = _Timing()

    # ------------------------------------------------------------------ set-up steps
    def _define_submesh(self) -> None:
        """The electrolyte submesh and the tag of every local and ghost cell."""
        msh, tdim = self.mesh, self.mesh.topology.dim
        cmap = msh.topology.index_map(tdim)
        tag = np.zeros(cmap.size_local + cmap.num_ghosts, dtype=np.int32)
        tag[self.array.cell_tags.indices] = self.array.cell_tags.values
        if np.any(tag == 0):
            raise InputError("cell tags must cover every cell (electrolyte or solid)")
        electrolyte = np.flatnonzero(tag == ELECTROLYTE_TAG).astype(np.int32)
        n_electrolyte = self.comm.allreduce(
            int(np.count_nonzero(tag[: cmap.size_local] == ELECTROLYTE_TAG)), op=MPI.SUM
        )
        if n_electrolyte == 0:
            raise InputError("the array has no electrolyte cells")
        self._cell_tag = tag
        self.sub = codim0_submesh(msh, electrolyte)
        self.submesh = self.sub.mesh
        self.entity_maps = self.sub.entity_maps

    def _create_spaces(self) -> None:
        """(η^+, η^−) on Ω^s, ψ on Ω, the permittivity ε (DG0) and the state."""
        msh = self.mesh
        self.Q = blocked_lagrange_space(self.submesh, 1, 2)  # (η^+, η^−) on Ω^s
        self.V = lagrange_space(msh, 1)  # ψ on Ω
        self.eta = fem.Function(self.Q, name="eta")
        self.eta_old = fem.Function(self.Q, name="eta_old")
        self._track_state(self.eta, self.eta_old)
        self.psi = fem.Function(self.V, name="psi")
        self.eps = fem.Function(fem.functionspace(msh, ("DG", 0)), name="epsilon")
        electrolyte = self._cell_tag == ELECTROLYTE_TAG
        self.eps.x.array[:] = np.where(electrolyte, self.lambda_sq, self.alpha)
        self.eps.x.scatter_forward()

    def _create_connectivities(self) -> None:
        tdim = self.mesh.topology.dim
        self.mesh.topology.create_connectivity(tdim - 1, tdim)
        self.mesh.topology.create_connectivity(tdim - 1, 0)
        self.submesh.topology.create_connectivity(0, tdim)
        self.submesh.topology.create_connectivity(tdim, 0)

    def _create_potential_bcs(self, values: Mapping[str, float]) -> list[fem.DirichletBC]:
        """ψ = value on the named facets (the values in `potential_values`)."""
        fdim = self.mesh.topology.dim - 1
        bcs = []
        for key, value in values.items():
            facets = self.array.facet_tags.find(self.array.facet_names[key])
            dofs = fem.locate_dofs_topological(self.V, fdim, facets)
            c = fem.Constant(self.mesh, PETSc.ScalarType(float(value)))
            self.potential_values[key] = c
            bcs.append(fem.dirichletbc(c, dofs, self.V))
        return bcs

    def _create_ion_bcs(
        self, values: Mapping[str, float | tuple[float, float]]
    ) -> list[fem.DirichletBC]:
        """η^± = log n^± at the electrolyte vertices of the named facets (`ion_values`)."""
        bcs = []
        for key, value in values.items():
            pair = (value, value) if np.isscalar(value) else tuple(value)
            if len(pair) != 2:
                raise InputError(f"ion_bcs[{key!r}] must be a number or a pair (n+, n-)")
            logs = [math.log(_check_positive(f"ion_bcs[{key!r}]", v)) for v in pair]
            sverts = self._wet_submesh_vertices(key)
            consts = []
            for k in range(2):
                dofs = fem.locate_dofs_topological(self.Q.sub(k), 0, sverts)
                c = fem.Constant(self.submesh, PETSc.ScalarType(logs[k]))
                consts.append(c)
                bcs.append(fem.dirichletbc(c, dofs, self.Q.sub(k)))
            self.ion_values[key] = (consts[0], consts[1])
        return bcs

    def _wet_submesh_vertices(self, facet_name: str) -> npt.NDArray[np.int32]:
        """Submesh vertices of the named facets that touch an electrolyte cell (sorted)."""
        fdim = self.mesh.topology.dim - 1
        f2c = self.mesh.topology.connectivity(fdim, fdim + 1)
        f2v = self.mesh.topology.connectivity(fdim, 0)
        facets = self.array.facet_tags.find(self.array.facet_names[facet_name])
        wet = [f for f in facets if np.any(self._cell_tag[f2c.links(f)] == ELECTROLYTE_TAG)]
        pverts = np.unique(
            np.concatenate([f2v.links(f) for f in wet]) if wet else np.zeros(0, np.int32)
        )
        sverts = self.sub.parent_to_sub_vertices[pverts]
        return np.sort(sverts[sverts >= 0]).astype(np.int32)

    def _define_forms(self) -> None:
        """The residuals of the ion and Poisson equations (mixed-domain, over the parent mesh).

        One (vertex) quadrature rule for every term: see the module docstring.
        """
        ct = self.array.cell_tags
        all_tags = (ELECTROLYTE_TAG, SOLID_TAG)
        dxL = ufl.Measure("dx", domain=self.mesh, subdomain_data=ct, metadata=VERTEX_RULE)
        self._dxL = dxL
        v = ufl.TestFunction(self.Q)
        w = ufl.TestFunction(self.V)
        n = [ufl.exp(self.eta[k]) for k in range(2)]
        n_old = [ufl.exp(self.eta_old[k]) for k in range(2)]
        F_ions = 0
        for k, z in enumerate(CHARGES):
            flux = n[k] * (ufl.grad(self.eta[k]) + z * ufl.grad(self.psi))
            storage = (n[k] - n_old[k]) / self.dt * v[k]
            F_ions += (storage + ufl.inner(flux, ufl.grad(v[k]))) * dxL(ELECTROLYTE_TAG)
        self.charge_density = n[0] - n[1]
        F_psi = self.eps * ufl.inner(ufl.grad(self.psi), ufl.grad(w)) * dxL(all_tags)
        F_psi -= self.charge_density * w * dxL(ELECTROLYTE_TAG)
        self.F_ions, self.F_potential = F_ions, F_psi
        self._test_potential = w

    def _create_solver(self, name: str) -> None:
        """One block Newton for (η, ψ), options prefix from `name`."""
        forms, unknowns = [self.F_ions, self.F_potential], [self.eta, self.psi]
        problem = BlockSNESProblem(forms, unknowns, self.bcs, self.entity_maps)
        self.solver = BlockNonlinearSolver(problem, name=name, options=self.options)

    def _define_observables(self) -> None:
        """Forms of the ion totals, the per-cell averages and the reaction flux."""
        msh = self.mesh
        n = [ufl.exp(self.eta[k]) for k in range(2)]
        dxL_sub = ufl.Measure("dx", domain=self.submesh, metadata=VERTEX_RULE)
        dx_sub = ufl.Measure("dx", domain=self.submesh)
        dx_all = ufl.Measure("dx", domain=msh)
        self._dxL_sub = dxL_sub
        self._total_forms = [fem.form(n[k] * dxL_sub) for k in range(2)]
        Z = fem.functionspace(self.submesh, ("DG", 0))
        Y = fem.functionspace(msh, ("DG", 0))
        z, y = ufl.TestFunction(Z), ufl.TestFunction(Y)
        self._avg_forms = {
            "n_plus": fem.form(n[0] * z * dxL_sub),
            "n_minus": fem.form(n[1] * z * dxL_sub),
            "electrolyte_area": fem.form(z * dx_sub),
            "psi": fem.form(self.psi * y * dx_all),
            "cell_area": fem.form(y * dx_all),
        }
        self._avg_spaces = {"sub": Z, "parent": Y}
        self._flux_w = fem.Function(self.V)
        self._flux_form = fem.form(
            ufl.replace(self.F_potential, {self._test_potential: self._flux_w}),
            entity_maps=self.entity_maps,
        )

    # ------------------------------------------------------------------ state
    def _set_initial(self, densities: tuple[Initial, Initial], potential: Initial) -> None:
        if len(densities) != 2:
            raise InputError("initial_densities must be a pair (n+, n-)")
        for k, value in enumerate(densities):
            if callable(value):
                f = value
                self.eta.sub(k).interpolate(lambda x, f=f: np.log(np.asarray(f(x), dtype=float)))
            else:
                self.eta.x.array[k::2] = math.log(_check_positive("initial density", value))
        self.eta.x.scatter_forward()
        if not np.all(np.isfinite(self.eta.x.array)):
            raise InputError("initial densities must be positive")
        if callable(potential):
            self.psi.interpolate(potential)
        else:
            self.psi.x.array[:] = float(potential)
        self.psi.x.scatter_forward()
        self._commit()

    @property
    def dofs(self) -> dict[str, int]:
        """Global numbers of unknowns: ions (both species) and potential."""
        q = self.Q.dofmap.index_map.size_global * self.Q.dofmap.index_map_bs
        return {"ions": q, "potential": self.V.dofmap.index_map.size_global}

    def density(self, species: int) -> fem.Function:
        """n^± (species 0: +, 1: −) as a P1 Function on the electrolyte submesh (a copy)."""
        V = self.Q.sub(species).collapse()[0]
        out = fem.Function(V, name="n_plus" if species == 0 else "n_minus")
        out.x.array[:] = np.exp(self.eta.x.array[species::2])
        return out

    # ------------------------------------------------------------------ time stepping
    def _record(self, dt: float, iterations: int, seconds: float) -> StepRecord:
        return StepRecord(self.t, dt, iterations, seconds)

    def _accepted(self, record: StepRecord) -> None:
        self.timing.steps += 1
        self.timing.iterations += record.newton_iterations
        self.timing.seconds += record.wall_time
        self.timing.records.append(record)

    # ------------------------------------------------------------------ observables
    def total_ions(self) -> tuple[float, float]:
        """(∫_{Ω^s} n^+ dxL, ∫_{Ω^s} n^− dxL), the conserved lumped totals (all ranks)."""
        return tuple(
            self.comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM) for f in self._total_forms
        )

    def charge(self) -> float:
        """Total charge ∫_{Ω^s} (n^+ − n^−) dxL."""
        p, m = self.total_ions()
        return p - m

    def displacement_flux(self, facet_name: str) -> float:
        """Outward displacement flux ∫_Γ ε ∂nψ ds through a tagged boundary part Γ.

        Variationally consistent ("reaction") flux: the Poisson residual tested with the P1
        function that is 1 at the vertices of Γ and 0 elsewhere. Through a zero-flux boundary it
        vanishes up to the Newton tolerance (apart from corner vertices shared with a Dirichlet
        part); by Gauss, the fluxes through all Dirichlet parts sum to −charge().
        """
        if facet_name not in self.array.facet_names:
            raise InputError(f"unknown facet name {facet_name!r}")
        fdim = self.mesh.topology.dim - 1
        facets = self.array.facet_tags.find(self.array.facet_names[facet_name])
        dofs = fem.locate_dofs_topological(self.V, fdim, facets)
        self._flux_w.x.array[:] = 0.0
        self._flux_w.x.array[dofs] = 1.0
        self._flux_w.x.scatter_forward()
        return self.comm.allreduce(fem.assemble_scalar(self._flux_form), op=MPI.SUM)

    def small_signal(self, facet_name: str) -> SmallSignal:
        """The linearization at the current state (a steady state) driven by the potential of
        the named facets (`pnpf_fem.fem.impedance`); the charge is `displacement_flux`'s form."""
        if facet_name not in self.potential_values:
            raise InputError(f"facet {facet_name!r} carries no potential")
        fdim = self.mesh.topology.dim - 1
        facets = self.array.facet_tags.find(self.array.facet_names[facet_name])
        drive = fem.locate_dofs_topological(self.V, fdim, facets)
        chi = fem.Function(self.V)
        chi.x.array[drive] = 1.0
        self.eta_old.x.array[:] = self.eta.x.array  # the linearization point
        return SmallSignal(
            unknowns=[self.eta, self.psi],
            previous=[self.eta_old, None],
            dt=self.dt,
            residuals=[self.F_ions, self.F_potential],
            bcs=self.bcs,
            drive=(1, np.asarray(drive, dtype=np.int32)),
            potentials=[],
            charge=ufl.replace(self.F_potential, {self._test_potential: chi}),
            entity_maps=self.entity_maps,
        )

    def cell_averages(self) -> CellAverages:
        """Electrolyte averages of n^± and whole-cell averages of ψ per periodic cell [i, j].

        Identical on every rank (reduced with MPI_SUM).
        """
        arr = self.array
        shape = (arr.columns, arr.rows)
        sums = {}
        for key, form in self._avg_forms.items():
            space = self._avg_spaces["parent" if key in ("psi", "cell_area") else "sub"]
            msh = space.mesh
            tdim = msh.topology.dim
            b = fem.assemble_vector(form)
            b.scatter_reverse(la.InsertMode.add)
            n_owned = msh.topology.index_map(tdim).size_local
            cells = np.arange(n_owned, dtype=np.int32)
            dofs = space.dofmap.list[cells, 0]
            values = b.array[dofs]
            mid = dmesh.compute_midpoints(msh, tdim, cells)
            i, j = arr.cell_index(mid.T)
            local = np.zeros(shape)
            np.add.at(local, (i, j), values)
            total = np.zeros(shape)
            self.comm.Allreduce(local, total, op=MPI.SUM)
            sums[key] = total
        area = sums["electrolyte_area"]
        with np.errstate(invalid="ignore", divide="ignore"):
            n_plus = sums["n_plus"] / area
            n_minus = sums["n_minus"] / area
        return CellAverages(
            centres=arr.cell_centres(),
            n_plus=n_plus,
            n_minus=n_minus,
            psi=sums["psi"] / sums["cell_area"],
            electrolyte_area=area,
            cell_area=sums["cell_area"],
        )

    def close(self) -> None:
        """Nothing to release (the solver writes no files); kept so callers close every solver."""
