"""Linear solvers for the Newton steps of thin Debye layers (not a test): Krylov iterations
against ε and h, and the time of a Newton iteration in units of one Poisson solve.

The charging cell (`pnpf_fem.model.cases.charging_cell`, V = 2 k_BT0/e, P1, fem-be, 4 fields)
on the unit square (2D) or cube (3D) whose nodes cluster towards the electrodes x = 0, 1
(x ↦ (1 − cos πx)/2, so the layers of thickness ε are resolved), for ε = 0.1, 0.01, 0.001 and
two meshes, three steps of Δt = min(1e-3, 10 ε²) (the layers form). Preconditioners
(GMRES(200), rtol 1e-10):

* ``fieldsplit``: multiplicative field split over the 4 fields, BoomerAMG on each (the default
  of `linear = "iterative"`);
* ``fieldsplit-hmis``: the same with HMIS coarsening, ext+i interpolation, P_max 4, one level
  of aggressive coarsening, strong threshold 0.5 (hypre's settings for 3D);
* ``schur``: (η¹, η², ψ) | T multiplicative, and inside (η¹, η²) | ψ a Schur complement
  (lower factorization, selfp approximation), BoomerAMG on every block;
* ``amg``: monolithic BoomerAMG on the whole blocked matrix with nodal coarsening;
* ``lu``: MUMPS, for reference.

    ./env/run python3 benchmarks/linear_solvers.py --dim 2 --n 32 64
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from mpi4py import MPI

HYPRE = {"pc_type": "hypre", "pc_hypre_type": "boomeramg"}
HMIS = {
    "pc_hypre_boomeramg_coarsen_type": "HMIS",
    "pc_hypre_boomeramg_interp_type": "ext+i",
    "pc_hypre_boomeramg_P_max": 4,
    "pc_hypre_boomeramg_agg_nl": 1,
    "pc_hypre_boomeramg_strong_threshold": 0.5,
}


def _prefixed(prefix: str, options: dict) -> dict:
    return {f"{prefix}{k}": v for k, v in options.items()}


def configurations() -> dict[str, dict]:
    split = {}
    for i in range(4):
        split |= _prefixed(f"fieldsplit_{i}_", HYPRE | HMIS)
    schur = {
        "pc_type": "fieldsplit",
        "pc_fieldsplit_block_size": 4,
        "pc_fieldsplit_0_fields": "0,1,2",
        "pc_fieldsplit_1_fields": "3",
        "pc_fieldsplit_type": "multiplicative",
        "fieldsplit_0_ksp_type": "preonly",
        "fieldsplit_0_pc_type": "fieldsplit",
        "fieldsplit_0_pc_fieldsplit_block_size": 3,
        "fieldsplit_0_pc_fieldsplit_0_fields": "0,1",
        "fieldsplit_0_pc_fieldsplit_1_fields": "2",
        "fieldsplit_0_pc_fieldsplit_type": "schur",
        "fieldsplit_0_pc_fieldsplit_schur_fact_type": "lower",
        "fieldsplit_0_pc_fieldsplit_schur_precondition": "selfp",
        "fieldsplit_0_fieldsplit_0_ksp_type": "preonly",
        "fieldsplit_0_fieldsplit_1_ksp_type": "preonly",
        "fieldsplit_1_ksp_type": "preonly",
    }
    for prefix in ("fieldsplit_0_fieldsplit_0_", "fieldsplit_0_fieldsplit_1_", "fieldsplit_1_"):
        schur |= _prefixed(prefix, HYPRE)
    amg = HYPRE | {
        "pc_hypre_boomeramg_nodal_coarsen": 6,
        "pc_hypre_boomeramg_vec_interp_variant": 3,
    }
    return {
        "fieldsplit": {},
        "fieldsplit-hmis": split,
        "schur": schur,
        "amg": amg,
        "lu": None,
    }


def graded(mesh):
    """The mesh with x ↦ (1 − cos πx)/2: nodes cluster at the electrodes x = 0 and x = 1."""
    import dataclasses

    points = mesh.points.copy()
    points[:, 0] = 0.5 * (1.0 - np.cos(np.pi * points[:, 0]))
    return dataclasses.replace(mesh, points=points)


def run(dim: int, n: int, eps: float, name: str, petsc: dict | None) -> dict:
    from pnpf_fem.fem.build import build_scheme
    from pnpf_fem.fem.snes import SolverOptions
    from pnpf_fem.meshing import unit_square
    from pnpf_fem.meshing3d import box
    from pnpf_fem.model.cases import charging_cell, charging_model

    mesh = graded(unit_square(n, kind="structured") if dim == 2 else box(n))
    linear = "lu" if petsc is None else "iterative"
    options = SolverOptions(linear_solver=linear, petsc_options=petsc or {})
    problem = charging_cell(mesh, voltage=2.0, model=charging_model(eps=eps))
    try:
        scheme = build_scheme(problem, "fem-be", options=options)
    except Exception as err:  # the options also reach the scalar initial-ψ solve (schur: none)
        nan = float("nan")
        status = f"set-up failed ({type(err).__name__})"
        return {
            "name": name,
            "status": status,
            "newton": nan,
            "krylov_per_newton": nan,
            "seconds_per_newton": nan,
        }
    start = time.perf_counter()
    dt = min(1e-3, 10 * eps**2)  # the layers form on the time scale ε² (here 1e-5 for 1e-3)
    try:
        for _ in range(3):
            scheme.step(dt)
        status = "ok"
    except Exception as err:  # a failed solve is a result of the study
        status = type(err).__name__
    elapsed = time.perf_counter() - start
    solver = scheme.solver
    its = max(solver.iterations, 1)
    return {
        "name": name,
        "status": status,
        "newton": solver.iterations / 3,
        "krylov_per_newton": solver.linear_iterations / its,
        "seconds_per_newton": elapsed / its,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2, choices=(2, 3))
    parser.add_argument("--n", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.01, 0.001])
    parser.add_argument("--only", nargs="*", default=None, help="configuration names")
    args = parser.parse_args()
    configs = configurations()
    names = args.only or list(configs)
    root = MPI.COMM_WORLD.rank == 0
    if root:
        print(f"{args.dim}D graded charging cell, fem-be, 3 steps of min(1e-3, 10 ε²)")
        head = ("n", "eps", "solver", "status", "Newton", "Krylov", "s/Newton")
        print("{:>4} {:>6} {:>16} {:>12} {:>7} {:>7} {:>9}".format(*head))
    for n in args.n:
        for eps in args.eps:
            for name in names:
                r = run(args.dim, n, eps, name, configs[name])
                if root:
                    print(
                        f"{n:4d} {eps:6.0e} {name:>16} {r['status']:>12} {r['newton']:7.1f} "
                        f"{r['krylov_per_newton']:7.1f} {r['seconds_per_newton']:9.3f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
