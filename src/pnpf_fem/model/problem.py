"""The `Problem`: everything that defines a PNPF problem, independent of the discretization."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from pnpf_fem.errors import InputError
from pnpf_fem.model.conditions import (
    THERMAL,
    Concentration,
    Condition,
    Potential,
    Reaction,
    Stern,
    SurfaceCharge,
)
from pnpf_fem.model.data import Data, check_data
from pnpf_fem.model.waveforms import Waveform
from pnpf_fem.units import DimensionlessPNPF

__all__ = ["Initial", "Problem", "Sources", "TaggedMesh"]


@dataclass(frozen=True)
class Initial:
    """Initial concentrations by species name and temperature (ψ⁰ solves the Poisson problem)."""

    c: Mapping[str, Data]
    T: Data = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "c", MappingProxyType(dict(self.c)))
        for name, value in self.c.items():
            check_data(f"Initial.c[{name}]", value)
        check_data("Initial.T", self.T)


@dataclass(frozen=True)
class Sources:
    """Volume sources (manufactured solutions): f_ℓ by species name and the heat source f_3."""

    ions: Mapping[str, Data] = field(default_factory=dict)
    heat: Data | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ions", MappingProxyType(dict(self.ions)))
        for name, value in self.ions.items():
            check_data(f"Sources.ions[{name}]", value)
        if self.heat is not None:
            check_data("Sources.heat", self.heat)


class TaggedMesh(Protocol):
    """Any mesh whose boundary parts are named: a `TaggedTriangulation` (what every
    discretization can build from), or an already distributed `pnpf_fem.fem.FEMMesh`."""

    @property
    def tag_names(self) -> Mapping[str, int]: ...

    @property
    def region_names(self) -> Mapping[str, int]: ...


@dataclass(frozen=True, eq=False)
class Problem:
    """The dimensionless PNPF problem (2.8)/(2.9) on a tagged mesh.

    `fixed_charge` overrides the model's constant ρ^f (e.g. with a space-time field);
    `region_charges` (region name → ρ^f) replace it in the regions of the mesh they name: a
    charged membrane or solid (cells in no region keep the `fixed_charge` or the model's ρ^f).
    """

    model: DimensionlessPNPF
    mesh: TaggedMesh
    conditions: Sequence[Condition]
    initial: Initial
    sources: Sources | None = None
    fixed_charge: Data | None = None
    region_charges: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "conditions", tuple(self.conditions))
        object.__setattr__(self, "region_charges", MappingProxyType(dict(self.region_charges)))
        regions = set(self.mesh.region_names)
        for name, value in self.region_charges.items():
            if name not in regions:
                known = sorted(regions) or "none"
                raise InputError(f"Problem: no region {name!r} in the mesh (regions: {known})")
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise InputError(f"Problem: region_charges[{name}] must be a number, got {value!r}")
        known = set(self.mesh.tag_names)
        for c in self.conditions:
            if c.tag not in known:
                raise InputError(f"Problem: no boundary tag {c.tag!r} (tags: {sorted(known)})")
            if isinstance(c, Concentration) and c.species not in self.model.species_names:
                raise InputError(f"Problem: Concentration[{c.tag}] names no species {c.species!r}")
        self._check_reactions()
        # one condition on ψ per tag, one concentration per (tag, species)
        keys = [(c.tag, _category(c)) for c in self.conditions]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise InputError(f"Problem: a condition is given twice: {repeated}")
        if not self.potentials and not self.sterns:
            raise InputError("Problem: needs a Potential (or a Stern electrode) on a tag")
        names = set(self.model.species_names)
        for what, given in (("Initial.c", self.initial.c), ("Sources.ions", self._ions())):
            unknown = set(given) - names
            if unknown or (what == "Initial.c" and set(given) != names):
                raise InputError(
                    f"Problem: {what} must name the species {sorted(names)}, got {sorted(given)}"
                )
        if self.fixed_charge is not None:
            check_data("Problem.fixed_charge", self.fixed_charge)

    def _check_reactions(self) -> None:
        electrodes = set(self.potentials) | {s.tag for s in self.sterns}
        names = self.model.species_names
        for r in self.reactions:
            where = f"Problem: Reaction[{r.tag}]"
            if r.species not in names:
                raise InputError(f"{where} names no species {r.species!r}")
            if r.tag not in electrodes:
                raise InputError(f"{where} needs an electrode potential (or a Stern layer) there")
            z = self.model.valences[names.index(r.species)]
            if not r.stoichiometry * z > 0:
                raise InputError(
                    f"{where}: the anodic reaction must release electrons, n = s z > 0 (s = "
                    f"{r.stoichiometry}, z = {z}: use s < 0 for a species it consumes)"
                )

    def _ions(self) -> Mapping[str, Data]:
        return self.sources.ions if self.sources is not None else {}

    def corners(self, t_end: float) -> list[float]:
        """The kinks and jumps of the waveforms among the boundary data, in (0, t_end)."""
        times = {
            t
            for c in self.conditions
            if isinstance(c.value, Waveform)
            for t in c.value.corners(t_end)
        }
        return sorted(times)

    @property
    def potentials(self) -> dict[str, Data]:
        """tag → ψ on the Dirichlet tags."""
        return {c.tag: c.value for c in self.conditions if type(c) is Potential}

    @property
    def thermal(self) -> list[Condition]:
        """The thermal boundary conditions (Temperature, HeatFlux, HeatTransfer)."""
        return [c for c in self.conditions if isinstance(c, THERMAL)]

    @property
    def concentrations(self) -> list[Concentration]:
        """The reservoir conditions (c^ℓ on a tag)."""
        return [c for c in self.conditions if isinstance(c, Concentration)]

    @property
    def reactions(self) -> list[Reaction]:
        """The Butler–Volmer electrode reactions."""
        return [c for c in self.conditions if isinstance(c, Reaction)]

    @property
    def sterns(self) -> list[Stern]:
        """The electrodes behind a Stern layer (a Robin condition on ψ)."""
        return [c for c in self.conditions if isinstance(c, Stern)]

    @property
    def surface_charges(self) -> dict[str, Data]:
        """tag → ε² ∂ψ/∂n on the charged tags."""
        return {c.tag: c.value for c in self.conditions if isinstance(c, SurfaceCharge)}


def _category(c: Condition) -> str:
    """What a condition fixes: ψ, one species, or T (one of each per tag)."""
    if isinstance(c, Concentration):
        return c.species
    if isinstance(c, Reaction):
        return f"reaction of {c.species}"
    return "T" if isinstance(c, THERMAL) else "psi"
