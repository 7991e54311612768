"""Homogenization: periodic reference cells, cell problems (44)–(45) and effective tensors (26).

Equation numbers are those of the porous-medium PNP paper: M. Schmuck, "New porous medium
Poisson–Nernst–Planck equations for strongly oscillating electric potentials",
J. Math. Phys. 54, 021504 (2013). docs/theory.md states the cell problems, the tensors, the
identities (I1)–(I3) derived from them and the tortuosity tensor Π of the classical closure.

    from pnpf_fem.homogenization import make_cell, compute_effective_tensors
    cell = make_cell("circle", porosity=0.6, mesh_size=0.05)      # gmsh, periodic faces
    t = compute_effective_tensors(cell, 80.0, 4.5).tensors       # λ² (electrolyte), α (solid)
    t.eps_eff, t.M, t.D, t.porosity, t.tortuosity                # D = D^r / (z_r u_0^r)
    t.to_json("cell.json")

Modules: `cells` (geometry, meshes), `periodic` (MPC constraints), `cell_problems` ((44), (45)
and the classical tortuosity problem on Y^s), `effective` ((26), identities, result dataclass),
`bounds` (Wiener, Hashin–Shtrikman, MG), `cli` (`pnpf-fem cell`).
"""

from pnpf_fem.homogenization.bounds import (
    Bounds,
    hashin_shtrikman,
    laminate_tensor_diagonal,
    maxwell_garnett,
    wiener,
)
from pnpf_fem.homogenization.cell_problems import (
    CorrectorSolution,
    SolverSettings,
    solve_ionic_correctors,
    solve_permittivity_correctors,
    solve_tortuosity_correctors,
)
from pnpf_fem.homogenization.cells import (
    FLUID_TAG,
    SHAPES,
    SOLID_TAG,
    PeriodicCell,
    cell_from_gmsh_file,
    check_periodic_matching,
    make_cell,
    porosity_range,
)
from pnpf_fem.homogenization.effective import (
    CellSolution,
    EffectiveTensors,
    compute_effective_tensors,
)

__all__ = [
    "FLUID_TAG",
    "SHAPES",
    "SOLID_TAG",
    "Bounds",
    "CellSolution",
    "CorrectorSolution",
    "EffectiveTensors",
    "PeriodicCell",
    "SolverSettings",
    "cell_from_gmsh_file",
    "check_periodic_matching",
    "compute_effective_tensors",
    "hashin_shtrikman",
    "laminate_tensor_diagonal",
    "make_cell",
    "maxwell_garnett",
    "porosity_range",
    "solve_ionic_correctors",
    "solve_permittivity_correctors",
    "solve_tortuosity_correctors",
    "wiener",
]
