"""Test A (4.1)–(4.2) for the FEM schemes: L2 errors, observed orders in space and in time.

`accuracy_study` follows the contract of `pnpf_fem.app.reproduce` (levels h = 1/8, 1/16, …).
Δt follows the paper: Δt = h² for the first-order schemes ("fem1", "fem-be"), Δt = h/10 for
"fem2", up to t = 0.1 (rounded so that an integer number of steps reaches 0.1). The extra key
"time_order" holds a temporal study on a fixed mesh: errors against a reference computed with
the same scheme on the same mesh with a much smaller Δt, so the spatial error cancels.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import ufl
from dolfinx import fem
from mpi4py import MPI

from pnpf_fem.convergence import mesh_levels, observed_order
from pnpf_fem.errors import InputError
from pnpf_fem.fem.mesh import from_triangulation, unit_square_mesh
from pnpf_fem.fem.mms import exact_fields, mms_problem
from pnpf_fem.fem.schemes import SCHEMES, Scheme, make_scheme
from pnpf_fem.fem.snes import SolverOptions
from pnpf_fem.integrate import FixedSteps, StepRecord, integrate
from pnpf_fem.meshing3d import box

__all__ = ["FINAL_TIME", "accuracy_study", "l2_errors", "run_mms", "time_order_study"]

FINAL_TIME = 0.1
VARIABLES = ("c1", "c2", "psi", "T")


def _dt_nominal(method: str, h: float) -> float:
    return h / 10.0 if method in ("fem2", "fem-bdf2") else h * h  # second order: Δt ∝ h


def l2_errors(scheme: Scheme) -> dict[str, float]:
    """L2 errors of c^1, c^2, ψ, T against (4.2) at the scheme's current time."""
    x = ufl.SpatialCoordinate(scheme.domain)
    t = fem.Constant(scheme.domain, scheme.t)
    ex = exact_fields(x, t)
    cs, psi, T = scheme.fields()
    dx = ufl.Measure("dx", domain=scheme.domain, metadata={"quadrature_degree": 8})
    pairs = {
        "c1": (cs[0], ex["c"]),
        "c2": (cs[1], ex["c"]),
        "psi": (psi, ex["psi"]),
        "T": (T, ex["T"]),
    }
    comm = scheme.domain.comm
    out = {}
    for k, (a, b) in pairs.items():
        val = fem.assemble_scalar(fem.form((a - b) ** 2 * dx))
        out[k] = math.sqrt(comm.allreduce(val, op=MPI.SUM))
    return out


def run_mms(
    method: str,
    n: int,
    num_steps: int,
    degree: int = 1,
    final_time: float = FINAL_TIME,
    comm: MPI.Comm = MPI.COMM_WORLD,
    options: SolverOptions | None = None,
    dim: int = 2,
) -> tuple[Scheme, list[StepRecord]]:
    """Run Test A on an n×n criss-cross unit square (dim = 3: the n×n×n unit cube of six
    tetrahedra per cube, φ = cos πx cos πy cos πz) to `final_time` in `num_steps` equal steps."""
    mesh = unit_square_mesh(n, comm) if dim == 2 else from_triangulation(box(n), comm)
    scheme = make_scheme(method, mms_problem(mesh, degree), options)
    return scheme, integrate(scheme, final_time, FixedSteps(final_time / num_steps)).records


def _orders(errs: list[dict[str, float]], hs: list[float]) -> list[dict[str, float] | None]:
    return [None] + [
        observed_order(errs[i - 1], errs[i], hs[i - 1], hs[i]) for i in range(1, len(errs))
    ]


def time_order_study(
    method: str,
    n: int = 16,
    steps: tuple[int, ...] = (2, 4, 8, 16),
    reference_steps: int = 256,
    degree: int = 1,
    final_time: float = FINAL_TIME,
) -> dict[str, Any]:
    """Temporal errors against a same-mesh reference with `reference_steps` steps."""
    ref, _ = run_mms(method, n, reference_steps, degree, final_time)
    ref_vals = ref.u.x.array.copy()
    M = ref.M
    rows = []
    for k in steps:
        s, _ = run_mms(method, n, k, degree, final_time)
        diff = fem.Function(s.W)
        diff.x.array[:] = s.u.x.array - ref_vals
        # errors in c, ψ, T (not in η, ξ): c − c_ref via exponentials
        cs, psi, T = s.fields()
        rcs = [ufl.exp(s.u[i] - diff[i]) for i in range(M)]
        rpsi, rT = s.u[M] - diff[M], ufl.exp(s.u[M + 1] - diff[M + 1])
        dx = ufl.Measure("dx", domain=s.domain, metadata={"quadrature_degree": 6})
        comm = s.domain.comm
        pairs = {"c1": (cs[0], rcs[0]), "c2": (cs[1], rcs[1]), "psi": (psi, rpsi), "T": (T, rT)}
        errs = {
            v: math.sqrt(comm.allreduce(fem.assemble_scalar(fem.form((a - b) ** 2 * dx)), MPI.SUM))
            for v, (a, b) in pairs.items()
        }
        rows.append({"dt": final_time / k, "errors": errs})
    for i, row in enumerate(rows):
        row["orders"] = (
            None
            if i == 0
            else {
                v: math.log(rows[i - 1]["errors"][v] / row["errors"][v])
                / math.log(rows[i - 1]["dt"] / row["dt"])
                for v in VARIABLES
            }
        )
    return {"n": n, "degree": degree, "reference_dt": final_time / reference_steps, "levels": rows}


def accuracy_study(method: str, levels: int, degree: int = 1) -> dict[str, Any]:
    """Test A with `levels` meshes h = 1/8, 1/16, …; the contract of `pnpf_fem.app.reproduce`."""
    if method not in SCHEMES:
        raise InputError(f"unknown FEM method {method!r} (choose from {', '.join(SCHEMES)})")
    if levels < 1:
        raise InputError(f"levels must be positive, got {levels}")
    if degree not in (1, 2):
        raise InputError(f"degree must be 1 or 2, got {degree}")
    rows, errs, hs = [], [], []
    for n in mesh_levels(levels):
        h = 1.0 / n
        steps = max(1, math.ceil(FINAL_TIME / _dt_nominal(method, h) - 1e-9))
        scheme, _ = run_mms(method, n, steps, degree)
        e = l2_errors(scheme)
        nv = scheme.domain.topology.index_map(0).size_global
        rows.append({"h": h, "dt": FINAL_TIME / steps, "num_vertices": int(nv), "errors": e})
        errs.append(e)
        hs.append(h)
    for row, o in zip(rows, _orders(errs, hs), strict=True):
        row["orders"] = o
    result: dict[str, Any] = {"method": method, "degree": degree, "levels": rows}
    result["time_order"] = time_order_study(
        method, n=8, steps=(16, 32, 64, 128), reference_steps=2048, degree=degree
    )
    return result


def _main() -> None:  # pragma: no cover - manual use
    print(json.dumps(accuracy_study(sys.argv[1], int(sys.argv[2])), indent=1, default=float))


if __name__ == "__main__":  # pragma: no cover
    _main()
