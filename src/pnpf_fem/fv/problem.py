"""A PNPF problem on a Voronoi mesh: coefficients, boundary data by tag *name*, sources; the state.

Boundary conditions (2.9): zero ion flux and thermal insulation on all of ∂Ω (built into the
schemes); for ψ, Dirichlet data ψ^D(x, y, t) on the tags named in `dirichlet` (imposed strongly at
the Γ_D vertices, ψ_i = ψ^D(x_i, t), because d(x_i, σ) = 0 for vertex-centred boxes) and Neumann
data ψ^N = ε²∂_nψ on the tags in `neumann` (a boundary flux m(σ) ψ^N evaluated at the midpoint
of each boundary piece). Tags in neither are homogeneous Neumann.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pnpf_fem.errors import InputError
from pnpf_fem.fv.mesh import VoronoiMesh
from pnpf_fem.fv.operators import neumann_flux, weighted_stiffness
from pnpf_fem.meshing import TaggedTriangulation
from pnpf_fem.units import DimensionlessPNPF

__all__ = ["FVState", "PNPFProblem", "SpaceTimeFunction", "initial_state"]

FloatArray = npt.NDArray[np.float64]
SpaceTimeFunction = Callable[[FloatArray, FloatArray, float], "FloatArray | float"]


def _evaluate(f: SpaceTimeFunction | float, xy: FloatArray, t: float) -> FloatArray:
    val = f(xy[:, 0], xy[:, 1], t) if callable(f) else f
    return np.array(np.broadcast_to(np.asarray(val, dtype=np.float64), (xy.shape[0],)))


@dataclass(frozen=True)
class FVState:
    """Grid functions at time t: c (M, N) concentrations, psi (N,) potential, T (N,) temperature."""

    t: float
    c: FloatArray
    psi: FloatArray
    T: FloatArray


@dataclass(frozen=True, eq=False)
class PNPFProblem:
    """Everything the schemes need besides the state and Δt.

    mesh: a `VoronoiMesh` (or a `TaggedTriangulation`, converted and checked).
    params: coefficients ε, ν^ℓ, z^ℓ, C_T, k, ρ^f of (2.8) (`DimensionlessPNPF`).
    dirichlet / neumann: tag name → ψ^D(x, y, t) / ψ^N(x, y, t) (callables or numbers).
    fixed_charge: ρ^f(x, y, t); None means the constant `params.fixed_charge`.
    ion_sources: f_ℓ(x, y, t) per species (manufactured solutions), or None.
    heat_source: f_3(x, y, t), or None.
    """

    mesh: VoronoiMesh
    params: DimensionlessPNPF
    dirichlet: Mapping[str, SpaceTimeFunction | float] = field(default_factory=dict)
    neumann: Mapping[str, SpaceTimeFunction | float] = field(default_factory=dict)
    fixed_charge: SpaceTimeFunction | None = None
    ion_sources: Sequence[SpaceTimeFunction | None] | None = None
    heat_source: SpaceTimeFunction | None = None

    def __post_init__(self) -> None:
        if isinstance(self.mesh, TaggedTriangulation):
            object.__setattr__(self, "mesh", VoronoiMesh.from_triangulation(self.mesh))
        if not isinstance(self.mesh, VoronoiMesh):
            raise InputError("PNPFProblem.mesh must be a VoronoiMesh or a TaggedTriangulation")
        if not isinstance(self.params, DimensionlessPNPF):
            raise InputError("PNPFProblem.params must be a DimensionlessPNPF")
        for kind in ("dirichlet", "neumann"):
            data = dict(getattr(self, kind))
            for name in data:
                self.mesh.tag(name)  # InputError naming the unknown tag
            object.__setattr__(self, kind, MappingProxyType(data))
        if not self.dirichlet:
            raise InputError(
                "PNPFProblem needs Dirichlet data for ψ on at least one boundary tag "
                "(pure Neumann fixes ψ only up to a constant)"
            )
        both = sorted(set(self.dirichlet) & set(self.neumann))
        if both:
            raise InputError(f"boundary tags {both} have both Dirichlet and Neumann data for ψ")
        if self.ion_sources is not None and len(self.ion_sources) != self.params.num_species:
            raise InputError(
                f"PNPFProblem.ion_sources has {len(self.ion_sources)} entries for "
                f"{self.params.num_species} species"
            )
        mesh = self.mesh
        # Γ_D vertices (a corner shared with a Neumann side is Dirichlet) and their tag
        owner = np.full(mesh.num_vertices, -1, dtype=np.int64)
        names = list(self.dirichlet)
        for k, name in enumerate(names):
            owner[mesh.vertices_of(name)] = k
        object.__setattr__(self, "_dirichlet_owner", owner)
        object.__setattr__(self, "_dirichlet_names", names)
        object.__setattr__(self, "_stiffness", weighted_stiffness(mesh))

    # --- boundary data and sources at time t ------------------------------------------------

    @property
    def num_species(self) -> int:
        return self.params.num_species

    @property
    def dirichlet_vertices(self) -> npt.NDArray[np.int64]:
        return np.nonzero(self._dirichlet_owner >= 0)[0]

    @property
    def stiffness(self) -> sp.csr_matrix:
        """K_1: (K_1 u)_i = Σ τ_σ (u_i − u_j), i.e. −m(V_i) Δ_h u without boundary data."""
        return self._stiffness

    def psi_dirichlet(self, t: float) -> FloatArray:
        """ψ^D(x_i, t) at the Γ_D vertices (order of `dirichlet_vertices`)."""
        idx = self.dirichlet_vertices
        owner = self._dirichlet_owner[idx]
        out = np.empty(idx.size)
        xy = self.mesh.points[idx]
        for k, name in enumerate(self._dirichlet_names):  # loop over tags, not vertices
            sel = owner == k
            out[sel] = _evaluate(self.dirichlet[name], xy[sel], t)
        return out

    def psi_neumann_flux(self, t: float) -> FloatArray:
        """Σ_{σ ⊂ ∂V_i ∩ Γ_N} m(σ) ψ^N_σ per vertex (zero off Γ_N)."""
        mesh = self.mesh
        vals = np.zeros(mesh.piece_vertex.size)
        for name, f in self.neumann.items():
            sel = mesh.piece_marker == mesh.tag(name)
            vals[sel] = _evaluate(f, mesh.piece_midpoint[sel], t)
        return neumann_flux(mesh, vals)

    def rho(self, t: float) -> FloatArray:
        """ρ^f at the vertices."""
        if self.fixed_charge is None:
            return np.full(self.mesh.num_vertices, float(self.params.fixed_charge))
        return _evaluate(self.fixed_charge, self.mesh.points, t)

    def ion_source_values(self, t: float) -> FloatArray | None:
        """(M, N) values f_ℓ(x_i, t), or None without sources."""
        if self.ion_sources is None:
            return None
        pts = self.mesh.points
        return np.array(
            [
                np.zeros(pts.shape[0]) if f is None else _evaluate(f, pts, t)
                for f in self.ion_sources
            ]
        )

    def heat_source_values(self, t: float) -> FloatArray | None:
        if self.heat_source is None:
            return None
        return _evaluate(self.heat_source, self.mesh.points, t)

    def poisson_matrix(self) -> sp.csr_matrix:
        """ε² K_1 with the Γ_D rows replaced by identity rows (strong Dirichlet)."""
        n = self.mesh.num_vertices
        keep = np.ones(n)
        keep[self.dirichlet_vertices] = 0.0
        a = sp.diags(keep) @ (self.params.eps**2 * self._stiffness)
        return (a + sp.diags(1.0 - keep)).tocsr()

    def poisson_residual(self, psi: FloatArray, charge: FloatArray, t: float) -> FloatArray:
        """−ε²Δ_hψ − (Σ z c + ρ^f), times m(V_i); ψ_i − ψ^D_i on Γ_D.  (3.3), third line."""
        m = self.mesh.volumes
        r = self.params.eps**2 * (self._stiffness @ psi) - self.psi_neumann_flux(t)
        r -= m * (charge + self.rho(t))
        idx = self.dirichlet_vertices
        r[idx] = psi[idx] - self.psi_dirichlet(t)
        return r


def initial_state(
    problem: PNPFProblem,
    c0: Sequence[SpaceTimeFunction | float],
    T0: SpaceTimeFunction | float,
    psi0: SpaceTimeFunction | float | None = None,
    t0: float = 0.0,
) -> FVState:
    """Vertex values of the initial data (3.5) (point values, second-order accurate box means).

    Without `psi0`, ψ⁰ solves the discrete Poisson equation with c⁰ (Scheme II needs ψ⁰ in
    ψ^{1/2}); Scheme I never reads ψ⁰.
    """
    p = problem.params
    if len(c0) != p.num_species:
        raise InputError(
            f"initial_state: {len(c0)} initial concentrations for {p.num_species} species"
        )
    pts = problem.mesh.points
    c = np.array([_evaluate(f, pts, t0) for f in c0])
    T = _evaluate(T0, pts, t0)
    if np.any(c <= 0) or np.any(T <= 0):
        raise InputError("initial_state: concentrations and temperature must be positive")
    if psi0 is None:
        charge = np.tensordot(np.asarray(p.valences), c, axes=1)
        rhs = -problem.poisson_residual(np.zeros(pts.shape[0]), charge, t0)
        psi = spla.spsolve(problem.poisson_matrix().tocsc(), rhs)
    else:
        psi = _evaluate(psi0, pts, t0)
    return FVState(t=float(t0), c=c, psi=np.asarray(psi, dtype=np.float64), T=T)
