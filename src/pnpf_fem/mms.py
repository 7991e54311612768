"""The manufactured solution (4.2) of the accuracy test (4.1) and its sources.

As NumPy functions of the vertex coordinates (for the FV schemes) and as UFL expressions of the
spatial coordinate (for the FEM, `ufl_exact_fields` and `ufl_sources`, whose sources UFL derives
symbolically from (2.13) with any model's coefficients).

(4.1) is the dimensionless system (2.13) with ε = ν = C_T = k = 1 and M = 2; its flux line is
printed without valences, but its Poisson line −Δψ = c¹ − c² + ρ^f fixes z = (1, −1), and we use
c^ℓu^ℓ = −c^ℓT∇log c^ℓ − c^ℓ∇(z^ℓψ + T) as in (2.13). With φ = cos(πx)cos(πy), g = e^{−t}/10:

    c¹ = c² = T = gφ + 0.2 =: c,   ψ = gφ,
    ∇c = ∇T = ∇ψ = g∇φ,  Δφ = −2π²φ,  |∇φ|² = π²(sin²πx cos²πy + cos²πx sin²πy),

so the flux is J^ℓ = c^ℓu^ℓ = −∇(cT) − z c∇ψ = −(2 + z) c g∇φ, u^ℓ = −(2 + z) g∇φ, and

    ∇·J^ℓ = −(2 + z) g (g|∇φ|² − 2π² c φ),
    f_ℓ   = ∂_t c + ∇·J^ℓ = −gφ + ∇·J^ℓ,
    ρ^f   = −Δψ − (c¹ − c²) = 2π² g φ,
    ∇·(J^ℓ log c) = log c ∇·J^ℓ + J^ℓ·∇c/c = log c ∇·J^ℓ − (2 + z) g²|∇φ|²,
    f_3   = ∂_t T − ΔT − Σ_ℓ { T[∇·(J^ℓ log c) + (1 + log c)∂_t c] + c|u^ℓ|² }
          = −gφ + 2π²gφ − Σ_ℓ { ... },  with c|u^ℓ|² = (2 + z)² c g²|∇φ|².

Checked pointwise against finite differences in tests/fv/test_mms.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import ufl

from pnpf_fem.units import DimensionlessPNPF

__all__ = [
    "VALENCES",
    "exact_c",
    "exact_psi",
    "exact_temperature",
    "fixed_charge",
    "heat_source",
    "ion_source",
    "ion_sources",
    "psi_dirichlet_left",
    "psi_dirichlet_right",
    "ufl_exact_fields",
    "ufl_sources",
]

FloatArray = npt.NDArray[np.float64]
VALENCES = (1.0, -1.0)
_PI2 = np.pi**2


def _g(t: float) -> float:
    return 0.1 * np.exp(-t)


def _phi(*xs: FloatArray) -> FloatArray:
    """φ = Π_k cos(πx_k) (cos πx cos πy in 2D)."""
    out = np.cos(np.pi * xs[0])
    for x in xs[1:]:
        out = out * np.cos(np.pi * x)
    return out


def _grad_phi_sq(*xs: FloatArray) -> FloatArray:
    """|∇φ|² = π² Σ_k sin²(πx_k) Π_{j≠k} cos²(πx_j)."""
    sin2 = [np.sin(np.pi * x) ** 2 for x in xs]
    cos2 = [np.cos(np.pi * x) ** 2 for x in xs]
    total = 0.0
    for k in range(len(xs)):
        term = sin2[k]
        for j in range(len(xs)):
            if j != k:
                term = term * cos2[j]
        total = total + term
    return _PI2 * total


# The functions below take the vertex coordinates and then t: (x, y, t) as in (4.1), or
# (x, y, z, t) for the same solution on the unit cube (φ = cos πx cos πy cos πz, Δφ = −3π²φ),
# with which the FV schemes are verified in 3D.
def exact_c(*xt: FloatArray | float) -> FloatArray:
    """c¹ = c² of (4.2)."""
    return _g(xt[-1]) * _phi(*xt[:-1]) + 0.2


def exact_temperature(*xt: FloatArray | float) -> FloatArray:
    """T of (4.2)."""
    return _g(xt[-1]) * _phi(*xt[:-1]) + 0.2


def exact_psi(*xt: FloatArray | float) -> FloatArray:
    """ψ of (4.2)."""
    return _g(xt[-1]) * _phi(*xt[:-1])


def psi_dirichlet_left(*xt: FloatArray | float) -> FloatArray:
    """ψ(t, 0, y) = e^{−t} cos(πy)/10 (times cos πz in 3D)."""
    return _g(xt[-1]) * _phi(*xt[1:-1]) + 0.0 * xt[0]


def psi_dirichlet_right(*xt: FloatArray | float) -> FloatArray:
    """ψ(t, 1, y) = −e^{−t} cos(πy)/10 (times cos πz in 3D)."""
    return -_g(xt[-1]) * _phi(*xt[1:-1]) + 0.0 * xt[0]


def _div_flux(xs: tuple, t: float, z: float) -> FloatArray:
    g, phi = _g(t), _phi(*xs)
    c = g * phi + 0.2
    return -(2.0 + z) * g * (g * _grad_phi_sq(*xs) - len(xs) * _PI2 * c * phi)


def ion_source(z: float) -> Callable[..., FloatArray]:
    """f_ℓ of (4.1) for a species of valence z."""

    def f(*xt: FloatArray | float) -> FloatArray:
        xs, t = xt[:-1], xt[-1]
        return -_g(t) * _phi(*xs) + _div_flux(xs, t, z)

    return f


def ion_sources(valences: tuple[float, ...] = VALENCES) -> tuple[Callable, ...]:
    """(f_1, f_2) for the valences (1, −1) of (4.1)."""
    return tuple(ion_source(z) for z in valences)


def fixed_charge(*xt: FloatArray | float) -> FloatArray:
    """ρ^f = dπ² g φ (c¹ = c² cancel in −Δψ = c¹ − c² + ρ^f)."""
    xs = xt[:-1]
    return len(xs) * _PI2 * _g(xt[-1]) * _phi(*xs)


def heat_source(valences: tuple[float, ...] = VALENCES) -> Callable[..., FloatArray]:
    """f_3 of (4.1)."""

    def f(*xt: FloatArray | float) -> FloatArray:
        xs, t = xt[:-1], xt[-1]
        g, phi = _g(t), _phi(*xs)
        c = g * phi + 0.2
        temp = c
        dc_dt = -g * phi
        grad2 = _grad_phi_sq(*xs)
        log_c = np.log(c)
        total = -g * phi + len(xs) * _PI2 * g * phi  # ∂_t T − ΔT
        for z in valences:
            div_j = _div_flux(xs, t, z)
            div_j_log = log_c * div_j - (2.0 + z) * g * g * grad2
            total = total - (
                temp * (div_j_log + (1.0 + log_c) * dc_dt) + (2.0 + z) ** 2 * c * g * g * grad2
            )
        return total

    return f


# -- the same in UFL (x = ufl.SpatialCoordinate, t = the scheme's time Constant) ----------------
def ufl_exact_fields(
    x: ufl.SpatialCoordinate, t: ufl.core.expr.Expr
) -> dict[str, ufl.core.expr.Expr]:
    """(4.2): c¹ = c² = T = 0.1 e^{−t} φ + 0.2, ψ = 0.1 e^{−t} φ, φ = cos πx cos πy; "dt" = ∂t c.
    In 3D (x of three components) φ = cos πx cos πy cos πz: the same construction on the unit
    cube, with zero normal derivatives on every face as in 2D."""
    g = 0.1 * ufl.exp(-t)
    phi = ufl.cos(ufl.pi * x[0]) * ufl.cos(ufl.pi * x[1])
    if x.ufl_shape[0] == 3:
        phi = phi * ufl.cos(ufl.pi * x[2])
    return {"c": g * phi + 0.2, "T": g * phi + 0.2, "psi": g * phi, "dt": -g * phi}


UflField = Callable[[ufl.SpatialCoordinate, ufl.core.expr.Expr], ufl.core.expr.Expr]


def ufl_sources(model: DimensionlessPNPF) -> tuple[dict[str, UflField], UflField, UflField]:
    """(f_ℓ by species name, f_3, ρ^f) making (4.2) solve (2.13) with `model`'s coefficients."""
    eps, CT, k = model.eps, model.heat_capacity, model.conductivity

    def flux(e: dict, z: float, nu: float) -> ufl.core.expr.Expr:  # ε c u of (2.13)
        return -(eps / nu) * (ufl.grad(e["c"] * e["T"]) + z * e["c"] * ufl.grad(e["psi"]))

    def ion(z: float, nu: float) -> UflField:
        def f(x: ufl.SpatialCoordinate, t: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
            e = ufl_exact_fields(x, t)
            return e["dt"] + ufl.div(flux(e, z, nu))

        return f

    def rho(x: ufl.SpatialCoordinate, t: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        e = ufl_exact_fields(x, t)
        return -(eps**2) * ufl.div(ufl.grad(e["psi"])) - sum(model.valences) * e["c"]

    def heat(x: ufl.SpatialCoordinate, t: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        e = ufl_exact_fields(x, t)
        c, T, psi, dc = e["c"], e["T"], e["psi"], e["dt"]
        out = CT * dc - k * ufl.div(ufl.grad(T))
        for z, nu in zip(model.valences, model.frictions, strict=True):
            out -= T * (ufl.div(flux(e, z, nu) * ufl.ln(c)) + (1.0 + ufl.ln(c)) * dc)
            g = T * ufl.grad(ufl.ln(c)) + ufl.grad(z * psi + T)
            out -= (eps / nu) * c * ufl.inner(g, g)  # ε ν c |u|²
        return out

    zs, nus = model.valences, model.frictions
    ions = {n: ion(z, nu) for n, z, nu in zip(model.species_names, zs, nus, strict=True)}
    return ions, heat, rho
