"""The upscaled porous-medium PNP system (25)/(28) for two monovalent ions, with two closures.

Dimensionless unknowns on the macroscopic domain Ω: u^1 (z_1 = +1), u^2 (z_2 = -1) and the
potential ψ = u^3 (equation numbers are those of M. Schmuck, J. Math. Phys. 54, 021504 (2013);
docs/theory.md §10 states the system and both closures). The ion equations are

    p ∂_t u^r - div F_r = f_r,    r = 1, 2,

with the transport closure chosen by `transport`:

* ``"schmuck"``: the paper's (25)/(28) as written,
  F_r = p ∇u^r - D^r ∇ψ + z_r u^r M ∇ψ with D^r = z_r u^r D (D = M - pI by the identity (I2)
  of docs/theory.md §8 for tensors computed from a cell, but any D given is used as given). The
  D^r and M terms are assembled separately; the identity (I3), F_r = p (∇u^r + z_r u^r ∇ψ), is
  *checked* on these operators by `cancellation_residual`, never used to simplify them.
* ``"perforated"``: the classical perforated-domain closure F_r = Π (∇u^r + z_r u^r ∇ψ), Π the
  tortuosity tensor of the Neumann cell problem on Y^s.

Poisson for both: -div(ε⁰ ∇ψ) = p (u^1 - u^2) + f_ψ with a full tensor ε⁰.

Discretization: log variables η^r = log u^r (u^r = e^{η^r} > 0 by construction, ∇u^r =
e^{η^r} ∇η^r), continuous Lagrange P1 (or P2) for (η^1, η^2, ψ) in one blocked space, implicit
Euler in time with one monolithic Newton (SNES) solve per step (`pnpf_fem.fem.snes`). The
storage term p ∂_t u^r and the charge p (u^1 - u^2) use the vertex quadrature of
`pnpf_fem.fem.forms.measures` (mass lumping for P1), so testing with v = 1 gives
⟨p (u^{n+1} - u^n), 1⟩_L = Δt (boundary fluxes + sources): the ion amounts
∫ p u^r (same quadrature) are conserved to round-off under zero-flux conditions.

Boundary conditions by facet tag (integer tags, or names when a `FEMMesh` is given):

* ``potential``: ψ = value (Dirichlet);
* ``concentrations``: u^r = g^r (Dirichlet, Lemma III.4 (29) with g = 0 replaced by g > 0,
  the log variables need positive data);
* ``displacement``: (ε⁰ ∇ψ)·n = value; zero (the default on every untagged boundary) is the
  natural condition of the weak form (30)₂, the conormal one, which equals the ∇_n ψ = 0 of
  (29) only when ε⁰ ∝ I (docs/theory.md §10);
* ``ion_flux``: F_r·n = value, the influx of species r (F_r is minus the particle flux, so
  ∫_Ω p ∂_t u^r = ∫_∂Ω F_r·n + ∫_Ω f_r); zero (the default) is the no-flux condition.

Without a Dirichlet potential, ψ is fixed to 0 at one node (the pure-Neumann problem determines
ψ up to a constant); the discrete Poisson equation then holds at every other node, and the
pinned node absorbs the net charge ∫ (p (u^1 - u^2) + f_ψ) + ∫_∂Ω σ, which the strong form
requires to vanish (the solvability condition of the pure-Neumann problem, which the weak form
(30)₂ with zero-mean test functions does not enforce).

Data (boundary values, initial values, sources) are `pnpf_fem.fem.problem.Value`s: numbers,
callables t -> float, or `Field(lambda x, t: UFL expression)` for manufactured solutions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import ufl
from dolfinx import fem, geometry
from dolfinx.fem.petsc import assemble_vector
from mpi4py import MPI
from petsc4py import PETSc

from pnpf_fem.compat import blocked_lagrange_space, lagrange_space
from pnpf_fem.errors import InputError
from pnpf_fem.fem import forms
from pnpf_fem.fem.impedance import SmallSignal
from pnpf_fem.fem.problem import Value
from pnpf_fem.fem.snes import NonlinearSolver, SolverOptions
from pnpf_fem.fem.transient import TransientProblem
from pnpf_fem.integrate import StepRecord
from pnpf_fem.model import check_data

__all__ = [
    "SPECIES",
    "TRANSPORTS",
    "VALENCES",
    "EffectiveMedium",
    "MacroscaleSolver",
    "cancellation_residual",
    "perforated_flux",
    "reduced_flux",
    "schmuck_flux",
]

TRANSPORTS = ("schmuck", "perforated")
SPECIES = ("u1", "u2")
VALENCES = (1.0, -1.0)

Matrix = tuple[tuple[float, ...], ...]
Tag = int | str


# -- effective medium -----------------------------------------------------------------------------
def _matrix(name: str, value: Any, dim: int | None) -> npt.NDArray[np.float64]:
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise InputError(f"EffectiveMedium.{name} must be a square matrix of numbers") from err
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] not in (1, 2, 3):
        raise InputError(
            f"EffectiveMedium.{name} must be a square 1x1, 2x2 or 3x3 matrix, got shape {a.shape}"
        )
    if dim is not None and a.shape[0] != dim:
        raise InputError(f"EffectiveMedium.{name} is {a.shape[0]}x{a.shape[0]}, expected {dim}D")
    if not np.all(np.isfinite(a)):
        raise InputError(f"EffectiveMedium.{name} has non-finite entries")
    return a


def _symmetric(name: str, a: npt.NDArray[np.float64], rtol: float = 1e-8) -> None:
    scale = float(np.max(np.abs(a))) or 1.0
    asym = float(np.max(np.abs(a - a.T))) / scale
    if asym > rtol:
        raise InputError(
            f"EffectiveMedium.{name} must be symmetric (relative asymmetry {asym:.2e})"
        )


def _tup(a: npt.NDArray[np.float64]) -> Matrix:
    return tuple(tuple(float(v) for v in row) for row in a)


@dataclass(frozen=True)
class EffectiveMedium:
    """Coefficients of the upscaled system (row-major nested tuples).

    porosity p ∈ (0, 1]; eps_eff ε⁰ (symmetric positive definite); M and D = D^r / (z_r u^r)
    of (26) (needed by the "schmuck" closure); tortuosity Π (symmetric positive semidefinite,
    needed by the "perforated" closure). Invalid values raise InputError naming the field.
    """

    porosity: float
    eps_eff: Matrix
    M: Matrix | None = None
    D: Matrix | None = None
    tortuosity: Matrix | None = None

    def __post_init__(self) -> None:
        try:
            p = float(self.porosity)
        except (TypeError, ValueError) as err:
            raise InputError(
                f"EffectiveMedium.porosity must be a number, got {self.porosity!r}"
            ) from err
        if not (math.isfinite(p) and 0.0 < p <= 1.0):
            raise InputError(f"EffectiveMedium.porosity must lie in (0, 1], got {self.porosity!r}")
        object.__setattr__(self, "porosity", p)
        eps = _matrix("eps_eff", self.eps_eff, None)
        _symmetric("eps_eff", eps)
        eig = np.linalg.eigvalsh(0.5 * (eps + eps.T))
        if not np.all(eig > 0.0):
            raise InputError(
                f"EffectiveMedium.eps_eff must be positive definite (eigenvalues {eig.tolist()})"
            )
        object.__setattr__(self, "eps_eff", _tup(eps))
        d = eps.shape[0]
        for name in ("M", "D", "tortuosity"):
            value = getattr(self, name)
            if value is None or (isinstance(value, (tuple, list)) and len(value) == 0):
                object.__setattr__(self, name, None)
                continue
            a = _matrix(name, value, d)
            if name == "tortuosity":
                _symmetric(name, a)
                eig = np.linalg.eigvalsh(0.5 * (a + a.T))
                if np.min(eig) < -1e-12 * max(float(np.max(np.abs(eig))), 1.0):
                    raise InputError(
                        "EffectiveMedium.tortuosity must be positive semidefinite "
                        f"(eigenvalues {eig.tolist()})"
                    )
            object.__setattr__(self, name, _tup(a))

    @property
    def dim(self) -> int:
        return len(self.eps_eff)

    def array(self, name: str) -> npt.NDArray[np.float64]:
        """One of "eps_eff", "M", "D", "tortuosity" as a numpy array (KeyError if absent)."""
        if name not in ("eps_eff", "M", "D", "tortuosity"):
            raise KeyError(name)
        value = getattr(self, name)
        if value is None:
            raise KeyError(f"{name} (not given for this medium)")
        return np.asarray(value, dtype=float)

    def identity_I2_residual(self) -> float:
        """|D - (M - pI)| / max(|M|, p) (max norms): (I2) for tensors of one cell."""
        M, D = self.array("M"), self.array("D")
        eye = np.eye(self.dim)
        return float(np.max(np.abs(D - (M - self.porosity * eye)))) / max(
            float(np.max(np.abs(M))), self.porosity
        )

    @classmethod
    def from_tensors(cls, tensors: Any) -> EffectiveMedium:
        """From `pnpf_fem.homogenization.EffectiveTensors` (tortuosity None if not computed)."""
        return cls(
            porosity=tensors.porosity,
            eps_eff=tensors.eps_eff,
            M=tensors.M,
            D=tensors.D,
            tortuosity=getattr(tensors, "tortuosity", None) or None,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EffectiveMedium:
        """From a mapping with keys porosity, eps_eff and optionally M, D, tortuosity (other
        keys, e.g. the rest of an `EffectiveTensors` JSON, are ignored)."""
        if not isinstance(data, Mapping):
            raise InputError("effective medium data must be a JSON object / mapping")
        for key in ("porosity", "eps_eff"):
            if key not in data:
                raise InputError(f"effective medium data lacks the key {key!r}")
        return cls(
            porosity=data["porosity"],
            eps_eff=data["eps_eff"],
            M=data.get("M"),
            D=data.get("D"),
            tortuosity=data.get("tortuosity"),
        )

    @classmethod
    def from_json(cls, path: str | Path) -> EffectiveMedium:
        """From a JSON file, e.g. one written by `EffectiveTensors.to_json` (`pnpf-fem cell`)."""
        try:
            data = json.loads(Path(path).read_text())
        except OSError as err:
            raise InputError(f"cannot read effective medium file {str(path)!r}: {err}") from err
        except json.JSONDecodeError as err:
            raise InputError(f"effective medium file {str(path)!r} is not JSON: {err}") from err
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (list(map(list, v)) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
        }


# -- fluxes (shared by the solver and the cancellation check) -------------------------------------
@dataclass(frozen=True, eq=False)
class _Coefficients:
    """UFL constants of a medium on one mesh."""

    p: fem.Constant
    eps: fem.Constant
    M: fem.Constant | None
    D: fem.Constant | None
    Pi: fem.Constant | None


def _coefficients(domain, medium: EffectiveMedium) -> _Coefficients:
    def const(name: str) -> fem.Constant | None:
        value = getattr(medium, name)
        if value is None:
            return None
        return fem.Constant(domain, PETSc.ScalarType(np.asarray(value, dtype=float)))

    return _Coefficients(
        p=fem.Constant(domain, PETSc.ScalarType(medium.porosity)),
        eps=const("eps_eff"),
        M=const("M"),
        D=const("D"),
        Pi=const("tortuosity"),
    )


def schmuck_flux(c, grad_eta, grad_psi, z: float, k: _Coefficients):
    """F_r = p ∇u - D^r ∇ψ + z u M ∇ψ with ∇u = u ∇η and D^r = z u D, as (25)/(28) (no I2)."""
    grad_c = c * grad_eta
    D_r = z * c * k.D
    return k.p * grad_c - ufl.dot(D_r, grad_psi) + z * c * ufl.dot(k.M, grad_psi)


def perforated_flux(c, grad_eta, grad_psi, z: float, k: _Coefficients):
    """F_r = Π (∇u + z u ∇ψ) with ∇u = u ∇η (classical perforated-domain closure)."""
    return ufl.dot(k.Pi, c * grad_eta + z * c * grad_psi)


def reduced_flux(c, grad_eta, grad_psi, z: float, k: _Coefficients):
    """(I3): p (∇u + z u ∇ψ), what the "schmuck" flux equals when D = M - pI."""
    return k.p * (c * grad_eta + z * c * grad_psi)


_FLUXES: dict[str, Callable] = {"schmuck": schmuck_flux, "perforated": perforated_flux}


# -- the solver -----------------------------------------------------------------------------------
def _pair(owner: str, value: Any) -> tuple[Value, Value]:
    if isinstance(value, Mapping):
        if set(value) != set(SPECIES):
            raise InputError(f"{owner}: give values for exactly {SPECIES}, got {sorted(value)}")
        value = (value["u1"], value["u2"])
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InputError(f"{owner}: expected a pair (u1, u2) of values")
    for name, v in zip(SPECIES, value, strict=True):
        check_data(f"{owner}[{name}]", v)
    return value[0], value[1]


def _check_choices(medium: Any, transport: str, degree: int) -> None:
    if not isinstance(medium, EffectiveMedium):
        raise InputError("medium must be an EffectiveMedium")
    if transport not in TRANSPORTS:
        raise InputError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
    if degree not in (1, 2):
        raise InputError(f"degree must be 1 or 2, got {degree!r}")


def _check_initial(initial: Mapping[str, Value]) -> dict[str, Value]:
    initial = dict(initial)
    unknown = set(initial) - {"u1", "u2", "psi"}
    if unknown or not {"u1", "u2"} <= set(initial):
        raise InputError(
            f"initial must give 'u1' and 'u2' (and optionally 'psi'), got {sorted(initial)}"
        )
    for k, v in initial.items():
        check_data(f"initial[{k}]", v)
    return initial


def _check_sources(sources: Mapping[str, Value] | None) -> dict[str, Value]:
    sources = dict(sources or {})
    if set(sources) - {"u1", "u2", "psi"}:
        raise InputError(f"sources keys must be u1, u2, psi; got {sorted(sources)}")
    for k, v in sources.items():
        check_data(f"sources[{k}]", v)
    return sources


class MacroscaleSolver(TransientProblem):
    """Implicit-Euler solver of the upscaled PNP system on a tagged DOLFINx mesh.

    mesh: a `pnpf_fem.fem.FEMMesh` (tags by name or number) or a dolfinx Mesh with `facet_tags`.
    medium: `EffectiveMedium`; transport: "schmuck" | "perforated"; degree: 1 or 2.
    initial: {"u1": Value, "u2": Value} and optionally "psi" (otherwise ψ^0 solves Poisson with
    the initial charge). potential / displacement: {tag: Value}; concentrations / ion_flux:
    {tag: (Value, Value)} or {tag: {"u1": ..., "u2": ...}}. sources: {"u1"|"u2"|"psi": Value}.
    All data are evaluated at the new time level t^{n+1}. `step(dt)` is one implicit Euler step
    (the quantities of its record are `observables()`); on SolverError the state is left at t.
    """

    def __init__(
        self,
        mesh: Any,
        medium: EffectiveMedium,
        *,
        initial: Mapping[str, Value],
        facet_tags: Any = None,
        transport: str = "schmuck",
        degree: int = 1,
        potential: Mapping[Tag, Value] | None = None,
        concentrations: Mapping[Tag, Any] | None = None,
        displacement: Mapping[Tag, Value] | None = None,
        ion_flux: Mapping[Tag, Any] | None = None,
        sources: Mapping[str, Value] | None = None,
        options: SolverOptions | None = None,
    ) -> None:
        _check_choices(medium, transport, degree)
        super().__init__(self._define_mesh(mesh, facet_tags), options)
        self._define_medium(medium, transport, degree)
        initial = _check_initial(initial)
        sources = _check_sources(sources)
        self._define_boundary_data(potential, concentrations, displacement, ion_flux)
        self._create_spaces()
        self.f = {name: self._bind(value) for name, value in sources.items()}
        self._set_initial_state(initial)
        self._build()
        self._build_observables()

    # -- set-up steps --------------------------------------------------------------------------
    def _define_mesh(self, mesh: Any, facet_tags: Any) -> Any:
        """The dolfinx mesh, its communicator, facet tags and tag names."""
        if hasattr(mesh, "facet_tags") and hasattr(mesh, "tag_names"):
            self._tag_names: Mapping[str, int] = dict(mesh.tag_names)
            facet_tags = mesh.facet_tags if facet_tags is None else facet_tags
            domain = mesh.mesh
        else:
            self._tag_names = {}
            domain = mesh
        self.comm: MPI.Comm = domain.comm
        self.facet_tags = facet_tags
        if domain.topology.dim != domain.geometry.dim:
            raise InputError("the macroscale mesh must have topological dimension = geometry's")
        return domain

    def _define_medium(self, medium: EffectiveMedium, transport: str, degree: int) -> None:
        gdim = self.domain.geometry.dim
        if medium.dim != gdim:
            raise InputError(f"EffectiveMedium is {medium.dim}D but the mesh is {gdim}D")
        need = ("M", "D") if transport == "schmuck" else ("tortuosity",)
        for name in need:
            if getattr(medium, name) is None:
                raise InputError(f"transport {transport!r} needs EffectiveMedium.{name}")
        self.medium = medium
        self.transport = transport
        self.degree = int(degree)
        self.fdim = gdim - 1
        self.domain.topology.create_connectivity(self.fdim, gdim)

    def _define_boundary_data(
        self,
        potential: Mapping[Tag, Value] | None,
        concentrations: Mapping[Tag, Any] | None,
        displacement: Mapping[Tag, Value] | None,
        ion_flux: Mapping[Tag, Any] | None,
    ) -> None:
        """The boundary data by tag number; a tag carries one condition per equation."""
        self._potential = {self._tag(t): v for t, v in (potential or {}).items()}
        self._displacement = {self._tag(t): v for t, v in (displacement or {}).items()}
        self._concentrations = {
            self._tag(t): _pair(f"concentrations[{t}]", v)
            for t, v in (concentrations or {}).items()
        }
        self._ion_flux = {
            self._tag(t): _pair(f"ion_flux[{t}]", v) for t, v in (ion_flux or {}).items()
        }
        for owner, dct in (("potential", self._potential), ("displacement", self._displacement)):
            for t, v in dct.items():
                check_data(f"{owner}[{t}]", v)
        for a, b, what in (
            (self._potential, self._displacement, "potential"),
            (self._concentrations, self._ion_flux, "concentration"),
        ):
            both = sorted(set(a) & set(b))
            if both:
                raise InputError(f"tags {both} carry both a Dirichlet and a flux {what} condition")

    def _create_spaces(self) -> None:
        """The blocked space W = (η^1, η^2, ψ), the scalar space V, the state, measures and
        coefficients."""
        domain = self.domain
        self.W = blocked_lagrange_space(domain, self.degree, 3)
        self.V = lagrange_space(domain, self.degree)
        self.u = fem.Function(self.W, name="eta1_eta2_psi")
        self.u_n = fem.Function(self.W, name="state_old")
        self._track_state(self.u, self.u_n)
        self.m = forms.measures(domain, self.facet_tags, self.degree)
        self.k = _coefficients(domain, self.medium)

    # -- data ----------------------------------------------------------------------------------
    def _tag(self, tag: Tag) -> int:
        if isinstance(tag, str):
            try:
                return int(self._tag_names[tag])
            except KeyError:
                known = ", ".join(sorted(self._tag_names)) or "none"
                raise InputError(f"unknown boundary tag name {tag!r} (known: {known})") from None
        if isinstance(tag, bool) or not isinstance(tag, (int, np.integer)):
            raise InputError(f"boundary tags must be integers or names, got {tag!r}")
        if self.facet_tags is None:
            raise InputError("boundary conditions by tag need facet_tags")
        return int(tag)

    def _facets(self, tag: int) -> npt.NDArray[np.int32]:
        facets = self.facet_tags.find(tag)
        total = self.comm.allreduce(len(facets), op=MPI.SUM)
        if total == 0:
            raise InputError(f"boundary tag {tag} marks no facet of the mesh")
        return facets

    def _pin(self, space, component: int | None):
        """ψ = 0 at the owned node with the smallest global index (pure Neumann potential)."""
        imap = self.V.dofmap.index_map
        n = imap.size_local + imap.num_ghosts
        glob = imap.local_to_global(np.arange(n, dtype=np.int32))
        big = np.iinfo(np.int64).max
        gmin = self.comm.allreduce(
            int(glob[: imap.size_local].min()) if imap.size_local else big, op=MPI.MIN
        )
        x = self.V.tabulate_dof_coordinates()
        local = np.flatnonzero(glob[: imap.size_local] == gmin)
        xref = self.comm.allreduce(x[local[0]] if len(local) else np.zeros(3), op=MPI.SUM)
        tol = 1e-10 * max(1.0, float(np.max(np.abs(xref))))

        def marker(y: npt.NDArray) -> npt.NDArray[np.bool_]:
            return np.all(np.abs(y - xref[:, None]) < tol, axis=0)

        sub = space if component is None else space.sub(component)
        if component is None:
            return fem.dirichletbc(
                PETSc.ScalarType(0.0), fem.locate_dofs_geometrical(sub, marker), sub
            )
        Vc = sub.collapse()[0]
        zero = fem.Function(Vc)
        dofs = fem.locate_dofs_geometrical((sub, Vc), marker)
        return fem.dirichletbc(zero, dofs, sub)

    def _potential_bcs(self, space: fem.FunctionSpace, component: int | None) -> list:
        bcs = [
            self._dirichlet_bc(space, component, self._facets(tag), value)
            for tag, value in self._potential.items()
        ]
        return bcs or [self._pin(space, component)]

    @property
    def potential_pinned(self) -> bool:
        """True when ψ is fixed at one node (no Dirichlet potential given)."""
        return not self._potential

    # -- forms ---------------------------------------------------------------------------------
    def _neumann(self, data: Mapping[int, Value], w) -> Any:
        out = 0
        for tag, value in data.items():
            self._facets(tag)
            out += self._bind(value) * w * self.m.ds(tag)
        return out

    def _poisson_residual(self, psi, c: Sequence, w) -> Any:
        """-div(ε⁰ ∇ψ) = p (u^1 - u^2) + f_ψ with the displacement data, weakly."""
        k = self.k
        F = ufl.inner(ufl.dot(k.eps, ufl.grad(psi)), ufl.grad(w)) * self.m.dx
        F -= k.p * (c[0] - c[1]) * w * self.m.dxL
        if self.f.get("psi") is not None:
            F -= self.f["psi"] * w * self.m.dx
        return F - self._neumann(self._displacement, w)

    def flux(self, r: int, transport: str | None = None, coefficients=None):
        """UFL flux F_r of species r (0 or 1) at the current state, for a closure."""
        transport = transport or self.transport
        k = coefficients or self.k
        eta, psi = self.u[r], self.u[2]
        return _FLUXES[transport](ufl.exp(eta), ufl.grad(eta), ufl.grad(psi), VALENCES[r], k)

    def _build(self) -> None:
        u, un, k, m = self.u, self.u_n, self.k, self.m
        v = ufl.TestFunction(self.W)
        c = [ufl.exp(u[0]), ufl.exp(u[1])]
        F = 0
        for r, name in enumerate(SPECIES):
            cn = ufl.exp(un[r])
            F += k.p * (c[r] - cn) / self.dt * v[r] * m.dxL
            F += ufl.inner(self.flux(r), ufl.grad(v[r])) * m.dx
            if self.f.get(name) is not None:
                F -= self.f[name] * v[r] * m.dx
            F -= self._neumann({t: pair[r] for t, pair in self._ion_flux.items()}, v[r])
        F += self._poisson_residual(u[2], c, v[2])
        bcs = self._potential_bcs(self.W, 2)
        for tag, pair in self._concentrations.items():
            for r in range(2):
                bcs.append(self._dirichlet_bc(self.W, r, self._facets(tag), pair[r], log=True))
        self._set_times(self.t)
        self.residual = F
        self.bcs = bcs
        self.solver = NonlinearSolver(F, u, bcs, f"macro_{self.transport}", self.options)

    def small_signal(self, tag: Tag) -> SmallSignal:
        """The linearization at the state now in `u` (a steady state) driven by the potential
        of `tag` (`pnpf_fem.fem.impedance`); the charge is the displacement flux through the
        tag, Gauss's law tested with the indicator of its nodes (as `ResolvedPNP`'s)."""
        t = self._tag(tag)
        if t not in self._potential:
            raise InputError(f"tag {tag!r} carries no potential")
        facets = self._facets(t)
        drive = fem.locate_dofs_topological((self.W.sub(2), self.V), self.fdim, facets)[0]
        chi = fem.Function(self.V)
        chi.x.array[fem.locate_dofs_topological(self.V, self.fdim, facets)] = 1.0
        c = [ufl.exp(self.u[0]), ufl.exp(self.u[1])]
        return self._small_signal(drive, self._poisson_residual(self.u[2], c, chi))

    def _set_initial_state(self, initial: Mapping[str, Value]) -> None:
        self._set_times(0.0)
        cols = self.u.x.array.reshape(-1, 3)
        for r, name in enumerate(SPECIES):
            cols[:, r] = self._interpolate_initial(initial[name], self.V, ufl.ln)
        if not np.all(np.isfinite(cols[:, :2])):
            raise InputError("initial concentrations must be positive")
        if "psi" in initial:
            cols[:, 2] = self._interpolate_initial(initial["psi"], self.V)
        else:
            cols[:, 2] = self._solve_initial_potential(
                [cols[:, 0], cols[:, 1]], self.V, "macro_psi0"
            )
        self.u.x.scatter_forward()
        self._commit()

    def _record(self, dt: float, iterations: int, seconds: float) -> StepRecord:
        return StepRecord(self.t, dt, iterations, seconds, self.observables())

    # -- observables ---------------------------------------------------------------------------
    def _build_observables(self) -> None:
        k, dxL = self.k, self.m.dxL
        c = [ufl.exp(self.u[0]), ufl.exp(self.u[1])]
        self._amount = [fem.form(k.p * ci * dxL) for ci in c]
        self._volume = fem.form(fem.Constant(self.domain, PETSc.ScalarType(1.0)) * self.m.dx)

    def _scalar(self, f) -> float:
        return float(self.comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM))

    def observables(self) -> dict[str, float]:
        """amount_u1, amount_u2 (∫ p u^r, storage quadrature), charge (∫ p (u^1 - u^2)),
        min_u1, min_u2 (nodal), t."""
        a = [self._scalar(f) for f in self._amount]
        n_owned = self.W.dofmap.index_map.size_local
        vals = self.u.x.array.reshape(-1, 3)[:n_owned]
        out: dict[str, float] = {"t": float(self.t)}
        for r, name in enumerate(SPECIES):
            out[f"amount_{name}"] = a[r]
            local = float(np.exp(vals[:, r].min())) if n_owned else np.inf
            out[f"min_{name}"] = float(self.comm.allreduce(local, op=MPI.MIN))
        out["charge"] = a[0] - a[1]
        return out

    def fields(self) -> tuple[ufl.core.expr.Expr, ufl.core.expr.Expr, ufl.core.expr.Expr]:
        """UFL expressions (u^1, u^2, ψ) of the current state."""
        return ufl.exp(self.u[0]), ufl.exp(self.u[1]), self.u[2]

    def evaluate(self, points: npt.ArrayLike) -> dict[str, npt.NDArray[np.float64]]:
        """u1, u2, psi at `points` (shape (n, gdim) or (n, 3)), the same arrays on every rank.

        Each point is evaluated on the lowest rank owning a cell that contains it; InputError if
        a point lies outside the mesh. Collective: every rank must call it with the same points.
        """
        pts = np.asarray(points, dtype=float)
        if pts.ndim == 1:
            pts = pts[None, :]
        if pts.ndim != 2 or pts.shape[1] not in (self.domain.geometry.dim, 3):
            raise InputError(f"points must have shape (n, {self.domain.geometry.dim}) or (n, 3)")
        xyz = np.zeros((pts.shape[0], 3))
        xyz[:, : pts.shape[1]] = pts
        tdim = self.domain.topology.dim
        n_owned = self.domain.topology.index_map(tdim).size_local
        tree = geometry.bb_tree(self.domain, tdim, np.arange(n_owned, dtype=np.int32))
        candidates = geometry.compute_collisions_points(tree, xyz)
        colliding = geometry.compute_colliding_cells(self.domain, candidates, xyz)
        cells = np.full(len(xyz), -1, dtype=np.int32)
        for i in range(len(xyz)):
            links = colliding.links(i)
            if len(links):
                cells[i] = links[0]
        found = cells >= 0
        big = self.comm.size
        owner = np.where(found, self.comm.rank, big)
        first = np.empty_like(owner)
        self.comm.Allreduce(owner, first, op=MPI.MIN)
        if np.any(first == big):
            missing = xyz[first == big][:3, : pts.shape[1]].tolist()
            raise InputError(
                f"evaluate: {int(np.sum(first == big))} point(s) outside the mesh, e.g. {missing}"
            )
        mine = found & (first == self.comm.rank)
        bs = self.W.dofmap.index_map_bs
        local = np.zeros((len(xyz), bs))
        if np.any(mine):
            local[mine] = self.u.eval(xyz[mine], cells[mine]).reshape(-1, bs)
        vals = np.empty_like(local)
        self.comm.Allreduce(local, vals, op=MPI.SUM)
        return self._point_values(vals)

    def _point_values(self, vals: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.float64]]:
        """The named fields from the state's component values at points (one row each); a
        subclass with more unknowns (the heat model's ξ) adds its own."""
        return {"u1": np.exp(vals[:, 0]), "u2": np.exp(vals[:, 1]), "psi": vals[:, 2]}

    def box_average(
        self, lower: Sequence[float], upper: Sequence[float], order: int = 4
    ) -> dict[str, float]:
        """Averages of u1, u2, psi over the box [lower, upper] by Gauss–Legendre (order^d points).

        For comparing with cell averages of a pore-resolved solution; collective.
        """
        lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        d = self.domain.geometry.dim
        if lo.shape != (d,) or hi.shape != (d,) or not np.all(hi > lo):
            raise InputError(f"box_average: need lower < upper with {d} coordinates each")
        g, wg = np.polynomial.legendre.leggauss(int(order))
        grids = np.meshgrid(*[0.5 * (lo[i] + hi[i]) + 0.5 * (hi[i] - lo[i]) * g for i in range(d)])
        weights = np.prod(np.meshgrid(*[wg] * d), axis=0).ravel() / 2.0**d
        pts = np.stack([gr.ravel() for gr in grids], axis=1)
        vals = self.evaluate(pts)
        return {k: float(np.dot(weights, v)) for k, v in vals.items()}


def cancellation_residual(solver: MacroscaleSolver, medium: EffectiveMedium | None = None) -> float:
    """Relative l2 difference of the assembled "schmuck" and reduced flux residuals.

    Assembles b_S[r] = (F_r^schmuck, ∇v_r) with F^schmuck = p ∇u - D^r ∇ψ + z u M ∇ψ (the
    solver's own flux operator, with M and D of `medium`, default the solver's) and
    b_R[r] = (p (∇u + z u ∇ψ), ∇v_r) on the same space and quadrature, at the current state,
    and returns ||b_S - b_R|| / ||b_R|| (r = 1, 2 together). Round-off when D = M - pI (I2),
    O(1) otherwise.
    """
    k = solver.k if medium is None else _coefficients(solver.domain, medium)
    if k.M is None or k.D is None:
        raise InputError("cancellation_residual needs EffectiveMedium.M and D")
    v = ufl.TestFunction(solver.W)
    dx = solver.m.dx
    schmuck = sum(ufl.inner(solver.flux(r, "schmuck", k), ufl.grad(v[r])) * dx for r in range(2))
    reduced = 0
    for r in range(2):
        eta, psi = solver.u[r], solver.u[2]
        red = reduced_flux(ufl.exp(eta), ufl.grad(eta), ufl.grad(psi), VALENCES[r], k)
        reduced += ufl.inner(red, ufl.grad(v[r])) * dx
    vecs = []
    for form_ in (schmuck, reduced):
        b = assemble_vector(fem.form(form_))
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        vecs.append(b)
    ref = vecs[1].norm()
    vecs[0].axpy(-1.0, vecs[1])
    diff = vecs[0].norm()
    for b in vecs:
        b.destroy()
    return diff / ref if ref > 0 else diff
