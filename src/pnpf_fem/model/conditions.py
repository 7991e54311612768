"""Boundary conditions as small objects keyed by the name of a boundary tag.

Zero ionic flux and thermal insulation hold wherever no condition says otherwise (2.9). A tag
carries at most one condition on the potential. New conditions (reservoirs, Stern layers,
reactions, thermal boundaries) are new classes here, each taken up by the discretizations that
can impose it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pnpf_fem.errors import InputError
from pnpf_fem.model.data import Data, check_data

__all__ = [
    "Concentration",
    "Condition",
    "HeatFlux",
    "HeatTransfer",
    "Potential",
    "Reaction",
    "Stern",
    "SurfaceCharge",
    "Temperature",
]


@dataclass(frozen=True)
class Condition:
    """A condition on the boundary part named `tag`."""

    tag: str
    value: Data = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.tag, str) or not self.tag:
            raise TypeError(f"{type(self).__name__}.tag must be a tag name, got {self.tag!r}")
        check_data(f"{type(self).__name__}[{self.tag}]", self.value)


@dataclass(frozen=True)
class Potential(Condition):
    """ψ = value on the tag (an electrode or a reservoir contact; Γ_D of (2.9))."""


@dataclass(frozen=True)
class SurfaceCharge(Condition):
    """ε² ∂ψ/∂n = value on the tag (the dimensionless surface charge ψ^N; Γ_N of (2.9))."""


@dataclass(frozen=True)
class Stern(Condition):
    """An electrode at the potential `value` behind a Stern (compact) layer of dimensionless
    thickness `thickness` = λ_S/L, charge-free and of the electrolyte's permittivity: the field
    across it is uniform, so on the tag (the outer Helmholtz plane)

        ε² ∂ψ/∂n = (ε²/λ_S) (value − ψ),

    a Robin condition whose right side is the electrode's charge per area (Stern capacitance
    C_S = ε²/λ_S in the units of ψ^N per unit of ψ; in SI C_S = ε_r ε₀/λ_S)."""

    thickness: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.thickness, (int, float)) and self.thickness > 0):
            raise InputError(f"Stern[{self.tag}] needs a thickness > 0, got {self.thickness!r}")


@dataclass(frozen=True)
class Concentration(Condition):
    """c^ℓ = value > 0 for the species named `species` on the tag: a reservoir (with a
    `Potential` on the same tag, an ideal reservoir contact or electrode)."""

    species: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.species:
            raise TypeError(f"Concentration[{self.tag}] needs the name of its species")
        if isinstance(self.value, (int, float)) and not self.value > 0:
            raise InputError(f"Concentration[{self.tag}, {self.species}] must be positive")


@dataclass(frozen=True)
class Temperature(Condition):
    """T = value on the tag (a thermostat; in units of T0)."""


@dataclass(frozen=True)
class HeatFlux(Condition):
    """k ∂T/∂n = value on the tag: the heat flux into the domain (units of the scaled k T0/L)."""


@dataclass(frozen=True)
class HeatTransfer(Condition):
    """k ∂T/∂n = value (T_ambient − T) on the tag: cooling by a heat-transfer coefficient."""

    ambient: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.value, (int, float)) and self.value >= 0 and self.ambient > 0):
            raise InputError(
                f"HeatTransfer[{self.tag}] needs a coefficient >= 0 and an ambient T > 0"
            )


@dataclass(frozen=True)
class Reaction(Condition):
    """Butler–Volmer kinetics of one electrode reaction on the tag, which must carry the
    electrode's potential V (a `Potential`, or a `Stern` electrode: then ψ below is the potential
    at the outer Helmholtz plane, the Frumkin correction).

    The anodic reaction produces `stoichiometry` = s ions of `species` (valence z; s < 0: it
    consumes them) and releases n = s z > 0 electrons. With the overpotential η = V − ψ − E_eq
    (`equilibrium` = E_eq at the reference concentration `reference` = c_ref), the rate of anodic
    events per area is

        r = k₀ [ (c/c_ref)^{s⁻} e^{α n η/T} − (c/c_ref)^{s⁺} e^{−(1−α) n η/T} ],

    s⁺ = max(s, 0), s⁻ = max(−s, 0), k₀ = `value` (the exchange rate, ≥ 0), α = `alpha`. It
    vanishes exactly at the Nernst equilibrium T log(c/c_ref) = z (V − ψ − E_eq) and has the sign
    of the affinity A = n η − s T log(c/c_ref). The ions enter the domain at the rate s r; the
    Faradaic (anodic) current is n r; the heat released at the electrode is r (n η − T ΔS) with
    ΔS = `entropy`, the anodic reaction's entropy in units of k_B per event (the reversible,
    Peltier part). All in the scaled units of the problem."""

    species: str = ""
    stoichiometry: float = 1.0
    alpha: float = 0.5
    equilibrium: float = 0.0
    reference: float = 1.0
    entropy: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        name = f"Reaction[{self.tag}]"
        if not self.species:
            raise TypeError(f"{name} needs the name of its species")
        if not (isinstance(self.value, (int, float)) and self.value >= 0):
            raise InputError(f"{name} needs a rate constant >= 0, got {self.value!r}")
        if not 0.0 < self.alpha < 1.0:
            raise InputError(f"{name} needs 0 < alpha < 1, got {self.alpha!r}")
        if self.stoichiometry == 0 or not self.reference > 0:
            raise InputError(f"{name} needs a stoichiometry != 0 and a reference concentration > 0")


THERMAL = (Temperature, HeatFlux, HeatTransfer)
