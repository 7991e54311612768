"""FEM scaling benchmark (not a test): time per Newton iteration, iterations, memory vs DOFs.

One measurement (run under mpirun by the driver):

    ./env/run mpirun -n 2 python3 benchmarks/fem_scaling.py measure --dofs 100000 --dim 3

Every measurement also times, in the same process, the yardstick: one scalar P1 Poisson solve
(assembly + CG/BoomerAMG, rtol 1e-8) on the same mesh, and prints the cost of one Newton
iteration in units of it ("Newton/Poisson"): this machine is shared, ratios survive the noise.
The yardstick is solved `--repeats` times: the first solve is the unit (as in earlier reports;
it is the slowest, caches are cold), the ratio to the median shows how far noise moved it. The
row also splits a Newton iteration by PETSc's logged events (`EVENTS`: Jacobian, residual,
preconditioner setup, Krylov solve), and records the largest final residual of a step and the
SNES reasons (inexact Newton must still reach the same tolerance).

Driver (default): for each configuration (2D and 3D × ranks 1 and 2 × LU and iterative) runs
the charging cell (`pnpf_fem.model.cases.charging_cell`, P1, 2 species → 4 fields) with
`--method` on unit squares / cubes of ~1e4 … 1e6 DOFs for `--steps` steps, prints a table and
the fitted growth exponents (time ∝ DOFs^p), and stops growing a configuration once a single
run exceeds `--budget` seconds or the total exceeds `--total-budget`:

    ./env/run python3 benchmarks/fem_scaling.py --method fem-be --steps 3 --solvers iterative
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI
from yardstick import poisson_yardstick

SIZES = (1e4, 3e4, 1e5, 3e5, 1e6)


EVENTS = {
    "jacobian": "SNESJacobianEval",
    "residual": "SNESFunctionEval",
    "pc_setup": "PCSetUp",
    "submatrices": "MatCreateSubMats",
    "pc_setup_blocks": "PCSetUpOnBlocks",
    "krylov": "KSPSolve",
}


def _events() -> dict[str, float]:
    """Seconds spent so far (this rank) in each of `EVENTS`."""
    from petsc4py import PETSc

    return {k: PETSc.Log.Event(name).getPerfInfo()["time"] for k, name in EVENTS.items()}


def measure(args: argparse.Namespace) -> None:
    from petsc4py import PETSc

    from pnpf_fem.fem import SolverOptions, from_triangulation, make_scheme
    from pnpf_fem.fem.build import fem_problem
    from pnpf_fem.meshing import unit_square
    from pnpf_fem.meshing3d import box
    from pnpf_fem.model.cases import charging_cell, charging_model

    comm = MPI.COMM_WORLD
    fields = 4
    if args.dim == 2:
        n = max(4, round(math.sqrt(args.dofs / fields)) - 1)
        mesh = unit_square(n)
    else:
        n = max(2, round((args.dofs / fields) ** (1 / 3)) - 1)
        mesh = box(n)
    t0 = time.perf_counter()
    fm = from_triangulation(mesh, comm)
    problem = fem_problem(charging_cell(mesh, model=charging_model(eps=args.eps)), fm)
    options = SolverOptions(
        linear_solver=args.solver, rtol=1e-8, atol=1e-10, petsc_options=json.loads(args.petsc)
    )
    scheme = make_scheme(args.method, problem, options)
    setup = time.perf_counter() - t0
    poisson, poisson_its = poisson_yardstick(fm)
    # the yardstick again: the first solve stays the unit (as in earlier reports), the median of
    # all shows how much the shared machine's noise moved it
    poisson_times = [poisson] + [poisson_yardstick(fm)[0] for _ in range(args.repeats - 1)]
    dofs = scheme.W.dofmap.index_map.size_global * scheme.W.dofmap.index_map_bs
    solvers = scheme.nonlinear_solvers
    PETSc.Log.begin()  # events of the time steps only (the setup and the yardstick are done)
    events0 = _events()
    step_times, final_norms = [], []
    for _ in range(args.steps):
        obs = scheme.step(args.dt)
        step_times.append(obs["wall_time"])
        final_norms.append(max(s.snes.getFunctionNorm() for s in solvers))
    events = {k: v - events0[k] for k, v in _events().items()}
    its = sum(s.iterations for s in solvers)
    lin = sum(s.linear_iterations for s in solvers)
    assembly = sum(s.problem.assembly_time for s in solvers)
    total = sum(s.solve_time for s in solvers)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB (Linux: KiB)
    per_newton = comm.allreduce(total, op=MPI.MAX) / max(its, 1)
    row = {
        "dim": args.dim,
        "method": args.method,
        "solver": args.solver,
        "ranks": comm.size,
        "dofs": int(dofs),
        "n": n,
        "eps": args.eps,
        "steps": args.steps,
        "newton_per_step": its / args.steps,
        "linear_per_newton": lin / max(its, 1),
        "assembly_per_newton": comm.allreduce(assembly, op=MPI.MAX) / max(its, 1),
        "solve_per_newton": comm.allreduce(total - assembly, op=MPI.MAX) / max(its, 1),
        "newton_time": per_newton,
        "poisson_time": poisson,
        "poisson_its": poisson_its,
        "newton_over_poisson": per_newton / poisson,
        "poisson_times": poisson_times,
        "newton_over_poisson_median": per_newton / float(np.median(poisson_times)),
        "step_time": comm.allreduce(sum(step_times), op=MPI.MAX) / args.steps,
        "setup_time": comm.allreduce(setup, op=MPI.MAX),
        "peak_rss_mib_total": comm.allreduce(rss, op=MPI.SUM),
        "load_average": os.getloadavg()[0],
        "final_residual": max(final_norms),
        "snes_reasons": {k: v for s in solvers for k, v in s.converged_reasons.items()},
    }
    # seconds per Newton iteration (max over ranks) of PETSc's logged events
    for key, seconds in events.items():
        row[f"{key}_per_newton"] = comm.allreduce(seconds, op=MPI.MAX) / max(its, 1)
    if comm.rank == 0:
        print("RESULT " + json.dumps(row), flush=True)


def fit_exponent(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log y against log x (None with fewer than two points)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx > 0 else None


def drive(args: argparse.Namespace) -> None:
    here = Path(__file__).resolve()
    start = time.perf_counter()
    results: list[dict] = []
    stopped: list[str] = []
    configs = [(d, r, s) for d in args.dims for r in args.ranks for s in args.solvers]
    for dim, ranks, solver in configs:
        label = f"{dim}D {ranks} rank(s)/{solver}"
        for size in args.sizes:
            if time.perf_counter() - start > args.total_budget:
                stopped.append(f"{label}: total budget reached before {size:.0e}")
                break
            cmd = ["mpirun", "-n", str(ranks), sys.executable, str(here), "measure"]
            cmd += ["--dofs", str(size), "--solver", solver, "--method", args.method]
            cmd += ["--steps", str(args.steps), "--dt", str(args.dt), "--dim", str(dim)]
            cmd += ["--eps", str(args.eps), "--petsc", args.petsc, "--repeats", str(args.repeats)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
            elapsed = time.perf_counter() - t0
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                print(f"run failed ({label}, {size:.0e}):", proc.stderr[-2000:])
                stopped.append(f"{label}: failed at {size:.0e}")
                break
            row = json.loads(lines[-1][7:])
            row["elapsed"] = elapsed
            results.append(row)
            print(_format_row(row), flush=True)
            if elapsed > args.budget:
                stopped.append(f"{label}: stopped after {size:.0e} ({elapsed:.0f} s)")
                break
    print()
    print(
        f"{'dim':>3} {'ranks':>5} {'solver':>9}  fitted p in time ∝ DOFs^p: assembly, solve, step"
    )
    for dim, ranks, solver in configs:
        rows = [r for r in results if (r["dim"], r["ranks"], r["solver"]) == (dim, ranks, solver)]
        d = [r["dofs"] for r in rows]
        fits = [
            fit_exponent(d, [r[k] for r in rows])
            for k in ("assembly_per_newton", "solve_per_newton", "step_time")
        ]
        print(
            f"{dim:3d} {ranks:5d} {solver:>9}  "
            + "  ".join("   -" if f is None else f"{f:5.2f}" for f in fits)
        )
    for s in stopped:
        print("note:", s)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def _format_row(r: dict) -> str:
    return (
        f"{r['dim']}D ranks {r['ranks']} {r['solver']:>9} DOFs {r['dofs']:>8d}"
        f"  Newton/Poisson {r['newton_over_poisson']:5.1f} (median"
        f" {r['newton_over_poisson_median']:5.1f}, Poisson {r['poisson_time']:.3f} s)"
        f"  Newton/step {r['newton_per_step']:4.1f}  lin/Newton {r['linear_per_newton']:6.1f}"
        f"  assembly/Newton {r['assembly_per_newton']:8.4f} s"
        f"  solve/Newton {r['solve_per_newton']:8.4f} s (PC setup"
        f" {r['pc_setup_per_newton'] + r['pc_setup_blocks_per_newton']:8.4f} s, Krylov"
        f" {r['krylov_per_newton']:8.4f} s)  step {r['step_time']:8.3f} s"
        f"  RSS {r['peak_rss_mib_total']:7.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="drive", choices=("drive", "measure"))
    parser.add_argument(
        "--method", default="fem-be", choices=("fem1", "fem2", "fem-be", "fem-bdf2")
    )
    parser.add_argument("--dim", type=int, default=2, choices=(2, 3))
    parser.add_argument("--dims", nargs="+", type=int, default=[2, 3])
    parser.add_argument("--eps", type=float, default=0.2, help="ε of the charging cell")
    parser.add_argument("--petsc", default="{}", help="extra PETSc options (JSON)")
    parser.add_argument("--solver", default="lu", choices=("lu", "iterative"))
    parser.add_argument("--solvers", nargs="+", default=["lu", "iterative"])
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--dofs", type=float, default=1e4)
    parser.add_argument("--sizes", nargs="+", type=float, default=list(SIZES))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--dt", type=float, default=0.01)
    parser.add_argument(
        "--repeats", type=int, default=3, help="yardstick solves (the first is the unit)"
    )
    parser.add_argument("--budget", type=float, default=90.0, help="max seconds of one run")
    parser.add_argument("--total-budget", type=float, default=600.0)
    parser.add_argument("--json", default="", help="write all rows to this file")
    args = parser.parse_args()
    if args.mode == "measure":
        measure(args)
    else:
        drive(args)


if __name__ == "__main__":
    main()
