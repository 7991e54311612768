"""The generic assembly loop (fv.assembly): against weighted_stiffness and finite differences."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pnpf_fem.fv import VoronoiMesh
from pnpf_fem.fv.assembly import (
    Assembler,
    BoundaryFlux,
    Dirichlet,
    EdgeFlux,
    NodeTerm,
    Scaled,
    Storage,
    Term,
)
from pnpf_fem.fv.operators import harmonic_average_with_derivatives, weighted_stiffness
from pnpf_fem.meshing import unit_square


def test_linear_diffusion_flux_is_weighted_stiffness(unstructured_mesh: VoronoiMesh) -> None:
    """F_σ = −τ_σ w_σ Du_σ assembles to K_w u (round-off) with Jacobian exactly K_w."""
    mesh = unstructured_mesh
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 2.0, mesh.num_edges)
    u = rng.normal(size=mesh.num_vertices)
    i, j = mesh.edges.T
    k = mesh.transmissibility * w
    flux = EdgeFlux(0, -k * (u[j] - u[i]), {0: (k, -k)})
    res, jac = Assembler(mesh, 1).assemble([flux], True)
    stiffness = weighted_stiffness(mesh, w)
    assert np.array_equal(jac.indptr, stiffness.indptr)
    assert np.array_equal(jac.indices, stiffness.indices)
    assert np.array_equal(jac.data, stiffness.data)  # bit for bit
    assert np.max(np.abs(res - stiffness @ u)) <= 1e-14 * np.max(np.abs(stiffness @ u))


def _terms(mesh: VoronoiMesh, u: np.ndarray) -> list[Term]:
    """A two-block nonlinear system using every kind of term."""
    i, j = mesh.edges.T
    tau = mesh.transmissibility
    a, b = np.exp(u[0]), u[1]
    ha, ha_i, ha_j = harmonic_average_with_derivatives(mesh, a)
    db = b[j] - b[i]
    half = np.full(mesh.num_edges, 0.5)
    flux = EdgeFlux(  # F = −τ 𝒜(e^{u0}) D(u1): couples both blocks
        0,
        -tau * ha * db,
        {0: (-tau * ha_i * a[i] * db, -tau * ha_j * a[j] * db), 1: (tau * ha, -tau * ha)},
    )
    gx, gy = mesh.gradient
    g = (gx @ b**2, gy @ b**2)
    grad_term = NodeTerm(  # r = e^{u0}|∇̃(u1²)|²
        1,
        a * (g[0] ** 2 + g[1] ** 2),
        {0: a * (g[0] ** 2 + g[1] ** 2)},
        {1: ((2 * a * g[0], 2 * a * g[1]), 2 * b)},
    )
    return [
        Storage(0, a, np.ones(b.size), {0: a}),
        flux,
        Scaled(
            np.exp(-b),
            {1: -np.exp(-b)},
            [  # row 0 gets only a boundary flux from the group: s_i q_i
                flux.times(0.5 * (b[i] + b[j]), {1: (half, half)}, row=1),
                grad_term,
                BoundaryFlux(0, np.linspace(-1.0, 2.0, b.size)),
            ],
        ),
        NodeTerm(1, np.sin(b) * a, {0: np.sin(b) * a, 1: np.cos(b) * a}),
        BoundaryFlux(1, np.linspace(0.0, 1.0, b.size)),
        Dirichlet(1, mesh.vertices_of("left"), b[mesh.vertices_of("left")] - 0.3),
    ]


def test_every_kind_of_term_has_an_exact_jacobian() -> None:
    """Finite differences; Dirichlet rows are identity rows; the cached pattern is reused."""
    mesh = VoronoiMesh.from_triangulation(unit_square(4, "unstructured", seed=1))
    asm = Assembler(mesh, 2)
    rng = np.random.default_rng(1)
    n = mesh.num_vertices
    for _ in range(2):  # the second call reuses the cached sparsity pattern
        x = rng.normal(scale=0.5, size=2 * n)
        res, jac = asm.assemble(_terms(mesh, x.reshape(2, n)), True, dt=0.3)
        assert isinstance(jac, sp.csr_matrix) and jac.has_canonical_format
        only, none = asm.assemble(_terms(mesh, x.reshape(2, n)), False, dt=0.3)
        assert none is None and np.array_equal(res, only)
        h, fd = 1e-6, np.empty((2 * n, 2 * n))
        for k in range(2 * n):
            e = np.zeros(2 * n)
            e[k] = h
            plus = asm.assemble(_terms(mesh, (x + e).reshape(2, n)), False, dt=0.3)[0]
            minus = asm.assemble(_terms(mesh, (x - e).reshape(2, n)), False, dt=0.3)[0]
            fd[:, k] = (plus - minus) / (2 * h)
        assert np.max(np.abs(jac.toarray() - fd)) < 1e-7 * np.max(np.abs(fd))
        fixed = n + mesh.vertices_of("left")
        assert np.array_equal(jac[fixed].toarray(), np.eye(2 * n)[fixed])
    assert len(asm._patterns) == 1
