"""Classical bounds and estimates for ε⁰ of a two-phase composite.

Wiener (arithmetic/harmonic mean) bounds, Hashin–Shtrikman bounds and the Maxwell-Garnett
estimate, used as checks of the computed ε⁰ (docs/theory.md §8, "Classical checks").

Fluid (matrix) permittivity λ² with volume fraction p, solid α with fraction f = 1 - p.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Bounds",
    "hashin_shtrikman",
    "laminate_tensor_diagonal",
    "maxwell_garnett",
    "wiener",
]


@dataclass(frozen=True)
class Bounds:
    lower: float
    upper: float

    def contains(self, value: float, rtol: float = 0.0) -> bool:
        slack = rtol * max(abs(self.lower), abs(self.upper))
        return self.lower - slack <= value <= self.upper + slack


def _check(p: float, lam2: float, alpha: float, dim: int | None = None) -> None:
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"porosity must lie in [0, 1], got {p}")
    if not (lam2 > 0.0 and alpha > 0.0):
        raise ValueError("permittivities must be positive")
    if dim is not None and dim not in (2, 3):
        raise ValueError(f"dimension must be 2 or 3, got {dim}")


def wiener(p: float, lam2: float, alpha: float) -> Bounds:
    """Harmonic mean H ≤ eigenvalues of ε⁰ ≤ arithmetic mean A (Voigt–Reuss)."""
    _check(p, lam2, alpha)
    harmonic = 1.0 / (p / lam2 + (1.0 - p) / alpha)
    arithmetic = p * lam2 + (1.0 - p) * alpha
    return Bounds(harmonic, arithmetic)


def hashin_shtrikman(p: float, lam2: float, alpha: float, dim: int) -> Bounds:
    """Hashin–Shtrikman bounds for an isotropic ε⁰ = ε* I in dimension `dim`."""
    _check(p, lam2, alpha, dim)
    if lam2 == alpha:
        return Bounds(lam2, lam2)
    hs_fluid = lam2 + (1.0 - p) / (1.0 / (alpha - lam2) + p / (dim * lam2))
    hs_solid = alpha + p / (1.0 / (lam2 - alpha) + (1.0 - p) / (dim * alpha))
    return Bounds(min(hs_fluid, hs_solid), max(hs_fluid, hs_solid))


def maxwell_garnett(p: float, lam2: float, alpha: float, dim: int) -> float:
    """Maxwell-Garnett (Clausius–Mossotti) estimate for discs/spheres (= HS, fluid reference)."""
    _check(p, lam2, alpha, dim)
    f = 1.0 - p
    c = dim - 1
    return (
        lam2 * (alpha + c * lam2 + c * f * (alpha - lam2)) / (alpha + c * lam2 - f * (alpha - lam2))
    )


def laminate_tensor_diagonal(
    p: float, lam2: float, alpha: float, dim: int, axis: int
) -> list[float]:
    """Exact diag(ε⁰) of a laminate normal to `axis`: harmonic across, arithmetic along."""
    b = wiener(p, lam2, alpha)
    return [b.lower if i == axis else b.upper for i in range(dim)]
