"""The charging cell of `fem_charging.py`, solved with the finite-volume Scheme II.

Same SI parameters, same mesh, same growing time steps — only the space discretization changes:
vertex-centred Voronoi finite volumes (`pnpf_fem.fv`) instead of P1 finite elements. Scheme II
(3.14)–(3.15) of the PNPF paper is the modified Crank–Nicolson scheme in the log variables
(η = log c, ψ, ξ = log T), solved per step by Newton's method with an exact sparse Jacobian. The
steps:

1. the Voronoi boxes of the shared triangulation (`VoronoiMesh.from_triangulation` checks that
   the mesh is admissible: Delaunay, no obtuse angle facing the boundary);
2. the problem (`PNPFProblem`: Dirichlet data by tag name), the initial state (`initial_state`
   solves the Poisson equation for ψ⁰) and the scheme (`SchemeII` with a `SolverControl`);
3. the time loop (`pnpf_fem.fv.run`): FV states are immutable, every step returns a new one;
4. the same checks as the FEM demo — conservation, the discrete second law (3.16), positivity,
   Gauss's law for the electrode charges — and a comparison with the FEM run (`fem2`, the FEM
   twin of Scheme II) on the same mesh and time steps: they differ by the spatial discretization
   error only (electrode charges at t = 0.3 µs: 8e-4, 3e-4, 1e-4 relative for n = 12, 24, 48);
5. the final fields as a VTU file for ParaView (`fv_charging.vtu`).

Run it with `./env/run python3 demos/fv_charging.py [--n 24] [--output DIR]` (a few seconds), or
on two ranks with `./env/run mpirun -n 2 python3 demos/fv_charging.py` (the same numbers).
"""

# +
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from mpi4py import MPI

from pnpf_fem.fv import (
    FVState,
    PNPFProblem,
    SchemeII,
    SolverControl,
    VoronoiMesh,
    initial_state,
)
from pnpf_fem.fv.observables import electrode_charges
from pnpf_fem.fv.partition import Partition, owners_from_dolfinx
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.units import nondimensionalize

# -

# The set-up (SI parameters, mesh, voltage, time steps, Gouy–Chapman reference) is the FEM demo's:
# it is a plain script next to this one, so we load it by path.


def fem_demo() -> ModuleType:
    """demos/fem_charging.py as a module."""
    path = Path(__file__).with_name("fem_charging.py")
    spec = importlib.util.spec_from_file_location("fem_charging", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ## 1.–2. Voronoi mesh, problem, initial state, scheme
#
# The boxes V_i are the Voronoi cells of the vertices clipped to the domain; the fluxes across a
# box face σ = V_i ∩ V_j use the transmissibility τ_σ = |σ|/|x_i − x_j|. Dirichlet data for ψ are
# imposed at the electrode vertices, zero ion flux and insulation everywhere (built into the
# schemes). Scheme II needs ψ⁰ for ψ^{1/2}: `initial_state` solves the discrete Poisson equation
# with the initial concentrations (here uniform, so ψ⁰ is linear).


def electrode_charge(problem: PNPFProblem, state: FVState, tag: str) -> float:
    """Q_Γ = Σ_{i on Γ} [ε² (K ψ)_i − m(V_i) Σ_ℓ z^ℓ c^ℓ_i]: the Poisson balance of the electrode
    boxes, i.e. the flux ε² ∂ψ/∂n through Γ (the FEM's variational charge, with boxes). Every
    step's record carries it as ``charge_<tag>`` (`pnpf_fem.fv.observables.electrode_charges`)."""
    return electrode_charges(problem, state)[tag]


def charge_fv(
    fem: ModuleType, n: int, voltage: float, t_end: float
) -> tuple[PNPFProblem, FVState, list[dict[str, Any]], list[dict[str, float]]]:
    """Scheme II on the FEM demo's cell; returns problem, final state, observables, charges."""
    model = nondimensionalize(fem.cell_parameters())
    tri = fem.cell_triangulation(n)
    # on several ranks each owns the vertices DOLFINx gives it and works on the triangles
    # around them (`pnpf_fem.fv.partition`); the results are those of one rank
    comm, partition = MPI.COMM_WORLD, None
    if comm.size > 1:
        partition = Partition.from_owners(tri, owners_from_dolfinx(tri, comm), comm)
    mesh = VoronoiMesh.from_triangulation(tri) if partition is None else partition.voronoi_mesh()
    problem = PNPFProblem(
        mesh, model, dirichlet={"left": 0.0, "right": voltage}, partition=partition
    )
    state = initial_state(problem, c0=[1.0, 1.0], T0=1.0)
    # Newton: converged when the update is below 1e-11 in max-norm (the unknowns are O(1)), so
    # the residual — and with it the mass and entropy balance — is at round-off.
    scheme = SchemeII(problem, SolverControl(tol=1e-11), state)

    def charges(s: FVState) -> dict[str, float]:
        return {tag: electrode_charge(problem, s, tag) for tag in ("left", "right")}

    q = [charges(state)]
    history = [scheme.initial_observables()]
    steps = FixedSteps(fem.growing_steps(fem.DT0, fem.DT_MAX))
    observe = [lambda _record, _dt: q.append(charges(scheme.state))]
    history += integrate(scheme, t_end, steps, observers=observe).records
    return problem, scheme.state, history, q


def whole(problem: PNPFProblem, values: np.ndarray) -> np.ndarray:
    """Vertex values of the whole triangulation (gathered from the ranks' owned vertices)."""
    return values if problem.partition is None else problem.partition.gather(values)


def write_vtu(problem: PNPFProblem, tri: Any, fields: dict[str, np.ndarray], path: Path) -> None:
    """Whole-mesh vertex values on the triangulation (meshio, for ParaView)."""
    import meshio

    data = {f"c_{n}": c for n, c in zip(problem.params.species_names, fields["c"], strict=True)}
    data |= {"psi": fields["psi"], "T": fields["T"]}
    pts = np.column_stack([tri.points, np.zeros(tri.num_vertices)])
    meshio.Mesh(pts, [("triangle", tri.triangles)], point_data=data).write(path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("results/fv_charging"))
    parser.add_argument("--n", type=int, default=24, help="cells per side of the unit square")
    parser.add_argument("--voltage", type=float, default=0.05, help="applied voltage [V]")
    parser.add_argument("--t-end", type=float, default=1e-6, help="end time [s]")
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the FEM run on the same mesh"
    )
    args = parser.parse_args(argv)
    rank0 = MPI.COMM_WORLD.rank == 0

    def say(text: str) -> None:
        if rank0:
            print(text)

    fem = fem_demo()
    model = nondimensionalize(fem.cell_parameters())
    sc = model.scales
    voltage, t_end = args.voltage / sc.potential, args.t_end / sc.time

    # 3. time loop
    problem, state, history, charges = charge_fv(fem, args.n, voltage, t_end)
    tri = fem.cell_triangulation(args.n)
    say(
        f"fv2: {len(history) - 1} steps to t = {state.t * sc.time:.3e} s on "
        f"{tri.num_vertices} Voronoi boxes ({MPI.COMM_WORLD.size} rank(s))"
    )

    # 4. checks: the FEM demo's `summarize` reads the same observable names
    out = fem.summarize({"history": history, "charges": charges}, model, voltage)
    sigma = fem.surface_charge_scale(model)
    say(f"  mass drift                {out['mass_drift']:.2e}")
    say(
        f"  entropy produced          {out['entropy_produced']:.4e} "
        f"(smallest step increment {out['min_entropy_increment']:.1e} relative)"
    )
    say(f"  min c, min T              {out['min_c']:.4f}, {out['min_T']:.6f}")
    say(
        f"  electrode charge          {out['charge_right'][0] * sigma * 100:.3f} → "
        f"{out['charge_right'][-1] * sigma * 100:.3f} µC/cm² "
        f"(Gouy–Chapman {out['gouy_chapman'] * sigma * 100:.3f}, ratio {out['charge_ratio']:.3f})"
    )
    say(f"  |Q_left + Q_right|/|Q|    {out['gauss_residual']:.1e}")
    out.update(c=whole(problem, state.c), psi=whole(problem, state.psi), T=whole(problem, state.T))

    # the same cell with the FEM twin of Scheme II, node by node (one rank)
    if not args.no_compare:
        scheme = fem.make_cell_scheme(tri, model, voltage, "fem2", MPI.COMM_SELF)
        ref = fem.summarize(fem.charge(scheme, t_end, fem.DT0, fem.DT_MAX), model, voltage)
        ref.update(fem.vertex_values(scheme))
        out["fem"] = {
            "steps": ref["steps"],
            "charge_difference": abs(out["charge_right"][-1] / ref["charge_right"][-1] - 1.0),
            "entropy_produced_difference": abs(
                out["entropy_produced"] / ref["entropy_produced"] - 1.0
            ),
            "psi_difference": float(np.max(np.abs(out["psi"] - ref["psi"]))),
            "c_difference": float(np.max(np.abs(out["c"] - ref["c"]))),
        }
        d = out["fem"]
        say("  FV vs FEM (fem2), same mesh and steps:")
        say(f"    electrode charge        {d['charge_difference']:.2e} relative")
        say(f"    entropy produced        {d['entropy_produced_difference']:.2e} relative")
        say(f"    max |Δψ|, max |Δc|      {d['psi_difference']:.2e}, {d['c_difference']:.2e}")

    # 5. fields
    if rank0:
        args.output.mkdir(parents=True, exist_ok=True)
        write_vtu(problem, tri, out, args.output / "fv_charging.vtu")
    MPI.COMM_WORLD.barrier()
    say(f"fields written to {args.output / 'fv_charging.vtu'}")
    return out


if __name__ == "__main__":
    main()
