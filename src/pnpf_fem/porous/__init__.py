"""Porous media: the upscaled PNP equations (25)/(28) and the pore-resolved model (19)/(20).

Equation numbers are those of the porous-medium PNP paper: M. Schmuck, "New porous medium
Poisson–Nernst–Planck equations for strongly oscillating electric potentials",
J. Math. Phys. 54, 021504 (2013). docs/theory.md states both closures and the pore-resolved
problem.

Modules: `macroscale` (effective equations, the paper's closure and the classical tortuosity
closure), `microscale` (resolved periodic array of cells, ions on the electrolyte submesh),
`arrays` (meshes of periodic arrays).

    from pnpf_fem.porous import EffectiveMedium, MacroscaleSolver, ResolvedPNP, periodic_array
"""

from pnpf_fem.porous.arrays import (
    ELECTROLYTE_TAG,
    FACET_TAGS,
    SOLID_TAG,
    PeriodicArray,
    periodic_array,
)
from pnpf_fem.porous.macroscale import (
    TRANSPORTS,
    EffectiveMedium,
    MacroscaleSolver,
    cancellation_residual,
)
from pnpf_fem.porous.microscale import CellAverages, ResolvedPNP

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
