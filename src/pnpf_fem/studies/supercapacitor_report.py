"""`pnpf-fem reproduce supercapacitor`: the PNPF paper's §4.3 study as one command.

Runs the charging case (Figs. 4–5) and cyclic voltammetry at the paper's scan rates (Figs. 6–7)
with FV Scheme II and FEM (fem2) on the same comb mesh, and writes to one output folder. The CV
runs are defined by the case file `demos/supercapacitor_cv.toml` (`--cv-case` names another),
with the scan rate and the number of cycles replaced per run (`supercapacitor.cv_config`).

- `summary.json` and `summary.txt`: the set-up (scales we chose where the paper is silent),
  per-method figures, the FEM–FV comparison, the CV heating slopes χ with the fitted exponent of
  χ ∝ ν^b and its standard error, and the detected I–V loop intersections;
- CSV time series (`charging_<method>.csv`, `cv_<rate>_<method>.csv`);
- VTX folders for ParaView (`charging_<method>.bp`: c1, c2, ψ, ΔT at the snapshot times);
- PNG figures in the style of Figs. 4–7.

Everything is written into a hidden sibling folder first and moved into place at the end, so an
interrupted run leaves no half-written result. Under mpirun the runs are distributed and every
rank records the same series (whole-mesh vertex values); rank 0 writes the folder.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from pnpf_fem.app.arguments import add_command, add_report_options
from pnpf_fem.app.console import emit
from pnpf_fem.app.info import environment_report
from pnpf_fem.app.output import RunDirectory, git_commit, publish_folder, staging_folder
from pnpf_fem.app.progress import TimeProgress
from pnpf_fem.errors import InputError
from pnpf_fem.meshing import TaggedTriangulation
from pnpf_fem.studies.supercapacitor import (
    CV_CASE_FILE,
    PAPER_SCAN_RATES,
    QUICK,
    ChargingConfig,
    Progress,
    Series,
    charging_study,
    cv_case,
    cv_half_period,
    cv_study,
    cv_voltages,
    fit_power_law,
    heating_slope,
    last_cycle,
    loop_intersections,
    study_mesh,
    summary,
)
from pnpf_fem.units import DimensionlessPNPF, nondimensionalize, supercapacitor_parameters

__all__ = ["ReproductionPlan", "SupercapacitorResults", "register", "reproduce_supercapacitor"]

SNAPSHOT_TIMES_US = (0.1, 1.0, 30.0)  # Fig. 5


@dataclass(frozen=True)
class ReproductionPlan:
    """What one reproduction runs: the charging case, the CV rates [V/µs] and cycles.

    psi_max: the upper CV voltage in k_BT0/e (None: the case file's, 25 k_BT0/e); cv_case: the
    case file of the CV runs; cv_base: their mesh and step control.
    """

    charging: ChargingConfig
    cv_base: ChargingConfig
    rates: tuple[float, ...]
    cycles: int
    psi_max: float | None
    methods: tuple[str, ...]
    label: str
    cv_case: Path = CV_CASE_FILE

    @classmethod
    def full(cls, methods: Sequence[str] = ("fv", "fem")) -> ReproductionPlan:
        tau = _tau_us()
        base = ChargingConfig()
        charging = replace(base, snapshots=tuple(t / tau for t in SNAPSHOT_TIMES_US))
        return cls(charging, base, PAPER_SCAN_RATES, 3, None, tuple(methods), "full")

    @classmethod
    def quick(cls, methods: Sequence[str] = ("fv", "fem")) -> ReproductionPlan:
        """Coarse comb (≈350 vertices), 3 τ of charging, two rates with two cycles each."""
        tau = _tau_us()
        snaps = (0.1 / tau, 1.0 / tau, QUICK.t_end)
        charging = replace(QUICK, snapshots=snaps)
        rates = (PAPER_SCAN_RATES[0], PAPER_SCAN_RATES[-1])
        return cls(charging, QUICK, rates, 2, None, tuple(methods), "quick")


@dataclass(frozen=True, eq=False)
class SupercapacitorResults:
    """The summary (as written to summary.json) and the time series of every run."""

    info: dict[str, Any]
    charging: dict[str, Series]
    cv: dict[float, dict[str, Series]]


def _tau_us() -> float:
    model = nondimensionalize(supercapacitor_parameters())
    return model.scales.time * 1e6


# -- series → rows ---------------------------------------------------------------------------
def _rows(series: Series, tau_us: float) -> list[dict[str, Any]]:
    a = series.arrays()
    current = series.bulk_current()
    keys = ("dt", "mass", "S", "S1", "S2", "min_c", "min_T", "max_dT_K", "mean_dT_K", "psi_star")
    rows = []
    for i, t in enumerate(a["t"]):
        row: dict[str, Any] = {"t_us": t * tau_us, "t_tau": t}
        row |= {k: float(a[k][i]) for k in keys}
        row["bulk_current"] = float(current[i])
        row["charge_right"] = float(series.charge_right[i])
        row["newton_iterations"] = int(a["newton_iterations"][i])
        rows.append(row)
    return rows


def _write_vtx(tri: TaggedTriangulation, series: Series, path: Path, tau_us: float) -> None:
    """The snapshot fields as P1 functions on the DOLFINx mesh of `tri` (VTX, time in µs)."""
    from dolfinx import fem as dfem
    from dolfinx.io import VTXWriter
    from mpi4py import MPI

    from pnpf_fem.compat import lagrange_space
    from pnpf_fem.fem import from_triangulation

    fmesh = from_triangulation(tri, MPI.COMM_SELF)
    V = lagrange_space(fmesh.mesh, 1)
    names = ("c1", "c2", "psi", "dT_K")
    funcs = {n: dfem.Function(V, name=n) for n in names}
    ncells = fmesh.mesh.topology.index_map(2).size_local
    dofs = np.asarray(V.dofmap.list[:ncells]).ravel()
    verts = fmesh.input_vertex[np.asarray(fmesh.mesh.geometry.dofmap[:ncells]).ravel()]
    with VTXWriter(MPI.COMM_SELF, str(path), list(funcs.values()), engine="BP4") as writer:
        for t in sorted(series.snapshots):
            fields = series.snapshots[t]
            for n, f in funcs.items():
                f.x.array[dofs] = fields[n][verts]
            writer.write(t * tau_us)


# -- figures ---------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_charging(results: dict[str, Series], tau_us: float, path: Path) -> None:
    """Fig. 4 style: entropy and its parts, mass, min c, ΔT against time (log axis)."""
    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    panels = [
        ("entropy S", "S"),
        ("S1 (temperature part)", "S1"),
        ("S2 (ionic part)", "S2"),
        ("relative mass change", "mass"),
        ("min c", "min_c"),
        ("ΔT [K] (max, mean --)", "max_dT_K"),
    ]
    for ax, (title, key) in zip(axes.ravel(), panels, strict=True):
        for s in results.values():
            a = s.arrays()
            t = a["t"][1:] * tau_us
            y = a[key][1:]
            if key == "mass":
                y = y / a["mass"][0] - 1.0
            (line,) = ax.plot(t, y, marker=".", ms=3, label=s.method)
            if key == "max_dT_K":
                ax.plot(t, a["mean_dT_K"][1:], ls="--", color=line.get_color())
        ax.set_xscale("log")
        ax.set_title(title)
        ax.set_xlabel("t [µs]")
        ax.legend(fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_snapshots(tri: TaggedTriangulation, series: Series, tau_us: float, path: Path) -> None:
    """Fig. 5 style: c¹, ψ and ΔT at the snapshot times (rows: times)."""
    plt = _plt()
    from matplotlib.tri import Triangulation

    mtri = Triangulation(tri.points[:, 0], tri.points[:, 1], tri.triangles)
    times = sorted(series.snapshots)
    cols = (("c1", "c¹ / c₀"), ("psi", "ψ [k_BT₀/e]"), ("dT_K", "ΔT [K]"))
    fig, axes = plt.subplots(
        len(times), 3, figsize=(14, 3.4 * len(times)), squeeze=False, constrained_layout=True
    )
    for r, t in enumerate(times):
        for c, (key, label) in enumerate(cols):
            ax = axes[r, c]
            im = ax.tripcolor(mtri, series.snapshots[t][key], shading="gouraud", cmap="viridis")
            ax.set_aspect("equal")
            ax.set_title(f"{label}, t = {t * tau_us:.3g} µs ({series.method})", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, shrink=0.8)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_cv(
    cv: dict[float, dict[str, Series]], slopes: dict[str, Any], tau_us: float, path: Path
) -> None:
    """Fig. 6 style: bulk current, ΔT, χ against ν (log–log, fit), S1 and S2 (fastest rate)."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    fastest = max(cv)
    for rate, runs in sorted(cv.items()):
        for method, s in runs.items():
            a = s.arrays()
            ls = "-" if method == "fem" else ":"
            axes[0, 0].plot(a["t"] * tau_us, s.bulk_current(), ls, label=f"{rate:g} V/µs {method}")
            axes[0, 1].plot(a["t"] * tau_us, a["mean_dT_K"], ls, label=f"{rate:g} V/µs {method}")
    axes[0, 0].set(title="bulk current I/I₀ at x = 0", xlabel="t [µs]")
    axes[0, 1].set(title="mean ΔT [K]", xlabel="t [µs]")
    ax = axes[1, 0]
    for method, fit in slopes["fits"].items():
        nu = np.asarray(slopes["rates"])
        chi = np.asarray(slopes["chi_K_per_us"][method])
        (pts,) = ax.loglog(nu, chi, "o", label=f"{method}: χ ∝ ν^{fit['exponent']:.2f}")
        ax.loglog(nu, fit["prefactor"] * nu ** fit["exponent"], "-", lw=0.8, color=pts.get_color())
    nu = np.asarray(slopes["rates"])
    chi0 = np.asarray(next(iter(slopes["chi_K_per_us"].values())))
    ax.loglog(nu, chi0[0] * (nu / nu[0]) ** 2, "k--", lw=0.8, label="ν² (paper)")
    ax.set(title="heating slope χ [K/µs]", xlabel="scan rate ν [V/µs]")
    ax = axes[1, 1]
    for method, s in cv[fastest].items():
        a = s.arrays()
        t = a["t"] * tau_us
        ax.plot(t, a["S1"] - a["S1"][0], label=f"S1 − S1(0) {method}")
        ax.plot(t, a["S2"] - a["S2"][0], label=f"S2 − S2(0) {method}")
        ax.plot(t, a["S"] - a["S"][0], label=f"S − S(0) {method}")
    ax.set(title=f"entropy and its parts, ν = {fastest:g} V/µs", xlabel="t [µs]")
    for ax in axes.ravel():
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_iv(cv: dict[float, dict[str, Series]], loops: dict[str, Any], path: Path) -> None:
    """Fig. 7(b) style: I/I₀ against ψ*(t) over the last cycle, crossings marked."""
    plt = _plt()
    methods = sorted({m for runs in cv.values() for m in runs})
    fig, axes = plt.subplots(1, len(methods), figsize=(6 * len(methods), 4.6), squeeze=False)
    for ax, method in zip(axes[0], methods, strict=True):
        for rate in sorted(cv):
            info = loops[f"{rate:g}"][method]
            psi, cur = np.asarray(info["psi"]), np.asarray(info["current"])
            (line,) = ax.plot(psi, cur, label=f"{rate:g} V/µs")
            for x, y in info["intersections"]:
                ax.plot([x], [y], "o", mfc="none", ms=9, color=line.get_color())
        ax.set(title=f"I–V loops, last cycle ({method}); o = crossing", xlabel="ψ* [k_BT₀/e]")
        ax.set_ylabel("I/I₀")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the study -------------------------------------------------------------------------------
def _cv_analysis(
    cv: dict[float, dict[str, Series]], plan: ReproductionPlan, tau_us: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    rates = sorted(cv)
    methods = sorted({m for runs in cv.values() for m in runs})
    chi: dict[str, list[float]] = {m: [] for m in methods}
    loops: dict[str, Any] = {}
    for rate in rates:
        t0 = cv_half_period(rate, plan.psi_max, plan.cv_case)
        loops[f"{rate:g}"] = {}
        for m in methods:
            s = cv[rate][m]
            chi[m].append(heating_slope(s, t0, plan.cycles, tau_us))
            psi, cur = last_cycle(s, t0, plan.cycles)
            loops[f"{rate:g}"][m] = {
                "t0_us": t0 * tau_us,
                "psi": psi.tolist(),
                "current": cur.tolist(),
                "intersections": loop_intersections(psi, cur),
                "max_current": float(np.max(np.abs(cur))),
            }
    fits = {m: fit_power_law(rates, chi[m]) for m in methods if len(rates) >= 2}
    slopes = {"rates": rates, "chi_K_per_us": chi, "fits": fits}
    return slopes, loops


def _summary_text(info: dict[str, Any]) -> str:
    lines = [f"PNPF supercapacitor reproduction ({info['plan']})", ""]
    lines.append("charging (paper: steady ΔT ≈ 2.37 K)")
    lines.append(
        f"{'method':>8} {'steps':>6} {'rej':>4} {'wall s':>8} {'ΔT max K':>9} "
        f"{'ΔT mean K':>9} {'mass drift':>10} {'min dS':>10} {'min c':>9}"
    )
    for m, s in info["charging"].items():
        if m == "fem_vs_fv":
            continue
        lines.append(
            f"{s['method']:>8} {s['steps']:6d} {s['rejected']:4d} {s['run_time_s']:8.1f} "
            f"{s['max_dT_K_final']:9.4f} {s['mean_dT_K_final']:9.4f} "
            f"{s['mass_rel_drift']:10.2e} {s['min_dS']:10.2e} {s['min_c']:9.2e}"
        )
    if "fem_vs_fv" in info["charging"]:
        c = info["charging"]["fem_vs_fv"]
        lines.append(
            f"FEM vs FV: final ΔT max rel. diff {c['max_dT_K_rel_diff_final']:.3%}, "
            f"largest |ΔT diff| over time {c['max_dT_K_abs_diff_series']:.3g} K, "
            f"S2 rel. diff {c['S2_rel_diff_final']:.2e}"
        )
    for m, e in info["charging_energy"].items():
        lines.append(
            f"{m}: heat released C_T ΔT |Ω| = {e['heat']:.4f} = {e['heat_per_charge_voltage']:.3f} "
            f"× Q ψ* with stored charge Q = {e['stored_charge']:.4f} (scaled): ΔT follows the "
            "electrode capacity per electrolyte area"
        )
    cv = info["cv"]
    lines.append("")
    lines.append(
        f"cyclic voltammetry (ψ* from {info['psi_min_V']:.4g} to {info['psi_max_V']:.4f} V, "
        f"(4.4); case file {info['choices']['cv_case']})"
    )
    methods = list(cv["chi_K_per_us"])
    lines.append(
        f"{'ν V/µs':>8} {'t0 µs':>7}"
        + "".join(
            f" {'χ ' + m + ' K/µs':>13} {'|I|max ' + m:>11} {'cross ' + m:>8}" for m in methods
        )
    )
    for i, rate in enumerate(cv["rates"]):
        loop = info["iv_loops"][f"{rate:g}"]
        row = f"{rate:8.3g} {loop[methods[0]]['t0_us']:7.3f}"
        for m in methods:
            row += (
                f" {cv['chi_K_per_us'][m][i]:13.4g} {loop[m]['max_current']:11.4g}"
                f" {len(loop[m]['intersections']):8d}"
            )
        lines.append(row)
    for rate in cv["rates"]:
        c = info["cv_runs"][f"{rate:g}"].get("fem_vs_fv")
        if c:
            lines.append(
                f"FEM vs FV at {rate:g} V/µs: final ΔT {c['mean_dT_K_rel_diff_final']:.1%}, "
                f"bulk current {c['current_rel_diff_series']:.1%} of max |I|, entropy curves "
                f"S1 {c['S1_rel_diff_series']:.1%}, S2 {c['S2_rel_diff_series']:.1%} "
                "of their change"
            )
    for m, fit in cv["fits"].items():
        lines.append(
            f"{m}: χ ∝ ν^b with b = {fit['exponent']:.3f} ± {fit['exponent_stderr']:.3f} "
            "(paper: b = 2)"
        )
    lines += ["", f"wall time {info['wall_time_s']:.0f} s; output {info['output']}"]
    return "\n".join(lines)


def _check_plan(plan: ReproductionPlan, output: Path) -> None:
    unknown = set(plan.methods) - {"fv", "fem"}
    if unknown or not plan.methods:
        raise InputError(f"--methods must be a subset of fv,fem; got {','.join(plan.methods)}")
    if output.exists() and not output.is_dir():
        raise InputError(f"--output {output} exists and is not a folder")
    for rate in plan.rates:  # every CV case validates before anything runs
        cv_case(rate, plan.cycles, plan.psi_max, plan.cv_case)


def _progress_bars(t_end: float, quiet: bool) -> Callable[[str], Progress]:
    """Progress-bar factory for runs ending at `t_end` (one bar per run, closed at the end)."""

    def make(label: str) -> Progress:
        shown = not quiet and MPI.COMM_WORLD.rank == 0
        p = TimeProgress(0.0, t_end, enabled=shown, description=label)

        def update(t: float, dt: float, its: int) -> None:
            p.update(t, dt, its)
            if t >= t_end * (1 - 1e-12):
                p.close()

        return update

    return make


def _electrolyte_area(tri: TaggedTriangulation) -> float:
    e1 = tri.points[tri.triangles[:, 1]] - tri.points[tri.triangles[:, 0]]
    e2 = tri.points[tri.triangles[:, 2]] - tri.points[tri.triangles[:, 0]]
    return float(0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum())


def _charging_energy(
    charging: dict[str, Series], model: DimensionlessPNPF, area: float, psi_star: float
) -> dict[str, dict[str, float]]:
    """Heat released per unit of stored charge and voltage: explains the steady ΔT (README)."""
    energy = {}
    for m, srs in charging.items():
        heat = model.heat_capacity * srs.mean_dT_K[-1] / model.scales.temperature * area
        q = abs(srs.charge_right[-1])
        energy[m] = {
            "stored_charge": q,
            "heat": heat,
            "heat_per_charge_voltage": heat / (q * psi_star),
        }
    return energy


def _choices(plan: ReproductionPlan, model: DimensionlessPNPF, tau_us: float) -> dict[str, Any]:
    """The scales and readings the paper leaves open, as this study chose them."""
    scales = model.scales
    return {
        "L_nm": scales.length * 1e9,
        "c0_M": 0.2,
        "T0_K": scales.temperature,
        "nu0": "ν¹ (the cation friction): τ = L²ν0/(k_B T0)",
        "tau_us": tau_us,
        "eps": model.eps,
        "heat_capacity": model.heat_capacity,
        "conductivity": model.conductivity,
        "psi_star_charging_kT_e": plan.charging.psi_star,
        "cv_voltage": "(4.4) with its constant 25 read as ψ_max = 25 k_BT0/e",
        "cv_case": _shown(plan.cv_case),
        "bulk_current": "I = −dQ₊/dt, Q₊ the ionic charge in x > 0: current through x = 0",
    }


def _shown(path: Path) -> str:
    """A case file as the summary names it: relative to the checkout when inside it."""
    root = CV_CASE_FILE.parents[1]
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def _shared_mesh(plan: ReproductionPlan) -> TaggedTriangulation:
    """The study's comb mesh, made by rank 0 (gmsh) and sent to the others."""
    comm = MPI.COMM_WORLD
    parts = comm.bcast(study_mesh(plan.charging).parts() if comm.rank == 0 else None, root=0)
    return TaggedTriangulation(*parts)


def _write_folder(
    output: Path, info: dict[str, Any], tri: TaggedTriangulation, runs: tuple, tau_us: float
) -> None:
    """Every file of the study into a hidden sibling folder, then moved into place."""
    charging, cv, slopes, loops = runs
    tmp = staging_folder(output)
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        out = RunDirectory(tmp)
        for m, s in charging.items():
            out.write_csv(f"charging_{m}.csv", _rows(s, tau_us))
            if s.snapshots:
                _write_vtx(tri, s, tmp / f"charging_{m}.bp", tau_us)
                plot_snapshots(tri, s, tau_us, tmp / f"fig5_snapshots_{m}.png")
        for rate, cv_runs in cv.items():
            for m, s in cv_runs.items():
                out.write_csv(f"cv_{rate:g}_{m}.csv", _rows(s, tau_us))
        plot_charging(charging, tau_us, tmp / "fig4_charging.png")
        plot_cv(cv, slopes, tau_us, tmp / "fig6_cv.png")
        plot_iv(cv, loops, tmp / "fig7_iv_loops.png")
        out.write_json("summary.json", info)
        out.write_text("summary.txt", _summary_text(info) + "\n")
        publish_folder(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def reproduce_supercapacitor(
    plan: ReproductionPlan,
    output: Path,
    quiet: bool = False,
    tri: TaggedTriangulation | None = None,
) -> dict[str, Any]:
    """Run `plan`, write the folder `output`, return the summary dict."""
    output = Path(output)
    _check_plan(plan, output)
    start = time.perf_counter()
    tau_us = _tau_us()
    model = nondimensionalize(supercapacitor_parameters())
    tri = tri if tri is not None else _shared_mesh(plan)
    bars = _progress_bars(plan.charging.t_end, quiet)
    charging = charging_study(plan.charging, plan.methods, tri=tri, progress=bars)
    cv_base = replace(plan.cv_base, snapshots=())
    cv: dict[float, dict[str, Series]] = {}
    for rate in plan.rates:
        t_end = 2 * plan.cycles * cv_half_period(rate, plan.psi_max, plan.cv_case)
        bars = _progress_bars(t_end, quiet)
        cv |= cv_study(
            (rate,), plan.cycles, plan.psi_max, cv_base, plan.methods, tri, bars, plan.cv_case
        )
    slopes, loops = _cv_analysis(cv, plan, tau_us)
    area = _electrolyte_area(tri)
    info: dict[str, Any] = {
        "plan": plan.label,
        "git_commit": git_commit(),
        "environment": environment_report(),
        "choices": _choices(plan, model, tau_us),
        "mesh": {"vertices": tri.num_vertices, "triangles": len(tri.triangles)},
        "psi_min_V": cv_voltages(plan.psi_max, plan.cv_case)[0],
        "psi_max_V": cv_voltages(plan.psi_max, plan.cv_case)[1],
        "charging": summary(charging),
        "electrolyte_area": area,
        "charging_energy": _charging_energy(charging, model, area, float(plan.charging.psi_star)),
        "cv": slopes,
        "cv_runs": {f"{r:g}": summary(runs) for r, runs in cv.items()},
        "iv_loops": loops,
    }
    info["wall_time_s"] = time.perf_counter() - start
    info["output"] = str(output)
    text = _summary_text(info)
    if MPI.COMM_WORLD.rank == 0:  # every rank holds the same (gathered) series
        _write_folder(output, info, tri, (charging, cv, slopes, loops), tau_us)
    MPI.COMM_WORLD.barrier()
    if not quiet:
        emit(text)
    return SupercapacitorResults(info, charging, cv)


def _main(args: argparse.Namespace) -> int:
    """Charging (Figs. 4-5) and cyclic voltammetry (Figs. 6-7) of the comb supercapacitor with
    FV Scheme II and FEM on one mesh; writes CSV, VTX, PNG and a summary."""
    methods = tuple(m for m in args.methods.split(",") if m)
    plan = ReproductionPlan.quick(methods) if args.quick else ReproductionPlan.full(methods)
    changes: dict[str, Any] = {}
    if args.rates:
        try:
            changes["rates"] = tuple(float(r) for r in args.rates.split(","))
        except ValueError:
            msg = f"--rates must be numbers separated by commas, got {args.rates!r}"
            raise InputError(msg) from None
    if args.cycles is not None:
        if args.cycles < 1:
            raise InputError(f"--cycles must be at least 1, got {args.cycles}")
        changes["cycles"] = args.cycles
    if args.psi_max is not None:
        if not (args.psi_max > 0 and math.isfinite(args.psi_max)):
            raise InputError(f"--psi-max must be positive, got {args.psi_max}")
        changes["psi_max"] = args.psi_max
    if args.cv_case is not None:
        changes["cv_case"] = args.cv_case
    plan = replace(plan, **changes)
    if any(not (r > 0 and math.isfinite(r)) for r in plan.rates):
        raise InputError(f"--rates must be positive, got {plan.rates}")
    output = args.output or Path("results") / f"supercapacitor{'-quick' if args.quick else ''}"
    reproduce_supercapacitor(plan, output, quiet=args.quiet)
    return 0


def register(studies: argparse._SubParsersAction) -> None:
    summary = "PNPF paper §4.3: charging and cyclic voltammetry of the comb supercapacitor"
    p = add_command(studies, "supercapacitor", _main, summary)
    add_report_options(p, "coarse mesh, short run (the CI variant)", "no progress bars or table")
    p.add_argument("--methods", default="fv,fem", help="fv, fem or fv,fem (default)")
    p.add_argument("--rates", default=None, help="CV scan rates in V/µs, comma separated")
    p.add_argument("--cycles", type=int, default=None, help="CV cycles per rate")
    p.add_argument(
        "--psi-max",
        type=float,
        default=None,
        help="upper CV voltage in k_BT0/e (default: the case file's, 25 = (4.4)'s constant)",
    )
    p.add_argument(
        "--cv-case",
        type=Path,
        default=None,
        help="the case file of the CV runs (default demos/supercapacitor_cv.toml); its scan "
        "rate and cycles are replaced per run",
    )
