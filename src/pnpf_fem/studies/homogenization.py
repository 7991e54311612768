"""`pnpf-fem reproduce homogenization`: pore-resolved PNP against the two effective models.

The microscale problem (20) is solved on Ω = (0, 1) × (0, s): one row of 1/s periodic cells of
side s, each with a centred square solid inclusion (porosity p = 0.75), ions on the electrolyte
only (`pnpf_fem.porous.microscale`). The row is bounded above and below by zero-flux walls, which
by the mirror symmetry of the cell (and of its crossed-diagonal mesh) is exactly the infinite
periodic array — a test checks that every row of the full (1/s)² array has the strip's cell
averages; the macroscopic solution then depends on x only. The effective models
(`pnpf_fem.porous.macroscale`) use the tensors of the same cell, computed by the cell problems on
the resolved solver's own cell mesh (see `effective_medium`):

* ``schmuck``: (25)/(28) as written — the averaged ionic flux reduces to p(∇u + z u∇ψ), no
  tortuosity (identity (I3));
* ``perforated``: the classical perforated-domain closure Π(∇u + z u∇ψ), Π the tortuosity tensor.

Both use −div(ε⁰∇ψ) = p(u¹ − u²). At each comparison time, the resolved cell averages (ions over
the electrolyte part of the cell, ψ over the whole cell) are compared with the macroscopic
solution averaged over the same cell; the error is the largest difference over the cells, for
the ions (both species) and for ψ. Both sides use implicit Euler with the same Δt.

Cases (all dimensionless, λ² the electrolyte and α the solid permittivity of (18)):

* ``relaxation`` (near equilibrium): closed ions, ψ = V on the left and 0 on the right with a
  small V; ions relax towards the Boltzmann equilibrium;
* ``driven``: ion reservoirs at both ends with a salt contrast (2 : 1) and a voltage that drives
  a current through the medium — transport-dominated.

Regime probes (`regime_study`, driven case, s = 1/8, 1/16, 1/32): thin Debye layers (small λ²),
high permittivity contrast (α/λ² ≫ 1), strong driving (large V) and the approach to steady state.

Outputs: summary.json/summary.txt (tables, rates, verdicts, regimes), errors_<case>.csv,
homogenization_errors.png.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pnpf_fem.app.arguments import add_command, add_report_options
from pnpf_fem.app.console import emit
from pnpf_fem.errors import InputError
from pnpf_fem.integrate import FixedSteps, integrate

__all__ = [
    "CASES",
    "MODELS",
    "REGIMES",
    "HomogenizationCase",
    "case_error_table",
    "effective_medium",
    "error_rows",
    "parse_s_values",
    "regime_study",
    "register",
    "reproduce_homogenization",
    "run_case",
    "s_study",
    "verdict",
]

MODELS = ("schmuck", "perforated")
POROSITY = 0.75


@dataclass(frozen=True)
class HomogenizationCase:
    """One comparison set-up (dimensionless)."""

    name: str
    lambda_sq: float = 0.05
    alpha: float = 0.0125
    voltage: float = 0.5  # ψ on the left; ψ = 0 on the right
    reservoirs: tuple[float, float] | None = None  # salt at x = 0 and x = 1, or closed
    times: tuple[float, ...] = (0.02, 0.1, 0.3)
    dt: float = 0.005
    cells_per_side: int = 8  # resolved mesh: elements per cell side
    macro_elements: int = 256  # macroscale mesh: elements along x

    def __post_init__(self) -> None:
        for key in ("lambda_sq", "alpha", "dt"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v > 0):
                raise InputError(f"case {self.name}: {key} must be positive, got {v}")
        if not self.times or sorted(self.times) != list(self.times) or self.times[0] <= 0:
            raise InputError(f"case {self.name}: times must be increasing and positive")


CASES = {
    "relaxation": HomogenizationCase("relaxation"),
    "driven": HomogenizationCase("driven", voltage=4.0, reservoirs=(2.0, 1.0)),
}


def _world():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def effective_medium(
    lambda_sq: float,
    alpha: float,
    cells_per_side: int | None = 8,
    mesh_size: float = 0.02,
    comm=None,
):
    """The EffectiveMedium (p, ε⁰, M, D, Π) of the square-inclusion cell, from the cell problems.

    cells_per_side = n: the cell problems are solved on the resolved solver's own cell mesh (the
    structured n × n mesh of `periodic_array`), so the resolved solution converges, as s → 0, to
    the effective model with exactly these tensors and the errors measure the homogenization
    error alone. None: a fine gmsh mesh of size `mesh_size` (the converged tensors; on the 8 × 8
    mesh (crossed diagonals) Π_xx is 2.1 % larger, 0.5908 against 0.5788, because of the
    re-entrant corners).
    """
    from pnpf_fem.homogenization import PeriodicCell, compute_effective_tensors, make_cell
    from pnpf_fem.porous.arrays import periodic_array
    from pnpf_fem.porous.macroscale import EffectiveMedium

    comm = comm or _world()
    if cells_per_side is None:
        cell = make_cell("square", POROSITY, mesh_size, comm=comm)
    else:
        unit = periodic_array(1.0, 1, POROSITY, cells_per_side, comm=comm)
        cell = PeriodicCell(unit.mesh, unit.cell_tags, (0.0, 0.0), (1.0, 1.0), "square", POROSITY)
    tensors = compute_effective_tensors(cell, lambda_sq, alpha).tensors
    return EffectiveMedium.from_tensors(tensors), tensors


def _macro_mesh(nx: int, height: float, comm):
    from dolfinx import mesh as dmesh

    msh = dmesh.create_rectangle(
        comm, [np.zeros(2), np.array([1.0, height])], [nx, 2], dmesh.CellType.triangle
    )
    fdim = msh.topology.dim - 1
    left = dmesh.locate_entities_boundary(msh, fdim, lambda x: np.isclose(x[0], 0.0))
    right = dmesh.locate_entities_boundary(msh, fdim, lambda x: np.isclose(x[0], 1.0))
    facets = np.concatenate([left, right]).astype(np.int32)
    values = np.concatenate([np.full(len(left), 1), np.full(len(right), 2)]).astype(np.int32)
    order = np.argsort(facets)
    tags = dmesh.meshtags(msh, fdim, facets[order], values[order])
    return msh, tags


def _macro_solver(case: HomogenizationCase, medium, transport: str, comm):
    from pnpf_fem.fem.snes import SolverOptions
    from pnpf_fem.porous.macroscale import MacroscaleSolver

    msh, tags = _macro_mesh(case.macro_elements, 1.0 / case.macro_elements, comm)
    conc = None
    initial: dict[str, Any] = {"u1": 1.0, "u2": 1.0}
    if case.reservoirs is not None:
        a, b = case.reservoirs
        conc = {1: (a, a), 2: (b, b)}
    return MacroscaleSolver(
        msh,
        medium,
        initial=initial,
        facet_tags=tags,
        transport=transport,
        potential={1: case.voltage, 2: 0.0},
        concentrations=conc,
        options=SolverOptions(rtol=1e-10, atol=1e-11),
    )


def _resolved_solver(case: HomogenizationCase, s: float, comm):
    from pnpf_fem.porous.arrays import periodic_array
    from pnpf_fem.porous.microscale import ResolvedPNP

    array = periodic_array(
        s, rows=1, porosity=POROSITY, cells_per_side=case.cells_per_side, comm=comm
    )
    ions = None
    if case.reservoirs is not None:
        a, b = case.reservoirs
        ions = {"left": a, "right": b}
    return ResolvedPNP(
        array,
        lambda_sq=case.lambda_sq,
        alpha=case.alpha,
        potential_bcs={"left": case.voltage, "right": 0.0},
        ion_bcs=ions,
        initial_densities=(1.0, 1.0),
        name=f"micro_s{round(1 / s)}",
    )


def _macro_cell_averages(solver, s: float, columns: int, height: float) -> dict[str, np.ndarray]:
    """u¹, u², ψ of the macroscopic solution averaged over each cell [i s, (i+1) s] (in x).

    Gauss–Legendre with 4 × 4 points per cell, all cells in one (collective) evaluation.
    """
    g, w = np.polynomial.legendre.leggauss(4)
    gx, gy = np.meshgrid(0.5 * s * (g + 1.0), 0.5 * height * (g + 1.0), indexing="ij")
    weights = np.outer(w, w).ravel() / 4.0
    local = np.column_stack([gx.ravel(), gy.ravel()])
    points = np.concatenate([local + np.array([i * s, 0.0]) for i in range(columns)])
    values = solver.evaluate(points)
    return {k: v.reshape(columns, -1) @ weights for k, v in values.items()}


@dataclass
class CaseResult:
    """Errors of both models against the resolved solution for one case and one s."""

    case: str
    s: float
    times: list[float]
    errors: dict[str, dict[str, list[float]]]  # model -> {"ions": [...], "psi": [...]} per time
    resolved_seconds: float
    macro_seconds: dict[str, float]
    resolved_dofs: dict[str, int]
    profiles: dict[str, Any] = field(default_factory=dict)  # last time: x, resolved, models
    # (I3) on the solver's own operators: relative difference of the assembled "schmuck" flux
    # residual and the reduced p(∇u + zu∇ψ) one at the final state (round-off expected)
    cancellation_residual: float | None = None


def run_case(
    case: HomogenizationCase,
    s: float,
    medium,
    models: Sequence[str] = MODELS,
    macro: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    comm=None,
) -> CaseResult:
    """Resolved run at cell size s and the effective models (solved once, cached in `macro`)."""
    comm = comm or _world()
    columns = round(1.0 / s)
    if abs(columns * s - 1.0) > 1e-12:
        raise InputError(f"1/s must be an integer, got s = {s}")
    start = time.perf_counter()
    resolved = _resolved_solver(case, s, comm)
    micro = []
    for t in case.times:
        integrate(resolved, t, FixedSteps(case.dt))
        micro.append(resolved.cell_averages())
        if progress is not None:
            progress(f"{case.name} s=1/{columns} resolved t={t:g}")
    resolved_seconds = time.perf_counter() - start
    dofs = dict(resolved.dofs)
    resolved.close()

    from pnpf_fem.porous.macroscale import cancellation_residual

    cancellation = None
    macro = {} if macro is None else macro
    errors: dict[str, dict[str, list[float]]] = {}
    macro_seconds: dict[str, float] = {}
    profiles: dict[str, Any] = {
        "x": micro[-1].centres[:, 0, 0].tolist(),
        "resolved": {
            "n_plus": micro[-1].n_plus[:, 0].tolist(),
            "n_minus": micro[-1].n_minus[:, 0].tolist(),
            "psi": micro[-1].psi[:, 0].tolist(),
        },
    }
    for model in models:
        key = (model, s)
        if key not in macro:
            t0 = time.perf_counter()
            solver = _macro_solver(case, medium, model, comm)
            snaps = []
            for t in case.times:
                integrate(solver, t, FixedSteps(case.dt))
                snaps.append(_macro_cell_averages(solver, s, columns, 1.0 / case.macro_elements))
            residual = cancellation_residual(solver) if model == "schmuck" else None
            macro[key] = (snaps, time.perf_counter() - t0, residual)
        snaps, seconds, residual = macro[key]
        if residual is not None:
            cancellation = residual
        macro_seconds[model] = seconds
        ions, psi = [], []
        for m, avg in zip(micro, snaps, strict=True):
            e_ions = max(
                float(np.max(np.abs(m.n_plus[:, 0] - avg["u1"]))),
                float(np.max(np.abs(m.n_minus[:, 0] - avg["u2"]))),
            )
            ions.append(e_ions)
            psi.append(float(np.max(np.abs(m.psi[:, 0] - avg["psi"]))))
        errors[model] = {"ions": ions, "psi": psi}
        profiles[model] = {k: v.tolist() for k, v in snaps[-1].items()}
    return CaseResult(
        case.name,
        s,
        list(case.times),
        errors,
        resolved_seconds,
        macro_seconds,
        dofs,
        profiles,
        cancellation,
    )


def _rate(s: Sequence[float], e: Sequence[float]) -> float | None:
    if len(s) < 2 or min(e) <= 0:
        return None
    return float(np.polyfit(np.log(s), np.log(e), 1)[0])


def s_study(
    case: HomogenizationCase,
    s_values: Sequence[float],
    models: Sequence[str] = MODELS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Errors against s for both models; rates fitted over all s (log–log least squares)."""
    t0 = time.perf_counter()
    medium, tensors = effective_medium(case.lambda_sq, case.alpha, case.cells_per_side)
    cell_seconds = time.perf_counter() - t0
    _, converged = effective_medium(case.lambda_sq, case.alpha, None)
    results = [run_case(case, s, medium, models, {}, progress) for s in s_values]
    rates: dict[str, dict[str, list[float | None]]] = {}
    for model in models:
        rates[model] = {}
        for q in ("ions", "psi"):
            rates[model][q] = [
                _rate(s_values, [r.errors[model][q][k] for r in results])
                for k in range(len(case.times))
            ]
    return {
        "case": asdict(case),
        "s": list(s_values),
        "tensors": {
            "porosity": tensors.porosity,
            "eps_eff": tensors.eps_eff,
            "tortuosity": tensors.tortuosity,
            "M": tensors.M,
            "cell_seconds": cell_seconds,
            "cell_mesh": f"{case.cells_per_side} x {case.cells_per_side} (the resolved mesh)",
            "converged_eps_eff": converged.eps_eff,
            "converged_tortuosity": converged.tortuosity,
        },
        "results": [asdict(r) for r in results],
        "rates": rates,
    }


def verdict(study: dict[str, Any]) -> str:
    """Which model the resolved simulations support, from the ion errors at the last time."""
    finest = study["results"][-1]
    err = {m: finest["errors"][m]["ions"][-1] for m in study["rates"]}
    rate = {m: study["rates"][m]["ions"][-1] for m in study["rates"]}
    best = min(err, key=err.get)
    other = max(err, key=err.get)
    converging = [m for m in err if rate[m] is not None and rate[m] > 0.5]
    text = (
        f"at s = 1/{round(1 / finest['s'])}, t = {study['case']['times'][-1]:g}: ion error "
        + ", ".join(
            f"{m} {err[m]:.2e} (rate {rate[m] if rate[m] is not None else math.nan:.2f})"
            for m in err
        )
        + f"; the resolved simulations support the {best} model"
    )
    if best in converging and other not in converging:
        text += f" ({other} does not converge as s → 0)"
    elif len(converging) == len(err):
        text += " (both converge here)"
    return text


def error_rows(study: dict[str, Any]) -> list[dict[str, Any]]:
    """One CSV row per (s, time, model): the largest cell errors of the ions and of ψ."""
    rows = []
    for r in study["results"]:
        for k, t in enumerate(r["times"]):
            for m, e in r["errors"].items():
                rows.append(
                    {"s": r["s"], "t": t, "model": m, "ions": e["ions"][k], "psi": e["psi"][k]}
                )
    return rows


def case_error_table(study: dict[str, Any]) -> str:
    """Plain-text error-versus-s table (errors at every comparison time, rate in s)."""
    case = study["case"]
    times = case["times"]
    models = list(study["rates"])
    lines = [
        f"case {case['name']}: λ² = {case['lambda_sq']:g}, α = {case['alpha']:g}, "
        f"V = {case['voltage']:g}, reservoirs = {case['reservoirs']}, Δt = {case['dt']:g}"
    ]
    head = f"{'1/s':>5} {'resolved s':>10}"
    for m in models:
        for t in times:
            head += f" {m[:5] + ' t=' + format(t, 'g'):>16}"
    lines.append(head + "   (max cell error: ions | ψ)")
    for r in study["results"]:
        row = f"{round(1 / r['s']):5d} {r['resolved_seconds']:10.1f}"
        for m in models:
            for k in range(len(times)):
                row += f" {r['errors'][m]['ions'][k]:7.2e}|{r['errors'][m]['psi'][k]:7.1e}"
        lines.append(row)
    row = f"{'rate':>5} {'':>10}"
    for m in models:
        for k in range(len(times)):
            ri, rp = study["rates"][m]["ions"][k], study["rates"][m]["psi"][k]
            ri = math.nan if ri is None else ri
            rp = math.nan if rp is None else rp
            row += f" {ri:7.2f}|{rp:7.2f}"
    lines.append(row)
    res = [r["cancellation_residual"] for r in study["results"] if r["cancellation_residual"]]
    if res:
        lines.append(
            f"(I3) on the solver's operators: |b_schmuck − b_reduced|/|b_reduced| ≤ {max(res):.1e}"
        )
    lines.append(verdict(study))
    t = study["tensors"]
    lines.append(
        f"cell: p = {t['porosity']:.4f}, ε⁰_xx = {t['eps_eff'][0][0]:.5g}, "
        f"Π_xx = {t['tortuosity'][0][0]:.5g} (p·I without tortuosity: {t['porosity']:.4f}) on "
        f"the {t['cell_mesh']}; fine-mesh values ε⁰_xx = {t['converged_eps_eff'][0][0]:.5g}, "
        f"Π_xx = {t['converged_tortuosity'][0][0]:.5g}"
    )
    return "\n".join(lines)


# -- regimes --------------------------------------------------------------------------------------
REGIMES = {
    "baseline": {},
    "thin Debye layers (λ² = 1e-4)": {"lambda_sq": 1e-4, "alpha": 2.5e-5},
    "high permittivity contrast (α/λ² = 100)": {"alpha": 5.0},
    "strong driving (V = 20)": {"voltage": 20.0},
    "towards steady state (t = 1.5)": {"times": (0.02, 1.5)},
}
REGIME_S = (0.125, 0.0625, 0.03125)


def regime_study(
    base: HomogenizationCase,
    s_values: Sequence[float] = REGIME_S,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Both models' errors at the last comparison time for each regime probe, against s."""
    rows = []
    for label, changes in REGIMES.items():
        case = replace(base, name=label, **changes)
        medium, _ = effective_medium(case.lambda_sq, case.alpha, case.cells_per_side)
        row: dict[str, Any] = {"regime": label, "s": list(s_values), "t": case.times[-1]}
        try:
            results = [run_case(case, s, medium, MODELS, {}, progress) for s in s_values]
        except Exception as err:  # a failed probe is a result too
            rows.append(row | {"failed": f"{type(err).__name__}: {err}"})
            continue
        row["times"] = list(case.times)
        for m in MODELS:
            for q in ("ions", "psi"):
                # errors[s index][time index] and the rate in s at each time
                e = [r.errors[m][q] for r in results]
                row[f"{m}_{q}"] = e
                row[f"{m}_{q}_rate"] = [
                    _rate(s_values, [ek[k] for ek in e]) for k in range(len(case.times))
                ]
        rows.append(row)
    return rows


def regime_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    s_text = ", ".join(f"1/{round(1 / s)}" for s in rows[0]["s"])
    times = rows[0].get("times", [])
    lines = [
        f"regimes (driven case, s = {s_text}): max cell error of the ions at the finest s, "
        f"rate in s in brackets, at t = {times[0]:g} and t = {times[-1]:g}"
        if times
        else "regimes"
    ]
    for r in rows:
        if "failed" in r:
            lines.append(f"  {r['regime']:<42} failed: {r['failed']}")
            continue
        cols = []
        for m in MODELS:
            parts = []
            for k in (0, -1):
                rate = r[f"{m}_ions_rate"][k]
                rate = math.nan if rate is None else rate
                parts.append(f"{r[f'{m}_ions'][-1][k]:.1e} ({rate:5.2f})")
            cols.append(f"{m} " + " ".join(parts))
        lines.append(f"  {r['regime']:<40} " + "  ".join(cols))
    return "\n".join(lines)


# -- figures & command ----------------------------------------------------------------------------
def plot_study(studies: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pnpf_fem.app.output import atomic_path

    n = len(studies)
    fig, axes = plt.subplots(2, n, figsize=(6 * n, 8), squeeze=False)
    for col, (name, st) in enumerate(studies.items()):
        s = np.asarray(st["s"])
        ax = axes[0, col]
        for m in st["rates"]:
            e = [r["errors"][m]["ions"][-1] for r in st["results"]]
            ax.loglog(s, e, "o-", label=f"{m}: ions (rate {st['rates'][m]['ions'][-1] or 0:.2f})")
            e = [r["errors"][m]["psi"][-1] for r in st["results"]]
            ax.loglog(s, e, "s--", label=f"{m}: ψ (rate {st['rates'][m]['psi'][-1] or 0:.2f})")
        e0 = st["results"][0]["errors"]["perforated"]["ions"][-1]
        ax.loglog(s, e0 * (s / s.max()) ** 2, "k:", label="O(s²)")
        ax.set(title=f"{name}: max cell error at t = {st['case']['times'][-1]:g}", xlabel="s")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        prof = st["results"][-1]["profiles"]
        x = np.asarray(prof["x"])
        ax.plot(x, prof["resolved"]["n_plus"], "k.", label="resolved ⟨n⁺⟩ (finest s)")
        ax.plot(x, prof["resolved"]["n_minus"], "kx", ms=4, label="resolved ⟨n⁻⟩")
        for m in st["rates"]:
            ax.plot(x, prof[m]["u1"], "-", label=f"{m} u¹")
            ax.plot(x, prof[m]["u2"], "--", label=f"{m} u²")
        ax.set(title=f"{name}: cell averages at t = {st['case']['times'][-1]:g}", xlabel="x")
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


QUICK_S = (0.25, 0.125)
FULL_S = (0.25, 0.125, 0.0625, 0.03125, 0.015625)


def reproduce_homogenization(
    quick: bool, output: Path, quiet: bool = False, s_values: Sequence[float] | None = None
) -> dict[str, Any]:
    """The s-study for every case (+ regime probes unless quick); writes `output`."""
    from mpi4py import MPI

    from pnpf_fem.app.info import environment_report
    from pnpf_fem.app.output import RunDirectory, git_commit, publish_folder, staging_folder

    comm = MPI.COMM_WORLD
    s_values = tuple(s_values or (QUICK_S if quick else FULL_S))
    for s in s_values:
        if not (s > 0 and abs(round(1 / s) * s - 1) < 1e-12):
            raise InputError(f"--s values must be 1/n for an integer n, got {s}")
    cases = dict(CASES)
    if quick:
        cases = {k: replace(c, times=(0.02, 0.1)) for k, c in cases.items()}
    say = None if quiet else emit
    start = time.perf_counter()
    studies = {name: s_study(case, s_values, MODELS, say) for name, case in cases.items()}
    regimes = [] if quick else regime_study(cases["driven"], REGIME_S, say)
    info = {
        "plan": "quick" if quick else "full",
        "git_commit": git_commit(),
        "environment": environment_report(),
        "ranks": comm.size,
        "studies": studies,
        "regimes": regimes,
        "wall_time_s": time.perf_counter() - start,
    }
    text = "\n\n".join(case_error_table(st) for st in studies.values())
    if regimes:
        text += "\n\n" + regime_table(regimes)
    text += f"\n\nwall time {info['wall_time_s']:.0f} s on {comm.size} rank(s)"
    if comm.rank == 0:
        tmp = staging_folder(output)
        try:
            out = RunDirectory(tmp)
            out.write_json("summary.json", info)
            for name, st in studies.items():
                out.write_csv(f"errors_{name}.csv", error_rows(st))
            out.write_text("summary.txt", text + "\n")
            plot_study(studies, tmp / "homogenization_errors.png")
            publish_folder(tmp, output)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if not quiet:
        emit(text)
    return info


def parse_s_values(text: str | None) -> tuple[float, ...] | None:
    """--s "4,8,16" → (1/4, 1/8, 1/16); None when not given (InputError naming a bad value)."""
    if not text:
        return None
    try:
        return tuple(1.0 / int(v) for v in text.split(","))
    except (ValueError, ZeroDivisionError):
        raise InputError(f"--s takes integers 1/s separated by commas, got {text!r}") from None


def _main(args: argparse.Namespace) -> int:
    """The s-study: a periodic row of square-inclusion cells of size s, resolved, against the
    upscaled models (25)/(28) ('schmuck') and the classical perforated-domain model
    ('perforated'); errors of the cell averages and rates in s, and the regime probes."""
    s_values = parse_s_values(args.s)
    output = args.output or Path("results") / f"homogenization{'-quick' if args.quick else ''}"
    reproduce_homogenization(args.quick, Path(output), args.quiet, s_values)
    return 0


def register(studies: argparse._SubParsersAction) -> None:
    summary = "pore-resolved PNP against the paper's effective model and the tortuosity model"
    p = add_command(studies, "homogenization", _main, summary)
    add_report_options(p, "s = 1/4, 1/8 and two times (CI)", "no progress lines or table")
    p.add_argument("--s", default=None, help="values of 1/s, e.g. 4,8,16,32")
