"""Derived quantities: the same names for FEM and FV, the discrete Gauss law, FEM ≈ FV.

A charging cell (ψ = 0 on the left, ψ = 2 on the right, a surface charge on the top, zero flux
and insulation everywhere) is run a few steps with fem1 and with Scheme I on one mesh.

* Gauss law: testing the discrete Poisson equation with 1 (sum over all boxes / all test
  functions) gives Σ_Γ Q_Γ + ⟨Σ z c + ρ^f, 1⟩ + ∫_{Γ_N} ψ^N ds = 0, exactly up to the Newton
  residual, for both discretizations.
* currents are the difference quotients of the charges; FEM and FV charges agree to the
  discretization error; the Joule heat is positive and drives max ΔT up.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mpi4py import MPI

from pnpf_fem import fem, fv
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.meshing import unit_square
from pnpf_fem.units import nondimensionalize, supercapacitor_parameters

pytestmark = pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="FV is serial")

MODEL = nondimensionalize(supercapacitor_parameters())
SIGMA = 0.05  # ε² ∂ψ/∂n on the top
TIGHT_FEM = fem.SolverOptions(rtol=1e-14, atol=1e-13)
DT, STEPS = 0.02, 4


def _fem_records(tri):
    fmesh = fem.from_triangulation(tri, MPI.COMM_WORLD)
    problem = fem.PNPFProblem(
        model=MODEL,
        mesh=fmesh,
        initial=fem.InitialState(c={"cation": 1.0, "anion": 1.0}, T=1.0),
        dirichlet=(fem.DirichletBC("left", 0.0), fem.DirichletBC("right", 2.0)),
        neumann=(fem.NeumannBC("top", SIGMA),),
    )
    scheme = fem.make_scheme("fem1", problem, TIGHT_FEM)
    return [scheme.initial_observables(), *integrate(scheme, DT * STEPS, FixedSteps(DT)).records]


def _fv_records(tri):
    mesh = fv.VoronoiMesh.from_triangulation(tri)
    problem = fv.PNPFProblem(
        mesh, MODEL, dirichlet={"left": 0.0, "right": 2.0}, neumann={"top": SIGMA}
    )
    state = fv.initial_state(problem, [1.0, 1.0], 1.0)
    scheme = fv.SchemeI(problem, fv.SolverControl(tol=1e-13), state)
    return [scheme.initial_observables(), *integrate(scheme, DT * STEPS, FixedSteps(DT)).records]


@pytest.fixture(scope="module")
def records():
    tri = unit_square(8, kind="structured")
    return {"fem": _fem_records(tri), "fv": _fv_records(tri)}


def test_fem_and_fv_report_the_same_quantities(records):
    names = {m: set(r[-1]) for m, r in records.items()}
    assert names["fem"] == names["fv"]
    for key in ("charge_left", "current_right", "max_dT", "joule", "mass_cation", "S2"):
        assert key in names["fem"]


@pytest.mark.parametrize("method", ["fem", "fv"])
def test_discrete_gauss_law(records, method):
    top_length = 1.0
    for r in records[method]:
        ions = MODEL.valences[0] * r["mass_cation"] + MODEL.valences[1] * r["mass_anion"]
        balance = r["charge_left"] + r["charge_right"] + ions + SIGMA * top_length
        assert abs(balance) < 1e-10 * max(1.0, abs(r["charge_right"])), (method, balance)


@pytest.mark.parametrize("method", ["fem", "fv"])
def test_currents_are_the_rate_of_the_charges(records, method):
    rec = records[method]
    for a, b in itertools.pairwise(rec):
        rate = (b["charge_right"] - a["charge_right"]) / b["dt"]
        assert b["current_right"] == pytest.approx(rate, rel=1e-12, abs=1e-14)
    assert rec[0]["current_right"] == 0.0
    # the anode (ψ = 2) charges up, the cathode down (the top's surface charge offsets both)
    assert all(b["charge_right"] > a["charge_right"] for a, b in itertools.pairwise(rec))
    assert all(b["charge_left"] < a["charge_left"] for a, b in itertools.pairwise(rec))


def test_fem_and_fv_agree_and_the_cell_heats(records):
    fe, fvr = records["fem"][-1], records["fv"][-1]
    for key in ("charge_left", "charge_right"):
        assert fe[key] == pytest.approx(fvr[key], rel=0.02), key
    assert fe["joule"] == pytest.approx(fvr["joule"], rel=0.2)
    for rec in records.values():
        assert all(r["joule"] > 0 for r in rec)
        assert rec[-1]["max_dT"] > rec[1]["max_dT"] > 0 == rec[0]["max_dT"]
        assert np.isclose(rec[-1]["mass_cation"], rec[0]["mass_cation"], rtol=1e-12)
