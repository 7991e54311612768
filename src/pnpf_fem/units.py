"""Physical parameters in SI units and the one scaling step to the dimensionless PNPF system.

The rescaling is that of Section 2 of the PNPF paper (J. Ding, X. Ji, S. Zhou, "Entropy
increasing numerical methods for prediction of reversible and irreversible heating in
supercapacitors", arXiv:2407.10050; equation numbers below are the paper's), written out with the
choices of L, c0 and ν0 in docs/theory.md §2:

    x = L x̃,  t = τ t̃,  T = T0 T̃,  ψ = (k_B T0 / e) ψ̃,  c = c0 c̃,  ν = ν0 ν̃,
    λ_D = sqrt(ε0 ε_r k_B T0 / (e² c0)),  ε = λ_D / L,  τ = λ_D L ν0 / (k_B T0),
    k̃ = τ k / (k_B c0 L²),  C̃_T = C_T / c0,

with c0 read as a number density (particles per m³) wherever it multiplies k_B or e. With these,
(2.7) becomes ∂t c + ε ∇·(c u) = 0 with ν c u = −∇(cT) − z c ∇ψ, Poisson reads −ε² Δψ = Σ z c + ρ^f
and the heat equation C̃_T ∂t T = k̃ ΔT + … — the system (2.8).

Concentrations are given in mol/m³ (SI); `molar(0.2)` converts 0.2 mol/L.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

__all__ = [
    "AVOGADRO",
    "BOLTZMANN",
    "ELEMENTARY_CHARGE",
    "VACUUM_PERMITTIVITY",
    "DimensionlessPNPF",
    "PNPFParameters",
    "Scales",
    "Species",
    "molar",
    "nondimensionalize",
    "supercapacitor_parameters",
    "surface_charge_scale",
]

# CODATA 2018 (exact where SI defines them).
ELEMENTARY_CHARGE = 1.602176634e-19  # C
BOLTZMANN = 1.380649e-23  # J/K
AVOGADRO = 6.02214076e23  # 1/mol
VACUUM_PERMITTIVITY = 8.8541878128e-12  # F/m


def molar(value: float) -> float:
    """Convert a concentration in mol/L (M) to SI mol/m³."""
    return 1000.0 * value


def _check_finite(owner: str, name: str, value: object) -> None:
    if value is None:
        raise ValueError(f"{owner}.{name} is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be finite, got {value!r}")


def _check_positive(owner: str, name: str, value: object) -> None:
    _check_finite(owner, name, value)
    if value <= 0:  # type: ignore[operator]
        raise ValueError(f"{owner}.{name} must be positive, got {value!r}")


@dataclass(frozen=True)
class Species:
    """One ionic species: name, valence z (elementary charges) and friction ν [J s/m²]."""

    name: str
    valence: float
    friction: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Species.name must be an identifier, got {self.name!r}")
        _check_finite(f"Species[{self.name}]", "valence", self.valence)
        _check_positive(f"Species[{self.name}]", "friction", self.friction)


@dataclass(frozen=True)
class PNPFParameters:
    """The PNPF model in SI units (§2 of the PNPF paper).

    Concentrations (`reference_concentration`, `heat_capacity`, `fixed_charge`) are in mol/m³;
    `heat_capacity` is the paper's C_T, a concentration-like constant (38.8 M in §4.2).
    """

    species: tuple[Species, ...]
    reference_concentration: float  # c0 [mol/m³]
    reference_temperature: float  # T0 [K]
    length_scale: float  # L [m]
    heat_capacity: float  # C_T [mol/m³]
    thermal_conductivity: float  # k [W/(m K)] = J/(K m s)
    friction_scale: float  # ν0 [J s/m²]
    relative_permittivity: float = 80.0
    vacuum_permittivity: float = VACUUM_PERMITTIVITY  # [F/m]
    fixed_charge: float = 0.0  # ρ^f [mol/m³ of elementary charges]

    def __post_init__(self) -> None:
        owner = "PNPFParameters"
        if not isinstance(self.species, tuple) or not self.species:
            raise ValueError(f"{owner}.species must be a non-empty tuple of Species")
        for s in self.species:
            if not isinstance(s, Species):
                raise ValueError(f"{owner}.species must hold Species objects, got {s!r}")
        names = [s.name for s in self.species]
        if len(set(names)) != len(names):
            raise ValueError(f"{owner}.species has duplicate names: {names}")
        for f in fields(self):
            if f.name in ("species", "fixed_charge"):
                continue
            _check_positive(owner, f.name, getattr(self, f.name))
        _check_finite(owner, "fixed_charge", self.fixed_charge)


@dataclass(frozen=True)
class Scales:
    """Reference scales of the rescaling (SI units) — to turn results back into SI."""

    length: float  # L [m]
    time: float  # τ [s]
    concentration: float  # c0 [mol/m³]
    temperature: float  # T0 [K]
    potential: float  # k_B T0 / e [V]
    friction: float  # ν0 [J s/m²]
    debye_length: float  # λ_D [m]
    current_density: float  # I0 = k_B T0 c0 / (ν0 L) [A/m²], with c0 in charges per m³ × e
    entropy: float  # S0 = k_B c0 L^d per unit depth in 2D [J/K/m] (c0 as number density)


@dataclass(frozen=True)
class DimensionlessPNPF:
    """Coefficients of the dimensionless PNPF system (2.8)/(2.13).

    `eps` is ε = λ_D/L; `heat_capacity` C_T, `conductivity` k and `frictions` ν^ℓ are the scaled
    values. The MMS problem (4.1) is `DimensionlessPNPF.unit(...)` (every coefficient 1).
    """

    species_names: tuple[str, ...]
    valences: tuple[float, ...]
    frictions: tuple[float, ...]
    eps: float
    heat_capacity: float
    conductivity: float
    fixed_charge: float = 0.0
    scales: Scales | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        owner = "DimensionlessPNPF"
        m = len(self.species_names)
        if m == 0:
            raise ValueError(f"{owner}.species_names must not be empty")
        if len(self.valences) != m or len(self.frictions) != m:
            raise ValueError(
                f"{owner}: species_names, valences and frictions must have the same length "
                f"({m}, {len(self.valences)}, {len(self.frictions)})"
            )
        for i, z in enumerate(self.valences):
            _check_finite(owner, f"valences[{i}]", z)
        for i, nu in enumerate(self.frictions):
            _check_positive(owner, f"frictions[{i}]", nu)
        for name in ("eps", "heat_capacity", "conductivity"):
            _check_positive(owner, name, getattr(self, name))
        _check_finite(owner, "fixed_charge", self.fixed_charge)

    @property
    def num_species(self) -> int:
        return len(self.species_names)

    @classmethod
    def unit(cls, valences: tuple[float, ...] = (1.0, -1.0)) -> DimensionlessPNPF:
        """All coefficients 1 (ε = C_T = k = ν = 1): the accuracy test (4.1)."""
        names = tuple(f"c{i + 1}" for i in range(len(valences)))
        return cls(names, tuple(valences), (1.0,) * len(valences), 1.0, 1.0, 1.0)


def nondimensionalize(p: PNPFParameters) -> DimensionlessPNPF:
    """The single scaling step: SI parameters → dimensionless coefficients of (2.8)."""
    kT = BOLTZMANN * p.reference_temperature
    n0 = p.reference_concentration * AVOGADRO  # number density [1/m³]
    debye = math.sqrt(
        p.vacuum_permittivity * p.relative_permittivity * kT / (ELEMENTARY_CHARGE**2 * n0)
    )
    L = p.length_scale
    tau = debye * L * p.friction_scale / kT
    scales = Scales(
        length=L,
        time=tau,
        concentration=p.reference_concentration,
        temperature=p.reference_temperature,
        potential=kT / ELEMENTARY_CHARGE,
        friction=p.friction_scale,
        debye_length=debye,
        current_density=kT * n0 * ELEMENTARY_CHARGE / (p.friction_scale * L),
        entropy=BOLTZMANN * n0 * L**2,
    )
    return DimensionlessPNPF(
        species_names=tuple(s.name for s in p.species),
        valences=tuple(float(s.valence) for s in p.species),
        frictions=tuple(s.friction / p.friction_scale for s in p.species),
        eps=debye / L,
        heat_capacity=p.heat_capacity / p.reference_concentration,
        conductivity=tau * p.thermal_conductivity / (BOLTZMANN * n0 * L**2),
        fixed_charge=p.fixed_charge / p.reference_concentration,
        scales=scales,
    )


def supercapacitor_parameters(length_scale: float = 10e-9) -> PNPFParameters:
    """The parameter set of §4.2 (Test B/C/D) of the PNPF paper.

    The paper leaves L, c0 and ν0 unstated; we choose L = 10 nm (the height of the cell in Fig. 3),
    c0 = 0.2 M (the initial salt concentration), ν0 = ν¹ and T0 = 300 K (the initial temperature).
    ε0 is the paper's 8.85e-21 C/(V nm) = 8.85e-12 F/m.
    """
    nu = 4.14e-10
    return PNPFParameters(
        species=(Species("cation", 1, nu), Species("anion", -1, nu)),
        reference_concentration=molar(0.2),
        reference_temperature=300.0,
        length_scale=length_scale,
        heat_capacity=molar(38.8),
        thermal_conductivity=1.20e-4,
        friction_scale=nu,
        relative_permittivity=80.0,
        vacuum_permittivity=8.85e-12,
        fixed_charge=0.0,
    )


def surface_charge_scale(scales: Scales) -> float:
    """The surface charge density [C/m²] of a dimensionless ψ^N = 1 in ε² ∂ψ/∂n = ψ^N (2.9).

    In SI the wall condition is ε_r ε_0 ∂φ/∂n = σ; with φ = (k_B T0/e) ψ, x = L x̃ and
    ε² = ε_r ε_0 k_B T0 / (e² N_A c0 L²) it reads ε² ∂ψ/∂ñ = σ / (e N_A c0 L): the scale is the
    charge of the reference concentration in a layer of thickness L, F c0 L.
    """
    return ELEMENTARY_CHARGE * AVOGADRO * scales.concentration * scales.length
