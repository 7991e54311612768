"""Tortuosity Π of the perforated-domain (Neumann) cell problem on Y^s: limits, bounds, and its
identity with the insulating-solid limit of ε⁰ (classical homogenization, issue #7)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("dolfinx_mpc")
pytest.importorskip("gmsh")

import ufl
from dolfinx import fem
from mpi4py import MPI

from pnpf_fem.homogenization import (
    EffectiveTensors,
    compute_effective_tensors,
    make_cell,
    maxwell_garnett,
)
from pnpf_fem.homogenization.cell_problems import solve_tortuosity_correctors


def test_no_solid_gives_identity():
    cell = make_cell("circle", 1.0, 0.2)
    t = compute_effective_tensors(cell, 1.0, 0.5).tensors
    np.testing.assert_allclose(t.array("tortuosity"), np.eye(2), atol=1e-12)


@pytest.mark.mpi
def test_laminate_normal_to_y_along_p_across_zero():
    """Solid layer normal to y: along the layers χ^x ≡ 0 and Π_xx = p exactly. Across, the fluid
    does not percolate: χ^y = y (+ a constant, continuous through the periodic face y = 0 ≡ 1)
    is in P1 and satisfies the natural condition, so Π_yy = 0 to round-off (observed ~2e-16),
    not merely small: Neumann homogenization blocks transport across an insulating layer."""
    cell = make_cell("laminate", 0.6, 0.1, axis=1)
    t = compute_effective_tensors(cell, 1.0, 0.1).tensors
    pi = t.array("tortuosity")
    assert t.porosity == pytest.approx(0.6, abs=1e-12)
    assert pi[0, 0] == pytest.approx(t.porosity, abs=1e-12)
    assert abs(pi[1, 1]) < 1e-12
    assert abs(pi[0, 1]) < 1e-12 and abs(pi[1, 0]) < 1e-12
    # the corrector across is y itself on the fluid layers: ∇χ^y = e_y everywhere in Y^s
    chi = solve_tortuosity_correctors(cell).correctors[1]
    dev = ufl.grad(chi) - ufl.as_vector([0.0, 1.0])
    err = fem.assemble_scalar(
        fem.form(ufl.inner(dev, dev) * ufl.dx(domain=chi.function_space.mesh))
    )
    assert MPI.COMM_WORLD.allreduce(err, op=MPI.SUM) < 1e-20


@pytest.fixture(scope="module")
def circle():
    cell = make_cell("circle", 0.6, 0.05)
    return compute_effective_tensors(cell, 1.0, 1e-8).tensors


def test_circle_symmetric_below_pI_and_insulating_limit_of_eps(circle):
    pi = circle.array("tortuosity")
    p = circle.porosity
    assert np.max(np.abs(pi - pi.T)) < 1e-12
    eig = np.linalg.eigvalsh(pi)
    assert np.all(eig > 0) and np.all(eig <= p)
    # ε⁰(λ² = 1, α → 0) = Π: the whole-cell problem with a nearly insulating solid
    eps = circle.array("eps_eff")
    assert np.max(np.abs(eps - pi)) < 1e-6 * np.max(np.abs(pi))
    # 90° symmetry: isotropic up to the (non-symmetric) mesh
    assert abs(pi[0, 0] - pi[1, 1]) < 1e-3 * pi[0, 0]


@pytest.mark.parametrize("p", [0.9, 0.7])
def test_small_insulating_discs_match_maxwell_garnett(p):
    """MG for insulating discs is p / (2 - p); Rayleigh's correction is O(f⁴)."""
    t = compute_effective_tensors(make_cell("circle", p, 0.05), 1.0, 0.5).tensors
    mg = maxwell_garnett(t.porosity, 1.0, 1e-14, 2)
    assert mg == pytest.approx(t.porosity / (2.0 - t.porosity), rel=1e-12)
    for e in np.linalg.eigvalsh(t.array("tortuosity")):
        assert e == pytest.approx(mg, rel=0.02)


def test_json_round_trip_and_old_json_without_tortuosity(tmp_path):
    t = compute_effective_tensors(make_cell("laminate", 0.5, 0.2), 1.0, 0.2).tensors
    path = tmp_path / "t.json"
    t.to_json(path)
    back = EffectiveTensors.from_json(path)
    assert back == t
    np.testing.assert_array_equal(back.array("tortuosity"), t.array("tortuosity"))
    old = json.loads(path.read_text())
    del old["tortuosity"]
    legacy = EffectiveTensors.from_dict(old)
    assert legacy.tortuosity == ()
    with pytest.raises(KeyError):
        legacy.array("tortuosity")
