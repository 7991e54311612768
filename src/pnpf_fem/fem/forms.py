"""Pure UFL residuals of the log-variable PNPF system (2.13): no PETSc, no solver state.

Unknowns: η^ℓ = log c^ℓ, ψ and ξ = log T (Scheme II's variables, §3.3). Flux, Joule heat and the
terms P of (3.4)/(3.15) are written once and combined per time scheme in `pnpf_fem.fem.schemes`.

Quadrature. Storage terms (∂t c, ∂t T), the charge Σ z c + ρ^f and the mass/entropy observables
use the *same* measure `dxL`: vertex quadrature (mass lumping) for P1, so that

* testing the η-equation with v = 1 gives ⟨c^{n+1} − c^n, 1⟩_L = 0 exactly (Theorem 3.3),
* the nodal inequalities (3.13), (3.20), (3.21) hold vertex by vertex.

The temperature equation is tested with θ·w, θ = 1/T (Scheme I, backward Euler) or θ = R^{n+1/2}
(Scheme II, (3.15)) — the weights by which the paper multiplies it in the proofs of (3.12) and
(3.16). With w = 1 and vertex quadrature this reproduces those proofs, so the discrete entropy
(3.11) (evaluated with `dxL`) increases exactly for P1 on any mesh. For P2, `dxL` is the ordinary
quadrature and the inequality is only measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ufl

__all__ = [
    "Measures",
    "butler_volmer_rate",
    "heat_residual",
    "ion_flux",
    "ion_flux_scheme1",
    "ion_residual",
    "joule_heat",
    "log_entropy_weight_R",
    "measures",
    "poisson_residual",
    "q_midpoint",
]

Expr = ufl.core.expr.Expr


@dataclass(frozen=True)
class Measures:
    """dx: volume terms (degree 2p); dxL: storage/charge/observables; ds (degree 2p)."""

    dx: ufl.Measure
    dxL: ufl.Measure
    ds: ufl.Measure


def measures(domain, facet_tags, degree: int) -> Measures:
    """Measures for Lagrange degree p = `degree` (vertex quadrature for `dxL` when p == 1).

    The volume terms (fluxes, Joule heat, conduction) use a rule exact for degree 2p, which
    keeps the optimal L2 order p + 1 for smooth coefficients (Strang's lemma asks for degree
    2p − 1) at a fraction of the cost of degree 2p + 2 (a 3D P1 Newton step assembled 2.4×
    faster). The midpoint rule (2p − 1 for P1) was faster still, but fem1's temperature step
    then stalled at a residual of 5e-9 on electrode-graded strips. Every weight is positive, so
    the pointwise arguments of the entropy proofs hold unchanged."""
    qdeg = 2 * degree
    dx = ufl.Measure("dx", domain=domain, metadata={"quadrature_degree": qdeg})
    if degree == 1:
        dxL = ufl.Measure(
            "dx", domain=domain, metadata={"quadrature_rule": "vertex", "quadrature_degree": 1}
        )
    else:
        dxL = dx
    ds = ufl.Measure(
        "ds", domain=domain, subdomain_data=facet_tags, metadata={"quadrature_degree": 2 * degree}
    )
    return Measures(dx, dxL, ds)


def ion_flux(c: Expr, T: Expr, q: Expr, psi: Expr, z: float, nu: float, eps: float) -> Expr:
    """ε c u of (2.13): ν c u = −c T ∇q − c ∇(z ψ + T), with q = log c (or Q of (3.15))."""
    return -(eps / nu) * c * (T * ufl.grad(q) + ufl.grad(z * psi + T))


def ion_flux_scheme1(
    c_old: Expr, T_old: Expr, eta: Expr, psi: Expr, z: float, nu: float, eps: float
) -> Expr:
    """ε c^{n+1} u^{n+1} of Scheme I (3.3).

    ν c^{n+1} u^{n+1} = −c^n ∇(log c^{n+1} + z ψ^{n+1}) − ∇(c^n (T^n − 1)).
    """
    return -(eps / nu) * (c_old * ufl.grad(eta + z * psi) + ufl.grad(c_old * (T_old - 1.0)))


def joule_heat(c: Expr, T: Expr, q: Expr, psi: Expr, z: float, nu: float, eps: float) -> Expr:
    """ε ν c |u|² with ν u = −(T ∇q + ∇(z ψ + T)) — (2.8), û of (3.3), ǔ of (3.14)."""
    g = T * ufl.grad(q) + ufl.grad(z * psi + T)
    return (eps / nu) * c * ufl.inner(g, g)


def ion_residual(
    c_new: Expr,
    c_old: Expr,
    dt: Expr,
    flux: Expr,
    v: Expr,
    m: Measures,
    source: Expr | None,
    inflow: Sequence[tuple[int, Expr]] = (),
) -> ufl.Form:
    """∫ (c^{n+1} − c^n)/Δt v dxL − ∫ ε c u · ∇v dx − ∫ f v dx − Σ ∫_Γ j v ds, with `inflow`
    (tag, j): j = −ε c u·n the rate at which ions enter through the tag (an electrode reaction);
    zero flux elsewhere on ∂Ω is natural."""
    F = (c_new - c_old) / dt * v * m.dxL - ufl.inner(flux, ufl.grad(v)) * m.dx
    if source is not None:
        F -= source * v * m.dx
    for tag, j in inflow:
        F -= j * v * m.ds(tag)
    return F


def butler_volmer_rate(
    log_c: Expr,
    psi: Expr,
    T: Expr,
    V: Expr,
    *,
    k0: float,
    alpha: float,
    n: float,
    s: float,
    equilibrium: float,
    log_reference: float,
) -> Expr:
    """The anodic rate r of `pnpf_fem.model.Reaction` in the log variables:
    r = k₀ [e^{s⁻ (log c − log c_ref) + α n η/T} − e^{s⁺ (log c − log c_ref) − (1−α) n η/T}],
    η = V − ψ − E_eq."""
    eta = V - psi - equilibrium
    x = log_c - log_reference
    forward = ufl.exp(max(-s, 0.0) * x + alpha * n * eta / T)
    backward = ufl.exp(max(s, 0.0) * x - (1.0 - alpha) * n * eta / T)
    return k0 * (forward - backward)


def poisson_residual(
    psi: Expr,
    charge: Expr,
    eps: float,
    w: Expr,
    m: Measures,
    neumann: Sequence[tuple[int, Expr]],
) -> ufl.Form:
    """−ε² Δψ = Σ z c + ρ^f with ε² ∂nψ = ψ^N on Γ_N ((2.8)₃, (2.9))."""
    F = eps**2 * ufl.inner(ufl.grad(psi), ufl.grad(w)) * m.dx - charge * w * m.dxL
    for tag, value in neumann:
        F -= value * w * m.ds(tag)
    return F


def q_midpoint(c_new: Expr, c_old: Expr, eta_new: Expr) -> Expr:
    """Q^{ℓ,n+1/2} of (3.15)."""
    d = c_new - c_old
    return eta_new - d / (2.0 * c_new) - d**2 / (6.0 * c_new**2)


def log_entropy_weight_R(T_new: Expr, T_old: Expr, xi_new: Expr) -> Expr:
    """R^{n+1/2} of (3.15) (≈ 1/T at the midpoint, positive for all arguments)."""
    d = T_new - T_old
    return ufl.exp(-xi_new) + d / (2.0 * T_new**2) + d**2 / (3.0 * T_new**3)


def heat_residual(
    *,
    T_new: Expr,
    T_old: Expr,
    dt: Expr,
    theta: Expr,
    grad_log_theta: Expr,
    T_diff: Expr,
    species: Sequence[tuple[Expr, Expr, Expr, Expr]],
    joule: Expr,
    heat_capacity: float | Expr,
    conductivity: float | Expr,
    w: Expr,
    m: Measures,
    source: Expr | None,
    boundary_heat: Sequence[tuple[int, Expr]] = (),
    boundary_species: Sequence[tuple[int, Expr, Expr]] = (),
    extra: ufl.Form | None = None,
    scale: float | None = None,
) -> ufl.Form:
    """The temperature equation of (2.13) tested with θ w.

    `boundary_heat` holds (tag, q) with q = k ∂T/∂n the heat flux into the domain through the
    tag (a prescribed flux, or h (T_ambient − T) for heat transfer); elsewhere ∂Ω is insulated.

    C_T (T^{n+1} − T^n)/Δt = −k ∇·(T_d ∇ log θ) + P/θ + Σ ε ν c |u|² (+ f_3): with θ = 1/T,
    T_d = T this is (3.3)₄ (k ΔT + T P + Joule); with θ = R, T_d = e^{ξ^{n+1/2}} it is (3.14)₄.
    `species` holds (μ, flux, c^{n+1}, c^n) per species for P (3.4)/(3.15), weak form:
    ⟨P, w⟩ = Σ_ℓ [−∫ μ (ε c u)·∇w dx + ∫ (1 + μ)(c^{n+1} − c^n)/Δt w dxL]
    − Σ ∫_Γ j μ w ds over `boundary_species` (tag, j, μ): the boundary term of ∇·(c u μ) where
    ions enter at the rate j (an electrode reaction).

    C_T and k may be UFL expressions (piecewise per phase), k a tensor (an effective medium);
    then `scale` must be given. By default the form is divided by max(C_T, k, 1): a large heat
    capacity or conductivity would otherwise make the round-off of this block's residual
    (∝ C_T/Δt, k) larger than Newton's tolerances, which then cannot be met (a nearly
    isothermal run, C_T = 10⁶, stalled at 4e-3). The solution is unchanged; with w = 1 the
    entropy identity is only scaled.
    """
    if scale is None:
        scale = 1.0 / max(heat_capacity, conductivity, 1.0)
    F = heat_capacity * (T_new - T_old) / dt * theta * w * m.dxL
    if isinstance(conductivity, (int, float)) or ufl.shape(conductivity) == ():
        flux = conductivity * grad_log_theta
    else:  # a conductivity tensor (an effective medium)
        flux = ufl.dot(conductivity, grad_log_theta)
    F -= T_diff * ufl.inner(flux, ufl.grad(theta * w)) * m.dx
    for mu, flux, c_new, c_old in species:
        F -= -mu * ufl.inner(flux, ufl.grad(w)) * m.dx
        F -= (1.0 + mu) * (c_new - c_old) / dt * w * m.dxL
    F -= joule * theta * w * m.dx
    if source is not None:
        F -= source * theta * w * m.dx
    for tag, q in boundary_heat:
        F -= q * theta * w * m.ds(tag)
    for tag, j, mu in boundary_species:
        F += j * mu * w * m.ds(tag)
    if extra is not None:  # further terms of −⟨P, w⟩ (the reservoirs')
        F += extra
    return scale * F
