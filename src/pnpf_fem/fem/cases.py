"""Ready-made problems: a charging cell without sources (conservation, entropy, MPI, timing)."""

from __future__ import annotations

import ufl

from pnpf_fem.fem.mesh import FEMMesh
from pnpf_fem.fem.problem import DirichletBC, Field, InitialState, PNPFProblem
from pnpf_fem.units import DimensionlessPNPF

__all__ = ["charging_model", "charging_problem"]


def charging_model() -> DimensionlessPNPF:
    """A binary monovalent electrolyte with a moderately thin Debye layer (ε = 0.2)."""
    return DimensionlessPNPF(
        species_names=("cation", "anion"),
        valences=(1.0, -1.0),
        frictions=(1.0, 1.5),
        eps=0.2,
        heat_capacity=5.0,
        conductivity=0.5,
    )


def charging_problem(
    mesh: FEMMesh,
    voltage: float = 2.0,
    degree: int = 1,
    model: DimensionlessPNPF | None = None,
    anode: str = "left",
    cathode: str = "right",
) -> PNPFProblem:
    """Blocking electrodes ψ = 0 on `anode`, ψ = `voltage` on `cathode` (cf. (4.3)), zero flux
    and insulation everywhere, no sources; slightly non-uniform initial c and T."""
    model = model or charging_model()

    def bump(amplitude: float) -> Field:
        return Field(lambda x, t: 1.0 + amplitude * ufl.sin(ufl.pi * x[0]) * ufl.sin(ufl.pi * x[1]))

    initial = InitialState(
        c={name: bump(0.1 * (i + 1)) for i, name in enumerate(model.species_names)},
        T=bump(0.05),
    )
    return PNPFProblem(
        model=model,
        mesh=mesh,
        initial=initial,
        dirichlet=(DirichletBC(anode, 0.0), DirichletBC(cathode, voltage)),
        degree=degree,
    )
