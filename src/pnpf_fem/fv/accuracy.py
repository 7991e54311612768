"""The accuracy test (4.1)–(4.2) of §4.1: `accuracy_study("fv1"|"fv2"|"fv-bdf2", levels)` for the
CLI.

Meshes: unstructured admissible Delaunay meshes of [0,1]² (`unit_square(n, "unstructured")`,
jittered interior vertices), n = 8·2^k, h = 1/n. Time steps: Δt = h² (Scheme I) and Δt = h/10
(Scheme II, BDF2), each shortened to Δt = 0.1/⌈0.1/Δt⌉ so that the last step ends exactly at
t = 0.1.
Errors: the discrete l² norm sqrt(Σ m(V_i)(u_i − u(x_i, 0.1))²) of c¹, c², ψ, T.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from pnpf_fem import mms
from pnpf_fem.convergence import mesh_levels, observed_order
from pnpf_fem.errors import InputError
from pnpf_fem.fv.build import fv_problem
from pnpf_fem.fv.mesh import VoronoiMesh
from pnpf_fem.fv.problem import FVState, PNPFProblem, initial_state
from pnpf_fem.fv.scheme1 import SchemeI
from pnpf_fem.fv.scheme2 import SchemeII
from pnpf_fem.fv.scheme_bdf2 import SchemeBDF2
from pnpf_fem.fv.solver import SolverControl
from pnpf_fem.integrate import FixedSteps, StepRecord, integrate
from pnpf_fem.meshing import unit_square
from pnpf_fem.model import cases

__all__ = ["T_FINAL", "accuracy_study", "mms_errors", "mms_problem", "solve_mms"]

T_FINAL = 0.1
_VARIABLES = ("c1", "c2", "psi", "T")
SCHEMES = {"fv1": SchemeI, "fv2": SchemeII, "fv-bdf2": SchemeBDF2}
SCHEME_NAMES = {"fv1": "Scheme I (3.3)", "fv2": "Scheme II (3.14)", "fv-bdf2": "BDF2 (ours)"}


def mms_problem(
    n: int | VoronoiMesh, kind: str = "unstructured", seed: int | None = None
) -> PNPFProblem:
    """Problem (4.1) on [0,1]² (an n×n admissible mesh, or a given mesh with left/right/bottom/top
    tags): ψ^D on x = 0, 1, ∂_yψ = 0 on y = 0, 1."""
    if isinstance(n, VoronoiMesh):
        mesh = n
    else:
        tri = (
            unit_square(n, kind=kind, seed=n if seed is None else seed)
            if kind == "unstructured"
            else unit_square(n, kind=kind)
        )
        mesh = VoronoiMesh.from_triangulation(tri)
    return fv_problem(cases.mms(mesh.tri), mesh)


def mms_errors(problem: PNPFProblem, state: FVState) -> dict[str, float]:
    """Discrete l² errors of c¹, c², ψ, T against (4.2) at state.t."""
    x, y = problem.mesh.points.T
    m = problem.mesh.volumes
    t = state.t

    def l2(u: np.ndarray, exact: np.ndarray) -> float:
        return float(np.sqrt(np.dot(m, (u - exact) ** 2)))

    return {
        "c1": l2(state.c[0], mms.exact_c(x, y, t)),
        "c2": l2(state.c[1], mms.exact_c(x, y, t)),
        "psi": l2(state.psi, mms.exact_psi(x, y, t)),
        "T": l2(state.T, mms.exact_temperature(x, y, t)),
    }


def solve_mms(
    method: str, n: int, dt: float | None = None, control: SolverControl | None = None
) -> tuple[PNPFProblem, FVState, list[StepRecord], float]:
    """Run (4.1) to t = 0.1 on the level-n mesh; returns (problem, final state, history, Δt)."""
    if method not in SCHEME_NAMES:
        raise InputError(
            f"FV accuracy study: method must be one of {', '.join(SCHEME_NAMES)}, got {method!r}"
        )
    h = 1.0 / n
    if dt is None:
        dt = h * h if method == "fv1" else h / 10.0
    steps = math.ceil(T_FINAL / dt - 1e-9)
    dt = T_FINAL / steps
    problem = mms_problem(n)
    state = initial_state(problem, [mms.exact_c, mms.exact_c], mms.exact_temperature, mms.exact_psi)
    scheme = SCHEMES[method](problem, control, state)
    history = integrate(scheme, steps * dt, FixedSteps(dt)).records
    return problem, scheme.state, history, dt


def accuracy_study(method: str, levels: int, degree: int = 1) -> dict[str, Any]:
    """The contract of `pnpf_fem.app.reproduce`: errors and observed orders for h = 1/8, 1/16, ...

    `degree` is ignored (FV has none).
    """
    if levels < 1:
        raise InputError(f"levels must be at least 1, got {levels}")
    out: list[dict[str, Any]] = []
    for n in mesh_levels(levels):
        start = time.perf_counter()
        problem, state, history, dt = solve_mms(method, n)
        errors = mms_errors(problem, state)
        orders = observed_order(out[-1]["errors"], errors, out[-1]["h"], 1.0 / n) if out else None
        out.append(
            {
                "h": 1.0 / n,
                "dt": dt,
                "num_vertices": problem.mesh.num_vertices,
                "num_steps": len(history),
                "newton_iterations": int(sum(o["newton_iterations"] for o in history)),
                "wall_time": time.perf_counter() - start,
                "errors": errors,
                "orders": orders,
            }
        )
    return {
        "method": method,
        "scheme": SCHEME_NAMES[method],
        "final_time": T_FINAL,
        "mesh": "unstructured admissible Delaunay (jittered), unit square",
        "levels": out,
    }
