"""`pnpf-fem impedance`: the small-signal impedance spectrum of a case between two electrodes.

    pnpf-fem impedance CASE.toml --frequencies FMIN:FMAX:N [--between TAG1,TAG2]
        [--area A] [--output DIR] [--json] [--quiet]

The case's steady state (pseudo-transient continuation of its fem-be equations, every waveform
frozen at its value at t = 0: the bias) is linearized and the potential of TAG1 is perturbed by
δV e^{iωt} while every other electrode, reservoir and thermostat is held
(`pnpf_fem.fem.impedance`). Z(f) = δV/δI with δI the current into TAG1, at N frequencies
log-spaced from FMIN to FMAX Hz, in Ω·m² (per area of TAG1; in 2D per area of the electrode's
cross-section times the depth) and, with --area A [m²], in Ω. Writes impedance.csv,
nyquist.png, bode.png and summary.json, all at the end (a failed solve leaves no folder).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from pnpf_fem.app.arguments import add_command
from pnpf_fem.app.case import Case, load_case
from pnpf_fem.app.console import emit, emit_error, emit_json
from pnpf_fem.app.output import RunDirectory, git_commit
from pnpf_fem.app.plots import plot_impedance
from pnpf_fem.app.progress import CountProgress
from pnpf_fem.app.setup import RunSetup, porous_solver, prepare
from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fem.build import build_scheme
from pnpf_fem.fem.impedance import FrequencyResponse
from pnpf_fem.fem.mesh import from_triangulation
from pnpf_fem.fem.snes import SolverOptions
from pnpf_fem.fv.build import build_scheme as fv_scheme
from pnpf_fem.fv.impedance import FVFrequencyResponse
from pnpf_fem.fv.solver import SolverControl
from pnpf_fem.integrate import Integration, PseudoTransient, integrate
from pnpf_fem.model import (
    Concentration,
    HeatTransfer,
    Potential,
    Problem,
    Stern,
    Temperature,
    Waveform,
)
from pnpf_fem.porous.build import time_factor
from pnpf_fem.units import surface_charge_scale

__all__ = [
    "Spectrum",
    "bias_problem",
    "case_spectrum",
    "choose_pair",
    "impedance_case",
    "parse_frequencies",
    "register",
]


def parse_frequencies(text: str) -> np.ndarray:
    """FMIN:FMAX:N → N frequencies [Hz] log-spaced from FMIN to FMAX (0 < FMIN ≤ FMAX)."""
    parts = text.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        fmin, fmax, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise InputError(f"--frequencies {text!r}: expected FMIN:FMAX:N, e.g. 1e3:1e9:41") from None
    if not (0 < fmin <= fmax < math.inf) or n < 1 or (n == 1 and fmin != fmax):
        raise InputError(f"--frequencies {text!r}: need 0 < FMIN <= FMAX and N >= 1")
    return np.logspace(math.log10(fmin), math.log10(fmax), n)


def _electrodes(problem: Problem) -> list[str]:
    """The tags that carry a potential (Dirichlet or behind a Stern layer), in case order."""
    return [c.tag for c in problem.conditions if isinstance(c, (Potential, Stern))]


def choose_pair(problem: Problem, between: str | None) -> tuple[str, str]:
    """(driven, counter) electrode tags from --between, or the case's only two electrodes."""
    electrodes = _electrodes(problem)
    if between is None:
        if len(electrodes) != 2:
            raise InputError(
                f"--between TAG1,TAG2 is needed: the case has {len(electrodes)} electrodes "
                f"({', '.join(electrodes)})"
            )
        pair = electrodes
    else:
        pair = [t.strip() for t in between.split(",")]
        if len(pair) != 2 or pair[0] == pair[1]:
            raise InputError(f"--between {between!r}: expected two different tags TAG1,TAG2")
        for tag in pair:
            if tag not in electrodes:
                raise InputError(
                    f"--between: {tag!r} carries no potential (electrodes: "
                    f"{', '.join(electrodes) or 'none'})"
                )
    reservoirs = {c.tag for c in problem.conditions if isinstance(c, Concentration)}
    if pair[0] in reservoirs:
        raise InputError(
            f"--between: the driven tag {pair[0]!r} is a reservoir (ions cross it); drive an "
            "electrode and put the reservoir second"
        )
    return pair[0], pair[1]


def bias_problem(problem: Problem) -> Problem:
    """`problem` with every waveform replaced by its value at t = 0 (the DC bias)."""
    conditions = [
        dataclasses.replace(c, value=float(c.value(0.0))) if isinstance(c.value, Waveform) else c
        for c in problem.conditions
    ]
    return dataclasses.replace(problem, conditions=conditions)


def steady_state(setup: RunSetup, scheme: Any) -> Integration:
    """Pseudo-transient continuation to the steady state (SolverError if it is not reached)."""
    tm = setup.case.time
    control = PseudoTransient(dt0=setup.dt, tol=tm["steady_tol"], max_steps=tm["max_steps"])
    run = integrate(scheme, math.inf, control)
    if not run.converged:
        raise SolverError(
            f"no steady state: max |du/dt| = {run.rate:.3g} after {run.accepted} steps "
            f"(tol {control.tol:g})"
        )
    return run


def _rows(freqs: np.ndarray, omegas: np.ndarray, z: np.ndarray, area: float | None) -> list:
    rows = []
    for f, w, zi in zip(freqs, omegas, z, strict=True):
        row = {
            "frequency_Hz": float(f),
            "omega": float(w),
            "Z_real_ohm_m2": zi.real,
            "Z_imag_ohm_m2": zi.imag,
            "Z_abs_ohm_m2": abs(zi),
            "phase_deg": math.degrees(math.atan2(zi.imag, zi.real)),
        }
        if area is not None:
            row |= {"Z_real_ohm": zi.real / area, "Z_imag_ohm": zi.imag / area}
        rows.append(row)
    return rows


@dataclass(frozen=True)
class Spectrum:
    """Z [Ω·m²] at the frequencies, the driven electrode's area [m²] and the steady state."""

    z: np.ndarray
    omegas: np.ndarray
    electrode_area_m2: float
    steady_steps: int
    bias: dict[str, float]


def solver_options(case: Case) -> SolverOptions:
    solver = case.solver
    return SolverOptions(
        linear_solver=solver["linear"],
        rtol=solver["rtol"],
        atol=solver["atol"],
        max_it=solver["max_iterations"],
        petsc_options=dict(solver["petsc_options"] or {}),
    )


def _linearized(setup: RunSetup, driven: str, comm: Any) -> tuple[Any, float, float, Any]:
    """(the frequency response at the steady state, the solver's time unit [s], |Γ| of `driven`,
    the steady-state run): fem-be for FEM cases, fv-bdf2's box equations for FV cases, the
    upscaled solver for [porous] cases."""
    case, problem = setup.case, bias_problem(setup.problem)
    time_unit = setup.model.scales.time
    if setup.finite_volumes:
        if comm.size > 1:
            raise InputError("the finite-volume impedance runs on one rank: use a fem-* method")
        control = SolverControl(
            tol=case.solver["rtol"], max_iterations=case.solver["max_iterations"]
        )
        scheme = fv_scheme(problem, "fv-bdf2", control)
        run = steady_state(setup, scheme)
        return FVFrequencyResponse(scheme, driven), time_unit, _measure(setup, driven), run
    if case.porous is None:
        degree = case.discretization["degree"]
        solver = build_scheme(problem, "fem-be", degree, solver_options(case), comm=comm)
    else:
        fmesh = from_triangulation(setup.tri, comm)
        solver = porous_solver(setup, problem, fmesh, solver_options(case))
        time_unit /= time_factor(problem)  # the upscaled solver's time unit (`time_factor`)
    run = steady_state(setup, solver)
    return FrequencyResponse(solver.small_signal(driven)), time_unit, _measure(setup, driven), run


def _measure(setup: RunSetup, tag: str) -> float:
    """|Γ| of the tag (dimensionless length in 2D, area in 3D) from the triangulation."""
    tri = setup.tri
    facets = tri.facets[tri.facet_markers == tri.tag_names[tag]]
    p = tri.points[facets]
    if tri.dim == 2:
        return float(np.sum(np.linalg.norm(p[:, 1] - p[:, 0], axis=1)))
    return float(np.sum(np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)) / 2)


def case_spectrum(
    setup: RunSetup,
    frequencies: np.ndarray,
    driven: str,
    comm: Any = MPI.COMM_WORLD,
    quiet: bool = True,
) -> Spectrum:
    """The steady state of `setup` (waveforms at t = 0) and Z(f) with `driven` perturbed."""
    response, time_unit, measure, run = _linearized(setup, driven, comm)
    bias = dict(run.records[-1]) if run.records else {}
    sc = setup.model.scales
    omegas = 2 * math.pi * frequencies * time_unit
    # Z·|Γ| in units of (k_BT0/e) / (F c0 L / time unit): Ω·m²
    z_unit = sc.potential / (surface_charge_scale(sc) / time_unit) * measure
    progress = CountProgress(len(omegas), "frequencies", enabled=not quiet and comm.rank == 0)
    z = []
    for k, w in enumerate(omegas):
        z.append(response.impedance(float(w)) * z_unit)
        progress.update(k + 1, f"f={frequencies[k]:.3g} Hz |Z|={abs(z[-1]):.3g} Ω·m²")
    progress.close()
    area = measure * sc.length ** (setup.tri.dim - 1)
    return Spectrum(np.array(z, dtype=complex), omegas, area, run.accepted, dict(bias))


def insulation_warning(setup: RunSetup) -> str | None:
    """A warning when nothing holds the temperature: then the steady state's T is the heat its
    pseudo-transient path released (not set by the data), and so is the spectrum."""
    if setup.case.porous is not None and not setup.case.porous["heat"]:
        return None  # isothermal
    if any(isinstance(c, (Temperature, HeatTransfer)) for c in setup.problem.conditions):
        return None
    return (
        "pnpf-fem impedance: warning: no boundary holds the temperature, so the steady T (the "
        "operating point) is whatever heat the path to it released; hold a temperature "
        "(temperature or heat_transfer on a tag) for a bias the data define"
    )


def _linearized_method(setup: RunSetup) -> str:
    if setup.finite_volumes:
        return "fv-bdf2"
    porous = setup.case.porous
    if porous is None:
        return "fem-be"
    return f"porous {porous['transport']}" + (" with heat" if porous["heat"] else "")


def impedance_case(
    case_path: str | Path,
    frequencies: np.ndarray,
    between: str | None = None,
    output: str | Path | None = None,
    area: float | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """The impedance spectrum of a case; returns the summary (also written to summary.json)."""
    wall0 = time.perf_counter()
    if area is not None and not (0 < area < math.inf):
        raise InputError(f"--area {area!r}: must be a positive area in m²")
    case = load_case(case_path)
    out = Path(output or Path("results") / f"{Path(case_path).stem}_impedance")
    setup = prepare(case)
    driven, counter = choose_pair(bias_problem(setup.problem), between)
    result = case_spectrum(setup, frequencies, driven, quiet=quiet)
    z = result.z
    rows = _rows(frequencies, result.omegas, z, area)
    summary = {
        "status": "completed",
        "case": case.source,
        "output": str(out),
        "method": _linearized_method(setup) + " (linearized at its steady state)",
        "case_method": case.discretization["method"],
        "degree": case.discretization["degree"],
        "between": [driven, counter],
        "electrode_area_m2": result.electrode_area_m2,
        "area_m2": area,
        "bias": {
            "potentials_V": {
                t: v * setup.model.scales.potential for t, v in setup.dirichlet.items()
            },
            "steady_steps": result.steady_steps,
            "observables": result.bias,
        },
        "frequencies_Hz": frequencies.tolist(),
        "Z_ohm_m2": [[zi.real, zi.imag] for zi in z],
        "low_frequency_capacitance_F_m2": -1 / (2 * math.pi * frequencies[0] * z[0].imag),
        "high_frequency_resistance_ohm_m2": z[-1].real,
        "timings_s": {"total": time.perf_counter() - wall0},
        "git_commit": git_commit(),
    }
    warning = insulation_warning(setup)
    summary["warnings"] = [warning] if warning else []
    run_dir = RunDirectory(out, is_writer=is_root())
    run_dir.write_csv("impedance.csv", rows)
    if is_root():
        plot_impedance(rows, area, run_dir.file("nyquist.png"), run_dir.file("bode.png"))
    run_dir.write_json("summary.json", summary)
    if warning:
        emit_error(warning)
    return summary


def is_root() -> bool:
    return MPI.COMM_WORLD.rank == 0


def _impedance(args: argparse.Namespace) -> int:
    """The small-signal impedance Z(f) of a case between two electrodes: its steady state
    (pseudo-transient fem-be, waveforms frozen at t = 0), linearized, solved frequency by
    frequency; Z in Ω·m² of the driven electrode (and Ω with --area). Writes impedance.csv,
    nyquist.png, bode.png and summary.json."""
    freqs = parse_frequencies(args.frequencies)
    result = impedance_case(
        args.case, freqs, args.between, args.output, args.area, args.quiet or args.json
    )
    if args.json:
        emit_json(result)
    elif not args.quiet:
        emit(
            f"pnpf-fem impedance: {len(freqs)} frequencies between {result['between'][0]} and "
            f"{result['between'][1]} in {result['timings_s']['total']:.1f} s; outputs in "
            f"{result['output']}"
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers,
        "impedance",
        _impedance,
        "impedance spectrum of a case between two electrodes (small-signal, frequency domain)",
    )
    p.add_argument("case", help="the case file (TOML), e.g. demos/stern_capacitor.toml")
    p.add_argument(
        "--frequencies", required=True, help="FMIN:FMAX:N — N log-spaced frequencies in Hz"
    )
    p.add_argument(
        "--between",
        default=None,
        help="TAG1,TAG2: drive TAG1, hold TAG2 (default: the case's two electrodes)",
    )
    p.add_argument("--area", type=float, default=None, help="electrode area [m²]: Z also in Ω")
    p.add_argument(
        "--output", default=None, help="output folder (default results/<case>_impedance)"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar or final message")
