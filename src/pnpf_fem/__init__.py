"""pnpf-fem: ion transport with heat generation (Poisson–Nernst–Planck–Fourier) in electrolytes
and porous media, by finite elements (DOLFINx 0.9) and by the paper's finite-volume schemes."""

from pnpf_fem.units import (
    DimensionlessPNPF,
    PNPFParameters,
    Scales,
    Species,
    nondimensionalize,
    supercapacitor_parameters,
)

__version__ = "0.1.0"

__all__ = [
    "DimensionlessPNPF",
    "PNPFParameters",
    "Scales",
    "Species",
    "__version__",
    "nondimensionalize",
    "supercapacitor_parameters",
]
