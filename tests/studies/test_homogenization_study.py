"""The s-study of issue 7 at two coarse s: pore-resolved PNP against both effective models.

Measured (quick times 0.02, 0.1; s = 1/4 → 1/8; cell tensors on the resolved cell mesh): the
perforated-domain (tortuosity) model's largest cell error falls like s² (driven case, t = 0.1:
ions 1.0e-2 → 2.5e-3, ψ 2.4e-3 → 7.3e-4), the paper's model (no tortuosity) does not
(4.3e-2 → 5.1e-2). Serial ≈ 20 s.
"""

from dataclasses import replace

import numpy as np
import pytest
from mpi4py import MPI

pytest.importorskip("dolfinx")
pytest.importorskip("dolfinx_mpc")
pytest.importorskip("gmsh")

from pnpf_fem.errors import InputError
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.studies.homogenization import (
    CASES,
    case_error_table,
    effective_medium,
    error_rows,
    run_case,
    s_study,
)

QUICK_DRIVEN = replace(CASES["driven"], times=(0.02, 0.1))


@pytest.fixture(scope="module")
def driven():
    return s_study(QUICK_DRIVEN, (0.25, 0.125))


def test_perforated_model_error_decreases_with_s(driven):
    coarse, fine = driven["results"]
    for q in ("ions", "psi"):
        assert fine["errors"]["perforated"][q][-1] < 0.8 * coarse["errors"]["perforated"][q][-1]
    # the resolved simulation supports the tortuosity model: at the finer s the paper's model
    # (flux p(∇u + zu∇ψ)) is off by several times more, and does not improve with s
    assert fine["errors"]["schmuck"]["ions"][-1] > 3 * fine["errors"]["perforated"]["ions"][-1]
    assert fine["errors"]["schmuck"]["ions"][-1] > 0.9 * coarse["errors"]["schmuck"]["ions"][-1]
    rate = driven["rates"]["perforated"]["ions"][-1]
    assert rate is not None and rate > 0.3
    assert "rate" in case_error_table(driven)
    assert len(error_rows(driven)) == 2 * 2 * 2  # s × times × models
    # (I3): the paper's D^r and M terms cancel on the solver's own assembled operators
    for r in driven["results"]:
        assert r["cancellation_residual"] < 1e-8


def test_cell_tensors_are_consistent(driven):
    t = driven["tensors"]
    p = t["porosity"]
    assert p == pytest.approx(0.75, rel=1e-12)
    tort = np.asarray(t["tortuosity"])
    # tortuosity on the resolved 8 x 8 cell mesh: symmetric, isotropic, strictly below p
    # (hindered flux): 0.5908 for p = 0.75
    assert np.allclose(tort, tort.T) and tort[0, 0] == pytest.approx(tort[1, 1], rel=1e-10)
    assert 0.5 * p < tort[0, 0] < p
    # the converged (fine gmsh) tortuosity is 2.1 % smaller than on the 8 x 8 cell mesh
    fine = np.asarray(t["converged_tortuosity"])
    assert fine[0, 0] == pytest.approx(0.5788, rel=2e-3) and fine[0, 0] < tort[0, 0]


def test_bad_s_rejected():
    medium, _ = effective_medium(0.05, 0.0125, 4)
    with pytest.raises(InputError):
        run_case(QUICK_DRIVEN, 0.3, medium)


@pytest.mark.mpi
def test_same_errors_on_any_number_of_ranks():
    """The study's errors on all ranks equal a serial run of the same case (COMM_SELF)."""
    case = replace(QUICK_DRIVEN, times=(0.02,), macro_elements=64)
    world_medium, _ = effective_medium(case.lambda_sq, case.alpha, 8)
    world = run_case(case, 0.25, world_medium, comm=MPI.COMM_WORLD)
    self_medium, _ = effective_medium(case.lambda_sq, case.alpha, 8, comm=MPI.COMM_SELF)
    serial = run_case(case, 0.25, self_medium, comm=MPI.COMM_SELF)
    for m in ("schmuck", "perforated"):
        for q in ("ions", "psi"):
            assert world.errors[m][q] == pytest.approx(serial.errors[m][q], rel=1e-7, abs=1e-10)


def test_one_row_strip_equals_the_periodic_array():
    """The study's one-row strip with zero-flux walls is the full periodic array by symmetry:
    on the unit square filled with (1/s)² cells, every row has the strip's cell averages."""
    from pnpf_fem.porous.arrays import periodic_array
    from pnpf_fem.porous.microscale import ResolvedPNP

    s, case = 0.25, QUICK_DRIVEN
    averages = []
    for rows in (1, 4):
        array = periodic_array(s, rows=rows, porosity=0.75, cells_per_side=8, comm=MPI.COMM_SELF)
        solver = ResolvedPNP(
            array,
            lambda_sq=case.lambda_sq,
            alpha=case.alpha,
            potential_bcs={"left": case.voltage, "right": 0.0},
            ion_bcs={"left": case.reservoirs[0], "right": case.reservoirs[1]},
        )
        integrate(solver, 0.02, FixedSteps(case.dt))
        averages.append(solver.cell_averages())
    strip, square = averages
    assert np.ptp(strip.n_plus) > 0.1  # a non-trivial state
    for key in ("n_plus", "n_minus", "psi"):
        a, b = getattr(strip, key), getattr(square, key)
        assert np.max(np.abs(b - a[:, [0]])) < 1e-8, key
