"""Charging a nanoscale electrolyte cell with the finite element method.

A 0.2 M monovalent salt solution fills a square cell of side L = 5 nm between two blocking
electrodes (no ion crosses them). At t = 0 a potential difference V is applied: ψ = 0 on the left
electrode, ψ = V on the right one. Anions drift towards the right electrode, cations towards the
left, and two electric double layers form whose charge grows until it balances the electrode
charge; the ionic currents dissipate energy as Joule heat and the entropy grows. This demo walks
through the whole FEM workflow of pnpf-fem:

1. the model in SI units (`PNPFParameters`, `Species`) and the one scaling step
   `nondimensionalize`, which gives ε = λ_D/L and the scales to convert results back;
2. a tagged triangulation (`unit_square`) distributed by DOLFINx (`from_triangulation`);
3. the problem (`PNPFProblem` with `InitialState` and `DirichletBC`), a time scheme
   (`make_scheme`: "fem2" is the modified Crank–Nicolson Scheme II, "fem1" Scheme I, "fem-be"
   backward Euler) and the time loop (`pnpf_fem.integrate.integrate`) with growing steps;
4. what the schemes guarantee, read off the observables: ion masses conserved, entropy
   non-decreasing, concentrations positive; and the physics: electrode charges equal and opposite
   (Gauss's law), approaching the Gouy–Chapman double-layer charge;
5. fields for ParaView (VTX, `fem_charging.bp`: c_cation, c_anion, ψ, T as P1 functions).

Run it with `./env/run python3 demos/fem_charging.py [--n 24] [--output DIR]` (a few seconds), or
on two ranks with `./env/run mpirun -n 2 python3 demos/fem_charging.py`. It is also a regression
test (`tests/test_demos.py`); `demos/fv_charging.py` solves the same cell with finite volumes.
"""

# +
from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from pnpf_fem.fem import (
    DirichletBC,
    FEMMesh,
    InitialState,
    PNPFProblem,
    Scheme,
    SolverOptions,
    from_triangulation,
    gather_vertex_values,
    make_scheme,
)
from pnpf_fem.integrate import FixedSteps, StepRecord, integrate
from pnpf_fem.meshing import TaggedTriangulation, unit_square
from pnpf_fem.units import (
    AVOGADRO,
    ELEMENTARY_CHARGE,
    DimensionlessPNPF,
    PNPFParameters,
    Species,
    molar,
    nondimensionalize,
)

# -

# ## 1. The model in SI units, and the scaling
#
# Two monovalent species with the friction coefficient of the PNPF paper's §4.2 (ν = 4.14e-10
# J s/m²), water-like permittivity, and the paper's heat capacity C_T = 38.8 M and thermal
# conductivity. The reference concentration c0 = 0.2 M sets the Debye length λ_D ≈ 0.97 nm, so
# with L = 5 nm the dimensionless ε = λ_D/L ≈ 0.19: a double layer about a fifth of the cell
# wide. `nondimensionalize` is the only place where units enter; everything after it is
# dimensionless (lengths in L, potentials in k_BT0/e, times in τ = λ_D L ν0/(k_BT0),
# concentrations in c0), and `model.scales` converts back.


def cell_parameters(length_nm: float = 5.0, molarity: float = 0.2) -> PNPFParameters:
    """The SI parameter set of the cell: a 1:1 electrolyte of `molarity` mol/L, side `length_nm`."""
    nu = 4.14e-10  # J s/m², both ions (one diffusivity)
    return PNPFParameters(
        species=(Species("cation", +1, nu), Species("anion", -1, nu)),
        reference_concentration=molar(molarity),  # c0 [mol/m³]
        reference_temperature=300.0,  # T0 [K]
        length_scale=length_nm * 1e-9,  # L [m]
        heat_capacity=molar(38.8),  # C_T [mol/m³]
        thermal_conductivity=1.2e-4,  # k [W/(m K)]
        friction_scale=nu,  # ν0 [J s/m²]
        relative_permittivity=80.0,
        vacuum_permittivity=8.85e-12,
    )


def surface_charge_scale(model: DimensionlessPNPF) -> float:
    """C/m² per unit of dimensionless electrode charge per unit electrode length: e c0 N_A L."""
    sc = model.scales
    assert sc is not None
    return ELEMENTARY_CHARGE * AVOGADRO * sc.concentration * sc.length


def gouy_chapman_charge(model: DimensionlessPNPF, voltage: float) -> float:
    """Equilibrium charge per unit length of each electrode (Gouy–Chapman, 1:1 salt, c = 1).

    By symmetry each double layer takes half the applied voltage, ψ_D = V/2. With the Boltzmann
    densities c± = e^{∓ψ}, ε²ψ'' = 2 sinh ψ integrates to ε ψ'(0) = 2√2 sinh(ψ_D/2), and the
    electrode charge is Q = ε² ψ'(0) = 2√2 ε sinh(V/4).
    """
    return 2.0 * math.sqrt(2.0) * model.eps * math.sinh(voltage / 4.0)


# ## 2. The mesh
#
# `unit_square(n)` is a tagged triangulation of (0, 1)² — in units of L — with the sides named
# "left", "right", "bottom", "top". The same object feeds the finite volumes (its criss-cross
# triangles are Delaunay, hence Voronoi-admissible), so both methods can share the mesh node by
# node. `from_triangulation` reads it on rank 0, distributes it over the communicator and carries
# the named facet tags along.


def cell_triangulation(n: int) -> TaggedTriangulation:
    """The cell (0, 1)² with n × n criss-cross squares; electrodes "left" and "right"."""
    return unit_square(n, kind="structured")


# ## 3. Problem, scheme and time loop
#
# The initial state is the uniform salt c = 1 at T = 1 (i.e. T0); the initial potential is not a
# datum — every scheme solves the Poisson equation with the initial charge. The electrodes carry
# Dirichlet data for ψ; the other sides get the natural condition (no surface charge). Zero ion
# flux and thermal insulation hold on the whole boundary, so the ion masses and the total energy
# are conserved and the entropy can only grow.
#
# The charging starts fast (the relaxation time of the double layers is about ε/(√2 D) with the
# dimensionless diffusivity D = ε/ν) and then slows down, so the time step grows geometrically
# from `dt0` up to `dt_max`: `FixedSteps` accepts a function (step index, t) → Δt.


DT0, DT_MAX = 0.01, 0.2  # first and largest Δt, in units of τ


def growing_steps(dt0: float, dt_max: float, growth: float = 1.3) -> Callable[[int, float], float]:
    """Δt_k = min(dt0 · growth^k, dt_max)."""
    return lambda k, t: min(dt0 * growth**k, dt_max)


def charging_problem(model: DimensionlessPNPF, fmesh: FEMMesh, voltage: float) -> PNPFProblem:
    """ψ = 0 on "left", ψ = voltage (in k_BT0/e) on "right"; uniform salt, uniform T."""
    return PNPFProblem(
        model=model,
        mesh=fmesh,
        initial=InitialState(c={"cation": 1.0, "anion": 1.0}, T=1.0),
        dirichlet=(DirichletBC("left", 0.0), DirichletBC("right", voltage)),
    )


def make_cell_scheme(
    tri: TaggedTriangulation,
    model: DimensionlessPNPF,
    voltage: float,
    method: str = "fem2",
    comm: MPI.Comm = MPI.COMM_WORLD,
) -> Scheme:
    """The distributed mesh, the problem and its time scheme at t = 0 (ψ⁰ solved)."""
    fmesh = from_triangulation(tri, comm)
    problem = charging_problem(model, fmesh, voltage)
    # Newton on the coupled log-variable system: MUMPS LU, tight tolerances so that the
    # conservation checks below see round-off, not the nonlinear solver.
    return make_scheme(method, problem, SolverOptions(rtol=1e-11, atol=1e-13))


def charge(
    scheme: Scheme,
    t_end: float,
    dt0: float,
    dt_max: float,
    on_step: Callable[[Scheme, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the charging transient; returns the observables of every step and the electrode
    charges {tag: Q_Γ} after every step (the initial state's first in both lists)."""
    initial = scheme.initial_observables()
    charges = [scheme.observables.charges()]

    def record(obs: StepRecord, _dt_next: float) -> None:
        charges.append(scheme.observables.charges())  # Q_Γ = ∫_Γ ε² ∂ψ/∂n ds, variationally
        if on_step is not None:
            on_step(scheme, obs)

    steps = FixedSteps(growing_steps(dt0, dt_max))
    records = integrate(scheme, t_end, steps, observers=[record]).records
    return {"history": [initial, *records], "charges": charges}


# ## 4. What to check
#
# * Mass: the schemes conserve ∫ c dx exactly (the storage term and the observable use the same
#   vertex quadrature), so the drift is round-off plus the Newton tolerance.
# * Entropy S = C_T ∫ (log T + 1) − Σ ∫ c log c (3.11) never decreases ((3.12) for Scheme I,
#   (3.16) for Scheme II): the discrete second law.
# * Positivity: c = e^η > 0 by construction of the log variables; we report the minimum.
# * Gauss's law: the total ionic charge is zero for all times, so Q_left + Q_right = 0.
# * The electrode charge grows monotonically towards the Gouy–Chapman value 2√2 ε sinh(V/4).


def summarize(result: dict[str, Any], model: DimensionlessPNPF, voltage: float) -> dict[str, Any]:
    """The numbers the demo reports and the test asserts on (identical on every rank)."""
    history, charges = result["history"], result["charges"]
    names = model.species_names
    first, last = history[0], history[-1]
    drift = max(abs(h[f"mass_{n}"] / first[f"mass_{n}"] - 1.0) for h in history for n in names)
    increments = np.diff([h["S"] for h in history])
    q_right = np.array([q["right"] for q in charges])
    q_left = np.array([q["left"] for q in charges])
    q_gc = gouy_chapman_charge(model, voltage)
    return {
        "steps": len(history) - 1,
        "t_end": last["t"],
        "mass_drift": float(drift),
        "entropy_produced": last["S"] - first["S"],
        "min_entropy_increment": float(increments.min() / abs(first["S"])),
        "entropy_heat": last["S1"] - first["S1"],  # > 0: Joule heating
        "entropy_ions": last["S2"] - first["S2"],  # < 0: the double layers order the ions
        "min_c": min(h["min_c"] for h in history),
        "min_T": min(h["min_T"] for h in history),
        "charge_right": q_right.tolist(),
        "charge_left": q_left.tolist(),
        "gauss_residual": float(np.max(np.abs(q_left + q_right)) / np.max(np.abs(q_right))),
        "charge_monotone": bool(np.all(np.diff(q_right) >= -1e-12 * abs(q_right[-1]))),
        "gouy_chapman": q_gc,
        "charge_ratio": float(q_right[-1] / q_gc),
        "final": {k: v for k, v in last.items() if k not in ("wall_time", "newton_iterations")},
        "newton_iterations": sum(h["newton_iterations"] for h in history),
    }


# ## 5. Fields for ParaView
#
# The state lives in log variables (η = log c, ψ, ξ = log T); `scheme.fields()` gives UFL
# expressions for c, ψ, T, which we interpolate into P1 Functions and write with DOLFINx's
# VTXWriter (ADIOS2 `.bp` folder, opened by ParaView's ADIOS2VTXReader) every few steps.


class FieldWriter:
    """c_<species>, psi, T of a FEM scheme as P1 Functions in one VTX file."""

    def __init__(self, scheme: Scheme, path: Path, time_scale: float) -> None:
        from dolfinx import fem
        from dolfinx.io import VTXWriter

        from pnpf_fem.compat import interpolation_points, lagrange_space

        V = lagrange_space(scheme.domain, 1)
        c, psi, T = scheme.fields()
        names = [f"c_{n}" for n in scheme.problem.model.species_names] + ["psi", "T"]
        self.pairs = []
        for name, expr in zip(names, [*c, psi, T], strict=True):
            f = fem.Function(V, name=name)
            self.pairs.append((f, fem.Expression(expr, interpolation_points(V))))
        self.time_scale = time_scale
        self.vtx = VTXWriter(scheme.domain.comm, str(path), [f for f, _ in self.pairs], "BP4")

    def write(self, t: float) -> None:
        for f, expr in self.pairs:
            f.interpolate(expr)
        self.vtx.write(t * self.time_scale)  # time in seconds

    def close(self) -> None:
        self.vtx.close()


def vertex_values(scheme: Scheme) -> dict[str, np.ndarray]:
    """c (species × vertices), ψ and T at the triangulation's vertices, on every rank."""
    fmesh, M = scheme.problem.mesh, scheme.M
    c = np.array([np.exp(gather_vertex_values(fmesh, scheme.u, component=i)) for i in range(M)])
    psi = gather_vertex_values(fmesh, scheme.u, component=M)
    T = np.exp(gather_vertex_values(fmesh, scheme.u, component=M + 1))
    return {"c": c, "psi": psi, "T": T}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("results/fem_charging"))
    parser.add_argument("--n", type=int, default=24, help="cells per side of the unit square")
    parser.add_argument("--voltage", type=float, default=0.05, help="applied voltage [V]")
    parser.add_argument("--t-end", type=float, default=1e-6, help="end time [s]")
    parser.add_argument("--method", default="fem2", choices=("fem1", "fem2", "fem-be"))
    parser.add_argument("--every", type=int, default=5, help="steps between field outputs")
    args = parser.parse_args(argv)
    comm = MPI.COMM_WORLD
    say = print if comm.rank == 0 else (lambda *a, **k: None)

    # 1. SI → dimensionless
    model = nondimensionalize(cell_parameters())
    sc = model.scales
    assert sc is not None
    voltage = args.voltage / sc.potential  # in units of k_BT0/e
    say(
        f"λ_D = {sc.debye_length * 1e9:.3f} nm, ε = {model.eps:.4f}, τ = {sc.time:.3e} s, "
        f"C_T = {model.heat_capacity:.1f}, k = {model.conductivity:.1f}, V = {voltage:.3f} k_BT/e"
    )

    # 2.–3. mesh, problem, scheme; fields at t = 0, then the time loop (fields every few steps)
    scheme = make_cell_scheme(cell_triangulation(args.n), model, voltage, args.method, comm)
    if comm.rank == 0:
        args.output.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    fields = FieldWriter(scheme, args.output / "fem_charging.bp", sc.time)
    fields.write(0.0)
    t_end = args.t_end / sc.time
    steps: list[float] = []

    def output(s: Scheme, obs: dict[str, Any]) -> None:
        steps.append(obs["t"])
        if len(steps) % args.every == 0 or obs["t"] >= t_end * (1 - 1e-12):
            fields.write(obs["t"])

    result = charge(scheme, t_end, dt0=DT0, dt_max=DT_MAX, on_step=output)
    fields.close()

    # 4. observables
    out = summarize(result, model, voltage)
    sigma = surface_charge_scale(model)
    say(f"{args.method}: {out['steps']} steps to t = {out['t_end'] * sc.time:.3e} s")
    say(f"  mass drift                {out['mass_drift']:.2e}")
    say(
        f"  entropy produced          {out['entropy_produced']:.4e} "
        f"(smallest step increment {out['min_entropy_increment']:.1e} relative)"
    )
    say(f"  of which heat / ions      {out['entropy_heat']:.4e} / {out['entropy_ions']:.4e}")
    say(f"  min c, min T              {out['min_c']:.4f}, {out['min_T']:.6f}")
    say(
        f"  electrode charge          {out['charge_right'][0] * sigma * 100:.3f} → "
        f"{out['charge_right'][-1] * sigma * 100:.3f} µC/cm² "
        f"(Gouy–Chapman {out['gouy_chapman'] * sigma * 100:.3f}, ratio {out['charge_ratio']:.3f})"
    )
    say(f"  |Q_left + Q_right|/|Q|    {out['gauss_residual']:.1e}")

    # vertex values (for comparisons with the finite volumes): on every rank, by input vertex
    out.update(vertex_values(scheme))
    say(f"  max temperature rise      {(out['T'].max() - 1.0) * sc.temperature:.3f} K")
    say(f"fields written to {args.output / 'fem_charging.bp'}")
    return out


if __name__ == "__main__":
    main()
