"""fem-bdf2: variable-step BDF2, second order and L-stable, conserving and positive.

* temporal order ≥ 1.9 on Test A against a same-mesh reference;
* a closed charging cell (ε = 0.05, V = 4 k_BT0/e) run to t = 40 with adaptive steps reaches
  its discrete equilibrium — log c + zψ/T uniform — to 1e-8, where the A-stable modified
  Crank–Nicolson fem2 keeps oscillating stiff modes 100 times larger;
* masses to round-off of the Newton tolerance, c > 0, with variable steps;
* error-controlled steps use its order (snapshot/restore of the two-step history).
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from pnpf_fem.fem.accuracy import time_order_study
from pnpf_fem.fem.build import build_scheme
from pnpf_fem.integrate import AdaptiveSteps, ErrorControl, FixedSteps, integrate
from pnpf_fem.meshing import unit_square
from pnpf_fem.model import cases

VARS = ("c1", "c2", "psi", "T")
THIN = cases.charging_model(eps=0.05, frictions=(1.0, 1.0))


def test_bdf2_is_second_order_in_time() -> None:
    result = time_order_study("fem-bdf2", n=8, steps=(16, 32), reference_steps=512)
    for v in VARS:
        assert result["levels"][-1]["orders"][v] >= 1.9, (v, result)


def _equilibrium_spread(scheme) -> float:
    """max over species of the spread of log c + zψ/T over the owned nodes of all ranks."""
    M = scheme.M
    n = scheme.V.dofmap.index_map.size_local
    cols = scheme.u.x.array.reshape(-1, M + 2)[:n]
    T = np.exp(cols[:, M + 1])
    spreads = []
    for i, z in enumerate(scheme.z):
        w = cols[:, i] + z * cols[:, M] / T
        lo = MPI.COMM_WORLD.allreduce(float(w.min()), op=MPI.MIN)
        hi = MPI.COMM_WORLD.allreduce(float(w.max()), op=MPI.MAX)
        spreads.append(hi - lo)
    return max(spreads)


@pytest.fixture(scope="module")
def closed_cell_runs() -> dict[str, tuple[float, object]]:
    problem = cases.charging_cell(unit_square(16, kind="structured"), 4.0, THIN, bumps=False)
    out = {}
    for method in ("fem-bdf2", "fem2"):
        scheme = build_scheme(problem, method)
        run = integrate(scheme, 40.0, AdaptiveSteps(dt0=1e-3, dt_min=1e-8, dt_max=2.0))
        out[method] = (_equilibrium_spread(scheme), run)
    return out


@pytest.mark.mpi
def test_bdf2_reaches_the_discrete_equilibrium(closed_cell_runs) -> None:
    spread, run = closed_cell_runs["fem-bdf2"]
    assert spread < 1e-8, spread
    assert spread < 1e-2 * closed_cell_runs["fem2"][0], closed_cell_runs["fem2"][0]
    first, last = run.records[0], run.records[-1]
    for key in ("mass_cation", "mass_anion"):
        assert last[key] == pytest.approx(first[key], rel=1e-9)
    assert min(r["min_c"] for r in run.records) > 0


def test_bdf2_with_error_control_and_variable_steps() -> None:
    problem = cases.charging_cell(unit_square(6), voltage=2.0)
    scheme = build_scheme(problem, "fem-bdf2")
    assert scheme.order == 2
    integrate(scheme, 0.05, FixedSteps(lambda k, t: 0.002 * (1 + 0.5 * (k % 3))))
    run = integrate(scheme, 0.2, ErrorControl(dt0=0.01, dt_min=1e-8, dt_max=0.1, rtol=1e-4))
    assert scheme.t == pytest.approx(0.2, abs=1e-12) and run.error_estimate > 0
    masses = [r["mass_cation"] for r in run.records]
    assert max(masses) - min(masses) < 1e-10 * masses[0]
    assert all(r["S"] >= run.records[0]["S"] - 1e-9 for r in run.records)
