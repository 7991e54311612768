"""Wall time per step and per Newton iteration of the FV schemes against the number of vertices.

Not a test. Meshes: unstructured admissible unit squares with N ≈ 1e3 … 1e6 vertices (×4 per
level); problem: the paper's supercapacitor parameters (§4.2, L = 10 nm), ψ = 0 | 2 k_BT0/e on
left | right, c = 1, T = 1 initially, Δt = 0.01 (dimensionless). Each size runs `--steps` steps
of each scheme. A scheme stops at the first size whose time, extrapolated from its previous size
as N^1.7 (direct solvers) or N^1.2 (iterative), would exceed the remaining `--budget` seconds, or
whose memory extrapolated from the previous peak would exceed the machine's; the output says
where.

Every size also times, in the same process, the yardstick of benchmarks/fem_scaling.py: one
scalar P1 Poisson solve on the same vertices (DOLFINx assembly of matrix and vector, CG +
BoomerAMG to rtol 1e-8), and prints a Newton iteration in units of it ("Newton/Poisson"): this
machine is shared, ratios survive the noise. "growth" is the per-vertex step time relative to the
previous size (1.0: linear scaling), "since 1e4" the same relative to the size nearest 1e4
vertices (10 000 by default; the issue's target: ≤ 1.2 at 1e6), beside the yardstick's own growth
over the same sizes and the ratio of the two, the growth in the yardstick's units (below 1: the
step scales better than a CG + AMG Poisson solve on this machine). The step cost is that of a
run's steps: the mean over the steps after the first, which also builds what a run keeps (the
Jacobian's sparsity pattern, the solver's objects) and is listed on its own ("first"), as are all
the steps' times.

    python3 benchmarks/fv_scaling.py [--budget 600] [--steps 3] [--max-vertices 1000000]
                                     [--min-vertices 0] [--sides 31,63,...] [--repeats 3]
                                     [--linear-solver auto|splu|mumps|iterative]
                                     [--schemes fv1,fv2,fv-bdf2] [--json]

Peak memory is the process's resident-set high-water mark (resource.getrusage ru_maxrss), so it
never decreases from one row to the next.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import sys
import time

import numpy as np
import yardstick
from mpi4py import MPI

from pnpf_fem.fv import SchemeBDF2, SchemeI, SchemeII, SolverControl, VoronoiMesh, initial_state
from pnpf_fem.fv.build import fv_problem
from pnpf_fem.meshing import unit_square
from pnpf_fem.model import cases
from pnpf_fem.units import nondimensionalize, supercapacitor_parameters


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def total_memory_mb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError):
        return math.inf


def fit_exponent(n: list[float], t: list[float]) -> float | None:
    """Least-squares slope of log t against log N."""
    if len(n) < 2:
        return None
    return float(np.polyfit(np.log(n), np.log(t), 1)[0])


def build(n_side: int):
    """The problem, its initial state, the mesh time and the triangulation of one size."""
    t0 = time.perf_counter()
    tri = unit_square(n_side, "unstructured", seed=1)
    mesh = VoronoiMesh.from_triangulation(tri)
    mesh_time = time.perf_counter() - t0
    params = nondimensionalize(supercapacitor_parameters())
    problem = fv_problem(cases.charging_cell(tri, 2.0, params, bumps=False), mesh)
    return problem, initial_state(problem, [1.0, 1.0], 1.0), mesh_time, tri


def time_scheme(cls, problem, state, steps: int, dt: float, solver: str, repeats: int) -> dict:
    """One run of `steps` steps from `state`, repeated (a new scheme each time) while a run takes
    under 10 s, up to `repeats` runs: the run of the median step cost is reported (a small mesh's
    0.3 s steps are at the mercy of the machine's other load)."""
    runs = []
    while not runs or (len(runs) < repeats and runs[-1]["wall_time"] < 10.0):
        runs.append(_one_run(cls, problem, state, steps, dt, solver))
        gc.collect()  # the run's scheme and PETSc objects: its memory serves the next run
    runs.sort(key=lambda r: r["time_per_step"])
    return runs[(len(runs) - 1) // 2] | {"runs": len(runs)}


def _one_run(cls, problem, state, steps: int, dt: float, solver: str) -> dict:
    scheme = cls(problem, SolverControl(linear_solver=solver)).start(state)
    times, iters = [], []
    for _ in range(steps):
        start = time.perf_counter()
        obs = scheme.step(dt)
        times.append(time.perf_counter() - start)
        iters.append(obs["newton_iterations"])
    run = slice(1, None) if steps > 1 else slice(None)  # the steps after the set-up step
    return {
        "time_per_step": float(np.mean(times[run])),
        "first_step": float(times[0]),
        "time_per_newton_iteration": float(np.sum(times[run]) / max(1, np.sum(iters[run]))),
        "newton_iterations_per_step": float(np.mean(iters[run])),
        "wall_time": float(np.sum(times)),
        "step_times": [float(t) for t in times],
    }


SCHEMES = (("fv1", SchemeI), ("fv2", SchemeII), ("fv-bdf2", SchemeBDF2))


def poisson_yardstick(tri) -> float:
    """Seconds of the yardstick (benchmarks/yardstick.py) on the vertices of `tri`."""
    from pnpf_fem.fem.mesh import from_triangulation

    return yardstick.poisson_yardstick(from_triangulation(tri, MPI.COMM_SELF))[0]


# (n+1)² ≈ 1e3, 4e3, 1e4, 1.6e4, 6.6e4, 2.6e5, 1e6 vertices
SIDES = [31, 63, 99, 127, 255, 511, 999]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=600.0, help="total seconds (default 600)")
    ap.add_argument("--steps", type=int, default=3, help="steps per scheme and size (default 3)")
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument(
        "--repeats", type=int, default=3, help="runs per size while a run takes < 10 s (median)"
    )
    ap.add_argument("--max-vertices", type=int, default=1_000_000)
    ap.add_argument("--min-vertices", type=int, default=0, help="skip the smaller sizes")
    ap.add_argument(
        "--sides",
        default=",".join(map(str, SIDES)),
        help="mesh sides n ((n+1)² vertices), e.g. 99,999 for 1e4 and 1e6 vertices only",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--linear-solver",
        default="auto",
        choices=("auto", "splu", "spsolve", "mumps", "iterative"),
        help="SolverControl.linear_solver (default auto)",
    )
    ap.add_argument("--schemes", default="fv1,fv2", help="comma-separated: fv1,fv2,fv-bdf2")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    base_memory = peak_memory_mb()
    mem_limit = 0.8 * total_memory_mb()
    schemes = [(name, cls) for name, cls in SCHEMES if name in args.schemes.split(",")]
    results: dict[str, list[dict]] = {name: [] for name, _ in schemes}
    stopped: dict[str, str] = {}
    for n in sorted(int(side) for side in args.sides.split(",")):
        nv = (n + 1) ** 2
        if nv < args.min_vertices:
            continue
        todo = []
        for name, cls in schemes:
            if name in stopped:
                continue
            if nv > args.max_vertices:
                stopped[name] = f"--max-vertices {args.max_vertices} reached"
                continue
            prev = results[name][-1] if results[name] else None
            if prev is not None:
                ratio = nv / prev["num_vertices"]
                # direct sparse solves in 2D grow like N^1.5 or faster, iterative ones ~N^1.2
                power = 1.2 if args.linear_solver in ("auto", "iterative") else 1.7
                expected = prev["wall_time"] * ratio**power
                remaining = args.budget - (time.perf_counter() - start)
                if expected > remaining:
                    stopped[name] = (
                        f"stopped before N = {nv}: {args.steps} steps expected to take "
                        f"≈{expected:.0f} s, {remaining:.0f} s of the {args.budget:.0f} s "
                        "budget left"
                    )
                    continue
                # the memory above the process's start grows like N (iterative) or faster
                memory = base_memory + (prev["peak_memory_mb"] - base_memory) * ratio ** (
                    1.0 if args.linear_solver in ("auto", "iterative") else 1.3
                )
                if memory > mem_limit:
                    stopped[name] = (
                        f"stopped before N = {nv}: expected memory "
                        f"≈{memory:.0f} MiB > {mem_limit:.0f} MiB"
                    )
                    continue
            todo.append((name, cls))
        if not todo:
            break
        problem, state0, mesh_time, tri = build(n)
        for name, cls in todo:
            # the scheme first, in a process that holds only its problem (as a run does); then
            # the yardstick: one solve that compiles and caches its forms, and three timed
            row = time_scheme(
                cls, problem, state0, args.steps, args.dt, args.linear_solver, args.repeats
            )
            poisson = float(np.median([poisson_yardstick(tri) for _ in range(4)][1:]))
            prev = results[name][-1] if results[name] else None
            growth = None
            if prev is not None:
                growth = (row["time_per_step"] / nv) / (
                    prev["time_per_step"] / prev["num_vertices"]
                )
            row.update(num_vertices=nv, poisson_time=poisson)
            # per-vertex step cost and yardstick relative to the size nearest 1e4 vertices
            base = min(results[name] + [row], key=lambda r: abs(math.log(r["num_vertices"] / 1e4)))
            per_vertex = row["time_per_step"] / nv
            since = per_vertex / (base["time_per_step"] / base["num_vertices"])
            poisson_since = (poisson / nv) / (base["poisson_time"] / base["num_vertices"])
            row.update(
                growth_since_1e4=since,
                poisson_growth_since_1e4=poisson_since,
                mesh_time=mesh_time,
                peak_memory_mb=peak_memory_mb(),
                newton_over_poisson=row["time_per_newton_iteration"] / poisson,
                growth=growth,
                load=os.getloadavg()[0],
            )
            results[name].append(row)
            if not args.json:
                print(
                    f"{name:7s} N={nv:>8d}  {row['time_per_step']:9.3f} s/step  "
                    f"{row['time_per_newton_iteration']:8.3f} s/Newton it  (steps "
                    + "/".join(f"{t:.2f}" for t in row["step_times"])
                    + f" s; median of {row['runs']} runs)  "
                    f"({row['newton_iterations_per_step']:.1f} it/step)  Newton/Poisson "
                    f"{row['newton_over_poisson']:6.1f} (Poisson {poisson:.3f} s)  growth "
                    + ("  -  " if growth is None else f"{growth:5.2f}")
                    + f"  since 1e4 {since:5.2f} (Poisson {poisson_since:5.2f}, "
                    f"in Poisson units {since / poisson_since:5.2f})"
                    + f"  first {row['first_step']:.2f} s"
                    + f"  mesh {mesh_time:6.2f} s  peak RSS {row['peak_memory_mb']:7.0f} MiB"
                    f"  load {row['load']:.1f}",
                    flush=True,
                )
    summary = {
        "linear_solver": args.linear_solver,
        "results": results,
        "stopped": {},
        "exponents": {},
    }
    for name, _ in schemes:
        rows = results[name]
        nv = [r["num_vertices"] for r in rows]
        summary["stopped"][name] = stopped.get(name, "all sizes done")
        for q in ("time_per_step", "time_per_newton_iteration"):
            summary["exponents"][f"{name}_{q}"] = fit_exponent(nv, [r[q] for r in rows])
            # the slope between the two largest sizes: the asymptotic growth
            summary["exponents"][f"{name}_{q}_last_pair"] = fit_exponent(
                nv[-2:], [r[q] for r in rows[-2:]]
            )
    summary["total_time"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for name, why in summary["stopped"].items():
            print(f"{name}: {why}")
        for key, val in summary["exponents"].items():
            print(f"growth exponent {key}: " + ("-" if val is None else f"{val:.2f}"))
        print(f"total {summary['total_time']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
