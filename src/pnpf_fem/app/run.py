"""`pnpf-fem run CASE.toml [--output DIR] [--quiet] [--restart]`: one case file, one run folder.

Order of work: the case is read, the mesh built, its boundary tags and all parameters checked,
and the discretization set up (initial Poisson solve included) *before* anything is written, so
bad input exits with code 2 and leaves no output folder (`pnpf_fem.app.setup`). Then
`pnpf_fem.integrate.integrate` runs the time loop with a fixed or adaptive Δt, and a
`RunRecorder` (its observer) writes, on rank 0, into one folder (default ``results/<case stem>``):

* ``observables.csv`` — every step (rewritten atomically every ``[output] every`` steps): ``step``,
  ``t_s``/``dt_s`` in seconds, then the dimensionless observables (t, dt, masses, S, S1, S2,
  min_c, min_T, currents, Newton iterations, wall time);
* ``summary.json`` — inputs, dimensionless numbers, scales (and which were chosen by default),
  the diffuse-layer resolution check, versions, git commit, timings, Newton statistics, status;
* fields for ParaView — FEM: ``fields.bp`` (VTX, c^ℓ, ψ, T as P1); FV: ``fields.pvd`` + VTUs;
* ``observables.png`` (S, S1, S2, masses, min c, min T) and ``fields.png`` / ``fields_pyvista.png``
  (final fields in SI units);
* ``checkpoint.npz`` every ``checkpoint_every`` steps and at the end (atomic); ``--restart``
  resumes from it (same case required) and reproduces the uninterrupted run exactly.

Adaptive stepping: after a step whose Newton count is at most `few_newton_iterations`, Δt grows
by ``growth`` (up to ``dt_max``, default the end time); a failed step is retried with Δt·``cut``;
below ``dt_min`` (default 1e-6 × the initial Δt) the run gives up with `SolverError` (exit 1).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mpi4py import MPI

from pnpf_fem.app.case import Case, load_case
from pnpf_fem.app.console import emit, emit_error
from pnpf_fem.app.info import environment_report
from pnpf_fem.app.output import RunDirectory, git_commit
from pnpf_fem.app.plots import fields_in_si, plot_fields, plot_observables, pyvista_fields
from pnpf_fem.app.progress import TimeProgress
from pnpf_fem.app.setup import (
    RunSetup,
    build_simulation,
    case_fingerprint,
    few_newton_iterations,
    prepare,
    resolution_report,
    time_control,
)
from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.integrate import (
    ErrorControl,
    Integration,
    PseudoTransient,
    StepFailure,
    StepRecord,
    integrate,
)

__all__ = ["CHECKPOINT", "RunRecorder", "register", "run_case"]

CHECKPOINT = "checkpoint.npz"


def _row(
    obs: StepRecord, step: int, time_scale: float, keep: tuple[str, ...] | None
) -> dict[str, Any]:
    """A CSV row; `keep` ([output] quantities) selects the quantity columns (None: all)."""
    row = {"step": step, "t_s": obs.t * time_scale, "dt_s": obs.dt * time_scale}
    for key, value in obs.items():
        if keep is None or key in ("t", "dt", "newton_iterations", "wall_time"):
            row[key] = value
        elif key in keep or (
            key.split("_", 1)[0] in ("mass", "charge", "current", "faradaic")
            and (key.split("_", 1)[0] in keep)
        ):
            row[key] = value
    return row


class RunRecorder:
    """The observer of a run: rows, CSV and field output, checkpoints, progress, statistics."""

    def __init__(
        self,
        sim: Any,
        setup: RunSetup,
        run_dir: RunDirectory,
        resolution: dict[str, Any],
        restart: bool = False,
        quiet: bool = False,
    ) -> None:
        case = setup.case
        self.sim, self.setup, self.run_dir = sim, setup, run_dir
        self.output = case.output
        self.keep = tuple(case.output["quantities"]) if case.output["quantities"] else None
        sc = setup.model.scales
        self.tau = sc.time if sc is not None else 1.0
        self.fingerprint = case_fingerprint(case)
        self.step, self.dt_next = 0, setup.dt
        self.rows: list[dict[str, Any]] = []
        self.stats = {"accepted_steps": 0, "rejected_steps": 0, "newton_iterations": 0}
        self.stats["max_newton"] = 0
        self.output_time = 0.0
        self.resolution = resolution
        self.restart, self.quiet = restart, quiet
        self.first_step = 0  # a restarted run writes its fields to a file of its own
        self.progress: TimeProgress | None = None
        self.steady: dict[str, Any] | None = None  # a [time] steady = true run's outcome

    @property
    def field_name(self) -> str:
        suffix = f"_restart{self.first_step:06d}" if self.restart else ""
        return f"fields{suffix}.pvd" if self.setup.finite_volumes else f"fields{suffix}.bp"

    def resume(self, meta: dict[str, Any]) -> None:
        """Continue the counters of the run a checkpoint was written by."""
        if meta.get("fingerprint") != self.fingerprint:
            raise InputError(f"--restart: {self.run_dir.path / CHECKPOINT} is of another case")
        self.step, self.dt_next = meta["step"], meta["dt_next"]
        self.rows, self.stats = meta["rows"], meta["stats"]
        self.first_step = self.step

    def start(self, initial: StepRecord | None) -> None:
        """Record the initial state (a fresh run) and open the progress bar."""
        t_end = self.setup.t_end
        if self.sim.t < t_end * (1 - 1e-12) and not self.setup.case.time["steady"]:
            self.progress = TimeProgress(
                self.sim.t * self.tau,
                self.setup.case.time["end"],
                enabled=self.run_dir.is_writer and not self.quiet,
                description=Path(self.setup.case.source).stem,
            )
        if initial is not None:
            self.rows.append(_row(initial, 0, self.tau, self.keep))
            self.write_outputs(fields=True)

    def __call__(self, record: StepRecord, dt_next: float) -> None:
        self.step += 1
        self.dt_next = dt_next  # what a checkpoint continues with
        its = record.newton_iterations
        self.stats["accepted_steps"] += 1
        self.stats["newton_iterations"] += its
        self.stats["max_newton"] = max(self.stats["max_newton"], its)
        self.rows.append(_row(record, self.step, self.tau, self.keep))
        if self.progress is not None:
            self.progress.update(record.t * self.tau, record.dt * self.tau, its)
        if self.step % self.output["every"] == 0:
            self.write_outputs(fields=True)
        if self.output["checkpoint_every"] and self.step % self.output["checkpoint_every"] == 0:
            self.checkpoint()

    def write_outputs(self, fields: bool) -> None:
        start = time.perf_counter()
        self.run_dir.write_csv("observables.csv", self.rows)
        if fields and self.output["fields"]:
            self.sim.write_fields(self.sim.t * self.tau, self.field_name)
        self.output_time += time.perf_counter() - start

    def checkpoint(self) -> None:
        start = time.perf_counter()
        meta = {"fingerprint": self.fingerprint, "step": self.step, "dt_next": self.dt_next}
        meta |= {"rows": self.rows, "stats": self.stats}
        self.sim.save_checkpoint(self.run_dir.path / CHECKPOINT, meta)
        self.output_time += time.perf_counter() - start

    def finish(self, failed: bool) -> None:
        """Close the progress bar and write what the run has (fields only at a clean end)."""
        if self.progress is not None:
            self.progress.close()
        self.write_outputs(fields=not failed and self.step % self.output["every"] != 0)
        if not failed and self.output["checkpoint_every"]:
            self.checkpoint()

    def plots(self) -> str:
        """The final plots on rank 0; returns what was done (for the summary)."""
        if not self.output["plots"]:
            return "plots disabled ([output] plots = false)"
        start = time.perf_counter()
        fields = fields_in_si(self.sim.vertex_fields(), self.setup.model.scales)
        note = "plots written on rank 0"
        if self.run_dir.is_writer:
            t_s, tri = self.sim.t * self.tau, self.setup.tri
            plot_observables(
                self.rows, self.sim.species_names, self.run_dir.file("observables.png")
            )
            if tri.dim == 2:  # a 3D mesh has no flat matplotlib view: PyVista clips it
                plot_fields(tri, fields, t_s, self.run_dir.file("fields.png"))
            note = pyvista_fields(tri, fields, t_s, self.run_dir.file("fields_pyvista.png"))
        self.output_time += time.perf_counter() - start
        return note


def _steady_state_warning(rec: RunRecorder) -> str | None:
    """Modified Crank–Nicolson (fem2, fv2) does not damp the stiff modes of thin layers: when a
    run with it has come close to a steady state (the entropy no longer changes), say so."""
    if rec.setup.method not in ("fem2", "fv2") or len(rec.rows) < 6 or "S" not in rec.rows[0]:
        return None
    s = [r["S"] for r in rec.rows]
    total = abs(s[-1] - s[0])
    if total == 0 or abs(s[-1] - s[-6]) > 1e-6 * total:
        return None
    remedy = "fv-bdf2 (or fv1)" if rec.setup.method == "fv2" else "fem-bdf2 (or fem1, fem-be)"
    return (
        f"pnpf-fem: warning: {rec.setup.method} (modified Crank–Nicolson) is near a steady state "
        f"here and does not damp the stiff modes of thin layers: use {remedy} "
        "to approach equilibria (docs/case_files.md, [discretization])"
    )


def _inputs(case: Case) -> dict[str, Any]:
    names = ("mesh", "species", "parameters", "boundary", "time", "discretization", "solver")
    return {k: getattr(case, k) for k in (*names, "output", "porous")}


def _dimensionless(setup: RunSetup) -> dict[str, Any]:
    model, adaptive = setup.model, bool(setup.case.time["adaptive"])
    return {
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
    }


def _chosen_scales(setup: RunSetup) -> dict[str, Any]:
    p, sc = setup.case.parameters, setup.model.scales
    return {
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
    }


def _newton_endings(sim: Any) -> dict[str, Any]:
    """How the FEM Newton solves ended (SNES reasons); a note when some ended on the step-size
    test, i.e. with a residual above the tolerances (its round-off floor): the masses are then
    conserved to that residual, not to the tolerance."""
    solvers = getattr(getattr(sim, "scheme", None), "nonlinear_solvers", [])
    reasons: dict[str, int] = {}
    for solver in solvers:
        for name, count in getattr(solver, "converged_reasons", {}).items():
            reasons[name] = reasons.get(name, 0) + count
    if not reasons:
        return {}
    out: dict[str, Any] = {"converged_reasons": reasons}
    # which linear solver each Newton solver used ("auto" decides by size; MUMPS after GMRES
    # failed)
    out["linear_solvers"] = {s.prefix: s.linear for s in solvers if hasattr(s, "linear")}
    if reasons.get("CONVERGED_SNORM_RELATIVE"):
        out["note"] = (
            f"{reasons['CONVERGED_SNORM_RELATIVE']} solve(s) ended on the step-size test "
            "(update at round-off) before the residual reached rtol/atol"
        )
    return out


def run_summary(
    rec: RunRecorder, status: str, error: str | None, timings: dict[str, float]
) -> dict[str, Any]:
    """The content of summary.json."""
    setup, stats = rec.setup, rec.stats
    few = few_newton_iterations(setup.case) if setup.case.time["adaptive"] else None
    sc = setup.model.scales
    return {
        "status": status,
        "error": error,
        "case": setup.case.source,
        "output": str(rec.run_dir.path),
        "method": setup.method,
        "restarted": rec.restart,
        "inputs": _inputs(setup.case),
        "mesh": {
            "dimension": setup.tri.dim,
            "vertices": setup.tri.num_vertices,
            ("triangles" if setup.tri.dim == 2 else "tetrahedra"): int(setup.tri.cells.shape[0]),
            "tags": dict(setup.tri.tag_names),
            "regions": dict(setup.tri.region_names),
        },
        "dimensionless": _dimensionless(setup),
        "scales": asdict(sc) if sc is not None else None,
        "chosen_scales": _chosen_scales(setup),
        "resolution": rec.resolution,
        "steady": rec.steady,
        "newton": stats
        | {
            "mean_per_step": stats["newton_iterations"] / max(stats["accepted_steps"], 1),
            "few_iterations_threshold": few,
        }
        | _newton_endings(rec.sim),
        "steps": rec.step,
        "t_final_s": rec.sim.t * rec.tau,
        "final_observables": rec.rows[-1],
        "timings_s": timings | {"output": rec.output_time},
        "environment": environment_report(),
        "git_commit": git_commit(),
    }


def _integrate(rec: RunRecorder) -> None:
    """The time loop; a `SolverError` says in SI units where and why the run stopped."""
    setup, tau = rec.setup, rec.tau
    tm = setup.case.time
    control = time_control(setup, max(tm["max_steps"] - rec.step, 1), rec.dt_next)
    counts = Integration()
    t_end = math.inf if isinstance(control, PseudoTransient) else setup.t_end
    try:
        stops = setup.problem.corners(setup.t_end)  # waveform corners: no step across a kink
        integrate(rec.sim, t_end, control, stops=stops, observers=[rec], result=counts)
        if isinstance(control, PseudoTransient):
            rec.steady = {"converged": counts.converged, "rate": counts.rate, "tol": control.tol}
    except SolverError as err:
        where = f"at t = {rec.sim.t * tau:.6g} s"
        if err.reason == "max_steps":
            msg = f"max_steps = {tm['max_steps']} reached {where} before end = {tm['end']} s"
            raise SolverError(msg) from err
        if isinstance(err, StepFailure):  # the same story in seconds
            msg = (
                f"the step {where} failed {err.retries} time(s) with dt from "
                f"{err.dt_first * tau:.3g} s down to {err.dt_last * tau:.3g} s "
                f"(dt_min = {setup.dt_min * tau:.3g} s); first failure: {err.first}"
            )
            if str(err.last) != str(err.first):
                msg += f"; last failure: {err.last}"
        else:
            msg = f"step failed {where}: {err}"
        failure = SolverError(msg)
        failure.reason = err.reason  # already in the message: not appended again
        raise failure from err
    finally:
        rec.stats["rejected_steps"] += counts.rejected
        if isinstance(control, ErrorControl):  # Σ of the local error estimates, max norm
            estimate = rec.stats.get("estimated_time_error", 0.0) + counts.error_estimate
            rec.stats["estimated_time_error"] = estimate


def run_case(
    case_path: str | Path,
    output: str | Path | None = None,
    quiet: bool = False,
    restart: bool = False,
) -> dict[str, Any]:
    """Run a case file; returns the summary (also written to ``summary.json``)."""
    wall0 = time.perf_counter()
    case = load_case(case_path)
    out = Path(output or case.output["directory"] or Path("results") / Path(case_path).stem)
    if restart and not (out / CHECKPOINT).is_file():
        raise InputError(
            f"--restart: no checkpoint {out / CHECKPOINT} (set [output] checkpoint_every)"
        )
    setup = prepare(case)
    sim = build_simulation(setup, out)
    resolution = resolution_report(setup)  # after every input check: a warning, not an error
    run_dir = RunDirectory(out, is_writer=MPI.COMM_WORLD.rank == 0)
    rec = RunRecorder(sim, setup, run_dir, resolution, restart, quiet)
    if restart:
        rec.resume(sim.load_checkpoint(out / CHECKPOINT))
    setup_time = time.perf_counter() - wall0
    rec.start(None if restart else sim.initial_observables())
    try:
        _integrate(rec)
    except SolverError as err:
        rec.finish(failed=True)
        sim.close()
        timings = {"setup": setup_time, "total": time.perf_counter() - wall0}
        rec.run_dir.write_json("summary.json", run_summary(rec, "failed", str(err), timings))
        raise
    rec.finish(failed=False)
    warning = _steady_state_warning(rec)
    if warning:
        emit_error(warning)
    plots_note = rec.plots()
    sim.close()
    timings = {"setup": setup_time, "total": time.perf_counter() - wall0}
    result = run_summary(rec, "completed", None, timings) | {"plots": plots_note}
    result["warnings"] = [warning] if warning else []
    rec.run_dir.write_json("summary.json", result)
    return result


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
