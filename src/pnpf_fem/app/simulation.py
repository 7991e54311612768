"""One interface for a running FEM or FV simulation, as the `run` command drives it.

`Simulation` (FEM: `FEMSimulation`, FV: `FVSimulation`, the upscaled porous-medium model of a
case with a [porous] section: `PorousSimulation`) hides the discretization behind

* ``t`` (dimensionless time), ``initial_observables()``, ``step(dt) -> StepRecord`` — the
  `pnpf_fem.integrate.Stepper` contract: a failed step raises `SolverError` and leaves the state
  untouched;
* ``save_checkpoint(path, meta)`` / ``load_checkpoint(path) -> meta`` — exact state (bitwise),
  written atomically as a NumPy ``.npz`` by rank 0; `meta` is a JSON-ready dict stored alongside;
* ``write_fields(t_seconds)`` / ``close()`` — ParaView files (FEM: VTX ``.bp`` of c^ℓ, ψ, T as P1
  functions; FV: one ``.vtu`` per output plus a ``.pvd`` time collection);
* ``vertex_fields()`` — (name → values at the triangulation's vertices) for plots.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pnpf_fem.app.output import atomic_write_text
from pnpf_fem.errors import InputError
from pnpf_fem.integrate import StepRecord
from pnpf_fem.meshing import TaggedTriangulation
from pnpf_fem.meshing3d import TaggedTetrahedra

__all__ = ["FEMSimulation", "FVSimulation", "PorousSimulation", "Simulation", "atomic_savez"]


class Simulation(Protocol):
    t: float
    species_names: tuple[str, ...]

    def initial_observables(self) -> StepRecord: ...

    def step(self, dt: float) -> StepRecord: ...

    def save_checkpoint(self, path: Path, meta: dict[str, Any]) -> None: ...

    def load_checkpoint(self, path: Path) -> dict[str, Any]: ...

    def write_fields(self, t_seconds: float) -> None: ...

    def vertex_fields(self) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


def atomic_savez(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """`np.savez` to a temporary file in the same folder, fsync, then an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"no checkpoint to restart from: {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise InputError(f"checkpoint {path} is unreadable: {err}") from None
    if "meta" not in arrays:
        raise InputError(f"checkpoint {path} has no metadata")
    return arrays, json.loads(str(arrays.pop("meta")))


def _check_shape(path: Path, name: str, arr: np.ndarray, shape: tuple[int, ...]) -> None:
    if arr.shape != shape:
        raise InputError(
            f"checkpoint {path}: {name} has shape {arr.shape}, the case needs {shape} "
            "(was it written for another mesh or method?)"
        )


class _ErrorControlled:
    """What `integrate.ErrorControl` needs (with `comm`), passed on to the solver in
    the attribute named by `_core_name`."""

    _core_name = "scheme"

    @property
    def _core(self) -> Any:
        return getattr(self, self._core_name)

    @property
    def order(self) -> int:
        return int(getattr(self._core, "order", 1))

    def snapshot(self) -> Any:
        return self._core.snapshot()

    def restore(self, snapshot: Any) -> None:
        self._core.restore(snapshot)

    def state_vector(self) -> np.ndarray:
        return self._core.state_vector()

    def forget_history(self) -> None:
        """Make the next step a one-step (backward-Euler) step (`integrate.PseudoTransient`)."""
        forget = getattr(self._core, "forget_history", None)
        if forget is not None:
            forget()


class _P1Fields:
    """Field output shared by the DOLFINx simulations: `_p1` maps a name to a P1 Function and
    the Expression interpolated into it; `fmesh`, `comm` and `outdir` are set by the owner."""

    _p1: dict[str, tuple[Any, Any]]
    _writer: Any = None

    def _update_p1(self) -> None:
        for f, expr in self._p1.values():
            f.interpolate(expr)

    def write_fields(self, t_seconds: float, name: str = "fields.bp") -> None:
        from dolfinx.io import VTXWriter

        self._update_p1()
        if self._writer is None:
            funcs = [f for f, _ in self._p1.values()]
            self._writer = VTXWriter(self.comm, str(self.outdir / name), funcs, engine="BP4")
        self._writer.write(t_seconds)

    def vertex_fields(self) -> dict[str, np.ndarray]:
        from pnpf_fem.fem.mesh import gather_vertex_values

        self._update_p1()
        return {n: gather_vertex_values(self.fmesh, f) for n, (f, _) in self._p1.items()}

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class FEMSimulation(_P1Fields, _ErrorControlled):
    """A DOLFINx scheme (`pnpf_fem.fem.make_scheme`) on the mesh built from `tri`."""

    def __init__(
        self,
        scheme: Any,
        fmesh: Any,
        tri: TaggedTriangulation | TaggedTetrahedra | None,
        outdir: Path,
    ):
        from dolfinx import fem

        from pnpf_fem.compat import interpolation_points, lagrange_space

        self.scheme = scheme
        self.fmesh = fmesh
        self.tri = tri  # on rank 0 (plots); may be None elsewhere
        self.outdir = outdir
        self.comm = fmesh.comm
        self.species_names = tuple(scheme.problem.model.species_names)
        V1 = lagrange_space(fmesh.mesh, 1)
        c, psi, T = scheme.fields()
        exprs = {**{f"c_{n}": e for n, e in zip(self.species_names, c, strict=True)}}
        exprs |= {"psi": psi, "T": T}
        self._p1: dict[str, tuple[Any, Any]] = {}
        for name, e in exprs.items():
            f = fem.Function(V1, name=name)
            self._p1[name] = (f, fem.Expression(e, interpolation_points(V1)))
        self._writer: Any = None

    @property
    def t(self) -> float:
        return float(self.scheme.t)

    def initial_observables(self) -> StepRecord:
        return self.scheme.initial_observables()

    def step(self, dt: float) -> StepRecord:
        return self.scheme.step(dt)

    # -- checkpoints -------------------------------------------------------------------------------
    def _vertex_map(self) -> tuple[np.ndarray, np.ndarray]:
        """(local dof, input vertex) pairs of every local cell's P1 dofs (ghosts included)."""
        V = self.scheme.W
        domain = self.fmesh.mesh
        cell_dofs = np.asarray(V.dofmap.list).ravel()
        cell_nodes = np.asarray(domain.geometry.dofmap).ravel()
        return cell_dofs, self.fmesh.input_vertex[cell_nodes]

    def save_checkpoint(self, path: Path, meta: dict[str, Any]) -> None:
        """P1: the state's vertex values by input vertex (any number of ranks can read them).
        P2: each rank's raw dof array (restart on the same number of ranks)."""
        from dolfinx import fem

        from pnpf_fem.fem.mesh import gather_vertex_values

        u = self.scheme.u
        bs = self.scheme.W.dofmap.index_map_bs
        # the state, and the previous one the Newton predictor extrapolates from (so that a
        # restarted run takes the same Newton iterates as the uninterrupted one)
        states = {"": u}
        history = self.scheme.last_step
        if history is not None:
            states["previous_"] = fem.Function(self.scheme.W)
            states["previous_"].x.array[:] = history[0]
            meta = dict(meta, dt_previous=history[1])
        arrays: dict[str, np.ndarray] = {}
        for prefix, f in states.items():
            if self.scheme.problem.degree == 1:
                arrays[f"{prefix}vertex_state"] = np.column_stack(
                    [gather_vertex_values(self.fmesh, f, i) for i in range(bs)]
                )
            else:
                n = self.scheme.W.dofmap.index_map.size_local * bs
                parts = self.comm.gather(f.x.array[:n].copy(), root=0)
                if self.comm.rank == 0:
                    arrays |= {f"{prefix}rank{r}": p for r, p in enumerate(parts)}
        meta = dict(meta, t=self.t, ranks=self.comm.size, degree=self.scheme.problem.degree)
        if self.comm.rank == 0:
            atomic_savez(path, arrays, meta)
        self.comm.barrier()

    def load_checkpoint(self, path: Path) -> dict[str, Any]:
        arrays, meta = _load_npz(path)
        s = self.scheme
        if s.problem.degree == 2 and meta.get("ranks") != self.comm.size:
            raise InputError(
                f"checkpoint {path} of a degree-2 run was written on {meta.get('ranks')} "
                f"ranks; restart it on as many"
            )
        self._load_state(path, arrays, "", s.u.x.array)
        s.restart_from(float(meta["t"]))
        if "dt_previous" in meta:  # the Newton predictor's history (checkpoints since 2026-11)
            previous = s.u.x.array.copy()
            self._load_state(path, arrays, "previous_", previous)
            s.last_step = (previous, float(meta["dt_previous"]))
        return meta

    def _load_state(self, path: Path, arrays: dict, prefix: str, out: np.ndarray) -> None:
        """The state stored under `prefix` into the local dof array `out` (ghosts included)."""
        s = self.scheme
        bs = s.W.dofmap.index_map_bs
        if s.problem.degree == 1:
            vals = arrays.get(f"{prefix}vertex_state")
            if vals is None:
                raise InputError(f"checkpoint {path} holds no P1 vertex state")
            _check_shape(path, "vertex_state", vals, (self.fmesh.num_input_vertices, bs))
            dofs, verts = self._vertex_map()
            out.reshape(-1, bs)[dofs] = vals[verts]
        else:
            n = s.W.dofmap.index_map.size_local * bs
            part = arrays[f"{prefix}rank{self.comm.rank}"]
            _check_shape(path, "state", part, (n,))
            out[:n] = part
            if prefix:  # ghosts of the history: from their owners
                from dolfinx import fem

                f = fem.Function(s.W)
                f.x.array[:] = out
                f.x.scatter_forward()
                out[:] = f.x.array


class FVSimulation(_ErrorControlled):
    """A finite-volume scheme (`SchemeI`/`SchemeII`/`SchemeBDF2`) and its immutable state, on
    one rank or several (`pnpf_fem.fv.partition`: each rank holds its local vertices; fields
    and checkpoints are gathered to whole-mesh vertex arrays, written by rank 0)."""

    def __init__(
        self, scheme: Any, outdir: Path, tri: TaggedTriangulation | TaggedTetrahedra | None = None
    ) -> None:
        self.scheme = scheme  # holds the current state
        self.outdir = outdir
        self.problem = scheme.problem
        self.partition = self.problem.partition
        self.tri: TaggedTriangulation | TaggedTetrahedra = (
            tri if tri is not None else self.problem.mesh.tri
        )
        self.species_names = tuple(self.problem.params.species_names)
        self._series: list[tuple[float, str]] = []
        self._pvd_name = "fields.pvd"

    @property
    def comm(self) -> Any:
        return self.scheme.comm

    @property
    def _writer(self) -> bool:
        return self.comm is None or self.comm.rank == 0

    def _whole(self, values: np.ndarray) -> np.ndarray:
        """Whole-mesh vertex values of local ones (collective on several ranks)."""
        return values if self.partition is None else self.partition.gather(values)

    def _local(self, whole: np.ndarray) -> np.ndarray:
        return whole if self.partition is None else self.partition.scatter(whole)

    @property
    def state(self) -> Any:
        return self.scheme.state

    @property
    def t(self) -> float:
        return self.scheme.t

    def initial_observables(self) -> StepRecord:
        return self.scheme.initial_observables()

    def step(self, dt: float) -> StepRecord:
        return self.scheme.step(dt)

    def save_checkpoint(self, path: Path, meta: dict[str, Any]) -> None:
        s = self.state
        arrays = {"c": s.c, "psi": s.psi, "T": s.T}
        previous = getattr(self.scheme, "previous", None)  # fv-bdf2's history
        if previous is not None:
            arrays |= {"c_previous": previous.c, "psi_previous": previous.psi}
            arrays |= {"T_previous": previous.T}
            meta = dict(meta, t_previous=previous.t, dt_previous=self.scheme.dt_previous)
        arrays = {key: self._whole(value) for key, value in arrays.items()}
        if self._writer:
            atomic_savez(path, arrays, dict(meta, t=s.t))
        if self.comm is not None:
            self.comm.barrier()

    def load_checkpoint(self, path: Path) -> dict[str, Any]:
        from pnpf_fem.fv.problem import FVState

        arrays, meta = _load_npz(path)
        n, m = self.tri.num_vertices, len(self.species_names)
        for key, shape in (("c", (m, n)), ("psi", (n,)), ("T", (n,))):
            if key not in arrays:
                raise InputError(f"checkpoint {path} lacks {key!r} (not an FV checkpoint?)")
            _check_shape(path, key, arrays[key], shape)
        local = {key: self._local(value) for key, value in arrays.items()}
        self.scheme.start(FVState(float(meta["t"]), local["c"], local["psi"], local["T"]))
        if "c_previous" in arrays and hasattr(self.scheme, "previous"):  # BDF2 goes on as BDF2
            shapes = {"c_previous": (m, n), "psi_previous": (n,), "T_previous": (n,)}
            for key, shape in shapes.items():
                _check_shape(path, key, arrays[key], shape)
            self.scheme.previous = FVState(
                float(meta["t_previous"]),
                local["c_previous"],
                local["psi_previous"],
                local["T_previous"],
            )
            self.scheme.dt_previous = float(meta["dt_previous"])
        return meta

    def vertex_fields(self) -> dict[str, np.ndarray]:
        """name → whole-mesh vertex values (collective on several ranks)."""
        s = self.state
        out = {f"c_{n}": s.c[i] for i, n in enumerate(self.species_names)}
        return {key: self._whole(value) for key, value in (out | {"psi": s.psi, "T": s.T}).items()}

    def write_fields(self, t_seconds: float, name: str = "fields.pvd") -> None:
        """One VTU per call (meshio) and the ParaView collection `name` listing them (rank 0)."""
        import meshio

        fields = self.vertex_fields()
        if not self._writer:
            return
        self._pvd_name = name
        stem = Path(name).stem
        folder = self.outdir / stem
        folder.mkdir(parents=True, exist_ok=True)
        fname = f"{stem}/{stem}_{len(self._series):06d}.vtu"
        pts = self.tri.points
        if pts.shape[1] == 2:
            pts = np.column_stack([pts, np.zeros(self.tri.num_vertices)])
        kind = "triangle" if self.tri.dim == 2 else "tetra"
        mesh = meshio.Mesh(pts, [(kind, self.tri.cells)], point_data=fields)
        tmp = self.outdir / f".{Path(fname).name}.tmp.vtu"
        mesh.write(tmp)
        os.replace(tmp, self.outdir / fname)
        self._series.append((t_seconds, fname))
        entries = "\n".join(
            f'    <DataSet timestep="{t!r}" part="0" file="{f}"/>' for t, f in self._series
        )
        atomic_write_text(
            self.outdir / name,
            '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n  <Collection>\n'
            f"{entries}\n  </Collection>\n</VTKFile>\n",
        )

    def close(self) -> None:
        pass


class PorousSimulation(_P1Fields, _ErrorControlled):
    """The upscaled porous-medium PNP system (`pnpf_fem.porous.MacroscaleSolver`, isothermal)
    or PNPF system (`pnpf_fem.porous.upscaled_heat.UpscaledPNPF`, with T).

    The case's dimensionless time t (units τ of `units.nondimensionalize`) maps to the solver's
    time (units L²ν/(k_BT)) by t_solver = (ε/ν̃) t, ε = λ_D/L and ν̃ the species' common scaled
    friction, so the upscaled equations p∂u/∂t = div(F(u, ψ)), −div(ε⁰∇ψ) = p(u¹ − u²) with
    ε⁰ ∝ ε² are the case's PNP equations in the porous medium. Observables use the case's names:
    mass_<species> = ∫ p c (the storage quadrature), min_c, charge; with heat also S (the
    upscaled entropy), joule, min_T and max_dT.
    """

    _core_name = "solver"

    def __init__(
        self, solver: Any, fmesh: Any, outdir: Path, species: tuple[str, str], time_factor: float
    ) -> None:
        from dolfinx import fem

        from pnpf_fem.compat import interpolation_points, lagrange_space

        self.solver = solver
        self.fmesh = fmesh
        self.outdir = outdir
        self.comm = fmesh.comm
        self.species_names = species  # (cation, anion) = (u1, u2)
        self.time_factor = float(time_factor)
        V1 = lagrange_space(fmesh.mesh, 1)
        names = (f"c_{species[0]}", f"c_{species[1]}", "psi")
        fields = list(solver.fields())
        self.heat = hasattr(solver, "temperature")  # the upscaled PNPF system
        if self.heat:
            names, fields = (*names, "T"), [*fields, solver.temperature()]
        self._p1 = {
            n: (fem.Function(V1, name=n), fem.Expression(e, interpolation_points(V1)))
            for n, e in zip(names, fields, strict=True)
        }
        self.bs = solver.W.dofmap.index_map_bs
        self._writer: Any = None

    @property
    def t(self) -> float:
        return float(self.solver.t) / self.time_factor

    def _record(self, raw: Mapping[str, Any], dt: float, its: int, wall: float) -> StepRecord:
        a, b = self.species_names
        quantities = {
            f"mass_{a}": raw["amount_u1"],
            f"mass_{b}": raw["amount_u2"],
            "min_c": min(raw["min_u1"], raw["min_u2"]),
            "charge": raw["charge"],
        }
        if self.heat:
            quantities |= {"S": raw["entropy"], "joule": raw["joule"], "min_T": raw["min_T"]}
            quantities["max_dT"] = raw["max_T"] - 1.0
        return StepRecord(self.t, dt, its, wall, quantities)

    def initial_observables(self) -> StepRecord:
        return self._record(self.solver.observables(), 0.0, 0, 0.0)

    def step(self, dt: float) -> StepRecord:
        rec = self.solver.step(dt * self.time_factor)
        return self._record(rec.quantities, dt, rec.newton_iterations, rec.wall_time)

    def save_checkpoint(self, path: Path, meta: dict[str, Any]) -> None:
        from pnpf_fem.fem.mesh import gather_vertex_values

        state = np.column_stack(
            [gather_vertex_values(self.fmesh, self.solver.u, i) for i in range(self.bs)]
        )
        if self.comm.rank == 0:
            atomic_savez(path, {"vertex_state": state}, dict(meta, t=self.t))
        self.comm.barrier()

    def load_checkpoint(self, path: Path) -> dict[str, Any]:
        arrays, meta = _load_npz(path)
        vals = arrays.get("vertex_state")
        if vals is None:
            raise InputError(f"checkpoint {path} holds no vertex state")
        _check_shape(path, "vertex_state", vals, (self.fmesh.num_input_vertices, self.bs))
        domain = self.fmesh.mesh
        cols = self.solver.u.x.array.reshape(-1, self.bs)
        dofs = np.asarray(self.solver.W.dofmap.list).ravel()
        cols[dofs] = vals[self.fmesh.input_vertex[np.asarray(domain.geometry.dofmap).ravel()]]
        self.solver.u.x.scatter_forward()
        self.solver.u_n.x.array[:] = self.solver.u.x.array
        self.solver.t = float(meta["t"]) * self.time_factor
        return meta
