"""`pnpf-fem reproduce porous-impedance`: the impedance of a porous layer, pore-resolved against
the two upscaled closures.

The medium and the models are those of `reproduce homogenization` (one row of 1/s square-inclusion
cells of porosity 0.75 with dielectric solid, λ² = 0.05, α = 0.0125; the closures ``schmuck`` —
the porous-medium paper's, no tortuosity — and ``perforated`` — Π(∇u + zu∇ψ), Π the tortuosity
tensor), between two blocking electrodes (ψ given at x = 0 and x = 1, no ion flux), at rest
(uniform salt, ψ = 0). The spectrum Z(ω) = δV/δI (per unit electrode area, dimensionless, the
upscaled solver's time unit) is computed by the small-signal solver
(`pnpf_fem.fem.impedance`) for the resolved arrays at each s and for both closures; the error of
a closure is max_ω |Z_model − Z_resolved| / |Z_resolved| over the spectrum, its rate the slope of
log error against log s.

This is a porous *separator* between electrodes, not a de Levie electrode: the solid of these
models is a dielectric, not an electronic conductor. Outputs: summary.json (errors, rates,
verdict), spectra.csv, porous_impedance.png (Nyquist plot of the finest resolved array and both
closures, and the errors against s).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pnpf_fem.app.arguments import add_command, add_report_options
from pnpf_fem.app.console import emit, emit_json

__all__ = ["porous_impedance_study", "register", "reproduce_porous_impedance"]

S_FULL = (1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64)
S_QUICK = (1 / 4, 1 / 8)


def _steady_response(solver: Any, tag: Any):
    from pnpf_fem.fem.impedance import FrequencyResponse
    from pnpf_fem.integrate import PseudoTransient, integrate

    run = integrate(solver, math.inf, PseudoTransient(dt0=1e-3, tol=1e-10))
    if not run.converged:
        raise RuntimeError("the porous layer did not reach its steady state")
    return FrequencyResponse(solver.small_signal(tag))


def porous_impedance_study(
    s_values: tuple[float, ...], omegas: np.ndarray, voltage: float = 0.0, comm: Any = None
) -> dict[str, Any]:
    """Spectra of both closures and of the resolved arrays, errors and rates in s."""
    from pnpf_fem.studies import homogenization as hom

    comm = comm or hom._world()
    case = replace(hom.CASES["relaxation"], voltage=voltage)
    medium, _ = hom.effective_medium(case.lambda_sq, case.alpha, case.cells_per_side, comm=comm)
    spectra: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for model in hom.MODELS:
        start = time.perf_counter()
        solver = hom._macro_solver(case, medium, model, comm)
        height = 1.0 / case.macro_elements  # Z per unit area of the electrode
        spectra[model] = _steady_response(solver, 1).spectrum(omegas) * height
        seconds[model] = time.perf_counter() - start
    errors: dict[str, list[float]] = {m: [] for m in hom.MODELS}
    for s in s_values:
        start = time.perf_counter()
        resolved = hom._resolved_solver(case, s, comm)
        z = _steady_response(resolved, "left").spectrum(omegas) * resolved.array.height
        key = f"resolved_1/{round(1 / s)}"
        spectra[key], seconds[key] = z, time.perf_counter() - start
        for m in hom.MODELS:
            errors[m].append(float(np.max(np.abs(spectra[m] - z) / np.abs(z))))
    rates = {m: hom._rate(list(s_values), e) for m, e in errors.items()}
    return {
        "s": list(s_values),
        "omega": omegas.tolist(),
        "voltage": voltage,
        "spectra": {k: [[v.real, v.imag] for v in z] for k, z in spectra.items()},
        "errors": errors,
        "rates": rates,
        "seconds": seconds,
    }


def verdict(study: dict[str, Any]) -> str:
    e, r = study["errors"], study["rates"]
    finest = f"1/{round(1 / study['s'][-1])}"

    def rate(m: str) -> str:
        return "n/a" if r[m] is None else f"{r[m]:.2f}"

    return (
        f"at s = {finest}: perforated {e['perforated'][-1]:.2%} (rate {rate('perforated')}), "
        f"schmuck {e['schmuck'][-1]:.2%} (rate {rate('schmuck')}): the "
        + (
            "perforated (tortuosity) closure reproduces the resolved spectrum"
            if e["perforated"][-1] < e["schmuck"][-1]
            else "schmuck closure is closer"
        )
    )


def table(study: dict[str, Any]) -> str:
    lines = ["porous-layer impedance: max_ω |Z_model − Z_resolved| / |Z_resolved|"]
    lines.append(f"{'s':>8} {'schmuck':>10} {'perforated':>11}")
    for k, s in enumerate(study["s"]):
        e = study["errors"]
        lines.append(
            f"{'1/' + str(round(1 / s)):>8} {e['schmuck'][k]:10.3e} {e['perforated'][k]:11.3e}"
        )
    lines.append(verdict(study))
    return "\n".join(lines)


def plot(study: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pnpf_fem.app.output import atomic_path

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2))
    finest = f"resolved_1/{round(1 / study['s'][-1])}"
    styles = {finest: ("k-", f"pore-resolved, s = 1/{round(1 / study['s'][-1])}")}
    styles |= {"perforated": ("C0--", "perforated (tortuosity)"), "schmuck": ("C3:", "schmuck")}
    for key, (style, label) in styles.items():
        z = np.array([complex(*v) for v in study["spectra"][key]])
        a1.plot(z.real, -z.imag, style, label=label, lw=1.6)
    # the capacitive branch runs off to −Im Z → ∞: show the arc, where the closures differ
    r_max = max(max(v[0] for v in study["spectra"][k]) for k in styles)
    a1.set_xlim(0, 1.15 * r_max)
    a1.set_ylim(0, 2.5 * r_max)
    a1.set_xlabel("Re Z (per unit area, dimensionless)")
    a1.set_ylabel("−Im Z")
    a1.legend(fontsize=8)
    a1.set_title("porous layer between blocking electrodes")
    for m, style in (("perforated", "C0o-"), ("schmuck", "C3s-")):
        a2.loglog(study["s"], study["errors"][m], style, label=m)
    a2.set_xlabel("cell size s")
    a2.set_ylabel("max relative error of Z over ω")
    a2.grid(True, which="both", alpha=0.3)
    a2.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def reproduce_porous_impedance(
    quick: bool = False, output: Path | None = None, quiet: bool = False
) -> dict[str, Any]:
    from mpi4py import MPI

    from pnpf_fem.app.output import RunDirectory

    omegas = np.logspace(-2, 3, 11 if quick else 31)
    study = porous_impedance_study(S_QUICK if quick else S_FULL, omegas)
    study["verdict"] = verdict(study)
    out = output or Path("results") / "porous_impedance"
    run_dir = RunDirectory(out, is_writer=MPI.COMM_WORLD.rank == 0)
    rows = []
    for k, w in enumerate(study["omega"]):
        row: dict[str, Any] = {"omega": w}
        for key, z in study["spectra"].items():
            row |= {f"{key}_re": z[k][0], f"{key}_im": z[k][1]}
        rows.append(row)
    run_dir.write_csv("spectra.csv", rows)
    run_dir.write_json("summary.json", study)
    if MPI.COMM_WORLD.rank == 0:
        plot(study, run_dir.file("porous_impedance.png"))
    study["output"] = str(out)
    return study


def _main(args: argparse.Namespace) -> int:
    """The impedance of a porous layer between blocking electrodes: pore-resolved arrays of
    cell size s against the two upscaled closures (schmuck: no tortuosity; perforated: the
    tortuosity tensor), errors over the spectrum and their rates in s."""
    study = reproduce_porous_impedance(args.quick, args.output, args.quiet)
    if args.json:
        emit_json(study)
    elif not args.quiet:
        emit(table(study) + f"\noutputs in {study['output']}")
    return 0


def register(studies: argparse._SubParsersAction) -> None:
    p = add_command(
        studies,
        "porous-impedance",
        _main,
        "impedance of a porous layer: pore-resolved arrays against both upscaled closures",
    )
    add_report_options(p, "s = 1/4, 1/8 and 11 frequencies (CI)", "no table")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
