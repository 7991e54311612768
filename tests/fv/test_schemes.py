"""Schemes I and II: exact Jacobians, conservation, entropy, positivity, errors, inputs."""

from __future__ import annotations

import numpy as np
import pytest

from pnpf_fem import mms
from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fv import (
    FVState,
    PNPFProblem,
    SchemeBDF2,
    SchemeI,
    SchemeII,
    SolverControl,
    VoronoiMesh,
    entropy,
    initial_state,
)
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.meshing import unit_square
from pnpf_fem.units import DimensionlessPNPF, nondimensionalize, supercapacitor_parameters

OBSERVABLE_KEYS = {"t", "dt", "S", "S1", "S2", "min_c", "min_T", "max_dT", "joule"} | {
    "newton_iterations",
    "wall_time",
    "charge_left",
    "current_left",
    "charge_right",
    "current_right",
}
SUPERCAP = nondimensionalize(supercapacitor_parameters())  # ε ≈ 0.097, C_T = 194, k ≈ 702


def _three_species_problem(mesh: VoronoiMesh) -> PNPFProblem:
    params = DimensionlessPNPF(("a", "b", "c"), (1.0, -2.0, 0.5), (1.3, 0.7, 2.0), 0.8, 1.5, 0.9)
    return PNPFProblem(
        mesh,
        params,
        dirichlet={"left": mms.psi_dirichlet_left, "right": 0.3},
        neumann={"top": lambda x, y, t: 0.2 + x * t},
        fixed_charge=mms.fixed_charge,
        ion_sources=mms.ion_sources((1.0, -1.0, 1.0)),
        heat_source=mms.heat_source(),
    )


def _fd_jacobian(residual, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    cols = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h
        cols.append((residual(x + e, False)[0] - residual(x - e, False)[0]) / (2 * h))
    return np.column_stack(cols)


@pytest.mark.parametrize("scheme_cls", [SchemeI, SchemeII])
def test_jacobian_is_exact(scheme_cls) -> None:
    mesh = VoronoiMesh.from_triangulation(unit_square(4, "unstructured", seed=1))
    problem = _three_species_problem(mesh)
    rng = np.random.default_rng(0)
    n = mesh.num_vertices
    state = FVState(
        0.1, rng.uniform(0.2, 1.5, (3, n)), rng.uniform(-1, 1, n), rng.uniform(0.5, 2, n)
    )
    residual = scheme_cls(problem).residual_function(state, 0.05)
    blocks = 4 if scheme_cls is SchemeI else 5
    x = rng.normal(scale=0.5, size=blocks * n)
    _, jac = residual(x, True)
    fd = _fd_jacobian(residual, x)
    assert np.max(np.abs(jac.toarray() - fd)) < 1e-7 * max(1.0, np.max(np.abs(fd)))


def _closed_run(scheme_cls, psi_right: float, dt: float, n: int = 5, steps: int = 100):
    mesh = VoronoiMesh.from_triangulation(unit_square(n, "unstructured", seed=2))
    problem = PNPFProblem(mesh, SUPERCAP, dirichlet={"left": 0.0, "right": psi_right})
    state0 = initial_state(problem, [1.0, 1.0], 1.0)
    scheme = scheme_cls(problem, state=state0)
    history = integrate(scheme, steps * dt, FixedSteps(dt)).records
    return problem, state0, scheme.state, history


@pytest.mark.parametrize("scheme_cls", [SchemeI, SchemeII])
@pytest.mark.parametrize(
    ("psi_right", "dt"),
    [(2.0, 0.01), (20.0, 0.1)],  # the paper's ψ* = 2 k_BT0/e; stiff: 10× the voltage and Δt
    ids=["moderate", "stiff"],
)
def test_mass_conservation_entropy_positivity(scheme_cls, psi_right: float, dt: float) -> None:
    problem, state0, state, history = _closed_run(scheme_cls, psi_right, dt)
    assert len(history) == 100
    m = problem.mesh.volumes
    for name, c0 in zip(problem.params.species_names, state0.c, strict=True):
        mass0 = float(m @ c0)
        drift = max(abs(o[f"mass_{name}"] / mass0 - 1.0) for o in history)
        assert drift <= 1e-12
    s_prev = entropy(problem, state0)[0]
    for o in history:
        assert o["S"] - s_prev >= -1e-12 * abs(o["S"])
        assert abs(o["S"] - o["S1"] - o["S2"]) <= 1e-12 * abs(o["S"])
        assert o["min_c"] > 0 and o["min_T"] > 0
        s_prev = o["S"]
    # the system did something: charge separated, entropy produced, heat generated
    assert history[-1]["S"] > entropy(problem, state0)[0]
    assert state.T.max() > 1.0 + 1e-6
    assert state.c[0].min() < 0.9


def test_scheme2_very_stiff_step() -> None:
    """Scheme II at ψ* = 20 with Δt = 1 (≈ 10 Debye charging times per step)."""
    problem, state0, _, history = _closed_run(SchemeII, 20.0, 1.0, steps=20)
    mass0 = problem.mesh.volumes @ state0.c[0]
    assert abs(history[-1]["mass_cation"] / mass0 - 1) <= 1e-12
    assert np.all(np.diff([o["S"] for o in history]) >= -1e-12 * abs(history[-1]["S"]))
    assert min(o["min_c"] for o in history) > 0


def test_observables_have_the_shared_names() -> None:
    _, _, _, history = _closed_run(SchemeI, 2.0, 0.01, n=3, steps=2)
    assert set(history[0]) == OBSERVABLE_KEYS | {"mass_cation", "mass_anion"}
    assert history[1]["t"] == pytest.approx(0.02)
    assert history[0]["newton_iterations"] >= 1


@pytest.mark.parametrize("scheme_cls", [SchemeI, SchemeII])
def test_failed_newton_raises_and_keeps_state(scheme_cls) -> None:
    mesh = VoronoiMesh.from_triangulation(unit_square(4, "unstructured", seed=1))
    problem = PNPFProblem(mesh, SUPERCAP, dirichlet={"left": 0.0, "right": 20.0})
    state = initial_state(problem, [1.0, 1.0], 1.0)
    before = (state.c.copy(), state.psi.copy(), state.T.copy())
    scheme = scheme_cls(problem, SolverControl(max_iterations=2))
    with pytest.raises(SolverError) as err:
        scheme.advance(state, 0.5)
    assert err.value.reason == "max_iterations"
    assert len(err.value.history) == 2 and err.value.history[0] > 0
    assert state.t == 0.0
    for a, b in zip(before, (state.c, state.psi, state.T), strict=True):
        assert np.array_equal(a, b)


def test_scheme1_reports_theorem_3_4_step_condition() -> None:
    """With C_T = 1 a large step violates Δt < C_T/‖P‖∞: T would turn negative."""
    mesh = VoronoiMesh.from_triangulation(unit_square(5, "unstructured", seed=2))
    problem = PNPFProblem(mesh, DimensionlessPNPF.unit(), dirichlet={"left": 0.0, "right": 5.0})
    state = initial_state(problem, [1.0, 1.0], 1.0)
    with pytest.raises(SolverError, match=r"Theorem 3\.4") as err:
        SchemeI(problem).advance(state, 1.0)
    assert err.value.reason == "temperature_not_positive"
    new, _ = SchemeI(problem).advance(state, 0.002)  # a small enough step is fine
    assert new.T.min() > 0


@pytest.mark.parametrize("scheme_cls", [SchemeI, SchemeII])
def test_many_species_variable_dt_time_dependent_dirichlet(scheme_cls) -> None:
    mesh = VoronoiMesh.from_triangulation(unit_square(5, "unstructured", seed=4))
    params = DimensionlessPNPF(
        ("na", "so4", "h"), (1.0, -2.0, 1.0), (1.0, 2.0, 0.5), 0.3, 50.0, 2.0
    )
    problem = PNPFProblem(
        mesh,
        params,
        dirichlet={"left": 0.0, "right": lambda x, y, t: 3.0 * np.sin(5 * t) + 0.5 * y},
        neumann={"top": 0.1},
    )
    state0 = initial_state(problem, [1.0, 0.6, 0.2], lambda x, y, t: 1.0 + 0.1 * x)
    steps = iter([0.01, 0.03, 0.02, 0.05, 0.04, 0.05])
    scheme = scheme_cls(problem, state=state0)
    history = integrate(scheme, 0.2, FixedSteps(lambda k, t: next(steps))).records
    state = scheme.state
    assert state.t == pytest.approx(0.2, abs=1e-14)
    assert [o["dt"] for o in history] == pytest.approx([0.01, 0.03, 0.02, 0.05, 0.04, 0.05])
    right = mesh.vertices_of("right")
    y = mesh.points[right, 1]
    assert np.allclose(state.psi[right], 3.0 * np.sin(1.0) + 0.5 * y, atol=1e-13)
    m = mesh.volumes
    for k, name in enumerate(params.species_names):
        assert abs(history[-1][f"mass_{name}"] / (m @ state0.c[k]) - 1) <= 1e-12
    assert state.c.min() > 0


def test_neumann_data_and_dirichlet_in_poisson_are_exact_for_1d_quadratic() -> None:
    """−ε²ψ'' = ρ^f, ψ(0) = 0 (bottom), ε²ψ'(1) = g (top): ψ = −ρy²/(2ε²) + (g + ρ)y/ε²."""
    mesh = VoronoiMesh.from_triangulation(unit_square(6, "structured"))
    eps, rho, g = 0.5, 0.7, -0.3
    params = DimensionlessPNPF(("p", "m"), (1.0, -1.0), (1.0, 1.0), eps, 1.0, 1.0, rho)
    problem = PNPFProblem(mesh, params, dirichlet={"bottom": 0.0}, neumann={"top": g})
    state = initial_state(problem, [1.0, 1.0], 1.0)
    y = mesh.points[:, 1]
    exact = -rho * y**2 / (2 * eps**2) + (g + rho) * y / eps**2
    assert np.max(np.abs(state.psi - exact)) < 1e-12


def test_mumps_backend_matches_superlu() -> None:
    pytest.importorskip("petsc4py")
    mesh = VoronoiMesh.from_triangulation(unit_square(5, "unstructured", seed=2))
    problem = PNPFProblem(mesh, SUPERCAP, dirichlet={"left": 0.0, "right": 2.0})
    state = initial_state(problem, [1.0, 1.0], 1.0)
    a, _ = SchemeII(problem).advance(state, 0.1)
    b, _ = SchemeII(problem, SolverControl(linear_solver="mumps")).advance(state, 0.1)
    assert np.allclose(a.c, b.c, rtol=1e-10) and np.allclose(a.T, b.T, rtol=1e-12)
    assert np.allclose(a.psi, b.psi, atol=1e-10)


@pytest.mark.parametrize("scheme_cls", [SchemeI, SchemeII, SchemeBDF2])
def test_iterative_backend_matches_superlu(scheme_cls) -> None:
    """GMRES with the field split of BoomerAMG per field (also Scheme I's one-field heat step)
    gives SuperLU's steps; a GMRES that fails (one iteration allowed) falls back to MUMPS."""
    from petsc4py import PETSc

    mesh = VoronoiMesh.from_triangulation(unit_square(8, "unstructured", seed=2))
    problem = PNPFProblem(mesh, SUPERCAP, dirichlet={"left": 0.0, "right": 2.0})
    state = initial_state(problem, [1.0, 1.0], 1.0)
    a, _ = scheme_cls(problem, SolverControl(linear_solver="splu")).advance(state, 0.1)
    b, _ = scheme_cls(problem, SolverControl(linear_solver="iterative")).advance(state, 0.1)
    opts = PETSc.Options()
    blocks = 3 if scheme_cls is SchemeI else 4
    opts[f"pnpf_fv_iterative_{blocks}_ksp_max_it"] = 1
    try:
        crippled = scheme_cls(problem, SolverControl(linear_solver="iterative"))
        c, _ = crippled.advance(state, 0.1)
    finally:
        opts.delValue(f"pnpf_fv_iterative_{blocks}_ksp_max_it")
    assert crippled._solvers(blocks).get("fallback")
    for x in (b, c):
        assert np.allclose(a.c, x.c, rtol=1e-9) and np.allclose(a.T, x.T, rtol=1e-11)
        assert np.allclose(a.psi, x.psi, atol=1e-9)


def test_solver_control_is_validated() -> None:
    for bad in ({"tol": 0.0}, {"max_iterations": 0}, {"min_damping": 2.0}, {"linear_solver": "x"}):
        with pytest.raises(ValueError):
            SolverControl(**bad)


def test_boundary_tags_are_checked_by_name(structured_mesh: VoronoiMesh) -> None:
    with pytest.raises(InputError, match="unknown boundary tag name 'anode'"):
        PNPFProblem(structured_mesh, SUPERCAP, dirichlet={"anode": 1.0})
    with pytest.raises(InputError, match="both Dirichlet and Neumann"):
        PNPFProblem(structured_mesh, SUPERCAP, dirichlet={"left": 1.0}, neumann={"left": 0.0})
    with pytest.raises(InputError, match="at least one boundary tag"):
        PNPFProblem(structured_mesh, SUPERCAP, neumann={"left": 0.0})
    with pytest.raises(InputError, match="time step must be positive"):
        problem = PNPFProblem(structured_mesh, SUPERCAP, dirichlet={"left": 1.0})
        SchemeII(problem).advance(initial_state(problem, [1.0, 1.0], 1.0), 0.0)
