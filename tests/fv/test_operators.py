"""Discrete operators (3.1)–(3.2): summation by parts (Lemma 3.1), consistency, harmonic mean."""

from __future__ import annotations

import numpy as np
import pytest

from pnpf_fem.errors import InputError
from pnpf_fem.fv import VoronoiMesh
from pnpf_fem.fv import operators as op
from pnpf_fem.meshing import unit_square


@pytest.fixture(scope="module")
def mesh() -> VoronoiMesh:
    return VoronoiMesh.from_triangulation(unit_square(9, "unstructured", seed=11))


def _boundary_vertices(mesh: VoronoiMesh) -> np.ndarray:
    return np.unique(mesh.tri.facets)


def test_lemma_3_1_weighted(mesh: VoronoiMesh) -> None:
    """⟨f¹, ∇_h·(g∇_h f²)⟩ = −[g∇_h f¹, ∇_h f²] for zero-flux f¹, f² ∈ W_N."""
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(2, mesh.num_vertices))
    g = rng.uniform(0.5, 3.0, mesh.num_vertices)
    lhs = op.inner(mesh, f1, op.flux_divergence(mesh, g, f2))
    rhs = -op.edge_inner(mesh, g, f1, f2)
    assert abs(lhs - rhs) <= 1e-12 * abs(rhs)
    # symmetric in f¹, f²
    assert abs(op.inner(mesh, f2, op.flux_divergence(mesh, g, f1)) - lhs) <= 1e-12 * abs(lhs)


def test_lemma_3_1_laplacian_with_dirichlet_zero(mesh: VoronoiMesh) -> None:
    """⟨q¹, Δ_h q²⟩ = −[∇_h q¹, ∇_h q²] for q ∈ W_ψ (zero on Γ_D = left ∪ right)."""
    rng = np.random.default_rng(1)
    q1, q2 = rng.normal(size=(2, mesh.num_vertices))
    gamma_d = np.union1d(mesh.vertices_of("left"), mesh.vertices_of("right"))
    q1[gamma_d] = 0.0
    q2[gamma_d] = 0.0
    lhs = op.inner(mesh, q1, op.laplacian(mesh, q2))
    rhs = -op.edge_inner(mesh, None, q1, q2)
    assert abs(lhs - rhs) <= 1e-12 * abs(rhs)
    assert op.inner(mesh, q1, op.laplacian(mesh, q1)) < 0  # positive discrete Dirichlet energy


def test_summation_by_parts_with_neumann_data(mesh: VoronoiMesh) -> None:
    """With Neumann data the boundary term Σ m(σ) q¹_i ψ^N_σ appears — and nothing else."""
    rng = np.random.default_rng(2)
    q1, q2 = rng.normal(size=(2, mesh.num_vertices))
    psi_n = rng.normal(size=mesh.piece_vertex.size)
    lhs = op.inner(mesh, q1, op.laplacian(mesh, q2, neumann=psi_n))
    boundary = float(np.sum(mesh.piece_measure * psi_n * q1[mesh.piece_vertex]))
    rhs = -op.edge_inner(mesh, None, q1, q2) + boundary
    assert abs(lhs - rhs) <= 1e-12 * (abs(rhs) + abs(boundary))


def test_discrete_divergence_theorem(mesh: VoronoiMesh) -> None:
    rng = np.random.default_rng(3)
    field = rng.normal(size=(mesh.num_edges, 2))
    piece = rng.normal(size=mesh.piece_vertex.size)
    total = op.inner(mesh, op.divergence(mesh, field, piece), np.ones(mesh.num_vertices))
    assert abs(total - np.sum(mesh.piece_measure * piece)) < 1e-12


def test_consistency_on_polynomials(mesh: VoronoiMesh) -> None:
    x, y = mesh.points.T
    interior = np.setdiff1d(np.arange(mesh.num_vertices), _boundary_vertices(mesh))
    # Δ_h is exact for a|x|² + linear at interior vertices of a Voronoi mesh
    lap = op.laplacian(mesh, 2 * (x**2 + y**2) + x - 3 * y)
    assert np.allclose(lap[interior], 8.0, atol=1e-10)
    # ∇̃_h (3.1) is exact for linear functions at every vertex, boundary included
    grad = op.cell_gradient(mesh, 1.5 - 2 * x + 0.5 * y)
    assert np.allclose(grad, [-2.0, 0.5], atol=1e-12)
    # and first-order accurate for smooth functions
    g = op.cell_gradient(mesh, np.sin(x + 2 * y))
    exact = np.column_stack([np.cos(x + 2 * y), 2 * np.cos(x + 2 * y)])
    assert np.max(np.abs(g - exact)) < 0.5


def test_cell_gradient_converges() -> None:
    errors = []
    for n in (8, 16, 32):
        m = VoronoiMesh.from_triangulation(unit_square(n, "unstructured", seed=n))
        x, y = m.points.T
        g = op.cell_gradient(m, np.sin(x + 2 * y))
        exact = np.column_stack([np.cos(x + 2 * y), 2 * np.cos(x + 2 * y)])
        errors.append(np.sqrt(np.dot(m.volumes, ((g - exact) ** 2).sum(1))))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 0.9)


def test_harmonic_average(mesh: VoronoiMesh) -> None:
    rng = np.random.default_rng(4)
    u = rng.uniform(0.1, 2.0, mesh.num_vertices)
    avg, d_i, d_j = op.harmonic_average_with_derivatives(mesh, u)
    i, j = mesh.edges.T
    mi, mj = mesh.volumes[i], mesh.volumes[j]
    assert np.allclose(avg, (mi + mj) / (mi / u[i] + mj / u[j]))
    assert np.all(avg >= np.minimum(u[i], u[j]) - 1e-15)
    assert np.all(avg <= np.maximum(u[i], u[j]) + 1e-15)
    assert np.allclose(op.harmonic_average(mesh, np.full(mesh.num_vertices, 2.5)), 2.5)
    h = 1e-7
    fd_i = ((mi + mj) / (mi / (u[i] + h) + mj / u[j]) - avg) / h
    fd_j = ((mi + mj) / (mi / u[i] + mj / (u[j] + h)) - avg) / h
    assert np.allclose(fd_i, d_i, rtol=1e-5, atol=1e-8)
    assert np.allclose(fd_j, d_j, rtol=1e-5, atol=1e-8)
    with pytest.raises(InputError):
        op.harmonic_average(mesh, np.sin(10 * mesh.points[:, 0]))


def test_stiffness_is_symmetric_positive(mesh: VoronoiMesh) -> None:
    k = op.weighted_stiffness(mesh)
    assert abs(k - k.T).max() < 1e-15
    assert np.allclose(k @ np.ones(mesh.num_vertices), 0.0, atol=1e-13)
    rng = np.random.default_rng(5)
    v = rng.normal(size=mesh.num_vertices)
    assert v @ (k @ v) > 0
