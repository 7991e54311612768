"""The manufactured solution (4.2) in UFL and its sources, derived symbolically by UFL from (2.13).

The exact fields are written with `ufl.SpatialCoordinate` and the scheme's time Constant; the
sources f_ℓ, ρ^f, f_3 follow by UFL differentiation in space of the dimensionless system (2.13)
with the model's coefficients (ε, ν^ℓ, z^ℓ, C_T, k — all 1 and z = (1, −1) for (4.1)); the time
derivative is analytic: ∂t(0.1 e^{−t} φ) = −0.1 e^{−t} φ.
"""

from __future__ import annotations

import ufl

from pnpf_fem.fem.mesh import FEMMesh
from pnpf_fem.fem.problem import DirichletBC, Field, InitialState, PNPFProblem, Sources
from pnpf_fem.units import DimensionlessPNPF

__all__ = ["exact_fields", "mms_problem"]


def _g(t):
    return 0.1 * ufl.exp(-t)


def _phi(x):
    return ufl.cos(ufl.pi * x[0]) * ufl.cos(ufl.pi * x[1])


def exact_fields(x, t) -> dict[str, ufl.core.expr.Expr]:
    """(4.2): c¹ = c² = T = 0.1 e^{−t} φ + 0.2, ψ = 0.1 e^{−t} φ, φ = cos πx cos πy."""
    g, phi = _g(t), _phi(x)
    return {"c": g * phi + 0.2, "T": g * phi + 0.2, "psi": g * phi, "dt": -g * phi}


def _sources(model: DimensionlessPNPF):
    eps, CT, k = model.eps, model.heat_capacity, model.conductivity

    def ion(i: int) -> Field:
        z, nu = model.valences[i], model.frictions[i]

        def f(x, t):
            e = exact_fields(x, t)
            c, T, psi = e["c"], e["T"], e["psi"]
            J = -(eps / nu) * (ufl.grad(c * T) + z * c * ufl.grad(psi))  # ε c u of (2.13)
            return e["dt"] + ufl.div(J)

        return Field(f)

    def rho(x, t):
        e = exact_fields(x, t)
        return -(eps**2) * ufl.div(ufl.grad(e["psi"])) - sum(model.valences) * e["c"]

    def heat(x, t):
        e = exact_fields(x, t)
        c, T, psi, dc = e["c"], e["T"], e["psi"], e["dt"]
        out = CT * dc - k * ufl.div(ufl.grad(T))
        for z, nu in zip(model.valences, model.frictions, strict=True):
            J = -(eps / nu) * (ufl.grad(c * T) + z * c * ufl.grad(psi))
            out -= T * (ufl.div(J * ufl.ln(c)) + (1.0 + ufl.ln(c)) * dc)
            g = T * ufl.grad(ufl.ln(c)) + ufl.grad(z * psi + T)
            out -= (eps / nu) * c * ufl.inner(g, g)  # ε ν c |u|²
        return out

    ions = {name: ion(i) for i, name in enumerate(model.species_names)}
    return Sources(ions=ions, heat=Field(heat)), Field(rho)


def mms_problem(
    mesh: FEMMesh,
    degree: int = 1,
    model: DimensionlessPNPF | None = None,
    left: str = "left",
    right: str = "right",
) -> PNPFProblem:
    """Test A (4.1)–(4.2) on [0,1]²: exact ψ on the `left`/`right` tags (x = 0, 1), homogeneous
    Neumann elsewhere, zero flux and insulation everywhere; every species has c = c¹ of (4.2)."""
    model = model or DimensionlessPNPF.unit()
    sources, rho = _sources(model)
    c0 = Field(lambda x, t: exact_fields(x, t)["c"])
    psi_exact = Field(lambda x, t: exact_fields(x, t)["psi"])
    initial = InitialState(
        c={n: c0 for n in model.species_names},
        T=Field(lambda x, t: exact_fields(x, t)["T"]),
    )
    return PNPFProblem(
        model=model,
        mesh=mesh,
        initial=initial,
        dirichlet=(DirichletBC(left, psi_exact), DirichletBC(right, psi_exact)),
        sources=sources,
        fixed_charge=rho,
        degree=degree,
    )
