"""Benchmark: 3D sphere cell problems (44)+(45) with CG + algebraic multigrid, from 1e4 to 1e6 dofs.

    mpirun -n 2 python3 benchmarks/cell_benchmark.py                 # up to ~1e6 dofs (P2)
    mpirun -n 2 python3 benchmarks/cell_benchmark.py --dofs 1e4 3e4  # a quick look
    python3 benchmarks/cell_benchmark.py --json out.json ...

For each target size the mesh size h is chosen from the measured dofs-per-volume of the
element (P2 by default), the cell is meshed by gmsh on rank 0 and distributed, and
`compute_effective_tensors` runs with CG + BoomerAMG (pinned interior dof, SPD system; the KSP
converged reason and the true residual are checked, and a failure raises). Printed per level:
dofs, mesh time, time of the (44) solves and of the (45) solves, total cell time, Krylov
iterations, peak resident memory (max over ranks and sum over ranks), ε⁰_11; then the observed
growth exponent of time against dofs. Stop early with --max-seconds if a level grows too slow.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
from mpi4py import MPI

from pnpf_fem.homogenization import SolverSettings, compute_effective_tensors, make_cell

# Measured on this cell (p = 0.8): P2 gives about 21e3 dofs at h = 0.07 (fitted from h = 0.044
# -> 83e3 dofs), P1 3.5e3; dofs scale like h^-3.
_DOFS_AT_H007 = {1: 3.5e3, 2: 21e3}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_level(target: float, degree: int, porosity: float, amg: str) -> dict:
    comm = MPI.COMM_WORLD
    h = 0.07 * (_DOFS_AT_H007[degree] / target) ** (1.0 / 3.0)
    comm.barrier()
    t0 = time.perf_counter()
    cell = make_cell("sphere", porosity, h, comm=comm)
    comm.barrier()
    t_mesh = time.perf_counter() - t0
    settings = SolverSettings(method="cg", amg=amg, rtol=1e-10, residual_tol=1e-7)
    t1 = time.perf_counter()
    sol = compute_effective_tensors(
        cell, 80.0, 4.5, degree=degree, settings=settings, identity_tol=1e-6
    )
    comm.barrier()
    t_cell = time.perf_counter() - t1
    peak = _peak_mb()
    t = sol.tensors
    return {
        "target_dofs": target,
        "h": h,
        "dofs": t.dofs,
        "dofs_fluid": t.dofs_fluid,
        "ranks": comm.size,
        "mesh_seconds": t_mesh,
        "xi3_seconds": comm.allreduce(sol.xi3.seconds, op=MPI.MAX),
        "xi3_ksp_seconds": comm.allreduce(sol.xi3.ksp_seconds, op=MPI.MAX),
        "xir_seconds": comm.allreduce(sol.xir.seconds, op=MPI.MAX),
        "xir_ksp_seconds": comm.allreduce(sol.xir.ksp_seconds, op=MPI.MAX),
        "cell_seconds": t_cell,
        "iterations_xi3": list(sol.xi3.iterations),
        "iterations_xir": list(sol.xir.iterations),
        "peak_mb_max_rank": comm.allreduce(peak, op=MPI.MAX),
        "peak_mb_total": comm.allreduce(peak, op=MPI.SUM),
        "eps11": t.eps_eff[0][0],
        "porosity": t.porosity,
        "identity_I1": t.identity_I1_residual,
        "identity_I2": t.identity_I2_residual,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dofs", type=float, nargs="+", default=[1e4, 3e4, 1e5, 3e5, 1.25e6])
    ap.add_argument("--degree", type=int, default=2, choices=(1, 2))
    ap.add_argument("--porosity", type=float, default=0.8)
    ap.add_argument("--amg", default="hypre", choices=("hypre", "gamg"))
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=3000.0,
        help="skip further levels once one level took longer than this",
    )
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    rows = []
    head = (
        f"{'dofs':>9} {'h':>7} {'mesh s':>7} {'(44) s':>8} {'ksp s':>7} {'(45) s':>8} "
        f"{'ksp s':>7} {'cell s':>8} {'its(44)':>9} {'its(45)':>9} {'MB/rank':>8} "
        f"{'MB tot':>8} {'eps11/l2':>9}"
    )
    if comm.rank == 0:
        print(
            f"3D sphere cell p = {args.porosity}, P{args.degree}, CG + {args.amg}, "
            f"{comm.size} rank(s)"
        )
        print(head, flush=True)
    for target in args.dofs:
        r = run_level(target, args.degree, args.porosity, args.amg)
        rows.append(r)
        if comm.rank == 0:
            print(
                f"{r['dofs']:9d} {r['h']:7.4f} {r['mesh_seconds']:7.1f} {r['xi3_seconds']:8.1f} "
                f"{r['xi3_ksp_seconds']:7.1f} {r['xir_seconds']:8.1f} {r['xir_ksp_seconds']:7.1f} "
                f"{r['cell_seconds']:8.1f} {max(r['iterations_xi3']):9d} "
                f"{max(r['iterations_xir']):9d} {r['peak_mb_max_rank']:8.0f} "
                f"{r['peak_mb_total']:8.0f} {r['eps11'] / 80.0:9.6f}",
                flush=True,
            )
        if r["cell_seconds"] + r["mesh_seconds"] > args.max_seconds:
            if comm.rank == 0:
                print(f"stopping: level took more than {args.max_seconds:g} s", flush=True)
            break
    if len(rows) >= 2 and comm.rank == 0:
        n = np.log([r["dofs"] for r in rows])
        for key in ("cell_seconds", "xi3_ksp_seconds"):
            slope = np.polyfit(n, np.log([max(r[key], 1e-6) for r in rows]), 1)[0]
            print(f"growth: {key} ~ dofs^{slope:.2f}")
    if args.json and comm.rank == 0:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
