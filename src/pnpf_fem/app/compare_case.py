"""`pnpf-fem compare CASE.toml`: one case file run with FEM and with FV on the same mesh.

The case's mesh is built FV-admissible (as for an FV run), so FEM P1 nodes and Voronoi box
vertices coincide. The pair is chosen by `--order`: "1" runs fem1 against Scheme I (fv1), "2" runs
fem2 against Scheme II (fv2), whatever method the case file names. Both runs use the case's time
stepping (fixed, or adaptive with the same control); the report gives the final fields' discrete
l² differences sqrt(Σ m(V_i)(u_FEM − u_FV)²) (absolute and relative to the FV field), and the
largest difference of each observable over time (FEM interpolated onto the FV times). Runs on
any number of ranks (FEM and FV share DOLFINx's distribution of the vertices).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pnpf_fem.app.case import load_case
from pnpf_fem.app.compare import PAIRS
from pnpf_fem.app.setup import RunSetup, build_simulation, prepare, time_control
from pnpf_fem.errors import InputError
from pnpf_fem.integrate import integrate

__all__ = ["PAIRS", "compare_case", "format_case_comparison"]

OBSERVABLES = ("S", "S1", "S2", "min_c", "min_T")


def _run_one(setup: RunSetup) -> dict[str, Any]:
    start = time.perf_counter()
    sim = build_simulation(setup, Path(os.devnull))  # writes nothing: no fields requested
    rows = [dict(sim.initial_observables())]
    control = time_control(setup, setup.case.time["max_steps"])
    result = integrate(sim, setup.t_end, control, observers=[lambda r, _dt: rows.append(dict(r))])
    fields = {k: np.asarray(v, dtype=float).copy() for k, v in sim.vertex_fields().items()}
    sim.close()
    return {
        "rows": rows,
        "fields": fields,
        "steps": result.accepted,
        "rejected": result.rejected,
        "wall_time_s": time.perf_counter() - start,
    }


def compare_case(case_path: str | Path, order: str = "1") -> dict[str, Any]:
    """Run `case_path` with the FEM and FV method of pair `order`; return the differences."""

    from pnpf_fem.fv.mesh import VoronoiMesh

    if order not in PAIRS:
        raise InputError(f"--order must be one of {', '.join(PAIRS)}, got {order!r}")
    case = load_case(case_path)
    fem_method, fv_method = PAIRS[order]
    disc = dict(case.discretization)
    setup_fv = prepare(replace(case, discretization=disc | {"method": fv_method, "degree": 1}))
    case_fem = replace(case, discretization=disc | {"method": fem_method, "degree": 1})
    setup_fem = replace(setup_fv, case=case_fem)  # the same FV-admissible triangulation
    runs = {"fem": _run_one(setup_fem), "fv": _run_one(setup_fv)}

    volumes = VoronoiMesh.from_triangulation(setup_fv.tri).volumes
    fields: dict[str, dict[str, float]] = {}
    for name, fv_values in runs["fv"]["fields"].items():
        diff = runs["fem"]["fields"][name] - fv_values
        l2 = float(np.sqrt(volumes @ diff**2))
        ref = float(np.sqrt(volumes @ fv_values**2))
        fields[name] = {"l2": l2, "relative": l2 / ref if ref > 0 else float("nan")}

    t_fv = np.array([r["t"] for r in runs["fv"]["rows"]])
    t_fem = np.array([r["t"] for r in runs["fem"]["rows"]])
    keys = [k for k in runs["fv"]["rows"][0] if k.startswith("mass_")] + list(OBSERVABLES)
    observables: dict[str, dict[str, float]] = {}
    for k in keys:
        a = np.array([r[k] for r in runs["fv"]["rows"]], dtype=float)
        b = np.interp(t_fv, t_fem, np.array([r[k] for r in runs["fem"]["rows"]], dtype=float))
        scale = max(float(np.max(np.abs(a))), 1e-300)
        observables[k] = {
            "fem_final": float(b[-1]),
            "fv_final": float(a[-1]),
            "max_abs_difference": float(np.max(np.abs(b - a))),
            "max_rel_difference": float(np.max(np.abs(b - a)) / scale),
        }
    sc = setup_fv.model.scales
    return {
        "case": str(case_path),
        "pair": {"fem": fem_method, "fv": fv_method},
        "vertices": setup_fv.tri.num_vertices,
        "t_end_s": setup_fv.t_end * (sc.time if sc is not None else 1.0),
        "runs": {
            m: {k: r[k] for k in ("steps", "rejected", "wall_time_s")} for m, r in runs.items()
        },
        "fields": fields,
        "observables": observables,
    }


def format_case_comparison(result: dict[str, Any]) -> str:
    pair = result["pair"]
    lines = [
        f"{result['case']}: {pair['fem']} vs {pair['fv']} on one mesh "
        f"({result['vertices']} vertices), t_end = {result['t_end_s']:.4g} s",
        "  "
        + ", ".join(
            f"{m}: {r['steps']} steps ({r['rejected']} rejected), {r['wall_time_s']:.1f} s"
            for m, r in result["runs"].items()
        ),
        f"{'final field':>14} {'l2 diff':>11} {'relative':>10}",
    ]
    for name, d in result["fields"].items():
        lines.append(f"{name:>14} {d['l2']:11.3e} {d['relative']:10.2e}")
    lines.append(f"{'observable':>14} {'FEM final':>13} {'FV final':>13} {'max |diff|':>11}")
    for name, d in result["observables"].items():
        lines.append(
            f"{name:>14} {d['fem_final']:13.6g} {d['fv_final']:13.6g} "
            f"{d['max_abs_difference']:11.3e}"
        )
    return "\n".join(lines)
