"""An FV scheme from a `pnpf_fem.model.Problem`: the one factory of the FV discretization."""

from __future__ import annotations

from typing import Any

import numpy as np

from pnpf_fem.errors import InputError
from pnpf_fem.fv.mesh import VoronoiMesh, box_fractions
from pnpf_fem.fv.partition import Partition, owners_from_dolfinx
from pnpf_fem.fv.problem import ElectrodeReaction, PNPFProblem, SpaceTimeFunction, initial_state
from pnpf_fem.fv.scheme1 import SchemeI
from pnpf_fem.fv.scheme2 import SchemeII
from pnpf_fem.fv.scheme_base import FVScheme
from pnpf_fem.fv.scheme_bdf2 import SchemeBDF2
from pnpf_fem.fv.solver import SolverControl
from pnpf_fem.model import (
    Concentration,
    Data,
    HeatFlux,
    HeatTransfer,
    Potential,
    Problem,
    Reaction,
    SpaceTime,
    Stern,
    SurfaceCharge,
    Temperature,
)

__all__ = ["build_scheme", "fv_problem", "fv_value"]

SCHEMES = {"fv1": SchemeI, "fv2": SchemeII, "fv-bdf2": SchemeBDF2}
# the conditions the FV schemes impose: all of `pnpf_fem.model.conditions`
TAKEN = (
    Potential,
    SurfaceCharge,
    Stern,
    Concentration,
    Temperature,
    HeatFlux,
    HeatTransfer,
    Reaction,
)


def fv_value(value: Data) -> SpaceTimeFunction | float:
    """A datum as the FV code takes it: a number or f(x, y[, z], t) on vertex arrays."""
    if isinstance(value, SpaceTime):
        return value.numpy
    if callable(value):
        return lambda *xt: value(xt[-1])
    return float(value)


def fv_problem(
    problem: Problem, mesh: VoronoiMesh | None = None, partition: Partition | None = None
) -> PNPFProblem:
    """The FV form of `problem` (on the Voronoi mesh of `problem.mesh` unless given; with a
    `partition`, on the rank's local mesh)."""
    if partition is not None:
        mesh = partition.voronoi_mesh()
    unsupported = [type(c).__name__ for c in problem.conditions if not isinstance(c, TAKEN)]
    if unsupported:
        raise InputError(
            "the FV schemes take potentials, surface charges, Stern layers, reservoirs, thermal "
            f"boundaries and electrode reactions, not {unsupported[0]} (it needs a FEM method)"
        )
    names = problem.model.species_names
    ions, heat = None, None
    if problem.sources is not None:
        given = problem.sources.ions
        ions = [fv_value(given[n]) if n in given else None for n in names]
        heat = None if problem.sources.heat is None else fv_value(problem.sources.heat)
    rho = None if problem.fixed_charge is None else _field(fv_value(problem.fixed_charge))
    if problem.region_charges:
        mesh = mesh if mesh is not None else VoronoiMesh.from_triangulation(problem.mesh)
        rho = _region_charge(problem, mesh)
    return PNPFProblem(
        mesh if mesh is not None else VoronoiMesh.from_triangulation(problem.mesh),
        problem.model,
        dirichlet={t: fv_value(v) for t, v in problem.potentials.items()},
        neumann={t: fv_value(v) for t, v in problem.surface_charges.items()},
        fixed_charge=rho,
        ion_sources=ions,
        heat_source=heat,
        stern={s.tag: (fv_value(s.value), float(s.thickness)) for s in problem.sterns},
        reactions=_reactions(problem),
        **_ion_and_heat_boundaries(problem),
        partition=partition,
    )


def _reactions(problem: Problem) -> list[ElectrodeReaction]:
    """The Butler–Volmer reactions with their species' index, n = s z and the electrode's
    potential (of the tag's `Potential` or `Stern` condition)."""
    names, z = problem.model.species_names, problem.model.valences
    electrodes = {**problem.potentials, **{s.tag: s.value for s in problem.sterns}}
    out = []
    for rx in problem.reactions:
        ell = names.index(rx.species)
        out.append(
            ElectrodeReaction(
                tag=rx.tag,
                species=ell,
                rate_constant=float(rx.value),
                electrons=float(rx.stoichiometry * z[ell]),
                stoichiometry=float(rx.stoichiometry),
                potential=fv_value(electrodes[rx.tag]),
                alpha=float(rx.alpha),
                equilibrium=float(rx.equilibrium),
                log_reference=float(np.log(rx.reference)),
                entropy=float(rx.entropy),
            )
        )
    return out


def _ion_and_heat_boundaries(problem: Problem) -> dict[str, dict]:
    """Reservoirs and thermal boundaries as `PNPFProblem` takes them (by tag name)."""
    reservoirs: dict[str, dict[str, SpaceTimeFunction | float]] = {}
    for c in problem.concentrations:
        reservoirs.setdefault(c.tag, {})[c.species] = fv_value(c.value)
    out: dict[str, dict] = {
        "reservoirs": reservoirs,
        "temperature": {},
        "heat_flux": {},
        "heat_transfer": {},
    }
    for c in problem.thermal:
        if isinstance(c, Temperature):
            out["temperature"][c.tag] = fv_value(c.value)
        elif isinstance(c, HeatFlux):
            out["heat_flux"][c.tag] = fv_value(c.value)
        elif isinstance(c, HeatTransfer):
            out["heat_transfer"][c.tag] = (float(c.value), float(c.ambient))
    return out


def _region_charge(problem: Problem, mesh: VoronoiMesh) -> SpaceTimeFunction:
    """ρ^f averaged over each box: the regions' charges on their parts of the box, the
    background (`fixed_charge` or the model's) on the rest — the exact box integral of the
    piecewise constant ρ^f that the FEM integrates with vertex quadrature."""
    background = fv_value(
        problem.fixed_charge if problem.fixed_charge is not None else problem.model.fixed_charge
    )
    outside = np.ones(mesh.num_vertices)
    charge = np.zeros(mesh.num_vertices)
    for name, value in problem.region_charges.items():
        share = box_fractions(mesh, mesh.tri.cells_of(name))
        outside -= share
        charge += value * share

    def rho(*xt):
        bg = background(*xt) if callable(background) else background
        return outside * bg + charge

    return rho


def _field(value: SpaceTimeFunction | float) -> SpaceTimeFunction:
    return value if callable(value) else (lambda *xt: value)


def build_scheme(
    problem: Problem,
    method: str,
    control: SolverControl | None = None,
    mesh: VoronoiMesh | None = None,
    partition: Partition | None = None,
    comm: Any = None,
) -> FVScheme:
    """Scheme I ("fv1"), II ("fv2") or BDF2 ("fv-bdf2") for `problem`, holding its initial
    state (t = 0). On a communicator of several ranks (`comm`) the vertices are distributed as
    DOLFINx distributes the FEM's (`pnpf_fem.fv.partition`), unless a `partition` is given."""
    if method not in SCHEMES:
        raise InputError(f"unknown FV method {method!r} (choose from {', '.join(SCHEMES)})")
    if partition is None and comm is not None and comm.size > 1:
        tri = problem.mesh
        partition = Partition.from_owners(tri, owners_from_dolfinx(tri, comm), comm)
    fvp = fv_problem(problem, mesh, partition)
    c0 = [fv_value(problem.initial.c[n]) for n in problem.model.species_names]
    state = initial_state(fvp, c0, fv_value(problem.initial.T))
    return SCHEMES[method](fvp, control, state)
