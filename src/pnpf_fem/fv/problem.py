"""A PNPF problem on a Voronoi mesh: coefficients, boundary data by tag *name*, sources; the state.

Boundary conditions: zero ion flux and thermal insulation (2.9) wherever no datum is given. For
ψ, Dirichlet data ψ^D(x, y, t) on the tags named in `dirichlet` (imposed strongly at the Γ_D
vertices, ψ_i = ψ^D(x_i, t), because d(x_i, σ) = 0 for vertex-centred boxes) and Neumann data
ψ^N = ε²∂_nψ on the tags in `neumann` (a boundary flux m(σ) ψ^N evaluated at the midpoint of
each boundary piece); tags in neither are homogeneous Neumann. The other conditions follow the
same two patterns:

* `reservoirs` (c^ℓ = c_b on a tag) and `temperature` (T = T_b on a tag) are Dirichlet data,
  imposed strongly at the tag's vertices on the scheme's unknown (η^ℓ = log c_b, T or
  ξ = log T_b); the box equation of such a vertex is replaced, so ions (a reservoir) or heat (a
  thermostat) cross the tag and the masses are no longer conserved;
* `heat_flux` (k ∂T/∂n = q into Ω) and `heat_transfer` (k ∂T/∂n = h (T_a − T)) are boundary
  fluxes of the heat equation, Σ_{σ ⊂ ∂V_i ∩ Γ} m(σ) q_σ into V_i (`heat_inflow`; q at the piece
  midpoints, the heat transfer with the vertex temperature);
* `stern` (an electrode at V behind a Stern layer of thickness λ_S: ε² ∂ψ/∂n = (ε²/λ_S)(V − ψ))
  is a boundary flux of the Poisson equation depending on ψ_i, Σ_{σ ⊂ ∂V_i ∩ Γ} m(σ) C_S
  (V_σ − ψ_i) with C_S = ε²/λ_S and V at the piece midpoints (`stern_conductance`);
* `reactions` (Butler–Volmer kinetics, `ElectrodeReaction`) are boundary fluxes of an ion
  equation, of the heat equation and of P, Σ_{σ ⊂ ∂V_i ∩ Γ} m(σ) (…) evaluated with the vertex
  values c_i, ψ_i, T_i and the electrode potential V(x_i) (`reaction_vertices`); the schemes take
  them at their own time levels.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pnpf_fem.errors import InputError
from pnpf_fem.fv.mesh import VoronoiMesh
from pnpf_fem.fv.operators import neumann_flux, weighted_stiffness
from pnpf_fem.meshing import TaggedTriangulation
from pnpf_fem.meshing3d import TaggedTetrahedra
from pnpf_fem.units import DimensionlessPNPF

__all__ = ["ElectrodeReaction", "FVState", "PNPFProblem", "SpaceTimeFunction", "initial_state"]

FloatArray = npt.NDArray[np.float64]
# f(x, y, t) in 2D, f(x, y, z, t) in 3D: the vertex coordinates, then the time
SpaceTimeFunction = Callable[..., "FloatArray | float"]


def _evaluate(f: SpaceTimeFunction | float, xy: FloatArray, t: float) -> FloatArray:
    val = f(*xy.T, t) if callable(f) else f
    return np.array(np.broadcast_to(np.asarray(val, dtype=np.float64), (xy.shape[0],)))


@dataclass(frozen=True)
class FVState:
    """Grid functions at time t: c (M, N) concentrations, psi (N,) potential, T (N,) temperature."""

    t: float
    c: FloatArray
    psi: FloatArray
    T: FloatArray


@dataclass(frozen=True)
class ElectrodeReaction:
    """Butler–Volmer kinetics of one electrode reaction on the tag `tag` (`pnpf_fem.model.Reaction`
    with the species as an index and the electrode potential V attached).

    The anodic reaction makes s = `stoichiometry` ions of species `species` (valence z) and
    releases n = `electrons` = s z > 0 electrons at the rate per area

        r = k₀ [e^{s⁻ (log c − log c_ref) + α n η/T} − e^{s⁺ (log c − log c_ref) − (1−α) n η/T}],

    η = V − ψ − E_eq (k₀ = `rate_constant`, α = `alpha`, E_eq = `equilibrium`, log c_ref =
    `log_reference`); ΔS = `entropy` (k_B per event). The ions enter at the rate s r, the heat
    r (n η − T ΔS) is released at the electrode, and the Faradaic current is n r."""

    tag: str
    species: int
    rate_constant: float
    electrons: float
    stoichiometry: float
    potential: SpaceTimeFunction | float
    alpha: float = 0.5
    equilibrium: float = 0.0
    log_reference: float = 0.0
    entropy: float = 0.0

    def overpotential(self, psi: FloatArray, V: FloatArray) -> FloatArray:
        """η = V − ψ − E_eq."""
        return V - psi - self.equilibrium

    def rate(
        self, log_c: FloatArray, psi: FloatArray, temp: FloatArray, V: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """r and its derivatives by log c, ψ and T (pointwise)."""
        s, n, a = self.stoichiometry, self.electrons, self.alpha
        eta = self.overpotential(psi, V)
        x = log_c - self.log_reference
        forward = np.exp(max(-s, 0.0) * x + a * n * eta / temp)
        backward = np.exp(max(s, 0.0) * x - (1.0 - a) * n * eta / temp)
        k0 = self.rate_constant
        both = k0 * (a * forward + (1.0 - a) * backward)
        return (
            k0 * (forward - backward),
            k0 * (max(-s, 0.0) * forward - max(s, 0.0) * backward),
            -n / temp * both,
            -n * eta / temp**2 * both,
        )


@dataclass(frozen=True, eq=False)
class PNPFProblem:
    """Everything the schemes need besides the state and Δt.

    mesh: a `VoronoiMesh` (or a `TaggedTriangulation`, converted and checked).
    params: coefficients ε, ν^ℓ, z^ℓ, C_T, k, ρ^f of (2.8) (`DimensionlessPNPF`).
    dirichlet / neumann: tag name → ψ^D(x, y, t) / ψ^N(x, y, t) (callables or numbers).
    fixed_charge: ρ^f(x, y, t); None means the constant `params.fixed_charge`.
    ion_sources: f_ℓ(x, y, t) per species (manufactured solutions), or None.
    heat_source: f_3(x, y, t), or None.
    reservoirs: tag name → {species name → c_b(x, y, t) > 0} (Dirichlet concentrations).
    temperature: tag name → T_b(x, y, t) > 0 (a thermostat, Dirichlet T).
    heat_flux: tag name → q(x, y, t), the heat flux k ∂T/∂n into the domain.
    heat_transfer: tag name → (h, T_a): k ∂T/∂n = h (T_a − T), h ≥ 0, T_a > 0.
    stern: tag name → (V(x, y, t), λ_S > 0): an electrode at V behind a Stern layer, the Robin
        condition ε² ∂ψ/∂n = (ε²/λ_S)(V − ψ) (it fixes ψ as a Dirichlet tag does).
    reactions: the `ElectrodeReaction`s (Butler–Volmer kinetics on electrode tags).
    partition: on several MPI ranks, the rank's `pnpf_fem.fv.partition.Partition` (`mesh` is
        then its local mesh; sums, minima and maxima over vertices go through `total`,
        `minimum`, `maximum`, which count the owned vertices of every rank once).
    """

    mesh: VoronoiMesh
    params: DimensionlessPNPF
    dirichlet: Mapping[str, SpaceTimeFunction | float] = field(default_factory=dict)
    neumann: Mapping[str, SpaceTimeFunction | float] = field(default_factory=dict)
    fixed_charge: SpaceTimeFunction | None = None
    ion_sources: Sequence[SpaceTimeFunction | None] | None = None
    heat_source: SpaceTimeFunction | None = None
    reservoirs: Mapping[str, Mapping[str, SpaceTimeFunction | float]] = field(default_factory=dict)
    temperature: Mapping[str, SpaceTimeFunction | float] = field(default_factory=dict)
    heat_flux: Mapping[str, SpaceTimeFunction | float] = field(default_factory=dict)
    heat_transfer: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    stern: Mapping[str, tuple[SpaceTimeFunction | float, float]] = field(default_factory=dict)
    reactions: Sequence[ElectrodeReaction] = ()
    partition: Any = None

    def total(self, values: FloatArray) -> float:
        """Σ of per-vertex values (..., n) over the vertices (each once, on every rank)."""
        if self.partition is None:
            return float(np.sum(values))
        return self.partition.sum(values)

    def anywhere(self, flags: npt.NDArray[np.bool_]) -> bool:
        """Whether any flag is set on any rank (so that all ranks raise together)."""
        local = bool(np.any(flags))
        return local if self.partition is None else self.partition.any_rank(local)

    def minimum(self, values: FloatArray) -> float:
        return float(np.min(values)) if self.partition is None else self.partition.min(values)

    def maximum(self, values: FloatArray) -> float:
        return float(np.max(values)) if self.partition is None else self.partition.max(values)

    def __post_init__(self) -> None:
        if isinstance(self.mesh, TaggedTriangulation | TaggedTetrahedra):
            object.__setattr__(self, "mesh", VoronoiMesh.from_triangulation(self.mesh))
        if not isinstance(self.mesh, VoronoiMesh):
            raise InputError(
                "PNPFProblem.mesh must be a VoronoiMesh, a TaggedTriangulation or TaggedTetrahedra"
            )
        if not isinstance(self.params, DimensionlessPNPF):
            raise InputError("PNPFProblem.params must be a DimensionlessPNPF")
        kinds = ("dirichlet", "neumann", "temperature", "heat_flux", "heat_transfer", "stern")
        for kind in kinds:
            data = dict(getattr(self, kind))
            for name in data:
                self.mesh.tag(name)  # InputError naming the unknown tag
            object.__setattr__(self, kind, MappingProxyType(data))
        self._check_ion_and_heat_data()
        self._check_electrodes()
        if not self.dirichlet and not self.stern:
            raise InputError(
                "PNPFProblem needs Dirichlet data for ψ (or a Stern electrode) on at least one "
                "boundary tag (pure Neumann fixes ψ only up to a constant)"
            )
        kinds = {"dirichlet": "Dirichlet", "neumann": "Neumann", "stern": "Stern"}
        for a, b in itertools.combinations(kinds, 2):
            both = sorted(set(getattr(self, a)) & set(getattr(self, b)))
            if both:
                raise InputError(
                    f"boundary tags {both} have both {kinds[a]} and {kinds[b]} data for ψ"
                )
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
        # the Dirichlet vertices of every species' reservoirs and of the thermostats, and the
        # boundary measure Σ m(σ) of each vertex on the heat-transfer tags
        species = self.params.species_names
        by_species = [
            {tag: data[name] for tag, data in self.reservoirs.items() if name in data}
            for name in species
        ]
        object.__setattr__(self, "_reservoirs", [_Vertices(mesh, d) for d in by_species])
        object.__setattr__(self, "_thermostats", _Vertices(mesh, self.temperature))
        h_area = np.zeros(mesh.piece_vertex.size)
        h_ambient = np.zeros(mesh.piece_vertex.size)
        for name, (h, ambient) in self.heat_transfer.items():
            sel = mesh.piece_marker == mesh.tag(name)
            h_area[sel] = h * mesh.piece_measure[sel]
            h_ambient[sel] = h * ambient * mesh.piece_measure[sel]
        n = mesh.num_vertices
        object.__setattr__(
            self,
            "_transfer",
            (
                np.bincount(mesh.piece_vertex, h_area, n),
                np.bincount(mesh.piece_vertex, h_ambient, n),
            ),
        )
        # the Stern tags' boundary pieces with C_S = ε²/λ_S; the reactions' boxes and their
        # boundary measures Σ m(σ) on the reacting tag
        object.__setattr__(
            self,
            "_stern_pieces",
            [
                (name, mesh.piece_marker == mesh.tag(name), self.params.eps**2 / lam)
                for name, (_, lam) in self.stern.items()
            ],
        )
        areas = []
        for rx in self.reactions:
            sel = mesh.piece_marker == mesh.tag(rx.tag)
            area = np.bincount(mesh.piece_vertex[sel], mesh.piece_measure[sel], n)
            idx = np.nonzero(area > 0)[0]
            areas.append((idx, area[idx]))
        object.__setattr__(self, "_reaction_areas", areas)

    def _check_ion_and_heat_data(self) -> None:
        """Reservoirs name known tags and species; one thermal condition per tag; h ≥ 0, T_a > 0,
        positive constant concentrations and temperatures."""
        species = self.params.species_names
        reservoirs = {}
        for tag, data in dict(self.reservoirs).items():
            self.mesh.tag(tag)
            data = dict(data)
            for name, value in data.items():
                if name not in species:
                    raise InputError(f"reservoir on {tag!r}: no species {name!r} ({species})")
                if not callable(value) and not float(value) > 0:
                    raise InputError(f"reservoir on {tag!r}: c[{name}] must be positive")
            reservoirs[tag] = MappingProxyType(data)
        object.__setattr__(self, "reservoirs", MappingProxyType(reservoirs))
        thermal = [*self.temperature, *self.heat_flux, *self.heat_transfer]
        twice = sorted({t for t in thermal if thermal.count(t) > 1})
        if twice:
            raise InputError(f"boundary tags {twice} have more than one thermal condition")
        for tag, value in self.temperature.items():
            if not callable(value) and not float(value) > 0:
                raise InputError(f"temperature on {tag!r} must be positive, got {value!r}")
        for tag, (h, ambient) in self.heat_transfer.items():
            if not (float(h) >= 0 and float(ambient) > 0):
                raise InputError(
                    f"heat transfer on {tag!r} needs a coefficient >= 0 and an ambient T > 0"
                )

    def _check_electrodes(self) -> None:
        """Stern layers have λ_S > 0; reactions name known tags and species, with k₀ ≥ 0,
        0 < α < 1 and n > 0."""
        for tag, (_, lam) in self.stern.items():
            if not float(lam) > 0:
                raise InputError(f"Stern layer on {tag!r} needs a thickness > 0, got {lam!r}")
        reactions = tuple(self.reactions)
        for rx in reactions:
            if not isinstance(rx, ElectrodeReaction):
                raise InputError("PNPFProblem.reactions must hold ElectrodeReaction objects")
            self.mesh.tag(rx.tag)
            where = f"reaction on {rx.tag!r}"
            if not 0 <= rx.species < self.params.num_species:
                raise InputError(f"{where}: no species {rx.species}")
            if not (rx.rate_constant >= 0 and 0 < rx.alpha < 1 and rx.electrons > 0):
                raise InputError(f"{where} needs k0 >= 0, 0 < alpha < 1 and n = s z > 0")
        object.__setattr__(self, "reactions", reactions)

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

    def stern_conductance(self, t: float) -> tuple[FloatArray, FloatArray]:
        """(g, g_V) per vertex with g_i = Σ_{σ ⊂ ∂V_i ∩ Γ_S} m(σ) C_S and g_{V,i} = Σ m(σ) C_S V_σ
        (V at the piece midpoints, time t): the Stern flux into V_i is g_{V,i} − g_i ψ_i."""
        mesh = self.mesh
        g = np.zeros(mesh.piece_vertex.size)
        gv = np.zeros(mesh.piece_vertex.size)
        for name, sel, cs in self._stern_pieces:
            g[sel] = cs
            gv[sel] = cs * _evaluate(self.stern[name][0], mesh.piece_midpoint[sel], t)
        return neumann_flux(mesh, g), neumann_flux(mesh, gv)

    def psi_boundary_flux(self, t: float, psi: FloatArray) -> FloatArray:
        """ε² ∂ψ/∂n integrated over the boundary pieces of each box: ψ^N on Γ_N and the Stern
        flux C_S (V − ψ_i) (zero elsewhere)."""
        g, gv = self.stern_conductance(t)
        return self.psi_neumann_flux(t) + gv - g * psi

    def stern_charges(self, t: float, psi: FloatArray) -> dict[str, float]:
        """The charge of each Stern electrode, Σ_{σ ⊂ Γ_S} m(σ) C_S (V_σ − ψ_i) (the Robin
        flux, as the FEM reports it)."""
        mesh = self.mesh
        out = {}
        for name, sel, cs in self._stern_pieces:
            v = _evaluate(self.stern[name][0], mesh.piece_midpoint[sel], t)
            flux = cs * (v - psi[mesh.piece_vertex[sel]])
            per_box = np.bincount(
                mesh.piece_vertex[sel], mesh.piece_measure[sel] * flux, mesh.num_vertices
            )
            out[name] = self.total(per_box)
        return out

    def reaction_vertices(
        self, k: int, t: float
    ) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
        """Reaction k's boxes (vertices on its tag), their boundary measures Σ m(σ) on the tag
        and the electrode potential V(x_i, t) there."""
        idx, area = self._reaction_areas[k]
        V = _evaluate(self.reactions[k].potential, self.mesh.points[idx], t)
        return idx, area, V

    @property
    def closed(self) -> bool:
        """No reservoirs and no reactions: zero ion flux on all of ∂Ω, so the schemes conserve
        every mass."""
        return not any(r.vertices.size for r in self._reservoirs) and not self.reactions

    def reservoir_vertices(self, ell: int) -> npt.NDArray[np.int64]:
        """The vertices where species ℓ is held at a reservoir's concentration (sorted)."""
        return self._reservoirs[ell].vertices

    def eta_dirichlet(self, ell: int, t: float) -> FloatArray:
        """log c_b(x_i, t) of species ℓ at its reservoir vertices (order of
        `reservoir_vertices`)."""
        c = self._reservoirs[ell].values(t)
        if self.anywhere(~(c > 0)):
            name = self.params.species_names[ell]
            raise InputError(f"reservoir concentration of {name!r} not positive at t = {t:g}")
        return np.log(c)

    @property
    def temperature_vertices(self) -> npt.NDArray[np.int64]:
        """The vertices held at a thermostat's temperature (sorted)."""
        return self._thermostats.vertices

    def temperature_dirichlet(self, t: float) -> FloatArray:
        """T_b(x_i, t) at the thermostat vertices (order of `temperature_vertices`)."""
        temp = self._thermostats.values(t)
        if self.anywhere(~(temp > 0)):
            raise InputError(f"thermostat temperature not positive at t = {t:g}")
        return temp

    def heat_inflow(self, t: float, temp: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The heat into each box through its boundary pieces, Σ_{σ ⊂ ∂V_i ∩ ∂Ω} m(σ) q_σ with
        q = k ∂T/∂n the given heat flux (at the piece midpoints, time t) or h (T_a − T_i) (heat
        transfer, with the vertex temperature `temp`), and its derivative by temp_i."""
        mesh = self.mesh
        vals = np.zeros(mesh.piece_vertex.size)
        for name, f in self.heat_flux.items():
            sel = mesh.piece_marker == mesh.tag(name)
            vals[sel] = _evaluate(f, mesh.piece_midpoint[sel], t)
        h_area, h_ambient = self._transfer
        return neumann_flux(mesh, vals) + h_ambient - h_area * temp, -h_area

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
        """ε² K_1 plus the Stern conductances g_i on the diagonal, with the Γ_D rows replaced by
        identity rows (strong Dirichlet)."""
        n = self.mesh.num_vertices
        keep = np.ones(n)
        keep[self.dirichlet_vertices] = 0.0
        g = self.stern_conductance(0.0)[0]  # C_S does not depend on t
        a = sp.diags(keep) @ (self.params.eps**2 * self._stiffness + sp.diags(g))
        return (a + sp.diags(1.0 - keep)).tocsr()

    def poisson_residual(self, psi: FloatArray, charge: FloatArray, t: float) -> FloatArray:
        """−ε²Δ_hψ − (Σ z c + ρ^f), times m(V_i), with the boundary fluxes (ψ^N, Stern);
        ψ_i − ψ^D_i on Γ_D.  (3.3), third line."""
        m = self.mesh.volumes
        r = self.params.eps**2 * (self._stiffness @ psi) - self.psi_boundary_flux(t, psi)
        r -= m * (charge + self.rho(t))
        idx = self.dirichlet_vertices
        r[idx] = psi[idx] - self.psi_dirichlet(t)
        return r


class _Vertices:
    """The vertices of some tags and a datum per tag on them (a Dirichlet condition); a vertex
    on two tags (a corner) takes the datum of the tag named last."""

    def __init__(self, mesh: VoronoiMesh, data: Mapping[str, SpaceTimeFunction | float]) -> None:
        owner = np.full(mesh.num_vertices, -1, dtype=np.int64)
        self.data = list(data.values())
        for k, name in enumerate(data):
            owner[mesh.vertices_of(name)] = k
        self.vertices = np.nonzero(owner >= 0)[0]
        self.owner = owner[self.vertices]
        self.points = mesh.points[self.vertices]

    def values(self, t: float) -> FloatArray:
        out = np.empty(self.vertices.size)
        for k, f in enumerate(self.data):  # loop over tags, not vertices
            sel = self.owner == k
            out[sel] = _evaluate(f, self.points[sel], t)
        return out


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
    if min(problem.minimum(c), problem.minimum(T)) <= 0:
        raise InputError("initial_state: concentrations and temperature must be positive")
    if psi0 is None:
        charge = np.tensordot(np.asarray(p.valences), c, axes=1)
        rhs = -problem.poisson_residual(np.zeros(pts.shape[0]), charge, t0)
        if problem.partition is None:
            psi = spla.spsolve(problem.poisson_matrix().tocsc(), rhs)
        else:
            algebra = problem.partition.algebra(None, 1, problem.mesh.dim)
            psi = problem.partition.solve_local(problem.poisson_matrix(), rhs, algebra)
    else:
        psi = _evaluate(psi0, pts, t0)
    return FVState(t=float(t0), c=c, psi=np.asarray(psi, dtype=np.float64), T=T)
