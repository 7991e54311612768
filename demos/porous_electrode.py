# # Charging a porous medium with the upscaled PNP equations
#
# This demo is the porous-media workflow of pnpf-fem in one file:
#
# 1. solve the periodic cell problems of a circular-inclusion cell for the effective tensors
#    (permittivity ε⁰, the paper's 𝕄 and 𝔻, and the tortuosity Π);
# 2. run the upscaled PNP system on a macroscopic domain with both transport closures —
#    Schmuck's (25)/(28) as written, which reduces to p·(Nernst–Planck) without tortuosity, and
#    the classical perforated-domain closure Π(∇u + zu∇ψ);
# 3. compare them and write the fields for ParaView.
#
# Run it with `./env/run python3 demos/porous_electrode.py [--output DIR]` (about 15 s), or on
# two ranks with `./env/run mpirun -n 2 python3 demos/porous_electrode.py`. It is also a
# regression test (`tests/test_demos.py`). Everything is dimensionless (lengths in units of the
# domain size L, potentials in k_BT/e, times in L²/D).

# +
from __future__ import annotations

import argparse
from pathlib import Path

from mpi4py import MPI

from pnpf_fem.fem import from_triangulation
from pnpf_fem.homogenization import compute_effective_tensors, make_cell
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.meshing import rectangle
from pnpf_fem.porous import EffectiveMedium, MacroscaleSolver, cancellation_residual

# -

# ## The cell
#
# A square cell with a centred circular solid inclusion, porosity p = 0.6. The electrolyte
# permittivity is λ² = (λ_D/L)², here 0.01 (a Debye length of 0.1 L); the solid's α is ten times
# smaller. `compute_effective_tensors` solves (44) for ε⁰ and 𝕄, (45) for 𝔻, and the Neumann
# problem on the electrolyte for Π, and checks the identities (I1), (I2) on the way.


def cell_medium(porosity: float, lambda_sq: float, alpha: float, mesh_size: float):
    cell = make_cell("circle", porosity, mesh_size, comm=MPI.COMM_WORLD)
    tensors = compute_effective_tensors(cell, lambda_sq, alpha).tensors
    return EffectiveMedium.from_tensors(tensors), tensors


# ## The macroscopic problem
#
# A porous slab (0, 1) × (0, 0.25) between two blocking electrodes: ψ = V on the left, ψ = 0 on
# the right, no ion flux anywhere, salt u¹ = u² = 1 at t = 0. The ions redistribute until their
# electrochemical potentials are uniform (double layers at both electrodes). The mesh is a
# tagged triangulation; `from_triangulation` turns it into a DOLFINx mesh with named tags.


def charge(medium, transport: str, voltage: float, t_end: float, dt: float, n: int):
    tri = rectangle(0.0, 1.0, 0.0, 0.25, n, max(n // 4, 1))
    mesh = from_triangulation(tri, MPI.COMM_WORLD)
    solver = MacroscaleSolver(
        mesh,
        medium,
        initial={"u1": 1.0, "u2": 1.0},
        transport=transport,
        potential={"left": voltage, "right": 0.0},
    )
    history = [solver.initial_observables()]
    history += integrate(solver, t_end, FixedSteps(dt)).records
    return solver, history


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("results/porous_electrode"))
    parser.add_argument("--n", type=int, default=64, help="elements along x")
    parser.add_argument("--t-end", type=float, default=0.05)
    parser.add_argument("--dt", type=float, default=0.0025)
    args = parser.parse_args(argv)
    comm = MPI.COMM_WORLD

    medium, tensors = cell_medium(0.6, 0.01, 0.001, 0.05)
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    say(
        f"cell: p = {tensors.porosity:.4f}, ε⁰_xx = {tensors.eps_eff[0][0]:.5g}, "
        f"M_xx = {tensors.M[0][0]:.4f}, Π_xx = {tensors.tortuosity[0][0]:.4f}"
    )

    results = {}
    for transport in ("schmuck", "perforated"):
        solver, history = charge(medium, transport, 2.0, args.t_end, args.dt, args.n)
        first, last = history[0], history[-1]
        # the double layer at the left electrode: anion excess near x = 0
        near = solver.evaluate([[0.02, 0.125]])
        results[transport] = {
            "amount_drift": abs(last["amount_u1"] / first["amount_u1"] - 1.0),
            "anion_near_anode": float(near["u2"][0]),
            "cation_near_anode": float(near["u1"][0]),
            "min_u": min(last["min_u1"], last["min_u2"]),
            "steps": len(history) - 1,
        }
        if transport == "schmuck":
            # (I3): the 𝔻 term cancels the 𝕄 term on the assembled operators
            results[transport]["cancellation"] = cancellation_residual(solver)
        # fields for ParaView: u1, u2, ψ as P1 functions
        from dolfinx import fem as dfem
        from dolfinx.io import VTXWriter

        from pnpf_fem.compat import interpolation_points, lagrange_space

        V = lagrange_space(solver.domain, 1)
        out = []
        for name, expr in zip(("u1", "u2", "psi"), solver.fields(), strict=True):
            f = dfem.Function(V, name=name)
            f.interpolate(dfem.Expression(expr, interpolation_points(V)))
            out.append(f)
        if comm.rank == 0:
            args.output.mkdir(parents=True, exist_ok=True)
        comm.barrier()
        with VTXWriter(comm, str(args.output / f"{transport}.bp"), out, engine="BP4") as vtx:
            vtx.write(solver.t)
        say(
            f"{transport:>10}: {results[transport]['steps']} steps, anion/cation at x = 0.02: "
            f"{results[transport]['anion_near_anode']:.4f} / "
            f"{results[transport]['cation_near_anode']:.4f}, "
            f"amount drift {results[transport]['amount_drift']:.1e}"
        )
    # Tortuosity slows the charging: the double layer of the perforated model lags behind.
    say(f"fields written to {args.output}/{{schmuck,perforated}}.bp")
    return {"medium": medium, "results": results}


if __name__ == "__main__":
    main()
