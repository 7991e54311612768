"""The charging cell of `pnpf_fem.model.cases` as a FEM problem (tests, benchmarks)."""

from __future__ import annotations

from pnpf_fem.fem.build import fem_problem
from pnpf_fem.fem.mesh import FEMMesh
from pnpf_fem.fem.problem import PNPFProblem
from pnpf_fem.model.cases import charging_cell, charging_model
from pnpf_fem.units import DimensionlessPNPF

__all__ = ["charging_model", "charging_problem"]


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
    return fem_problem(charging_cell(mesh, voltage, model, anode, cathode), mesh, degree)
