"""Physics as small objects: boundary conditions and sources refer to named tags and species.

A `Value` is what a boundary datum, an initial field or a source may be:

* a number;
* a callable ``t -> float`` (spatially uniform, time dependent, e.g. a cyclic-voltammetry ramp);
* a `Field`: ``fn(x, t) -> UFL expression`` with ``x = ufl.SpatialCoordinate`` and ``t`` the
  scheme's time `Constant` — used for manufactured solutions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import ufl
from dolfinx import fem

from pnpf_fem.errors import InputError
from pnpf_fem.fem.mesh import FEMMesh
from pnpf_fem.model import (
    Concentration,
    Condition,
    Initial,
    Potential,
    Reaction,
    Sources,
    Stern,
    SurfaceCharge,
    check_data,
)
from pnpf_fem.units import DimensionlessPNPF

__all__ = [
    "DirichletBC",
    "Field",
    "InitialState",
    "NeumannBC",
    "PNPFProblem",
    "Sources",
    "Value",
    "bind",
]


@dataclass(frozen=True)
class Field:
    """A space–time field written in UFL: ``fn(x, t)``."""

    fn: Callable[[ufl.SpatialCoordinate, ufl.core.expr.Expr], ufl.core.expr.Expr]

    def __call__(self, x: ufl.SpatialCoordinate, t: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        return self.fn(x, t)


Value = float | int | Callable[[float], float] | Field


def bind(
    value: Value, domain, t: fem.Constant
) -> tuple[ufl.core.expr.Expr, Callable[[float], None]]:
    """A UFL expression for `value` and an updater to call with the numeric time before a solve.

    Fields use the time Constant `t` (the caller sets it); callables of t get their own Constant.
    """
    if isinstance(value, Field):
        return value(ufl.SpatialCoordinate(domain), t), lambda _t: None
    if isinstance(value, (int, float)):
        return fem.Constant(domain, float(value)), lambda _t: None
    c = fem.Constant(domain, float(value(0.0)))

    def update(tn: float) -> None:
        c.value = float(value(tn))

    return c, update


# The conditions, initial state and sources are those of the problem description
# (`pnpf_fem.model`), under the names the FEM API has always used; a `Field` is a callable, so
# it is a valid datum there.
DirichletBC = Potential  # ψ = value on the tag ((2.9), Γ_D)
NeumannBC = SurfaceCharge  # ε² ∂ψ/∂n = value (the surface charge ψ^N) on the tag ((2.9), Γ_N)
InitialState = Initial  # c by species name and T; ψ⁰ solves the Poisson equation


@dataclass(frozen=True, eq=False)
class PNPFProblem:
    """The dimensionless PNPF problem (2.8)/(2.9) on a tagged mesh.

    Zero ionic flux and insulated temperature hold on all of ∂Ω; the potential has Dirichlet data
    on the `dirichlet` tags and Neumann data on the `neumann` tags (homogeneous Neumann
    elsewhere). `fixed_charge` overrides the model's constant ρ^f; `region_charges` replace it
    on the cells of the named mesh regions. `degree` is the Lagrange
    degree of every field (1 default, 2 optional).
    """

    model: DimensionlessPNPF
    mesh: FEMMesh
    initial: InitialState
    dirichlet: Sequence[DirichletBC] = ()
    neumann: Sequence[NeumannBC] = ()
    sources: Sources | None = None
    fixed_charge: Value | None = None
    degree: int = 1
    concentrations: Sequence[Concentration] = ()  # reservoirs: c^ℓ on a tag
    thermal: Sequence[Condition] = ()  # Temperature, HeatFlux, HeatTransfer on tags
    stern: Sequence[Stern] = ()  # electrodes behind a Stern layer (Robin on ψ)
    region_charges: Mapping[str, float] = field(default_factory=dict)  # ρ^f by mesh region
    reactions: Sequence[Reaction] = ()  # Butler–Volmer kinetics on electrode tags

    def __post_init__(self) -> None:
        object.__setattr__(self, "concentrations", tuple(self.concentrations))
        object.__setattr__(self, "thermal", tuple(self.thermal))
        object.__setattr__(self, "stern", tuple(self.stern))
        object.__setattr__(self, "region_charges", MappingProxyType(dict(self.region_charges)))
        object.__setattr__(self, "reactions", tuple(self.reactions))
        electrodes = {bc.tag for bc in (*self.dirichlet, *self.stern)}
        for r in self.reactions:
            if r.tag not in electrodes or r.species not in self.model.species_names:
                raise InputError(
                    f"Reaction[{r.tag}] needs an electrode potential on its tag and a known species"
                )
        for name in self.region_charges:
            self.mesh.cells(name)  # InputError naming an unknown region
        for c in (*self.thermal, *self.stern):
            self.mesh.tag(c.tag)
        for c in self.concentrations:
            self.mesh.tag(c.tag)
            if c.species not in self.model.species_names:
                raise InputError(f"Concentration[{c.tag}] names no species {c.species!r}")
        object.__setattr__(self, "dirichlet", tuple(self.dirichlet))
        object.__setattr__(self, "neumann", tuple(self.neumann))
        if self.degree not in (1, 2):
            raise InputError(f"PNPFProblem.degree must be 1 or 2, got {self.degree}")
        for bc in (*self.dirichlet, *self.neumann):
            if not isinstance(bc, (DirichletBC, NeumannBC)):
                raise InputError(f"PNPFProblem: not a boundary condition: {bc!r}")
            self.mesh.tag(bc.tag)
        d_tags = [bc.tag for bc in self.dirichlet]
        n_tags = [bc.tag for bc in self.neumann]
        both = sorted(set(d_tags) & set(n_tags))
        if both or len(set(d_tags)) != len(d_tags) or len(set(n_tags)) != len(n_tags):
            raise InputError(
                f"PNPFProblem: each tag may carry one potential condition (repeated: "
                f"{both or sorted({t for t in d_tags + n_tags if (d_tags + n_tags).count(t) > 1})})"
            )
        names = set(self.model.species_names)
        missing = names - set(self.initial.c)
        extra = set(self.initial.c) - names
        if missing or extra:
            raise InputError(
                f"InitialState.c must name exactly the species {sorted(names)} "
                f"(missing {sorted(missing)}, unknown {sorted(extra)})"
            )
        if self.sources is not None:
            unknown = set(self.sources.ions) - names
            if unknown:
                raise InputError(f"Sources.ions names unknown species {sorted(unknown)}")
        if self.fixed_charge is not None:
            check_data("PNPFProblem.fixed_charge", self.fixed_charge)

    @property
    def num_species(self) -> int:
        return self.model.num_species
