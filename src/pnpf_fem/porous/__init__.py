"""Porous media: the upscaled PNP equations (25)/(28) and the pore-resolved model (19)/(20).

Equation numbers are those of the porous-medium PNP paper: M. Schmuck, "New porous medium
Poisson–Nernst–Planck equations for strongly oscillating electric potentials",
J. Math. Phys. 54, 021504 (2013). docs/theory.md states both closures and the pore-resolved
problem.

Modules: `macroscale` (effective equations, the paper's closure and the classical tortuosity
closure), `microscale` (resolved periodic array of cells, ions on the electrolyte submesh),
`arrays` (meshes of periodic arrays). DOLFINx is imported on first use of a name.

    from pnpf_fem.porous import EffectiveMedium, MacroscaleSolver, ResolvedPNP, periodic_array
"""

from importlib import import_module
from typing import Any

__all__ = [
    "ELECTROLYTE_TAG",
    "FACET_TAGS",
    "SOLID_TAG",
    "TRANSPORTS",
    "CellAverages",
    "EffectiveMedium",
    "MacroscaleSolver",
    "PeriodicArray",
    "ResolvedPNP",
    "cancellation_residual",
    "periodic_array",
]

_WHERE = {
    "ELECTROLYTE_TAG": "arrays",
    "FACET_TAGS": "arrays",
    "SOLID_TAG": "arrays",
    "PeriodicArray": "arrays",
    "periodic_array": "arrays",
    "TRANSPORTS": "macroscale",
    "EffectiveMedium": "macroscale",
    "MacroscaleSolver": "macroscale",
    "cancellation_residual": "macroscale",
    "CellAverages": "microscale",
    "ResolvedPNP": "microscale",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"pnpf_fem.porous.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'pnpf_fem.porous' has no attribute {name!r}")
