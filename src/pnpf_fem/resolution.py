"""Does a mesh resolve the diffuse (Debye) layers of a case? A-priori estimate at the electrodes.

A run whose mesh is coarser than its double layers gives numbers that look fine and mean
nothing (min T far below 1, dozens of Newton iterations). Before the run we estimate, for each
charged boundary tag, the *local* Debye length at the wall and compare it with the size of the
mesh cells touching that tag, in the dimensionless units of (2.8) (lengths in L).

The estimate (documented in docs/case_files.md, "Resolution check"):

* Potential drop Δψ across each diffuse layer. For Dirichlet potentials the bulk sits between the
  electrodes, so the drop is at most half the spread: Δψ = (max V − min V)/2 over the potential
  tags (a single potential tag only shifts ψ: Δψ = 0, the bulk Debye length).
  For a surface charge σ (ε² ∂ₙψ = σ) the Gouy–Chapman first integral of the 1D
  Poisson–Boltzmann equation gives σ² = 2ε² Σᵢ cᵢ (e^{−zᵢΔψ} − 1), solved for Δψ.
* Local Debye length at the wall, where the counter-ions pile up as cᵢ e^{−zᵢΔψ} (Boltzmann):
  λ_wall = ε / sqrt(Σᵢ zᵢ² cᵢ e^{−zᵢΔψ}), the worse of the two signs of Δψ. With Δψ = 0 this is
  the bulk Debye length ε / sqrt(Σᵢ zᵢ² cᵢ).
* Mesh size normal to the wall: the largest height 2|K|/|e| over the triangles K whose edge e
  lies on the tag.

The ratio λ_wall / h is reported per tag; below `RESOLUTION_THRESHOLD` (0.5: a cell more than
two local Debye lengths thick) the layer is unresolved and the run warns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pnpf_fem.meshing import TaggedTriangulation
from pnpf_fem.meshing3d import TaggedTetrahedra

__all__ = [
    "RESOLUTION_THRESHOLD",
    "LayerResolution",
    "diffuse_layer_resolution",
    "drop_for_surface_charge",
    "wall_debye_length",
]

RESOLUTION_THRESHOLD = 0.5


@dataclass(frozen=True)
class LayerResolution:
    """The estimate for one charged boundary tag (dimensionless lengths)."""

    tag: str
    potential_drop: float  # Δψ in k_B T0 / e
    debye_length: float  # λ_wall / L
    mesh_size: float  # largest cell height normal to the tag, / L
    ratio: float  # λ_wall / h

    @property
    def resolved(self) -> bool:
        return self.ratio >= RESOLUTION_THRESHOLD


def wall_debye_length(
    eps: float, valences: Sequence[float], bulk: Sequence[float], drop: float
) -> float:
    """ε / sqrt(Σ z² c e^{−zΔψ}) for the worse sign of Δψ (exponent capped to stay finite)."""
    z, c = np.asarray(valences, dtype=float), np.asarray(bulk, dtype=float)
    strengths = [np.sum(z**2 * c * np.exp(np.minimum(-z * s * drop, 700.0))) for s in (1, -1)]
    return eps / math.sqrt(max(max(strengths), 1e-300))


def drop_for_surface_charge(
    eps: float, valences: Sequence[float], bulk: Sequence[float], sigma: float
) -> float:
    """Δψ ≥ 0 with σ² = 2ε² Σ c (e^{−zΔψ} − 1) for the sign of Δψ that screens σ (bisection)."""
    if sigma == 0:
        return 0.0
    z, c = np.asarray(valences, dtype=float), np.asarray(bulk, dtype=float)
    sign = -math.copysign(1.0, sigma)  # a positive charge attracts anions: ψ rises at the wall

    def excess(d: float) -> float:
        return 2 * eps**2 * float(np.sum(c * np.expm1(np.minimum(-z * sign * d, 700.0))))

    hi = 1.0
    while excess(hi) < sigma**2 and hi < 1e3:
        hi *= 2
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if excess(mid) < sigma**2 else (lo, mid)
    return 0.5 * (lo + hi)


def _normal_height(tri: TaggedTriangulation | TaggedTetrahedra, tag: int) -> float:
    """The largest height, normal to the tag, of the cells with a facet on it: the distance
    from the opposite vertex to the facet's line (2D) or plane (3D)."""

    def key(facets: np.ndarray) -> np.ndarray:
        """One opaque value per facet, equal for equal vertex sets (no integer overflow)."""
        rows = np.ascontiguousarray(np.sort(facets, axis=1), dtype=np.int64)
        return rows.view(np.dtype((np.void, 8 * rows.shape[1]))).ravel()

    wanted = key(tri.facets[tri.facet_markers == tag])
    if wanted.size == 0:
        return 0.0
    p, cells = tri.points, tri.cells
    best = 0.0
    for opposite in range(cells.shape[1]):  # the facet opposite each local vertex
        facet = np.sort(np.delete(cells, opposite, axis=1), axis=1)
        on_tag = np.isin(key(facet), wanted)
        if not on_tag.any():
            continue
        q = p[facet[on_tag]]  # (n, dim, dim) facet vertices
        apex = p[cells[on_tag, opposite]]
        if p.shape[1] == 2:
            t = q[:, 1] - q[:, 0]
            normal = np.column_stack([-t[:, 1], t[:, 0]])
        else:
            normal = np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 0])
        normal /= np.linalg.norm(normal, axis=1)[:, None]
        heights = np.abs(np.einsum("ij,ij->i", apex - q[:, 0], normal))
        best = max(best, float(heights.max()))
    return best


def diffuse_layer_resolution(
    tri: TaggedTriangulation | TaggedTetrahedra,
    eps: float,
    valences: Sequence[float],
    bulk: Sequence[float],
    potentials: Mapping[str, float],
    surface_charges: Mapping[str, float],
) -> list[LayerResolution]:
    """The estimate for every charged tag: potential tags, and surface charges σ ≠ 0."""
    values = list(potentials.values())
    drops = dict.fromkeys(potentials, 0.5 * (max(values) - min(values)) if values else 0.0)
    for tag, sigma in surface_charges.items():
        if sigma != 0:
            drops[tag] = drop_for_surface_charge(eps, valences, bulk, sigma)
    out = []
    for tag, drop in drops.items():
        lam = wall_debye_length(eps, valences, bulk, drop)
        h = _normal_height(tri, tri.tag_names[tag])
        out.append(LayerResolution(tag, drop, lam, h, lam / h if h > 0 else math.inf))
    return out
