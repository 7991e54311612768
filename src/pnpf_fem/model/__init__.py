"""One problem description for every discretization: species, mesh, conditions, initial state.

A `Problem` says *what* is solved, in the dimensionless units of (2.8): the model
(`units.DimensionlessPNPF`), the tagged mesh (`meshing.TaggedTriangulation`), the boundary
conditions as small objects keyed by tag name, the initial state, sources and a fixed charge.
Data are numbers, functions of t (uniform in space), or `SpaceTime` fields given for both
discretizations. `pnpf_fem.fem.build_scheme` and `pnpf_fem.fv.build_scheme` turn a `Problem`
into a stepper; `pnpf_fem.model.cases` holds the ready-made problems.
"""

from pnpf_fem.model.conditions import (
    Concentration,
    Condition,
    HeatFlux,
    HeatTransfer,
    Potential,
    Reaction,
    Stern,
    SurfaceCharge,
    Temperature,
)
from pnpf_fem.model.data import Data, SpaceTime, check_data
from pnpf_fem.model.problem import Initial, Problem, Sources
from pnpf_fem.model.waveforms import Ramp, Sine, Step, Table, Triangle, Waveform, in_units

__all__ = [
    "Concentration",
    "Condition",
    "Data",
    "HeatFlux",
    "HeatTransfer",
    "Initial",
    "Potential",
    "Problem",
    "Ramp",
    "Reaction",
    "Sine",
    "Sources",
    "SpaceTime",
    "Step",
    "Stern",
    "SurfaceCharge",
    "Table",
    "Temperature",
    "Triangle",
    "Waveform",
    "check_data",
    "in_units",
]
