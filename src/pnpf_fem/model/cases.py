"""The ready-made problems: one definition each, built by any discretization.

* `charging_cell` — blocking electrodes on two tags of a cell, zero flux and insulation
  elsewhere, no sources: the charging test of the FEM core, of `pnpf-fem compare --case
  charging` and of the benchmarks (with `charging_model` or a given model);
* `mms` — Test A (4.1)–(4.2) of the PNPF paper on [0, 1]²: the manufactured solution with its
  sources, exact ψ on the left and right sides;
* `comb` — the comb-electrode supercapacitor of the PNPF paper (Fig. 3, §4.2): ψ* on Γ2, 0 on
  Γ3, a surface charge on Γ1 (zero by default).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import ufl

from pnpf_fem import mms as test_a
from pnpf_fem.model.conditions import Potential, SurfaceCharge
from pnpf_fem.model.data import Data, SpaceTime
from pnpf_fem.model.problem import Initial, Problem, Sources
from pnpf_fem.units import DimensionlessPNPF

__all__ = ["charging_cell", "charging_model", "comb", "mms"]


def charging_model(
    eps: float = 0.2,
    frictions: tuple[float, float] = (1.0, 1.5),
    heat_capacity: float = 5.0,
    conductivity: float = 0.5,
    names: tuple[str, str] = ("cation", "anion"),
) -> DimensionlessPNPF:
    """A binary monovalent electrolyte, by default with a moderately thin Debye layer (ε = 0.2)."""
    return DimensionlessPNPF(
        species_names=names,
        valences=(1.0, -1.0),
        frictions=frictions,
        eps=eps,
        heat_capacity=heat_capacity,
        conductivity=conductivity,
    )


def _bump(amplitude: float) -> SpaceTime:
    """1 + a sin(πx) sin(πy): a slightly non-uniform initial field on the unit square."""
    return SpaceTime(
        ufl=lambda x, t: 1.0 + amplitude * ufl.sin(ufl.pi * x[0]) * ufl.sin(ufl.pi * x[1]),
        numpy=lambda x, y, *_zt: 1.0 + amplitude * np.sin(math.pi * x) * np.sin(math.pi * y),
    )


def charging_cell(
    mesh: Any,
    voltage: Data = 2.0,
    model: DimensionlessPNPF | None = None,
    anode: str = "left",
    cathode: str = "right",
    bumps: bool = True,
) -> Problem:
    """ψ = 0 on `anode`, ψ = `voltage` on `cathode` (cf. (4.3)), no sources. With `bumps` the
    initial c^ℓ and T carry small sine bumps (so that nothing is uniform), else they are 1."""
    model = model or charging_model()
    names = model.species_names
    if bumps:
        initial = Initial(c={n: _bump(0.1 * (i + 1)) for i, n in enumerate(names)}, T=_bump(0.05))
    else:
        initial = Initial(c=dict.fromkeys(names, 1.0), T=1.0)
    conditions = (Potential(anode, 0.0), Potential(cathode, voltage))
    return Problem(model, mesh, conditions, initial)


def _exact(key: str, numpy_fn: Any) -> SpaceTime:
    return SpaceTime(ufl=lambda x, t: test_a.ufl_exact_fields(x, t)[key], numpy=numpy_fn)


def mms(mesh: Any, model: DimensionlessPNPF | None = None) -> Problem:
    """Test A (4.1)–(4.2) on the unit square with tags left/right/bottom/top; every species has
    c = c¹ of (4.2). The NumPy sources are those of (4.1) (every coefficient 1, z = (1, −1));
    the UFL ones follow `model` (default the same)."""
    model = model or DimensionlessPNPF.unit(test_a.VALENCES)
    ions, heat, rho = test_a.ufl_sources(model)
    numpy_ions = dict(zip(model.species_names, test_a.ion_sources(model.valences), strict=True))
    c0 = _exact("c", test_a.exact_c)
    conditions = (
        Potential("left", SpaceTime(ufl=_exact("psi", None).ufl, numpy=test_a.psi_dirichlet_left)),
        Potential(
            "right", SpaceTime(ufl=_exact("psi", None).ufl, numpy=test_a.psi_dirichlet_right)
        ),
        SurfaceCharge("bottom", 0.0),
        SurfaceCharge("top", 0.0),
    )
    sources = Sources(
        ions={n: SpaceTime(ufl=ions[n], numpy=numpy_ions[n]) for n in model.species_names},
        heat=SpaceTime(ufl=heat, numpy=test_a.heat_source(model.valences)),
    )
    initial = Initial(
        c=dict.fromkeys(model.species_names, c0), T=_exact("T", test_a.exact_temperature)
    )
    rho_f = SpaceTime(ufl=rho, numpy=test_a.fixed_charge)
    return Problem(model, mesh, conditions, initial, sources, rho_f)


def comb(
    mesh: Any, model: DimensionlessPNPF, psi_star: Data = 2.0, surface_charge: Data = 0.0
) -> Problem:
    """The comb supercapacitor (Fig. 3): ψ* on Γ2 ("gamma2"), 0 on Γ3, ψ^N on Γ1; c = T = 1."""
    conditions = (
        Potential("gamma2", psi_star),
        Potential("gamma3", 0.0),
        SurfaceCharge("gamma1", surface_charge),
    )
    initial = Initial(c=dict.fromkeys(model.species_names, 1.0), T=1.0)
    return Problem(model, mesh, conditions, initial)
