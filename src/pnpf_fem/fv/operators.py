"""Discrete operators of the PNPF paper's §3.1, (3.1)–(3.2), assembled from edge arrays.

The PNPF paper is Ding, Ji, Zhou, arXiv:2407.10050; docs/theory.md §4 states the operators and
where the reconstructed cell gradient departs from the paper's.

Conventions: an edge e = (i, j) of `VoronoiMesh.edges` has i < j; Du_σ = u_j − u_i is the oriented
difference, and for V_i the difference Du_{i,σ} = u_j − u_i, for V_j it is u_i − u_j. All operators
are vectorized over edges (NumPy) or are scipy.sparse matrices.

Boundary data in a vertex-centred scheme: vertices lie on ∂Ω, so d(x_i, σ) = 0 for a boundary
piece σ ⊂ ∂V_i ∩ ∂Ω. Dirichlet values are therefore imposed *strongly* at Γ_D vertices
(u_i = u^D(x_i)) by the schemes, and Neumann data enter (3.2) as a boundary flux
τ_σ Du_{i,σ} = m(σ) u^N_σ (the limit of (3.2)'s third case), see `flux_divergence`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from pnpf_fem.errors import InputError
from pnpf_fem.fv.mesh import VoronoiMesh

__all__ = [
    "cell_gradient",
    "difference",
    "difference_matrix",
    "divergence",
    "edge_inner",
    "flux_divergence",
    "harmonic_average",
    "harmonic_average_with_derivatives",
    "inner",
    "laplacian",
    "neumann_flux",
    "scatter_edges",
    "weighted_stiffness",
]

FloatArray = npt.NDArray[np.float64]


def harmonic_average(mesh: VoronoiMesh, u: FloatArray) -> FloatArray:
    """𝒜_σ u = (m(V_i)+m(V_j)) u_i u_j / (m(V_i) u_j + m(V_j) u_i) on every edge (§3.1).

    Defined for grid functions of one strict sign (the schemes use it for the positive
    mobilities c, T, cT); raises `InputError` otherwise.
    """
    return harmonic_average_with_derivatives(mesh, u)[0]


def harmonic_average_with_derivatives(
    mesh: VoronoiMesh, u: FloatArray, check: bool = True
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """𝒜_σ u and its partial derivatives ∂𝒜_σ/∂u_i, ∂𝒜_σ/∂u_j (for exact Jacobians).

    `check=False` skips the sign check (Newton iterates e^η > 0 may underflow to 0; the
    resulting non-finite residual is then handled by the damping, not reported as bad input).
    """
    u = np.asarray(u, dtype=np.float64)
    i, j = mesh.edges[:, 0], mesh.edges[:, 1]
    ui, uj = u[i], u[j]
    if check and np.any(ui * uj <= 0):
        raise InputError("harmonic_average needs a grid function of one strict sign")
    mi, mj, ms = mesh.edge_volumes
    # with p = u_j/den, q = u_i/den: 𝒜 = (m_i + m_j) u_i p, ∂𝒜/∂u_i = (m_i + m_j) m_i p²,
    # ∂𝒜/∂u_j = (m_i + m_j) m_j q² (fewer passes over the edge arrays: memory traffic is the cost)
    den = mi * uj
    den += mj * ui
    np.reciprocal(den, out=den)
    p, q = uj * den, ui * den
    avg = ms * ui
    avg *= p
    d_i = ms * mi
    d_i *= p
    d_i *= p
    d_j = ms * mj
    d_j *= q
    d_j *= q
    return avg, d_i, d_j


def difference(mesh: VoronoiMesh, u: FloatArray) -> FloatArray:
    """Oriented differences Du_σ = u_j − u_i on every edge (i < j)."""
    return u[mesh.edges[:, 1]] - u[mesh.edges[:, 0]]


def difference_matrix(mesh: VoronoiMesh) -> sp.csr_matrix:
    """The E×N matrix B with (Bu)_σ = Du_σ."""
    e = mesh.num_edges
    rows = np.repeat(np.arange(e), 2)
    cols = mesh.edges.ravel()
    vals = np.tile([-1.0, 1.0], e)
    return sp.csr_matrix((vals, (rows, cols)), shape=(e, mesh.num_vertices))


def scatter_edges(mesh: VoronoiMesh, flux: FloatArray) -> FloatArray:
    """Σ_σ∈E_i F_{i,σ} for an edge quantity F given as the value *outward from i* (i < j).

    Vertex i receives +F_σ, vertex j receives −F_σ (the flux leaving V_i enters V_j).
    """
    n = mesh.num_vertices
    return np.bincount(mesh.edges[:, 0], weights=flux, minlength=n) - np.bincount(
        mesh.edges[:, 1], weights=flux, minlength=n
    )


def weighted_stiffness(mesh: VoronoiMesh, weight: FloatArray | float = 1.0) -> sp.csr_matrix:
    """K_w with (K_w u)_i = Σ_σ∈E_i τ_σ w_σ (u_i − u_j) = −m(V_i) ∇_h·(f∇_h u)_i for w = 𝒜_σ f.

    Symmetric; positive semi-definite for w ≥ 0 (homogeneous Neumann data).
    """
    tw = mesh.transmissibility * np.broadcast_to(
        np.asarray(weight, dtype=np.float64), (mesh.num_edges,)
    )
    i, j = mesh.edges[:, 0], mesh.edges[:, 1]
    rows = np.concatenate([i, i, j, j])
    cols = np.concatenate([i, j, i, j])
    vals = np.concatenate([tw, -tw, -tw, tw])
    n = mesh.num_vertices
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


def neumann_flux(mesh: VoronoiMesh, piece_values: FloatArray) -> FloatArray:
    """Σ_{σ ⊂ ∂V_i ∩ Γ_N} m(σ) u^N_σ per vertex, from one value per boundary piece."""
    return np.bincount(
        mesh.piece_vertex, weights=mesh.piece_measure * piece_values, minlength=mesh.num_vertices
    )


def flux_divergence(
    mesh: VoronoiMesh,
    f: FloatArray | None,
    g: FloatArray,
    neumann: FloatArray | None = None,
) -> FloatArray:
    """∇_h·(f∇_h g)_i = (1/m(V_i)) Σ_σ∈E_i τ_σ 𝒜_σ f Dg_{i,σ}  (3.2).

    f=None means f ≡ 1 (the discrete Laplacian Δ_h). `neumann` is one value u^N_σ per boundary
    piece (`mesh.piece_vertex` order, zero on pieces without Neumann data); it enters as the
    boundary flux m(σ) u^N_σ (with 𝒜_σ f taken as 1 there, i.e. u^N is the flux density f∂_n g).
    Without it the boundary is insulated (zero flux). Dirichlet vertices are not special here:
    the schemes replace their rows (strong imposition, d(x_i, σ) = 0).
    """
    w = 1.0 if f is None else harmonic_average(mesh, f)
    out = -(weighted_stiffness(mesh, w) @ g)
    if neumann is not None:
        out = out + neumann_flux(mesh, np.asarray(neumann, dtype=np.float64))
    return out / mesh.volumes


def laplacian(mesh: VoronoiMesh, g: FloatArray, neumann: FloatArray | None = None) -> FloatArray:
    """Δ_h g: (3.2) with f = 1."""
    return flux_divergence(mesh, None, g, neumann)


def cell_gradient(mesh: VoronoiMesh, u: FloatArray) -> FloatArray:
    """Reconstructed cell gradient ∇̃_h u (3.1), shape (N, dim).

    (3.1) is the integration-by-parts gradient (1/m(V_i)) ∮_{∂V_i} u n ds with a face value of u
    on every σ ⊂ ∂V_i. The paper writes the harmonic average 𝒜_σ u there; we take instead the
    exact face mean of the piecewise-linear interpolant of u, which gives
    (∇̃_h u)_i = (1/m(V_i)) Σ_T m(V_i ∩ T) ∇(Π_h u)|_T. Reasons: 𝒜_σ u is undefined for the
    sign-changing arguments the schemes feed it (ψ, log c), and any two-point face value is
    inconsistent (an O(1) skewness error) on unstructured Voronoi boxes, whose faces are not
    bisected by the segment x_i x_j; the boundary pieces need the extrapolated face value the
    paper mentions, which Π_h u supplies. The result is exact for linear u, including at
    boundary vertices. ∇̃_h enters only the Joule heat |û|², |ǔ|², so fluxes, mass conservation
    and the entropy inequalities (3.12), (3.16) are unaffected by this choice.
    """
    return np.column_stack([gk @ u for gk in mesh.gradient])


def divergence(
    mesh: VoronoiMesh, edge_field: FloatArray, piece_flux: FloatArray | None = None
) -> FloatArray:
    """Discrete divergence (∇_h·u)_i = (1/m(V_i)) Σ_σ∈∂V_i m(σ) u_σ·n_{i,σ}  (§3.1).

    `edge_field` (E, 2) is a vector per interface σ = V_i|V_j with n_{i,σ} = (x_j − x_i)/d_σ;
    `piece_flux` optionally gives u_σ·n on each boundary piece (outward normal).
    """
    pts = mesh.points
    i, j = mesh.edges[:, 0], mesh.edges[:, 1]
    normal = (pts[j] - pts[i]) / mesh.edge_length[:, None]
    flux = mesh.interface_measure * np.einsum("ek,ek->e", np.asarray(edge_field), normal)
    out = scatter_edges(mesh, flux)
    if piece_flux is not None:
        out = out + neumann_flux(mesh, np.asarray(piece_flux, dtype=np.float64))
    return out / mesh.volumes


def inner(mesh: VoronoiMesh, f: FloatArray, g: FloatArray) -> float:
    """⟨f, g⟩ = Σ_i m(V_i) f_i g_i  (§3.1)."""
    return float(np.dot(mesh.volumes * f, g))


def edge_inner(mesh: VoronoiMesh, g: FloatArray | None, f1: FloatArray, f2: FloatArray) -> float:
    """[g∇_h f1, ∇_h f2] = Σ_σ∈E_int τ_σ 𝒜_σ g Df1_σ Df2_σ (g=None: [∇_h f1, ∇_h f2])."""
    w = 1.0 if g is None else harmonic_average(mesh, g)
    return float(np.sum(mesh.transmissibility * w * difference(mesh, f1) * difference(mesh, f2)))
