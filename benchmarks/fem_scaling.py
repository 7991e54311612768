"""FEM scaling benchmark (not a test): time per Newton iteration, iterations, memory vs DOFs.

One measurement (run under mpirun by the driver):

    ./env/run mpirun -n 2 python3 benchmarks/fem_scaling.py measure --dofs 100000 --solver lu

Driver (default): for each configuration (ranks 1 and 2 × LU and iterative) runs the charging
cell (`pnpf_fem.fem.cases.charging_problem`, P1, 2 species → 4 fields) with `--method` on
unit squares of ~1e4, 3e4, 1e5, 3e5, 1e6 DOFs for `--steps` steps, prints a table and the
fitted growth exponents (time ∝ DOFs^p), and stops growing a configuration once a single
run exceeds `--budget` seconds or the total exceeds `--total-budget`:

    ./env/run python3 benchmarks/fem_scaling.py --method fem-be --steps 2
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

SIZES = (1e4, 3e4, 1e5, 3e5, 1e6)


def measure(args: argparse.Namespace) -> None:
    from mpi4py import MPI

    from pnpf_fem.fem import SolverOptions, from_triangulation, make_scheme
    from pnpf_fem.fem.cases import charging_problem
    from pnpf_fem.meshing import unit_square

    comm = MPI.COMM_WORLD
    fields = 4
    n = max(4, round(math.sqrt(args.dofs / fields)) - 1)
    t0 = time.perf_counter()
    fm = from_triangulation(unit_square(n), comm)
    scheme = make_scheme(
        args.method,
        charging_problem(fm),
        SolverOptions(linear_solver=args.solver, rtol=1e-8, atol=1e-10),
    )
    setup = time.perf_counter() - t0
    dofs = scheme.W.dofmap.index_map.size_global * scheme.W.dofmap.index_map_bs
    step_times = []
    for _ in range(args.steps):
        obs = scheme.step(args.dt)
        step_times.append(obs["wall_time"])
    solvers = scheme.nonlinear_solvers
    its = sum(s.iterations for s in solvers)
    lin = sum(s.linear_iterations for s in solvers)
    assembly = sum(s.problem.assembly_time for s in solvers)
    total = sum(s.solve_time for s in solvers)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB (Linux: KiB)
    row = {
        "method": args.method,
        "solver": args.solver,
        "ranks": comm.size,
        "dofs": int(dofs),
        "n": n,
        "steps": args.steps,
        "newton_per_step": its / args.steps,
        "linear_per_newton": lin / max(its, 1),
        "assembly_per_newton": comm.allreduce(assembly, op=MPI.MAX) / max(its, 1),
        "solve_per_newton": comm.allreduce(total - assembly, op=MPI.MAX) / max(its, 1),
        "step_time": comm.allreduce(sum(step_times), op=MPI.MAX) / args.steps,
        "setup_time": comm.allreduce(setup, op=MPI.MAX),
        "peak_rss_mib_total": comm.allreduce(rss, op=MPI.SUM),
    }
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
    for ranks in args.ranks:
        for solver in args.solvers:
            for size in args.sizes:
                if time.perf_counter() - start > args.total_budget:
                    stopped.append(
                        f"{ranks} rank(s)/{solver}: total budget reached before {size:.0e}"
                    )
                    break
                cmd = ["mpirun", "-n", str(ranks), sys.executable, str(here), "measure"]
                cmd += ["--dofs", str(size), "--solver", solver, "--method", args.method]
                cmd += ["--steps", str(args.steps), "--dt", str(args.dt)]
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
                elapsed = time.perf_counter() - t0
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode != 0 or not lines:
                    print(f"run failed ({ranks} ranks, {solver}, {size:.0e}):", proc.stderr[-2000:])
                    stopped.append(f"{ranks} rank(s)/{solver}: failed at {size:.0e}")
                    break
                row = json.loads(lines[-1][7:])
                row["elapsed"] = elapsed
                results.append(row)
                print(_format_row(row), flush=True)
                if elapsed > args.budget:
                    stopped.append(
                        f"{ranks} rank(s)/{solver}: stopped after {size:.0e} ({elapsed:.0f} s)"
                    )
                    break
    print()
    print(
        f"{'ranks':>5} {'solver':>9}  fitted p in time ∝ DOFs^p: "
        "assembly/Newton, solve/Newton, step"
    )
    for ranks in args.ranks:
        for solver in args.solvers:
            rows = [r for r in results if r["ranks"] == ranks and r["solver"] == solver]
            d = [r["dofs"] for r in rows]
            fits = [
                fit_exponent(d, [r[k] for r in rows])
                for k in ("assembly_per_newton", "solve_per_newton", "step_time")
            ]
            print(
                f"{ranks:5d} {solver:>9}  "
                + "  ".join("   -" if f is None else f"{f:5.2f}" for f in fits)
            )
    for s in stopped:
        print("note:", s)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def _format_row(r: dict) -> str:
    return (
        f"ranks {r['ranks']} {r['solver']:>9} DOFs {r['dofs']:>8d}"
        f"  Newton/step {r['newton_per_step']:4.1f}  lin/Newton {r['linear_per_newton']:6.1f}"
        f"  assembly/Newton {r['assembly_per_newton']:8.4f} s"
        f"  solve/Newton {r['solve_per_newton']:8.4f} s  step {r['step_time']:8.3f} s"
        f"  RSS {r['peak_rss_mib_total']:7.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="drive", choices=("drive", "measure"))
    parser.add_argument("--method", default="fem-be", choices=("fem1", "fem2", "fem-be"))
    parser.add_argument("--solver", default="lu", choices=("lu", "iterative"))
    parser.add_argument("--solvers", nargs="+", default=["lu", "iterative"])
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--dofs", type=float, default=1e4)
    parser.add_argument("--sizes", nargs="+", type=float, default=list(SIZES))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--dt", type=float, default=0.01)
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
