"""The upscaled porous-medium solver from a `pnpf_fem.model.Problem`: its one factory.

The problem's binary monovalent electrolyte (cation, anion) becomes (u¹, u²), its potentials the
Dirichlet data of ψ and its surface charges the displacement (ε⁰∇ψ)·n on their tags; the medium
(`EffectiveMedium`) carries p, ε⁰, 𝕄, 𝔻 and Π. Time in the solver runs in units L²ν/(k_BT), which
is (ε/ν̃) times the problem's τ (`time_factor`).
"""

from __future__ import annotations

from pnpf_fem.errors import InputError
from pnpf_fem.fem.build import fem_value
from pnpf_fem.fem.mesh import FEMMesh
from pnpf_fem.fem.snes import SolverOptions
from pnpf_fem.model import Problem, Temperature
from pnpf_fem.porous.macroscale import EffectiveMedium, MacroscaleSolver
from pnpf_fem.porous.upscaled_heat import HeatMedium, UpscaledPNPF

__all__ = ["build_macroscale", "build_upscaled_pnpf", "ion_pair", "time_factor"]


def ion_pair(problem: Problem) -> tuple[str, str]:
    """(cation, anion) of the problem's binary electrolyte (InputError otherwise)."""
    model = problem.model
    if sorted(model.valences) != [-1.0, 1.0]:
        raise InputError(f"the porous model needs valences +1 and -1, got {model.valences}")
    z = dict(zip(model.species_names, model.valences, strict=True))
    return next(n for n in z if z[n] > 0), next(n for n in z if z[n] < 0)


def time_factor(problem: Problem) -> float:
    """t_solver = factor × t_problem: ε/ν̃ with ν̃ the cation's scaled friction."""
    model = problem.model
    return model.eps / model.frictions[model.species_names.index(ion_pair(problem)[0])]


def _check_conditions(
    problem: Problem, medium: EffectiveMedium, mesh: FEMMesh, allowed: tuple[str, ...]
) -> None:
    """The tensors' dimension is the mesh's; every condition is of an `allowed` kind."""
    if medium.dim != mesh.mesh.topology.dim:
        raise InputError(f"the tensors are {medium.dim}D; the mesh is {mesh.mesh.topology.dim}D")
    unsupported = [type(c).__name__ for c in problem.conditions]
    unsupported = [n for n in unsupported if n not in allowed]
    if unsupported:
        names = {"Potential": "potentials", "SurfaceCharge": "surface charges"}
        kinds = " and ".join(names.get(a, a.lower() + "s") for a in allowed)
        raise InputError(f"this porous model takes {kinds} only, not {unsupported[0]}")


def build_macroscale(
    problem: Problem,
    medium: EffectiveMedium,
    transport: str,
    mesh: FEMMesh,
    options: SolverOptions | None = None,
) -> MacroscaleSolver:
    """The upscaled PNP solver ((25)/(28) or the perforated closure) for `problem` at t = 0."""
    _check_conditions(problem, medium, mesh, ("Potential", "SurfaceCharge"))
    cation, anion = ion_pair(problem)
    c = problem.initial.c
    return MacroscaleSolver(
        mesh,
        medium,
        initial={"u1": fem_value(c[cation]), "u2": fem_value(c[anion])},
        transport=transport,
        potential={t: fem_value(v) for t, v in problem.potentials.items()},
        displacement={t: fem_value(v) for t, v in problem.surface_charges.items()},
        options=options,
    )


def build_upscaled_pnpf(
    problem: Problem,
    medium: EffectiveMedium,
    heat: HeatMedium,
    heat_source: str,
    mesh: FEMMesh,
    options: SolverOptions | None = None,
) -> UpscaledPNPF:
    """The upscaled PNPF system (docs/porous_heating.md) for `problem` at t = 0: potentials and
    thermostats by tag; T starts at the problem's initial temperature."""
    _check_conditions(problem, medium, mesh, ("Potential", "Temperature"))
    cation, anion = ion_pair(problem)
    c = problem.initial.c
    return UpscaledPNPF(
        mesh,
        medium,
        heat,
        initial={
            "u1": fem_value(c[cation]),
            "u2": fem_value(c[anion]),
            "T": fem_value(problem.initial.T),
        },
        potential={t: fem_value(v) for t, v in problem.potentials.items()},
        temperature={
            c.tag: fem_value(c.value) for c in problem.thermal if isinstance(c, Temperature)
        },
        heat_source=heat_source,
        options=options,
    )
