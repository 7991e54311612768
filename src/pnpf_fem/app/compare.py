"""FEM–FV cross-validation: the same case on the same meshes with both discretizations.

Both read one `TaggedTriangulation`, so FEM (P1) nodes and FV (Voronoi box) vertices coincide and
the solutions can be compared vertex by vertex. With the same time step, the two schemes of each
pair ("1": FEM first order vs Scheme I, "2": FEM modified Crank–Nicolson vs Scheme II, "bdf2":
the BDF2 schemes of both) apply the
same time discretization to two second-order spatial discretizations, so their difference is a
spatial one and must fall at O(h²). The norm is the discrete l² norm with the box volumes,
sqrt(Σ m(V_i) (u_FEM(x_i) − u_FV,i)²).

Cases: "mms" is Test A (4.1)–(4.2); "charging" is a square cell (ε = 0.25, C_T = 10, k = 1)
with ψ = 0 on the left, ψ = ψ* on the right, insulated, zero-flux,
no sources — a 2D charging transient with double layers. The masses of both runs agree to
round-off (both conserve exactly); `mass_difference` reports it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from pnpf_fem.app.arguments import add_command
from pnpf_fem.app.console import emit, emit_json
from pnpf_fem.convergence import mesh_levels, observed_order
from pnpf_fem.errors import InputError
from pnpf_fem.fem.build import build_scheme as fem_scheme
from pnpf_fem.fem.mesh import gather_vertex_values
from pnpf_fem.fv.build import build_scheme as fv_scheme
from pnpf_fem.fv.mesh import VoronoiMesh
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.meshing import TaggedTriangulation, unit_square
from pnpf_fem.model import Problem, cases

__all__ = ["CASES", "compare", "format_compare_table", "register"]

CASES = ("mms", "charging")
PAIRS = {"1": ("fem1", "fv1"), "2": ("fem2", "fv2"), "bdf2": ("fem-bdf2", "fv-bdf2")}
VARIABLES = ("c1", "c2", "psi", "T")

# The charging case: double layers that P1 / boxes resolve from h = 1/8 on.
CHARGING_MODEL = cases.charging_model(
    eps=0.25, frictions=(1.0, 1.0), heat_capacity=10.0, conductivity=1.0, names=("c1", "c2")
)
CHARGING_POTENTIAL = 2.0  # ψ* in units of k_B T0/e
CHARGING_END, CHARGING_DT = 0.1, 0.005
MMS_END, MMS_DT = 0.1, 0.0025


def _problem(case: str, tri: TaggedTriangulation) -> tuple[Problem, float, float]:
    """The registry's problem of `case` on `tri`, its end time and Δt."""
    if case == "mms":
        return cases.mms(tri), MMS_END, MMS_DT
    problem = cases.charging_cell(tri, CHARGING_POTENTIAL, CHARGING_MODEL, bumps=False)
    return problem, CHARGING_END, CHARGING_DT


def _vertex_values(scheme: Any, fv: bool) -> dict[str, np.ndarray]:
    """Whole-mesh vertex values on every rank."""
    if fv:
        s, part = scheme.state, scheme.problem.partition
        values = {"c1": s.c[0], "c2": s.c[1], "psi": s.psi, "T": s.T}
        return values if part is None else {k: part.gather(v) for k, v in values.items()}
    mesh, u = scheme.problem.mesh, scheme.u
    cols = [gather_vertex_values(mesh, u, i) for i in range(scheme.M + 2)]
    return {"c1": np.exp(cols[0]), "c2": np.exp(cols[1]), "psi": cols[2], "T": np.exp(cols[3])}


def _solve(problem: Problem, method: str, end: float, dt: float) -> tuple[dict, list[float]]:
    """The final vertex values and masses of `problem` run with `method` in steps dt."""
    fv = method.startswith("fv")
    comm = MPI.COMM_WORLD
    scheme = fv_scheme(problem, method, comm=comm) if fv else fem_scheme(problem, method, comm=comm)
    records = integrate(scheme, round(end / dt) * dt, FixedSteps(dt)).records
    masses = [records[-1][f"mass_{n}"] for n in problem.model.species_names]
    return _vertex_values(scheme, fv), masses


def compare(case: str = "mms", pair: str = "1", levels: int = 3) -> dict[str, Any]:
    """FEM–FV differences of c¹, c², ψ, T on unstructured meshes h = 1/8, 1/16, …"""
    if case not in CASES:
        raise InputError(f"unknown compare case {case!r} (choose from {', '.join(CASES)})")
    if pair not in PAIRS:
        raise InputError(f"--order must be one of {', '.join(PAIRS)}, got {pair!r}")
    if levels < 2:
        raise InputError(f"--levels must be at least 2 to observe an order, got {levels}")
    rows: list[dict[str, Any]] = []
    for n in mesh_levels(levels):
        start = time.perf_counter()
        tri = unit_square(n, kind="unstructured", seed=n)
        problem, end, dt = _problem(case, tri)
        fem_method, fv_method = PAIRS[pair]
        fv_values, fv_masses = _solve(problem, fv_method, end, dt)
        fem_values, fem_masses = _solve(problem, fem_method, end, dt)
        volumes = VoronoiMesh.from_triangulation(tri).volumes
        diffs = {
            v: float(np.sqrt(np.dot(volumes, (fem_values[v] - fv_values[v]) ** 2)))
            for v in VARIABLES
        }
        orders = None
        if rows:
            orders = observed_order(rows[-1]["differences"], diffs, rows[-1]["h"], 1.0 / n)
        rows.append(
            {
                "h": 1.0 / n,
                "num_vertices": tri.num_vertices,
                "differences": diffs,
                "mass_difference": float(
                    max(abs(a - b) / abs(b) for a, b in zip(fem_masses, fv_masses, strict=True))
                ),
                "orders": orders,
                "wall_time": time.perf_counter() - start,
            }
        )
    return {"case": case, "methods": list(PAIRS[pair]), "levels": rows}


def format_compare_table(result: dict[str, Any]) -> str:
    head = f"{'h':>8} {'N':>6}" + "".join(f" {'|Δ' + v + '|':>11} {'ord':>5}" for v in VARIABLES)
    lines = [
        f"FEM–FV comparison: case {result['case']}, {' vs '.join(result['methods'])}",
        head,
    ]
    for row in result["levels"]:
        line = f"{row['h']:8.4g} {row['num_vertices']:6d}"
        for v in VARIABLES:
            o = (row["orders"] or {}).get(v)
            line += f" {row['differences'][v]:11.3e} " + (f"{o:5.2f}" if o is not None else "    -")
        lines.append(line)
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    """FEM against FV on one mesh: a case file (pnpf-fem compare CASE.toml), or the built-in
    mesh-refinement studies (--case mms|charging|all) whose differences fall at O(h²)."""
    if args.case_file is not None:
        from pnpf_fem.app.compare_case import compare_case, format_case_comparison
        from pnpf_fem.app.output import RunDirectory

        if args.case != "all":
            raise InputError("give either a case file or --case, not both")
        result = compare_case(args.case_file, args.order)
        if args.output is not None:
            RunDirectory(args.output).write_json("comparison.json", result)
        emit(json.dumps(result, indent=2) if args.json else format_case_comparison(result))
        return 0
    cases = CASES if args.case == "all" else (args.case,)
    results = [compare(c, args.order, args.levels) for c in cases]
    if args.json:
        emit_json(results if len(results) > 1 else results[0])
    else:
        emit("\n\n".join(format_compare_table(r) for r in results))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    summary = "run FEM and FV on the same meshes and print their differences"
    p = add_command(subparsers, "compare", _run, summary)
    p.add_argument("case_file", nargs="?", default=None, help="a case file (TOML) to compare")
    p.add_argument("--case", default="all", help="built-in study: mms | charging | all")
    p.add_argument("--output", type=Path, default=None, help="write comparison.json here")
    p.add_argument(
        "--order",
        default="1",
        help="1: fem1 vs fv1 (Scheme I); 2: fem2 vs fv2 (Scheme II); bdf2: fem-bdf2 vs fv-bdf2",
    )
    p.add_argument("--levels", type=int, default=3, help="meshes h = 1/8, 1/16, ...")
    p.add_argument("--json", action="store_true", help="print JSON")
