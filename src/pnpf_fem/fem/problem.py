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


def _check_value(owner: str, value: object) -> None:
    if isinstance(value, bool) or not (isinstance(value, (int, float, Field)) or callable(value)):
        raise InputError(
            f"{owner}: expected a number, a callable t -> float or a Field, got {value!r}"
        )


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


@dataclass(frozen=True)
class DirichletBC:
    """ψ = value on the boundary part named `tag` ((2.9), Γ_D)."""

    tag: str
    value: Value = 0.0

    def __post_init__(self) -> None:
        _check_value(f"DirichletBC[{self.tag}]", self.value)


@dataclass(frozen=True)
class NeumannBC:
    """ε² ∂ψ/∂n = value (the surface charge ψ^N) on the boundary part named `tag` ((2.9), Γ_N)."""

    tag: str
    value: Value = 0.0

    def __post_init__(self) -> None:
        _check_value(f"NeumannBC[{self.tag}]", self.value)


@dataclass(frozen=True)
class Sources:
    """Optional volume sources (manufactured solutions): f_ℓ by species name, heat f_3."""

    ions: Mapping[str, Value] = field(default_factory=dict)
    heat: Value | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ions", MappingProxyType(dict(self.ions)))
        for name, v in self.ions.items():
            _check_value(f"Sources.ions[{name}]", v)
        if self.heat is not None:
            _check_value("Sources.heat", self.heat)


@dataclass(frozen=True)
class InitialState:
    """Initial concentrations (by species name) and temperature.

    The initial potential is not a datum: it solves the Poisson equation with the initial charge.
    """

    c: Mapping[str, Value]
    T: Value = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "c", MappingProxyType(dict(self.c)))
        for name, v in self.c.items():
            _check_value(f"InitialState.c[{name}]", v)
        _check_value("InitialState.T", self.T)


@dataclass(frozen=True, eq=False)
class PNPFProblem:
    """The dimensionless PNPF problem (2.8)/(2.9) on a tagged mesh.

    Zero ionic flux and insulated temperature hold on all of ∂Ω; the potential has Dirichlet data
    on the `dirichlet` tags and Neumann data on the `neumann` tags (homogeneous Neumann
    elsewhere). `fixed_charge` overrides the model's constant ρ^f. `degree` is the Lagrange
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

    def __post_init__(self) -> None:
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
            _check_value("PNPFProblem.fixed_charge", self.fixed_charge)

    @property
    def num_species(self) -> int:
        return self.model.num_species
