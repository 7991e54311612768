"""`pnpf-fem reproduce porous-heating`: pore-resolved PNPF against the upscaled PNPF model.

The medium is the s-study's (`reproduce homogenization`): one row of 1/s square-inclusion cells
(porosity 0.75, λ² = 0.05, α = 0.0125) between blocking electrodes at x = 0 and x = 1 held at
T = 1, the top and bottom insulated (by the cell's mirror symmetry, the infinite array). The
solid conducts and stores heat (k_s, C_s); the electrolyte carries the ions, the current and
the Joule and reversible heats (docs/porous_heating.md). The pore-resolved model
(`pnpf_fem.porous.resolved_heat.ResolvedPNPF`) is compared with the upscaled one
(`pnpf_fem.porous.upscaled_heat.UpscaledPNPF`: tortuosity closure for the ions, ε⁰ for ψ, the
cell's effective conductivity K, the volume-averaged heat capacity) with the derived heat source
c g·Πg and with the naive one c|Πg|²/p. Both sides use backward Euler with the same Δt; the
tensors are computed on the resolved solver's own cell mesh, so the errors measure the
homogenization error alone.

Cases: ``charging`` (ψ = V on the left from t = 0, 0 on the right) and ``cv`` (one cycle of a
triangle 0 → V → 0). At each comparison time, the cell averages — the ions over the electrolyte,
ψ and T over the whole cell — are compared with the upscaled solution averaged over the same
cell; an error is the largest difference over the cells (T: of T − 1, relative to the largest
resolved T − 1), and its rate the log–log slope over s. A third run switches the Joule heat off
in both models (`joule=False`), so that T is raised by the reversible heat alone: that checks
the reversible part separately.

Outputs: summary.json, summary.txt (tables, rates, verdict), errors.csv, porous_heating.png.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pnpf_fem.app.arguments import add_command, add_report_options
from pnpf_fem.app.console import emit
from pnpf_fem.integrate import FixedSteps, integrate

__all__ = ["CASES", "HeatingCase", "register", "reproduce_porous_heating", "s_study"]

SOURCES = ("derived", "naive")
FULL_S = (1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64)
QUICK_S = (1 / 4, 1 / 8)
QUANTITIES = ("ions", "psi", "T")


@dataclass(frozen=True)
class HeatingCase:
    """One comparison set-up (dimensionless, docs/porous_heating.md)."""

    name: str
    voltage: float = 4.0
    cv_rate: float | None = None  # a triangle 0 → V → 0 at this rate; None: a step to V
    times: tuple[float, ...] = (0.02, 0.1, 0.3)
    dt: float = 0.005
    lambda_sq: float = 0.05
    alpha: float = 0.0125
    heat_capacity: tuple[float, float] = (1.0, 2.0)  # electrolyte, solid
    conductivity: tuple[float, float] = (1.0, 4.0)  # electrolyte, solid
    joule: bool = True
    cells_per_side: int = 8
    macro_elements: int = 256

    def potential(self) -> Any:
        """ψ on the left electrode: a number or a waveform of t."""
        if self.cv_rate is None:
            return self.voltage
        from pnpf_fem.model import Triangle

        return Triangle(0.0, self.voltage, self.cv_rate)


CASES = {
    "charging": HeatingCase("charging"),
    "cv": HeatingCase("cv", cv_rate=20.0, times=(0.1, 0.2, 0.3, 0.4)),
    "reversible": HeatingCase("reversible", joule=False),
}


def media(case: HeatingCase, comm: Any) -> tuple[Any, Any]:
    """(EffectiveMedium, HeatMedium) of the square-inclusion cell on the resolved cell mesh."""
    from pnpf_fem.homogenization import PeriodicCell
    from pnpf_fem.porous.arrays import periodic_array
    from pnpf_fem.porous.upscaled_heat import HeatMedium, effective_conductivity
    from pnpf_fem.studies.homogenization import POROSITY, effective_medium

    medium, tensors = effective_medium(case.lambda_sq, case.alpha, case.cells_per_side, comm=comm)
    unit = periodic_array(1.0, 1, POROSITY, case.cells_per_side, comm=comm)
    cell = PeriodicCell(unit.mesh, unit.cell_tags, (0.0, 0.0), (1.0, 1.0), "square", POROSITY)
    K = effective_conductivity(cell, *case.conductivity)
    heat = HeatMedium(*case.heat_capacity, conductivity=K, porosity=tensors.porosity)
    return medium, heat


def _resolved(case: HeatingCase, s: float, comm: Any) -> Any:
    from pnpf_fem.porous.arrays import periodic_array
    from pnpf_fem.porous.resolved_heat import ResolvedPNPF
    from pnpf_fem.studies.homogenization import POROSITY

    array = periodic_array(
        s, rows=1, porosity=POROSITY, cells_per_side=case.cells_per_side, comm=comm
    )
    return ResolvedPNPF(
        array,
        lambda_sq=case.lambda_sq,
        alpha=case.alpha,
        heat_capacity=case.heat_capacity,
        conductivity=case.conductivity,
        potential_bcs={"left": case.potential(), "right": 0.0},
        temperature_bcs={"left": 1.0, "right": 1.0},
        joule=case.joule,
        name=f"heat_s{round(1 / s)}",
    )


def _upscaled(case: HeatingCase, medium: Any, heat: Any, source: str, comm: Any) -> Any:
    from pnpf_fem.fem.snes import SolverOptions
    from pnpf_fem.porous.upscaled_heat import UpscaledPNPF
    from pnpf_fem.studies.homogenization import _macro_mesh

    msh, tags = _macro_mesh(case.macro_elements, 1.0 / case.macro_elements, comm)
    return UpscaledPNPF(
        msh,
        medium,
        heat,
        initial={"u1": 1.0, "u2": 1.0},
        facet_tags=tags,
        potential={1: case.potential(), 2: 0.0},
        temperature={1: 1.0, 2: 1.0},
        heat_source=source,
        joule=case.joule,
        options=SolverOptions(rtol=1e-10, atol=1e-11),
    )


def _history(solver: Any, case: HeatingCase, averages: Callable[[], dict]) -> list[dict]:
    """`averages()` at every comparison time of `case`."""
    out = []
    for t in case.times:
        integrate(solver, t, FixedSteps(case.dt))
        out.append(averages())
    return out


def _errors(resolved: list[dict], model: list[dict]) -> dict[str, list[float]]:
    """Per time: the largest cell difference of the ions, ψ and T − 1 (relative)."""
    out: dict[str, list[float]] = {q: [] for q in QUANTITIES}
    for r, m in zip(resolved, model, strict=True):
        ions = max(np.max(np.abs(r["n_plus"] - m["u1"])), np.max(np.abs(r["n_minus"] - m["u2"])))
        out["ions"].append(float(ions))
        out["psi"].append(float(np.max(np.abs(r["psi"] - m["psi"]))))
        scale = float(np.max(np.abs(r["T"] - 1.0)))
        out["T"].append(float(np.max(np.abs(r["T"] - m["T"])) / scale) if scale > 0 else 0.0)
    return out


def upscaled_histories(
    case: HeatingCase, medium: Any, heat: Any, s_values: Sequence[float], comm: Any
) -> dict[str, Any]:
    """Per heat source: at every comparison time, the upscaled solution averaged over the
    cells of every s (one upscaled run per source), and its wall time."""
    from pnpf_fem.studies.homogenization import _macro_cell_averages

    height = 1.0 / case.macro_elements
    out: dict[str, Any] = {}
    for source in SOURCES:
        start = time.perf_counter()
        solver = _upscaled(case, medium, heat, source, comm)

        def averages(solver: Any = solver) -> dict:
            return {s: _macro_cell_averages(solver, s, round(1 / s), height) for s in s_values}

        out[source] = (_history(solver, case, averages), time.perf_counter() - start)
    return out


def run_case(case: HeatingCase, s: float, upscaled: dict[str, Any], comm: Any) -> dict[str, Any]:
    """The resolved run at cell size s against the upscaled histories."""
    start = time.perf_counter()
    res = _resolved(case, s, comm)

    def resolved_averages() -> dict:
        a = res.cell_averages()
        return {"n_plus": a.n_plus[:, 0], "n_minus": a.n_minus[:, 0], "psi": a.psi[:, 0]} | {
            "T": a.T[:, 0]
        }

    micro = _history(res, case, resolved_averages)
    seconds = {"resolved": time.perf_counter() - start}
    errors = {}
    for source, (snaps, wall) in upscaled.items():
        errors[source] = _errors(micro, [snap[s] for snap in snaps])
        seconds[source] = wall
    max_dT = float(max(np.max(np.abs(m["T"] - 1.0)) for m in micro))
    return {"s": s, "errors": errors, "seconds": seconds, "max_dT": max_dT, "dofs": res.dofs}


def _rate(s: Sequence[float], e: Sequence[float]) -> float | None:
    if len(s) < 2 or min(e) <= 0:
        return None
    return float(np.polyfit(np.log(s), np.log(e), 1)[0])


def s_study(case: HeatingCase, s_values: Sequence[float], comm: Any = None) -> dict[str, Any]:
    """Errors (largest over the comparison times) and rates in s for both heat sources (fitted
    over the finest three s, and over all)."""
    from mpi4py import MPI

    comm = comm or MPI.COMM_WORLD
    medium, heat = media(case, comm)
    upscaled = upscaled_histories(case, medium, heat, s_values, comm)
    results = [run_case(case, s, upscaled, comm) for s in s_values]
    table = {
        src: {q: [max(r["errors"][src][q]) for r in results] for q in QUANTITIES} for src in SOURCES
    }
    # the coarsest cells are pre-asymptotic (the ion error barely moves from s = 1/4 to 1/8):
    # the rate is fitted over the finest three s, the fit over all s is reported beside it
    fine = slice(-3, None)
    rates = {
        src: {q: _rate(s_values[fine], table[src][q][fine]) for q in QUANTITIES} for src in SOURCES
    }
    rates_all = {src: {q: _rate(s_values, table[src][q]) for q in QUANTITIES} for src in SOURCES}
    return {
        "case": asdict(case),
        "s": list(s_values),
        "conductivity_tensor": np.asarray(heat.conductivity).tolist(),
        "results": results,
        "errors": table,
        "rates": rates,
        "rates_all_s": rates_all,
    }


def verdict(study: dict[str, Any]) -> str:
    r, e = study["rates"], study["errors"]

    def fmt(src: str, q: str) -> str:
        rate = r[src][q]
        return f"{e[src][q][-1]:.2e} (rate {'n/a' if rate is None else f'{rate:.2f}'})"

    met = all(r["derived"][q] is not None and r["derived"][q] >= 1.5 for q in QUANTITIES)
    return (
        f"{study['case']['name']}: derived source — ions {fmt('derived', 'ions')}, ψ "
        f"{fmt('derived', 'psi')}, T {fmt('derived', 'T')}; naive source — T "
        f"{fmt('naive', 'T')}; target rate ≥ 1.5 for c, ψ, T over s = 1/{round(1 / study['s'][0])} "
        f"… 1/{round(1 / study['s'][-1])}: {'met' if met else 'missed'}"
    )


def text_table(study: dict[str, Any]) -> str:
    lines = [f"case {study['case']['name']}: largest cell-average error over the times"]
    lines.append(
        f"{'s':>6} " + " ".join(f"{src + ' ' + q:>14}" for src in SOURCES for q in QUANTITIES)
    )
    for k, s in enumerate(study["s"]):
        row = f"{'1/' + str(round(1 / s)):>6} "
        row += " ".join(
            f"{study['errors'][src][q][k]:14.3e}" for src in SOURCES for q in QUANTITIES
        )
        lines.append(row)
    lines.append(verdict(study))
    return "\n".join(lines)


def error_rows(studies: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name, st in studies.items():
        for k, s in enumerate(st["s"]):
            row: dict[str, Any] = {"case": name, "s": s}
            for src in SOURCES:
                row |= {f"{src}_{q}": st["errors"][src][q][k] for q in QUANTITIES}
            rows.append(row)
    return rows


def plot(studies: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pnpf_fem.app.output import atomic_path

    fig, axes = plt.subplots(1, len(studies), figsize=(4.6 * len(studies), 4), squeeze=False)
    for ax, (name, st) in zip(axes[0], studies.items(), strict=True):
        for src, style in (("derived", "-"), ("naive", "--")):
            for q, color in zip(QUANTITIES, ("C0", "C1", "C3"), strict=True):
                ax.loglog(
                    st["s"],
                    st["errors"][src][q],
                    style,
                    color=color,
                    marker="o",
                    ms=3,
                    label=f"{q} ({src})",
                )
        ax.set_title(name)
        ax.set_xlabel("cell size s")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("largest cell-average error (T: relative to max ΔT)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def reproduce_porous_heating(
    quick: bool, output: Path, quiet: bool = False, s_values: Sequence[float] | None = None
) -> dict[str, Any]:
    """The s-study of every case; writes `output` (rank 0, all files at the end)."""
    from mpi4py import MPI

    from pnpf_fem.app.output import RunDirectory, git_commit, publish_folder, staging_folder

    comm = MPI.COMM_WORLD
    s_values = tuple(s_values or (QUICK_S if quick else FULL_S))
    cases = dict(CASES)
    if quick:
        cases = {k: replace(c, times=c.times[:2]) for k, c in cases.items()}
    start = time.perf_counter()
    studies = {}
    for name, case in cases.items():
        studies[name] = s_study(case, s_values, comm)
        if not quiet:
            emit(text_table(studies[name]))
    info = {
        "plan": "quick" if quick else "full",
        "git_commit": git_commit(),
        "ranks": comm.size,
        "studies": studies,
        "verdicts": [verdict(st) for st in studies.values()],
        "wall_time_s": time.perf_counter() - start,
    }
    if comm.rank == 0:
        tmp = staging_folder(output)
        try:
            out = RunDirectory(tmp)
            out.write_json("summary.json", info)
            out.write_csv("errors.csv", error_rows(studies))
            out.write_text(
                "summary.txt", "\n\n".join(text_table(st) for st in studies.values()) + "\n"
            )
            plot(studies, tmp / "porous_heating.png")
            publish_folder(tmp, output)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return info


def _main(args: argparse.Namespace) -> int:
    """Heat in porous media: pore-resolved PNPF on rows of 1/s cells against the upscaled PNPF
    model with the derived heat source (c g·Πg) and the naive one (c|Πg|²/p); charging, a CV
    cycle and a reversible-heat-only run; errors of c, ψ, T and their rates in s."""
    from pnpf_fem.studies.homogenization import parse_s_values

    s_values = parse_s_values(args.s)
    output = args.output or Path("results") / f"porous_heating{'-quick' if args.quick else ''}"
    reproduce_porous_heating(args.quick, Path(output), args.quiet, s_values)
    return 0


def register(studies: argparse._SubParsersAction) -> None:
    summary = "pore-resolved PNPF against the upscaled PNPF model (derived and naive heat source)"
    p = add_command(studies, "porous-heating", _main, summary)
    add_report_options(p, "s = 1/4, 1/8 and two times per case (CI)", "no tables")
    p.add_argument("--s", default=None, help="values of 1/s, e.g. 4,8,16,32")
