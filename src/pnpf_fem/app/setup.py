"""From a validated case to a simulation at t = 0: mesh, tags, scaling, discretization, time.

Everything here can fail with `InputError` and nothing here writes a file: `pnpf-fem run` and
`pnpf-fem compare` call these before any output appears.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from pnpf_fem.app.case import STERN_KEYS, Case, waveform_from
from pnpf_fem.app.console import emit_error
from pnpf_fem.app.simulation import FEMSimulation, FVSimulation, PorousSimulation
from pnpf_fem.errors import InputError
from pnpf_fem.fem.build import build_scheme as fem_scheme
from pnpf_fem.fem.mesh import from_triangulation
from pnpf_fem.fem.snes import SolverOptions
from pnpf_fem.fv.build import build_scheme as fv_scheme
from pnpf_fem.fv.solver import SolverControl
from pnpf_fem.gmsh_io import read_gmsh_file
from pnpf_fem.homogenization.cells import make_cell
from pnpf_fem.integrate import AdaptiveSteps, ErrorControl, FixedSteps, PseudoTransient
from pnpf_fem.meshing import TaggedTriangulation, conform_boundary, mark_region, unit_square
from pnpf_fem.meshing3d import TaggedTetrahedra, box
from pnpf_fem.model import (
    Concentration,
    Condition,
    HeatFlux,
    HeatTransfer,
    Initial,
    Potential,
    Problem,
    Reaction,
    Stern,
    SurfaceCharge,
    Temperature,
    Waveform,
    in_units,
)
from pnpf_fem.porous.build import build_macroscale, build_upscaled_pnpf, ion_pair, time_factor
from pnpf_fem.porous.macroscale import EffectiveMedium
from pnpf_fem.porous.upscaled_heat import HeatMedium, effective_conductivity
from pnpf_fem.resolution import RESOLUTION_THRESHOLD, diffuse_layer_resolution
from pnpf_fem.units import (
    AVOGADRO,
    BOLTZMANN,
    ELEMENTARY_CHARGE,
    DimensionlessPNPF,
    nondimensionalize,
    surface_charge_scale,
)

FARADAY = ELEMENTARY_CHARGE * AVOGADRO  # C/mol
GAS_CONSTANT = BOLTZMANN * AVOGADRO  # J/(mol K)

__all__ = [
    "RunSetup",
    "build_simulation",
    "build_triangulation",
    "case_fingerprint",
    "few_newton_iterations",
    "prepare",
    "read_msh",
    "resolution_report",
    "time_control",
]


# -- mesh ---------------------------------------------------------------------------------------
def read_msh(path: str | Path) -> TaggedTriangulation | TaggedTetrahedra:
    """A gmsh ``.msh`` file — 2D (linear triangles, *named* physical curves as tags) or 3D
    (linear tetrahedra, named physical surfaces as tags) — with named physical surfaces (2D) or
    volumes (3D) as regions. Coordinates are dimensionless (in units of the case's
    ``length_scale``)."""
    mesh = read_gmsh_file(path)
    return mesh.to_triangulation() if mesh.dim == 2 else mesh.to_tetrahedra()


def build_triangulation(case: Case, finite_volumes: bool) -> TaggedTriangulation | TaggedTetrahedra:
    """The case's mesh in dimensionless coordinates (FV in 2D: made Voronoi-admissible)."""
    m = case.mesh
    if m["builtin"] == "unit_square":
        tri: TaggedTriangulation | TaggedTetrahedra = unit_square(m["n"], kind=m["kind"])
    elif m["builtin"] == "box":
        tri = box(m["n"])
    elif m["builtin"] == "supercapacitor":
        from pnpf_fem.geometries.supercapacitor import CombElectrodes, supercapacitor_mesh

        geo = CombElectrodes(fingers=m["fingers"], branches=m["branches"])
        length_nm = case.parameters["length_scale"] * 1e9
        tri = supercapacitor_mesh(geo, m["size_min"], m["size_max"], length_scale_nm=length_nm)
    elif m["builtin"] == "comb3d":
        from pnpf_fem.geometries.comb3d import Comb3D, comb3d_mesh

        length_nm = case.parameters["length_scale"] * 1e9
        sizes = (m["size_min"] / length_nm, m["size_max"] / length_nm)
        tri = comb3d_mesh(Comb3D(fingers=m["fingers"]), *sizes)
    else:
        path = Path(m["file"])
        if not path.is_absolute():
            path = Path(case.source).parent / path
        tri = read_msh(path)
    if tri.dim == 3 and case.porous is not None:
        raise InputError("a 3D mesh needs a FEM method: the porous model runs in 2D only")
    if finite_volumes and tri.dim == 2 and m["builtin"] != "unit_square":
        tri = conform_boundary(tri)  # (3D: the admissibility check says what is wrong)
    return tri


# -- set-up -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSetup:
    """A checked case in dimensionless form: the `Problem` and the time stepping."""

    case: Case
    tri: TaggedTriangulation | TaggedTetrahedra
    problem: Problem
    t_end: float
    dt: float
    dt_min: float
    dt_max: float

    @property
    def model(self) -> DimensionlessPNPF:
        return self.problem.model

    def _peak(self, value: Any) -> float:
        """A number, or the value of largest magnitude a waveform takes up to t_end."""
        if not callable(value):
            return float(value)
        times = [0.0, self.t_end, *value.corners(self.t_end), *np.linspace(0, self.t_end, 257)]
        return float(max((value(t) for t in times), key=abs))

    @property
    def dirichlet(self) -> dict[str, float]:
        """The potentials (waveforms: their peak values, for estimates and the summary)."""
        return {t: self._peak(v) for t, v in self.problem.potentials.items()}

    @property
    def neumann(self) -> dict[str, float]:
        return {t: self._peak(v) for t, v in self.problem.surface_charges.items()}

    @property
    def initial_c(self) -> dict[str, float]:
        return {n: float(v) for n, v in self.problem.initial.c.items()}

    @property
    def method(self) -> str:
        return str(self.case.discretization["method"])

    @property
    def finite_volumes(self) -> bool:
        return self.method.startswith("fv")


def _comm() -> Any:
    return MPI.COMM_WORLD


def prepare(case: Case) -> RunSetup:
    """Mesh, tag check and the SI → dimensionless conversion (InputError on any problem)."""
    comm = _comm()
    fv = case.discretization["method"].startswith("fv")
    try:
        params = case.physical_parameters()
    except ValueError as err:
        raise InputError(f"{case.source}: {err}") from None
    model = nondimensionalize(params)
    sc = model.scales
    if sc is None:
        raise InputError("nondimensionalize returned no scales")
    if comm.rank == 0:
        try:
            tri: Any = build_triangulation(case, fv)
        except (InputError, ValueError, RuntimeError) as err:
            tri = InputError(f"{case.source}: [mesh] {err}")
    else:
        tri = None
    if comm.size > 1:  # a TaggedTriangulation holds a mappingproxy: send its parts
        parts = comm.bcast(
            tri if isinstance(tri, InputError) or tri is None else tri.parts(),
            root=0,
        )
        tri = parts if isinstance(parts, InputError) else _mesh_from_parts(parts)
    if isinstance(tri, InputError):
        raise tri
    case.check_tags(tri.tag_names)
    case.check_regions(tri.region_names)
    tri = _mark_boxes(case, tri)
    c0 = params.reference_concentration
    problem = Problem(
        model,
        tri,
        conditions(
            case,
            sc.potential,
            surface_charge_scale(sc),
            sc.time,
            sc.concentration,
            thermal_units(case, model, sc),
        ),
        Initial(c={s["name"]: s["initial_concentration"] / c0 for s in case.species}, T=1.0),
        region_charges={name: r["fixed_charge"] / c0 for name, r in case.regions.items()},
    )
    tm = case.time
    t_end, dt = tm["end"] / sc.time, tm["dt"] / sc.time
    dt_min = (tm["dt_min"] / sc.time) if tm["dt_min"] else 1e-6 * dt
    dt_max = (tm["dt_max"] / sc.time) if tm["dt_max"] else t_end
    if tm["adaptive"] and dt_min > dt:
        raise InputError(f"{case.source}: [time] dt_min = {tm['dt_min']} exceeds dt = {tm['dt']}")
    _check_waveforms(problem, case, dt_min if tm["adaptive"] else dt, sc.time)
    return RunSetup(case, tri, problem, t_end, dt, dt_min, dt_max)


def _mesh_from_parts(parts: tuple) -> TaggedTriangulation | TaggedTetrahedra:
    """The mesh rank 0 sent as `parts()`: 2D or 3D by the points' dimension."""
    return (TaggedTriangulation if parts[0].shape[1] == 2 else TaggedTetrahedra)(*parts)


def _mark_boxes(
    case: Case, tri: TaggedTriangulation | TaggedTetrahedra
) -> TaggedTriangulation | TaggedTetrahedra:
    """The regions given by a box in the case marked on the mesh (same on every rank)."""
    for name, spec in case.regions.items():
        if spec["box"] is not None and tri.dim == 3:
            raise InputError(
                f"{case.source}: [regions.{name}] box marks 2D meshes; in 3D name a physical "
                "volume of the gmsh file"
            )
        if spec["box"] is not None:
            try:
                tri = mark_region(tri, name, tuple(spec["box"]))
            except InputError as err:
                raise InputError(f"{case.source}: [regions.{name}] {err}") from None
    return tri


def conditions(
    case: Case,
    volt: float,
    sigma: float = 1.0,
    tau: float = 1.0,
    c0: float = 1.0,
    thermal: dict[str, float] | None = None,
) -> list[Condition]:
    """The [boundary] tables as condition objects: potentials in units of k_B T0/e (volt: its
    value in V), surface charges in units of F c0 L (sigma: its value in C/m²), waveforms in
    units of τ (tau: its value in s)."""
    units = {"potential": volt, "potential_thermal": 1.0, "surface_charge": 1.0}
    units["surface_charge_density"] = sigma
    thermal = thermal or {"temperature": 1.0, "heat_flux": 1.0, "biot": 1.0}
    units |= {"temperature": thermal["temperature"], "heat_flux": thermal["heat_flux"]}
    out: list[Condition] = []
    for tag, bc in case.boundary.items():
        stern = stern_thickness(case, bc)
        for kind, value in bc.items():
            if kind in STERN_KEYS:  # taken up with the potential
                continue
            if kind == "concentrations":  # mol/m³ → units of c0
                out += [Concentration(tag, v / c0, name) for name, v in value.items()]
                continue
            if kind == "reaction":
                out.append(reaction(case, tag, value, volt, tau, c0))
                continue
            if kind == "heat_transfer":
                h, ambient = value["coefficient"], value["ambient"] / thermal["temperature"]
                out.append(HeatTransfer(tag, h * thermal["biot"], ambient=ambient))
                continue
            if isinstance(value, dict):
                wave = waveform_from(value, case.source, f"boundary.{tag} {kind}")
                data: Any = in_units(wave, tau, units[kind])
            else:
                data = float(value) / units[kind]
            cls = {"temperature": Temperature, "heat_flux": HeatFlux}.get(kind)
            cls = cls or (Potential if kind.startswith("potential") else SurfaceCharge)
            if cls is Potential and stern is not None:
                out.append(Stern(tag, data, thickness=stern))
            else:
                out.append(cls(tag, data))
    return out


def reaction(
    case: Case, tag: str, spec: dict[str, Any], volt: float, tau: float, c0: float
) -> Reaction:
    """The [boundary.<tag>] reaction in scaled units: the exchange current density i₀ [A/m²]
    becomes the exchange rate k₀ = i₀/(n F) (anodic events, mol/(m² s)) in units of c0 L/τ,
    E_eq [V] thermal volts, c_ref [mol/m³] units of c0 (default c0), ΔS [J/(mol K)] units of R
    (k_B per event)."""
    valence = next(s["valence"] for s in case.species if s["name"] == spec["species"])
    electrons = spec["stoichiometry"] * valence
    flux = spec["exchange_current_density"] / (electrons * FARADAY)  # mol/(m² s)
    length = case.parameters["length_scale"]
    c_ref = spec["reference_concentration"]
    return Reaction(
        tag,
        flux * tau / (c0 * length),
        spec["species"],
        stoichiometry=spec["stoichiometry"],
        alpha=spec["alpha"],
        equilibrium=spec["equilibrium_potential"] / volt,
        reference=1.0 if c_ref is None else c_ref / c0,
        entropy=spec["entropy"] / GAS_CONSTANT,
    )


def stern_thickness(case: Case, bc: dict[str, Any]) -> float | None:
    """λ_S/L of the tag's Stern layer, if any: given in m, or from its capacitance
    C_S = ε_r ε₀ / λ_S in F/m² (the layer has the electrolyte's permittivity)."""
    p = case.parameters
    if "stern_thickness" in bc:
        return bc["stern_thickness"] / p["length_scale"]
    if "stern_capacitance" in bc:
        permittivity = p["relative_permittivity"] * p["vacuum_permittivity"]
        return permittivity / bc["stern_capacitance"] / p["length_scale"]
    return None


def thermal_units(case: Case, model: DimensionlessPNPF, sc: Any) -> dict[str, float]:
    """SI values of one unit of T, of a heat flux and of a heat-transfer coefficient.

    The scaled heat equation has k̃ ∂T̃/∂ñ = q̃ at a wall where k ∂T/∂n = q (SI): with T = T0 T̃
    and x = L x̃, q̃ = q L k̃ / (T0 k), and h(T_a − T) gives h̃ = h L k̃ / k (a Biot number × k̃).
    """
    k_si = case.parameters["thermal_conductivity"]
    unit_flux = sc.temperature * k_si / (sc.length * model.conductivity)
    return {
        "temperature": sc.temperature,
        "heat_flux": unit_flux,
        "biot": 1.0 / (unit_flux / sc.temperature),
    }


def _check_waveforms(problem: Problem, case: Case, dt_min: float, tau: float) -> None:
    """A waveform must not change faster than the smallest step can follow."""
    for c in problem.conditions:
        corners = c.value.corners(math.inf) if isinstance(c.value, Waveform) else []
        gaps = np.diff(corners) if len(corners) > 1 else []
        if len(gaps) and float(np.min(gaps)) < dt_min:
            raise InputError(
                f"{case.source}: [boundary.{c.tag}] the waveform's corners are "
                f"{float(np.min(gaps)) * tau:.3g} s apart, shorter than the smallest step "
                f"{dt_min * tau:.3g} s"
            )


def build_simulation(setup: RunSetup, outdir: Path) -> Any:
    """The FEM, FV or porous simulation of `setup` at t = 0 (the initial Poisson problem solved)."""
    solver = setup.case.solver
    if setup.finite_volumes:
        linear = {"lu": "splu"}.get(solver["linear"], solver["linear"])  # MUMPS on several ranks
        control = SolverControl(
            tol=solver["rtol"], max_iterations=solver["max_iterations"], linear_solver=linear
        )
        scheme = fv_scheme(setup.problem, setup.method, control, comm=_comm())
        return FVSimulation(scheme, outdir, setup.tri)
    comm = _comm()
    fmesh = from_triangulation(setup.tri, comm)
    options = SolverOptions(
        linear_solver=solver["linear"],
        rtol=solver["rtol"],
        atol=solver["atol"],
        max_it=solver["max_iterations"],
        petsc_options=dict(solver["petsc_options"] or {}),
    )
    if setup.case.porous is not None:
        return build_porous_simulation(setup, fmesh, options, outdir)
    degree = setup.case.discretization["degree"]
    scheme = fem_scheme(setup.problem, setup.method, degree, options, mesh=fmesh)
    return FEMSimulation(scheme, fmesh, setup.tri if comm.rank == 0 else None, outdir)


def _tensors_file(case: Case) -> tuple[Path, dict[str, Any]]:
    """The path and content of the [porous] tensors JSON (InputError if unusable)."""
    path = Path(case.porous["tensors"])
    if not path.is_absolute():
        path = Path(case.source).parent / path
    if not path.is_file():
        raise InputError(f"{case.source}: [porous] tensors file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{case.source}: [porous] tensors {path} is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise InputError(f"{case.source}: [porous] tensors {path} must hold a JSON object")
    return path, data


def porous_heat(case: Case, model: DimensionlessPNPF, porosity: float, factor: float) -> Any:
    """The `HeatMedium` of a [porous] case with heat = true, in the upscaled solver's units.

    The cell of the tensors file is meshed again (shape, porosity, mesh size as `pnpf-fem cell`
    recorded them) and its conductivity problem solved with the electrolyte's and the solid's
    conductivities (`effective_conductivity`); K and C scale as the case's k̃ and C̃_T, and the
    solver's time unit (τ/factor) divides k̃ by `factor` (docs/porous_heating.md)."""
    path, data = _tensors_file(case)
    spec = {k: data.get(k) for k in ("shape", "target_porosity", "mesh_size", "dim")}
    if not all(spec.values()):
        missing = [k for k, v in spec.items() if not v]
        raise InputError(f"{case.source}: [porous] tensors {path} lacks {missing[0]!r}")
    cell = make_cell(spec["shape"], spec["target_porosity"], spec["mesh_size"], dim=spec["dim"])
    k_e = case.parameters["thermal_conductivity"]
    k_s = case.porous["solid_thermal_conductivity"]
    K = effective_conductivity(cell, k_e, k_s) * (model.conductivity / k_e / factor)
    solid = case.porous["solid_heat_capacity"] / model.scales.concentration  # as C̃_T
    return HeatMedium(model.heat_capacity, solid, conductivity=K, porosity=porosity)


def porous_medium(case: Case, eps: float) -> Any:
    """The case's `EffectiveMedium`: the tensors file of [porous], with ε⁰ rescaled to ε².

    `pnpf-fem cell` solves the cell problems with the permittivities it is given (e.g. 80 and
    4.5); ε⁰ is homogeneous of degree one in them, so ε⁰ ε²/κ_electrolyte is the tensor for the
    case's dimensionless electrolyte permittivity ε² with the same contrast. M, D, Π and p do not
    depend on the scale.
    """
    path, data = _tensors_file(case)
    kf = data.get("electrolyte_permittivity")
    if not isinstance(kf, (int, float)) or not kf > 0:
        raise InputError(
            f"{case.source}: [porous] tensors {path} lacks a positive 'electrolyte_permittivity' "
            "(write it with pnpf-fem cell)"
        )
    transport = case.porous["transport"]
    need = "tortuosity" if transport == "perforated" else "M"
    if not data.get(need):
        raise InputError(
            f"{case.source}: [porous] transport = {transport!r} needs {need!r} in {path}"
        )
    eps_eff = (np.asarray(data.get("eps_eff", []), dtype=float) * (eps**2 / kf)).tolist()
    try:
        return EffectiveMedium.from_dict(data | {"eps_eff": eps_eff})
    except InputError as err:
        raise InputError(f"{case.source}: [porous] tensors {path}: {err}") from None


def build_porous_simulation(setup: RunSetup, fmesh: Any, options: Any, outdir: Path) -> Any:
    """The upscaled porous-medium PNP system of a case with a [porous] section (isothermal)."""
    solver = porous_solver(setup, setup.problem, fmesh, options)
    problem = setup.problem
    return PorousSimulation(solver, fmesh, outdir, ion_pair(problem), time_factor(problem))


def porous_solver(setup: RunSetup, problem: Problem, fmesh: Any, options: Any) -> Any:
    """The upscaled solver of a [porous] case for `problem` (the case's, or its DC bias): PNP
    (`MacroscaleSolver`) or, with heat = true, PNPF (`UpscaledPNPF`)."""
    case = setup.case
    medium = porous_medium(case, setup.model.eps)
    try:
        if case.porous["heat"]:
            heat = porous_heat(case, setup.model, medium.porosity, time_factor(problem))
            source = case.porous["heat_source"]
            return build_upscaled_pnpf(problem, medium, heat, source, fmesh, options)
        return build_macroscale(problem, medium, case.porous["transport"], fmesh, options)
    except InputError as err:
        raise InputError(f"{case.source}: [porous] {err}") from None


def resolution_report(setup: RunSetup) -> dict[str, Any]:
    """The diffuse-layer resolution estimate for summary.json; warns (rank 0) when unresolved."""
    model = setup.model
    layers = diffuse_layer_resolution(
        setup.tri,
        model.eps,
        model.valences,
        [setup.initial_c[n] for n in model.species_names],
        setup.dirichlet,
        setup.neumann,
    )
    poor = [r for r in layers if not r.resolved]
    if poor:
        worst = min(poor, key=lambda r: r.ratio)
        emit_error(
            f"pnpf-fem: warning: the mesh does not resolve the diffuse layer at "
            f"{worst.tag!r}: local Debye length {worst.debye_length:.3g} L, cell height "
            f"{worst.mesh_size:.3g} L (ratio {worst.ratio:.3g} < {RESOLUTION_THRESHOLD}); "
            "refine the mesh there, or the results are not meaningful"
        )
    return {
        "threshold": RESOLUTION_THRESHOLD,
        "resolved": not poor,
        "tags": [asdict(r) for r in layers],
    }


def few_newton_iterations(case: Case) -> int:
    """Δt grows after a step with at most this many Newton iterations (fem1: two solves)."""
    per_solve = max(3, case.solver["max_iterations"] // 5)
    return per_solve * (2 if case.discretization["method"] == "fem1" else 1)


def case_fingerprint(case: Case) -> str:
    """Hash of everything but [output] and max_steps: a checkpoint restarts only its own case."""
    data = {
        k: getattr(case, k)
        for k in ("mesh", "species", "parameters", "boundary", "time", "discretization", "solver")
    }
    if case.regions:  # (absent from older fingerprints, so their checkpoints still restart)
        data["regions"] = case.regions
    data["time"] = {k: v for k, v in case.time.items() if k != "max_steps"}  # a bound only
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def time_control(
    setup: RunSetup, max_steps: int, dt: float | None = None
) -> FixedSteps | AdaptiveSteps | ErrorControl | PseudoTransient:
    """The case's [time] stepping for `integrate`, from step size `dt` (default: the case's)."""
    case = setup.case
    tm = case.time
    dt = setup.dt if dt is None else dt
    if tm["steady"]:
        return PseudoTransient(dt0=dt, tol=tm["steady_tol"], max_steps=max_steps)
    if not tm["adaptive"]:
        return FixedSteps(dt, max_steps=max_steps)
    if tm["rtol"] or tm["atol"]:  # error control; the Newton-count controller is the fallback
        rtol = tm["rtol"] or 0.0
        return ErrorControl(
            dt0=min(max(dt, setup.dt_min), setup.dt_max),
            dt_min=setup.dt_min,
            dt_max=setup.dt_max,
            rtol=rtol,
            atol=tm["atol"] if tm["atol"] else rtol,
            max_steps=max_steps,
        )
    few = few_newton_iterations(case)
    return AdaptiveSteps(
        dt0=min(max(dt, setup.dt_min), setup.dt_max),
        dt_min=setup.dt_min,
        dt_max=setup.dt_max,
        grow=tm["growth"],
        cut=tm["cut"],
        easy_iterations=few,
        hard_iterations=max(few, int(case.solver["max_iterations"])) + 1,  # no shrink
        max_retries=10**9,  # cut until dt_min
        max_steps=max_steps,
    )
