"""`pnpf-fem run CASE.toml [--output DIR] [--quiet] [--restart]`: one case file, one run folder.

Order of work: the case is read, the mesh built, its boundary tags and all parameters checked,
and the discretization set up (initial Poisson solve included) *before* anything is written, so
bad input exits with code 2 and leaves no output folder. Then the time loop runs with a fixed or
adaptive Δt and rank 0 writes, into one folder (default ``results/<case stem>``):

* ``observables.csv`` — every step (rewritten atomically every ``[output] every`` steps): ``step``,
  ``t_s``/``dt_s`` in seconds, then the dimensionless observables (t, dt, masses, S, S1, S2,
  min_c, min_T, currents, Newton iterations, wall time);
* ``summary.json`` — inputs, dimensionless numbers, scales (and which were chosen by default),
  versions, git commit, timings, Newton statistics, status;
* fields for ParaView — FEM: ``fields.bp`` (VTX, c^ℓ, ψ, T as P1); FV: ``fields.pvd`` + VTUs;
* ``observables.png`` (S, S1, S2, masses, min c, min T) and ``fields.png`` (final fields);
* ``checkpoint.npz`` every ``checkpoint_every`` steps and at the end (atomic); ``--restart``
  resumes from it (same case required) and reproduces the uninterrupted run exactly.

Adaptive stepping: after a step whose Newton count is at most `few_newton_iterations`, Δt grows
by ``growth`` (up to ``dt_max``, default the end time); a failed step is retried with Δt·``cut``;
below ``dt_min`` (default 1e-6 × the initial Δt) the run gives up with `SolverError` (exit 1).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pnpf_fem.adaptive import AdaptiveControl, AdaptiveResult, adaptive_run
from pnpf_fem.app.case import Case, load_case
from pnpf_fem.app.console import emit, emit_error
from pnpf_fem.app.output import RunDirectory, atomic_path, git_commit
from pnpf_fem.app.progress import TimeProgress
from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.meshing import TaggedTriangulation, conform_boundary, unit_square
from pnpf_fem.resolution import RESOLUTION_THRESHOLD, diffuse_layer_resolution
from pnpf_fem.timeloop import time_steps
from pnpf_fem.units import DimensionlessPNPF, nondimensionalize

__all__ = [
    "CHECKPOINT",
    "RunSetup",
    "build_triangulation",
    "few_newton_iterations",
    "prepare",
    "read_msh",
    "register",
    "run_case",
]

CHECKPOINT = "checkpoint.npz"


# -- mesh ---------------------------------------------------------------------------------------
def read_msh(path: str | Path) -> TaggedTriangulation:
    """A gmsh ``.msh`` file (2D, linear triangles) with *named* physical curve groups as tags.

    Coordinates are taken as dimensionless (in units of the case's ``length_scale``).
    """
    import gmsh

    path = Path(path)
    if not path.is_file():
        raise InputError(f"mesh file {str(path)!r} does not exist")
    initialized_here = not gmsh.isInitialized()
    if initialized_here:
        gmsh.initialize(["-noenv"], interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    try:
        try:
            gmsh.open(str(path))
        except Exception as err:
            raise InputError(f"mesh file {path}: gmsh cannot read it ({err})") from None
        node_tags, coords, _ = gmsh.model.mesh.getNodes()
        if node_tags.size == 0:
            raise InputError(f"mesh file {path} has no nodes")
        pts = coords.reshape(-1, 3)[:, :2]
        index = np.full(int(node_tags.max()) + 1, -1, dtype=np.int64)
        index[node_tags.astype(np.int64)] = np.arange(node_tags.size)
        etypes, _, enodes = gmsh.model.mesh.getElements(2)
        if 2 not in list(etypes):
            raise InputError(f"mesh file {path} has no linear triangles")
        tri = index[np.asarray(enodes[list(etypes).index(2)], dtype=np.int64).reshape(-1, 3)]
        facets, markers, names = [], [], {}
        for dim, tag in gmsh.model.getPhysicalGroups(1):
            name = gmsh.model.getPhysicalName(dim, tag) or f"tag{tag}"
            names[name] = int(tag)
            for curve in gmsh.model.getEntitiesForPhysicalGroup(dim, tag):
                ctypes, _, cnodes = gmsh.model.mesh.getElements(1, curve)
                for t, n in zip(ctypes, cnodes, strict=True):
                    if t == 1:
                        f = index[np.asarray(n, dtype=np.int64).reshape(-1, 2)]
                        facets.append(f)
                        markers.append(np.full(f.shape[0], tag, dtype=np.int32))
        if not names:
            raise InputError(f"mesh file {path} has no physical curve groups (boundary tags)")
    finally:
        gmsh.clear()
        if initialized_here:
            gmsh.finalize()
    used = np.unique(tri)
    new = np.full(pts.shape[0], -1, dtype=np.int64)
    new[used] = np.arange(used.size)
    fac = new[np.vstack(facets)]
    if np.any(fac < 0):
        raise InputError(f"mesh file {path}: tagged boundary edges use nodes of no triangle")
    try:
        return TaggedTriangulation(pts[used], new[tri], fac, np.concatenate(markers), names)
    except ValueError as err:
        raise InputError(f"mesh file {path}: {err}") from None


def build_triangulation(case: Case, finite_volumes: bool) -> TaggedTriangulation:
    """The case's mesh in dimensionless coordinates (FV: made Voronoi-admissible)."""
    m = case.mesh
    if m["builtin"] == "unit_square":
        tri = unit_square(m["n"], kind=m["kind"])
    elif m["builtin"] == "supercapacitor":
        from pnpf_fem.geometries.supercapacitor import CombElectrodes, supercapacitor_mesh

        geo = CombElectrodes(fingers=m["fingers"], branches=m["branches"])
        length_nm = case.parameters["length_scale"] * 1e9
        tri = supercapacitor_mesh(geo, m["size_min"], m["size_max"], length_scale_nm=length_nm)
    else:
        path = Path(m["file"])
        if not path.is_absolute():
            path = Path(case.source).parent / path
        tri = read_msh(path)
    if finite_volumes and m["builtin"] != "unit_square":
        tri = conform_boundary(tri)
    return tri


# -- set-up -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSetup:
    """A checked case in dimensionless form, ready to build a simulation."""

    case: Case
    tri: TaggedTriangulation
    model: DimensionlessPNPF
    dirichlet: dict[str, float]
    neumann: dict[str, float]
    initial_c: dict[str, float]
    t_end: float
    dt: float
    dt_min: float
    dt_max: float

    @property
    def method(self) -> str:
        return str(self.case.discretization["method"])

    @property
    def finite_volumes(self) -> bool:
        return self.method.startswith("fv")


def _comm() -> Any:
    from mpi4py import MPI

    return MPI.COMM_WORLD


def prepare(case: Case) -> RunSetup:
    """Mesh, tag check and the SI → dimensionless conversion (InputError on any problem)."""
    comm = _comm()
    fv = case.discretization["method"].startswith("fv")
    if fv and comm.size > 1:
        raise InputError("finite-volume methods run on one MPI rank; use a FEM method with MPI")
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
            tri
            if isinstance(tri, InputError) or tri is None
            else (tri.points, tri.triangles, tri.facets, tri.facet_markers, dict(tri.tag_names)),
            root=0,
        )
        tri = parts if isinstance(parts, InputError) else TaggedTriangulation(*parts)
    if isinstance(tri, InputError):
        raise tri
    case.check_tags(tri.tag_names)
    dirichlet, neumann = {}, {}
    for tag, bc in case.boundary.items():
        ((kind, value),) = bc.items()
        if kind == "potential":
            dirichlet[tag] = float(value) / sc.potential
        elif kind == "potential_thermal":
            dirichlet[tag] = float(value)
        else:
            neumann[tag] = float(value)
    tm = case.time
    t_end, dt = tm["end"] / sc.time, tm["dt"] / sc.time
    dt_min = (tm["dt_min"] / sc.time) if tm["dt_min"] else 1e-6 * dt
    dt_max = (tm["dt_max"] / sc.time) if tm["dt_max"] else t_end
    if tm["adaptive"] and dt_min > dt:
        raise InputError(f"{case.source}: [time] dt_min = {tm['dt_min']} exceeds dt = {tm['dt']}")
    c0 = params.reference_concentration
    initial_c = {s["name"]: s["initial_concentration"] / c0 for s in case.species}
    return RunSetup(case, tri, model, dirichlet, neumann, initial_c, t_end, dt, dt_min, dt_max)


def build_simulation(setup: RunSetup, outdir: Path) -> Any:
    """The FEM or FV simulation of `setup` at t = 0 (the initial Poisson problem solved)."""
    case, model = setup.case, setup.model
    solver = case.solver
    if setup.finite_volumes:
        from pnpf_fem.app.simulation import FVSimulation
        from pnpf_fem.fv import PNPFProblem, SchemeI, SchemeII, SolverControl, initial_state
        from pnpf_fem.fv.mesh import VoronoiMesh

        problem = PNPFProblem(
            VoronoiMesh.from_triangulation(setup.tri),
            model,
            dirichlet=setup.dirichlet,
            neumann=setup.neumann,
        )
        control = SolverControl(tol=solver["rtol"], max_iterations=solver["max_iterations"])
        scheme = (SchemeI if setup.method == "fv1" else SchemeII)(problem, control)
        state = initial_state(problem, [setup.initial_c[n] for n in model.species_names], 1.0)
        return FVSimulation(scheme, state, outdir)
    from pnpf_fem.app.simulation import FEMSimulation
    from pnpf_fem.fem import (
        DirichletBC,
        InitialState,
        NeumannBC,
        PNPFProblem,
        SolverOptions,
        from_triangulation,
        make_scheme,
    )

    comm = _comm()
    fmesh = from_triangulation(setup.tri, comm)
    options = SolverOptions(
        linear_solver=solver["linear"],
        rtol=solver["rtol"],
        atol=solver["atol"],
        max_it=solver["max_iterations"],
        petsc_options=dict(solver["petsc_options"] or {}),
    )
    if case.porous is not None:
        return build_porous_simulation(setup, fmesh, options, outdir)
    problem = PNPFProblem(
        model=model,
        mesh=fmesh,
        initial=InitialState(c=dict(setup.initial_c), T=1.0),
        dirichlet=[DirichletBC(t, v) for t, v in setup.dirichlet.items()],
        neumann=[NeumannBC(t, v) for t, v in setup.neumann.items()],
        degree=case.discretization["degree"],
    )
    scheme = make_scheme(setup.method, problem, options)
    return FEMSimulation(scheme, fmesh, setup.tri if comm.rank == 0 else None, outdir)


def porous_medium(case: Case, eps: float) -> Any:
    """The case's `EffectiveMedium`: the tensors file of [porous], with ε⁰ rescaled to ε².

    `pnpf-fem cell` solves the cell problems with the permittivities it is given (e.g. 80 and
    4.5); ε⁰ is homogeneous of degree one in them, so ε⁰ ε²/κ_electrolyte is the tensor for the
    case's dimensionless electrolyte permittivity ε² with the same contrast. M, D, Π and p do not
    depend on the scale.
    """
    from pnpf_fem.porous import EffectiveMedium

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
    from pnpf_fem.app.simulation import PorousSimulation
    from pnpf_fem.porous import MacroscaleSolver

    case, model = setup.case, setup.model
    medium = porous_medium(case, model.eps)
    if medium.dim != 2:
        raise InputError(f"{case.source}: [porous] tensors are {medium.dim}D; the mesh is 2D")
    z = dict(zip(model.species_names, model.valences, strict=True))
    cation = next(n for n in model.species_names if z[n] > 0)
    anion = next(n for n in model.species_names if z[n] < 0)
    solver = MacroscaleSolver(
        fmesh,
        medium,
        initial={"u1": setup.initial_c[cation], "u2": setup.initial_c[anion]},
        transport=case.porous["transport"],
        potential=dict(setup.dirichlet),
        displacement=dict(setup.neumann),
        options=options,
    )
    nu = model.frictions[model.species_names.index(cation)]
    return PorousSimulation(solver, fmesh, outdir, (cation, anion), model.eps / nu)


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
    data["time"] = {k: v for k, v in case.time.items() if k != "max_steps"}  # a bound only
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- plots --------------------------------------------------------------------------------------
def plot_observables(rows: list[dict[str, Any]], species: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([r["t_s"] for r in rows])
    panels = [
        ("entropy S", ["S"]),
        ("S1 (temperature part)", ["S1"]),
        ("S2 (ionic part)", ["S2"]),
        ("relative mass change", [f"mass_{n}" for n in species]),
        ("min c", ["min_c"]),
        ("min T", ["min_T"]),
        ("total charge", ["charge"]),
    ]
    # only what the model reports (the isothermal porous model has no T and no entropy)
    panels = [(title, keys) for title, keys in panels if all(k in rows[0] for k in keys)]
    if "S" in rows[0]:
        panels = [p for p in panels if p[0] != "total charge"]
    ncol = 3 if len(panels) > 4 else 2
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(4 * ncol, 3.25 * nrow), squeeze=False, constrained_layout=True
    )
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, keys) in zip(axes.ravel(), panels, strict=False):
        for k in keys:
            y = np.array([r[k] for r in rows], dtype=float)
            if k.startswith("mass_"):
                y = y / y[0] - 1.0
            ax.plot(t, y, marker=".", ms=3, label=k)
        ax.set_title(title)
        ax.set_xlabel("t [s]")
        if len(keys) > 1:
            ax.legend(fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def plot_fields(
    tri: TaggedTriangulation, fields: dict[str, np.ndarray], t_s: float, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.tri import Triangulation

    mtri = Triangulation(tri.points[:, 0], tri.points[:, 1], tri.triangles)
    n = len(fields)
    ncol = min(n, 2)
    nrow = math.ceil(n / ncol)
    xr = np.ptp(tri.points[:, 0]) / max(np.ptp(tri.points[:, 1]), 1e-300)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(5.2 * ncol * min(max(xr, 0.7), 2.0), 4.0 * nrow), squeeze=False
    )
    for ax, (name, vals) in zip(axes.ravel(), fields.items(), strict=False):
        im = ax.tripcolor(mtri, vals, shading="gouraud", cmap="viridis")
        ax.set_aspect("equal")
        ax.set_title(name)
        fig.colorbar(im, ax=ax, shrink=0.85)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(f"t = {t_s:.4g} s (x, y in units of L)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def fields_in_si(fields: dict[str, np.ndarray], scales: Any) -> dict[str, np.ndarray]:
    """Vertex fields for plots in SI units: c in mol/m³ (= mM), ψ in V, dT = T − T0 in K.

    The temperature of a run stays close to T0, so T itself would show as "300.0" everywhere;
    its rise is what a reader looks for. Names are ASCII: VTK's default font has no ψ or Δ.
    """
    if scales is None:
        return dict(fields)
    out: dict[str, np.ndarray] = {}
    for name, values in fields.items():
        v = np.asarray(values, dtype=float)
        if name == "T":
            out["dT [K]"] = (v - 1.0) * scales.temperature
        elif name == "psi":
            out["psi [V]"] = v * scales.potential
        elif name.startswith("c_"):
            out[f"{name} [mol/m3]"] = v * scales.concentration
        else:
            out[name] = v
    return out


# -- the run ------------------------------------------------------------------------------------
def pyvista_fields(
    tri: TaggedTriangulation, fields: dict[str, np.ndarray], t_s: float, path: Path
) -> str:
    """PyVista off-screen snapshot of the final fields; returns what was done (for the summary).

    Rendering needs an X display or Xvfb; without them the run goes on with the matplotlib
    `fields.png` and says so.
    """
    from pnpf_fem.app.snapshots import field_snapshot

    try:
        field_snapshot(tri, fields, path, title=f"t = {t_s:.4g} s")
    except (ImportError, RuntimeError) as err:
        return f"PyVista snapshot skipped: {err}"
    return f"PyVista snapshot {path.name}"


class _SimulationStepper:
    """`adaptive_run`'s stepper protocol over a FEM or FV simulation."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim

    @property
    def t(self) -> float:
        return self.sim.t

    def step(self, dt: float) -> dict[str, Any]:
        return self.sim.advance(dt)


def _row(obs: dict[str, Any], step: int, time_scale: float) -> dict[str, Any]:
    return {"step": step, "t_s": obs["t"] * time_scale, "dt_s": obs["dt"] * time_scale, **obs}


def run_case(
    case_path: str | Path,
    output: str | Path | None = None,
    quiet: bool = False,
    restart: bool = False,
) -> dict[str, Any]:
    """Run a case file; returns the summary (also written to ``summary.json``)."""
    wall0 = time.perf_counter()
    case = load_case(case_path)
    comm = _comm()
    writer = comm.rank == 0
    out = Path(output or case.output["directory"] or Path("results") / Path(case_path).stem)
    ckpt = out / CHECKPOINT
    if restart and not ckpt.is_file():
        raise InputError(f"--restart: no checkpoint {ckpt} (set [output] checkpoint_every)")
    setup = prepare(case)
    sim = build_simulation(setup, out)
    layers = resolution_report(setup)  # after every input check: a warning, not an error
    fingerprint = case_fingerprint(case)
    sc = setup.model.scales
    tau = sc.time if sc is not None else 1.0
    tm, oc = case.time, case.output
    adaptive = bool(tm["adaptive"])
    few = few_newton_iterations(case)

    step, dt = 0, setup.dt
    rows: list[dict[str, Any]]
    stats = {"accepted_steps": 0, "rejected_steps": 0, "newton_iterations": 0, "max_newton": 0}
    if restart:
        meta = sim.load_checkpoint(ckpt)
        if meta.get("fingerprint") != fingerprint:
            raise InputError(f"--restart: {ckpt} was written for a different case")
        step, dt, rows, stats = meta["step"], meta["dt_next"], meta["rows"], meta["stats"]
    else:
        rows = [_row(sim.initial_observables(), 0, tau)]
    setup_time = time.perf_counter() - wall0

    run_dir = RunDirectory(out, is_writer=writer)  # input checked: now outputs may appear
    suffix = f"_restart{step:06d}" if restart else ""
    fem = not setup.finite_volumes
    field_name = f"fields{suffix}.bp" if fem else f"fields{suffix}.pvd"
    output_time = 0.0

    def write_outputs(fields: bool) -> None:
        nonlocal output_time
        start = time.perf_counter()
        run_dir.write_csv("observables.csv", rows)
        if fields and oc["fields"]:
            sim.write_fields(sim.t * tau, field_name)
        output_time += time.perf_counter() - start

    def checkpoint() -> None:
        nonlocal output_time
        start = time.perf_counter()
        meta = {"fingerprint": fingerprint, "step": step, "dt_next": dt, "rows": rows}
        sim.save_checkpoint(ckpt, meta | {"stats": stats})
        output_time += time.perf_counter() - start

    def summary(status: str, error: str | None = None) -> dict[str, Any]:
        model = setup.model
        p = case.parameters
        return {
            "status": status,
            "error": error,
            "case": str(case_path),
            "output": str(out),
            "method": setup.method,
            "restarted": restart,
            "inputs": {
                k: getattr(case, k)
                for k in (
                    "mesh",
                    "species",
                    "parameters",
                    "boundary",
                    "time",
                    "discretization",
                    "solver",
                    "output",
                    "porous",
                )
            },
            "mesh": {
                "vertices": setup.tri.num_vertices,
                "triangles": int(setup.tri.triangles.shape[0]),
                "tags": dict(setup.tri.tag_names),
            },
            "dimensionless": {
                "eps": model.eps,
                "heat_capacity": model.heat_capacity,
                "conductivity": model.conductivity,
                "frictions": model.frictions,
                "valences": model.valences,
                "fixed_charge": model.fixed_charge,
                "initial_concentrations": setup.initial_c,
                "dirichlet_potentials": setup.dirichlet,
                "neumann_surface_charges": setup.neumann,
                "t_end": setup.t_end,
                "dt_initial": setup.dt,
                "dt_min": setup.dt_min if adaptive else None,
                "dt_max": setup.dt_max if adaptive else None,
            },
            "scales": asdict(sc) if sc is not None else None,
            "chosen_scales": {
                "reference_concentration": {
                    "value": sc.concentration if sc else None,
                    "stated": p["reference_concentration"] is not None,
                    "default": "initial concentration of the first species",
                },
                "friction_scale": {
                    "value": sc.friction if sc else None,
                    "stated": p["friction_scale"] is not None,
                    "default": "friction of the first species",
                },
                "length_scale": {"value": p["length_scale"], "stated": True},
                "reference_temperature": {"value": p["temperature"], "stated": True},
            },
            "newton": stats
            | {
                "mean_per_step": stats["newton_iterations"] / max(stats["accepted_steps"], 1),
                "few_iterations_threshold": few if adaptive else None,
            },
            "resolution": layers,
            "steps": step,
            "t_final_s": sim.t * tau,
            "final_observables": rows[-1],
            "timings_s": {
                "setup": setup_time,
                "output": output_time,
                "total": time.perf_counter() - wall0,
            },
            "environment": _environment(),
            "git_commit": git_commit(),
        }

    t_end = setup.t_end
    progress = None
    if sim.t < t_end * (1 - 1e-12):
        progress = TimeProgress(
            sim.t * tau, tm["end"], enabled=writer and not quiet, description=Path(case_path).stem
        )
    if not restart:
        write_outputs(fields=True)

    def record(obs: dict[str, Any]) -> None:
        nonlocal step
        step += 1
        its = int(obs["newton_iterations"])
        stats["accepted_steps"] += 1
        stats["newton_iterations"] += its
        stats["max_newton"] = max(stats["max_newton"], its)
        rows.append(_row(obs, step, tau))
        if progress is not None:
            progress.update(sim.t * tau, obs["dt"] * tau, its)
        if step % oc["every"] == 0:
            write_outputs(fields=True)
        if oc["checkpoint_every"] and step % oc["checkpoint_every"] == 0:
            checkpoint()

    try:
        if adaptive:

            def accept(obs: dict[str, Any], dt_next: float) -> None:
                nonlocal dt
                dt = dt_next  # what a checkpoint continues with
                record({k: v for k, v in obs.items() if k != "rejected"})

            control = AdaptiveControl(
                dt0=min(max(dt, setup.dt_min), setup.dt_max),
                dt_min=setup.dt_min,
                dt_max=setup.dt_max,
                grow=tm["growth"],
                cut=tm["cut"],
                easy_iterations=few,
                hard_iterations=max(few, int(case.solver["max_iterations"])) + 1,  # no shrink
                max_retries=10**9,  # cut until dt_min
                max_steps=max(tm["max_steps"] - step, 1),
            )
            counts = AdaptiveResult()
            rejected_before = stats["rejected_steps"]
            try:
                stepper = _SimulationStepper(sim)
                adaptive_run(stepper, t_end, control, callback=accept, result=counts)
            except SolverError as err:
                stats["rejected_steps"] = rejected_before + counts.rejected
                if err.reason == "max_steps":
                    raise SolverError(
                        f"max_steps = {tm['max_steps']} reached at t = {sim.t * tau:.6g} s "
                        f"before end = {tm['end']} s"
                    ) from err
                raise SolverError(
                    f"time step fell below dt_min = {setup.dt_min * tau:.3g} s at "
                    f"t = {sim.t * tau:.6g} s; last failure: {err}",
                    reason=err.reason,
                ) from err
            stats["rejected_steps"] = rejected_before + counts.rejected
        else:
            for h in time_steps(sim.t, dt, t_end=t_end):
                if step >= tm["max_steps"]:
                    raise SolverError(
                        f"max_steps = {tm['max_steps']} reached at t = {sim.t * tau:.6g} s "
                        f"before end = {tm['end']} s"
                    )
                record(sim.advance(h))
    except SolverError as err:
        if progress is not None:
            progress.close()
        write_outputs(fields=False)
        sim.close()
        run_dir.write_json("summary.json", summary("failed", str(err)))
        raise
    if progress is not None:
        progress.close()
    write_outputs(fields=step % oc["every"] != 0)
    if oc["checkpoint_every"]:
        checkpoint()
    plots_note = "plots disabled ([output] plots = false)"
    if oc["plots"]:
        plots_note = "plots written on rank 0"
        start = time.perf_counter()
        fields = fields_in_si(sim.vertex_fields(), sc)
        if writer:
            plot_observables(rows, sim.species_names, run_dir.file("observables.png"))
            plot_fields(setup.tri, fields, sim.t * tau, run_dir.file("fields.png"))
            plots_note = pyvista_fields(
                setup.tri, fields, sim.t * tau, run_dir.file("fields_pyvista.png")
            )
        output_time += time.perf_counter() - start
    sim.close()
    result = summary("completed")
    result["plots"] = plots_note
    run_dir.write_json("summary.json", result)
    return result


def _environment() -> dict[str, Any]:
    from pnpf_fem.app.info import environment_report

    return environment_report()


def _run(args: argparse.Namespace) -> int:
    result = run_case(args.case, output=args.output, quiet=args.quiet, restart=args.restart)
    if not args.quiet:
        emit(
            f"pnpf-fem run: {result['steps']} steps to t = {result['t_final_s']:.4g} s in "
            f"{result['timings_s']['total']:.1f} s; outputs in {result['output']}"
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help="run a case file (TOML): observables, fields, plots, summary, checkpoints"
    )
    p.add_argument("case", help="the case file, e.g. demos/charging.toml")
    p.add_argument(
        "--output",
        default=None,
        help="output folder (default: [output] directory or results/<case stem>)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or final message")
    p.add_argument("--restart", action="store_true", help="resume from the folder's checkpoint")
    p.set_defaults(func=_run)
