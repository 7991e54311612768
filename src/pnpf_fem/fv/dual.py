"""Per-simplex pieces of the circumcentric (Voronoi) dual: what one triangle or tetrahedron adds
to the boxes.

The vertex-centred finite volumes of the PNPF paper (Ding, Ji, Zhou, arXiv:2407.10050, §3.1) are
the Voronoi boxes V_i of the mesh vertices, restricted to Ω. `pnpf_fem.fv.mesh.VoronoiMesh` sums
them from the pieces each simplex S contributes, computed here vectorised over K simplices. With
c_S the circumcentre of S, the part of the dual facet σ_ij = V_i|V_j inside S is signed (it points
away from the edge when c_S lies outside S) and gives

    τ^S_ij = m(σ_ij ∩ S)/|x_i − x_j|,   m(V_i ∩ S) = (1/(2n)) Σ_{j≠i} τ^S_ij |x_i − x_j|²,

the second being the pyramids with apex x_i over the dual facets, of height |x_i − x_j|/2; the
pieces add up to |S| exactly, whatever the shape of S. Summed over the simplices around an edge,
τ_σ = Σ_S τ^S_σ is m(σ)/d_σ of the restricted Voronoi facet when the mesh is Delaunay and its
boundary simplices have their circumcentres in Ω: then τ_σ ≥ 0, which `VoronoiMesh` checks.

n = 2 (triangles): τ^S_ij = ½ cot θ_k, θ_k the angle opposite the edge
(`triangle_cotangents_and_pieces`, the 2D path of `VoronoiMesh`), which is also the P1 stiffness
−|T| ∇λ_i·∇λ_j.
n = 3 (tetrahedra): τ^S is NOT the P1 stiffness, which is (1/6) l_kl cot θ_kl (l_kl the opposite
edge, θ_kl its dihedral angle) and is negative on some edges of Delaunay meshes; only the
circumcentric τ gives Voronoi facets, τ ≥ 0 on Delaunay meshes and closed boxes,
Σ_j τ_ij (x_j − x_i) + Σ_{pieces σ ⊂ ∂Ω} m(σ) n_σ = 0 (n_σ the outward normal of Ω).

The boundary pieces ∂V_i ∩ ∂Ω of a facet F (a simplex of dimension d − 1) are F's own
circumcentric pieces, m(V_i ∩ F) from `dual_pieces` of F: half segments in 2D, in 3D the
quadrilaterals (x_i, midpoint of x_i x_j, c_F, midpoint of x_i x_k) of the boundary triangle
(the 2D formula in the facet's plane). Only these close the boxes above.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "circumcentres",
    "circumcentric_transmissibilities",
    "dual_pieces",
    "simplex_gradients",
    "simplex_measures",
    "triangle_cotangents_and_pieces",
    "triangle_piece_centroids",
]

FloatArray = npt.NDArray[np.float64]

_INSIDE_TOL = 1e-12  # barycentric round-off of a point on a simplex's face


def triangle_cotangents_and_pieces(
    p: FloatArray, twice_area: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """cot θ_k of the angle at each local vertex k and the box pieces m(V_i ∩ T) of K triangles
    p (K, 3, 2) with twice their (positive) areas: the cotangent formula of the circumcentric
    dual, τ^T_ij = ½ cot θ_k and m(V_i ∩ T) = ⅛ (|x_i x_j|² cot θ_k + |x_i x_k|² cot θ_j).

    The closed form of `dual_pieces` for n = 2, kept as the 2D path of `VoronoiMesh` because its
    round-off is the one every 2D result has been computed (and compared) with."""
    cot = np.empty((p.shape[0], 3))
    len2 = np.empty((p.shape[0], 3))  # squared length of the edge opposite k
    for k in range(3):  # three local positions, not a loop over mesh entities
        a, b, c = p[:, k], p[:, (k + 1) % 3], p[:, (k + 2) % 3]
        cot[:, k] = _dot2(b - a, c - a) / twice_area
        len2[:, k] = _dot2(c - b, c - b)
    # m(V_i ∩ T) = ⅛(|e_opp(k+1)|² cot θ_{k+1} + |e_opp(k+2)|² cot θ_{k+2})
    k1, k2 = [1, 2, 0], [2, 0, 1]
    return cot, 0.125 * (len2[:, k1] * cot[:, k1] + len2[:, k2] * cot[:, k2])


def circumcentric_transmissibilities(p: FloatArray) -> FloatArray:
    """τ^S_ij = m(σ_ij ∩ S)/|x_i − x_j| (K, n+1, n+1) of K simplices p (K, n+1, g), n ≤ g: signed,
    symmetric, zero diagonal.

    Recursion over the facets F_m (opposite vertex m): the dual piece σ_ij ∩ S is the cone from
    c_S over the facet's own dual piece σ_ij ∩ F_m (m ≠ i, j), whose height is the signed
    distance h_m from c_S to F_m (c_S projects onto c_F, and the facet's dual piece lies in F_m).
    Hence m(σ_ij ∩ S) = Σ_{m ≠ i,j} m(σ_ij ∩ F_m) h_m/(n − 1). A segment's dual is its midpoint
    (measure 1), so τ = 1/|x_0 − x_1| there; for a triangle this gives ½ cot θ_k.
    """
    k, n = p.shape[0], p.shape[1] - 1
    tau = np.zeros((k, n + 1, n + 1))
    if n == 1:
        tau[:, 0, 1] = tau[:, 1, 0] = 1.0 / np.linalg.norm(p[:, 1] - p[:, 0], axis=1)
        return tau
    h = _circumcentre_heights(p)
    for m in range(n + 1):  # the n+1 facets of a simplex, not a loop over mesh entities
        keep = np.delete(np.arange(n + 1), m)
        facet_tau = circumcentric_transmissibilities(p[:, keep])
        tau[:, keep[:, None], keep[None, :]] += facet_tau * (h[:, m] / (n - 1))[:, None, None]
    return tau


def dual_pieces(p: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(τ^S (K, n+1, n+1), m(V_i ∩ S) (K, n+1)) of K simplices p (K, n+1, g).

    The pieces are the pyramids over the dual facets, (1/(2n)) Σ_j τ^S_ij |x_i − x_j|², and add
    up to |S| exactly. For a boundary facet (n = d − 1) they are the boundary pieces: half of a
    segment in 2D, the circumcentric parts of a triangle in 3D. Signed: negative parts are where
    c_S lies outside S; on an admissible mesh the sums over the simplices at a vertex are > 0.
    """
    tau = circumcentric_transmissibilities(p)
    d2 = np.sum((p[:, :, None, :] - p[:, None, :, :]) ** 2, axis=-1)
    n = p.shape[1] - 1
    return tau, np.sum(tau * d2, axis=2) / (2 * n)


def circumcentres(p: FloatArray) -> FloatArray:
    """(K, g) circumcentres of K simplices p (K, n+1, g), n ≤ g, in each simplex's affine hull."""
    e = p[:, 1:] - p[:, :1]
    gram = e @ e.transpose(0, 2, 1)
    # c = x_0 + eᵀa with 2 G a = diag(G): |c − x_0| = |c − x_m| for every m
    a = 0.5 * np.linalg.solve(gram, np.einsum("kii->ki", gram)[..., None])[..., 0]
    return p[:, 0] + np.einsum("km,kmx->kx", a, e)


def triangle_piece_centroids(p: FloatArray, tau: FloatArray | None = None) -> FloatArray:
    """(K, 3, g) a point of each circumcentric piece V_i ∩ F of K triangles p (K, 3, g): where
    the boundary data of the piece are evaluated (the 3D "midpoint" of a boundary piece).

    The piece is the quadrilateral (x_i, m_ij, c_F, m_ik), m_ij the edge midpoints: the union
    of the triangles (x_i, m_ij, c_F), (x_i, c_F, m_ik) of signed areas ¼ τ^F_ij |x_i − x_j|²,
    so its centroid is their area-weighted mean — exact for linear data (m(σ) g(centroid) =
    ∫_σ g) whenever F has no obtuse angle. In an obtuse triangle c_F lies outside F and a piece
    may be negative or nearly empty, its centroid outside F or undefined; it is then replaced by
    the nearest convex combination of the corners (barycentric coordinates clipped to ≥ 0), so
    that boundary data are never evaluated off the facet. `tau`: `dual_pieces(p)[0]` if known.
    """
    tau = circumcentric_transmissibilities(p) if tau is None else tau
    c = circumcentres(p)
    out = np.empty_like(p)
    for i in range(3):  # the three corners of a triangle
        j, k = (i + 1) % 3, (i + 2) % 3
        wj = tau[:, i, j] * np.sum((p[:, j] - p[:, i]) ** 2, axis=1)
        wk = tau[:, i, k] * np.sum((p[:, k] - p[:, i]) ** 2, axis=1)
        moment = (
            wj[:, None] * (p[:, i] + 0.5 * (p[:, i] + p[:, j]) + c)
            + wk[:, None] * (p[:, i] + 0.5 * (p[:, i] + p[:, k]) + c)
        ) / 3.0
        total = wj + wk
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, i] = moment / total[:, None]
        bad = ~np.all(np.isfinite(out[:, i]), axis=1)
        out[bad, i] = p[bad, i]
    return _clip_to_simplex(p, out)


def simplex_measures(p: FloatArray) -> FloatArray:
    """(K,) the n-dimensional measures |S| of K simplices p (K, n+1, g), n ≤ g (Gram
    determinant: also facets embedded in a higher-dimensional space)."""
    n = p.shape[1] - 1
    e = p[:, 1:] - p[:, :1]
    gram = e @ e.transpose(0, 2, 1)
    return np.sqrt(np.maximum(np.linalg.det(gram), 0.0)) / float(np.prod(np.arange(1, n + 1)))


def simplex_gradients(p: FloatArray) -> FloatArray:
    """(K, d+1, d) the gradients ∇λ_k of the barycentric coordinates (P1 hat functions) of K
    full-dimensional simplices p (K, d+1, d): λ = E^{-T}(x − x_0) with E the edge rows
    x_m − x_0, so ∇λ_m = (E⁻¹)_{·m} and ∇λ_0 = −Σ_m ∇λ_m."""
    inv = np.linalg.inv(p[:, 1:] - p[:, :1])  # (K, d, d), columns: ∇λ_1..∇λ_d
    grads = inv.transpose(0, 2, 1)
    return np.concatenate([-grads.sum(axis=1, keepdims=True), grads], axis=1)


def _circumcentre_heights(p: FloatArray) -> FloatArray:
    """(K, n+1) signed distance from the circumcentre c_S to the facet opposite each vertex m,
    positive towards m: λ_m(c_S)/|∇λ_m|, computed in the simplex's own affine hull."""
    e = p[:, 1:] - p[:, :1]
    gram = e @ e.transpose(0, 2, 1)
    ginv = np.linalg.inv(gram)
    # c_S = x_0 + eᵀa with 2 G a = diag(G) (equidistance); a = barycentric coords 1..n
    a = 0.5 * np.einsum("kij,kj->ki", ginv, np.einsum("kii->ki", gram))
    lam = np.column_stack([1.0 - a.sum(axis=1), a])
    # |∇λ_m|² = (B G⁻¹ Bᵀ)_mm with ∇λ_0 = −Σ_m ∇λ_m
    grad2 = np.column_stack([ginv.sum(axis=(1, 2)), np.einsum("kii->ki", ginv)])
    return lam / np.sqrt(grad2)


def _clip_to_simplex(p: FloatArray, x: FloatArray) -> FloatArray:
    """Points x (K, m, g) moved into their simplex p (K, n+1, g): barycentric coordinates (least
    squares in the affine hull) with negative ones set to 0 and the rest renormalised. Points
    already inside (all coordinates ≥ −1e-12) are returned unchanged."""
    e = p[:, 1:] - p[:, :1]  # (K, n, g)
    gram = e @ e.transpose(0, 2, 1)
    rhs = np.einsum("knx,kmx->kmn", e, x - p[:, :1, :])  # (K, m, n)
    a = np.linalg.solve(gram[:, None], rhs[..., None])[..., 0]
    lam = np.concatenate([1.0 - a.sum(axis=-1, keepdims=True), a], axis=-1)  # (K, m, n+1)
    outside = np.any(lam < -_INSIDE_TOL, axis=-1)
    if not outside.any():
        return x
    lam = np.maximum(lam[outside], 0.0)
    lam /= lam.sum(axis=-1, keepdims=True)
    kk = np.nonzero(outside)[0]
    out = x.copy()
    out[outside] = np.einsum("qn,qnx->qx", lam, p[kk])
    return out


def _dot2(u: FloatArray, v: FloatArray) -> FloatArray:
    return u[..., 0] * v[..., 0] + u[..., 1] * v[..., 1]
