"""FiPy's PNP test problem timed against the pnpf-fem finite volumes (not a test).

The problem (benchmarks/fipy_problem.toml is the one source of its numbers): on the unit square

    ∂c±/∂t = ∇·(∇c± ± c±∇ψ),   −ε²Δψ = c⁺ − c⁻,   ε = λ_D/L = 0.1,

ψ = −2 on x = 0 and +2 on x = 1 (units k_BT₀/e), no ion flux anywhere, c± = 1 at t = 0, 10 steps
of Δt = 1e-3 L²/D.

Time units: FiPy's equations are in t' = t D/L²; pnpf-fem scales time by τ = λ_D L ν₀/(k_BT₀)
= ε L²/D (src/pnpf_fem/units.py, D = k_BT₀/ν₀ for the equal frictions ν = ν₀), so its scaled
Nernst–Planck equation reads ∂c/∂t̃ = ε ∇·(∇c + z c∇ψ) and t' = ε t̃: the case's Δt = 1e-2 τ is
FiPy's Δt = 1e-3 L²/D. The FiPy side takes ε, Δt, the number of steps and the electrode
potentials from the case, so the two cannot drift apart.

FiPy (4.0.3, `Grid2D(nx=N, ny=N, dx=1/N, dy=1/N)`, cell-centred) runs in a subprocess of a
throw-away virtual environment, on a script this benchmark writes. The three equations are
coupled with `&` and swept with `LinearLUSolver` (FiPy's SciPy suite: SuperLU, as our FV
schemes use) until the sweep residual (FiPy's ‖Lx − b‖ of the coupled system before each solve)
stops decreasing. The drift is written the way FiPy's maintainers recommend for coupled
systems, as a diffusion term in ψ with the concentration as its coefficient,
`DiffusionTerm(coeff=±c.faceValue, var=psi)` (diffusive terms rather than convective ones
wherever there is a choice, usnistgov/fipy#758), zeroed on the boundary faces so that the
electrodes let no ions through (FiPy's USAGE, "Applying fixed flux boundary conditions");
`--fipy-drift convection` uses `ConvectionTerm(coeff=±psi.faceGrad, var=c)` instead (ψ lagged;
its sweep residual does not fall monotonically, so the stop rule can end a step near 1e-7). ψ starts
from the linear profile, the exact discrete Poisson solution for c⁺ = c⁻ (ours solves that
Poisson problem during set-up). FiPy is run twice per size (`--fipy-lu both`):

* ``lu-default``: `LinearLUSolver()` as it comes. Its default tolerance (1e-5 of ‖b‖) makes it
  skip the solve once the residual is below that, so the sweeps stop decreasing at ≈1e-4;
* ``lu-tight``: `LinearLUSolver(tolerance=0, criterion="unscaled", iterations=1)`, one LU solve
  per sweep, so the sweeps go on to round-off (comparable to our Newton tolerance 1e-10).

FiPy's time per step is the median over steps 2…10 (assembly and solves of all sweeps); the first
step is reported apart.

Ours: `pnpf_fem.app.run.run_case` on a copy of the case file with `[mesh] n = N` (structured
unit square, (N+1)² vertices: c⁺, c⁻, ψ and T, the temperature equation solved with a heat
capacity of 10⁶ c₀) and the method (fv1, fv-bdf2, fv2), Newton tolerance 1e-10 set in the case
(`[solver] rtol`, whose default is 1e-9; for the FV schemes it bounds the max-norm of the
Newton update). Time per step: the median over steps 2…10 of observables.csv's `wall_time`
(the Newton solve; outputs excluded). Unless `--no-direct`, the same case is also stepped
directly (`pnpf_fem.app.setup.prepare`, `pnpf_fem.fv.build.build_scheme`,
`pnpf_fem.integrate.integrate`) and each whole `step` timed (observables included). In the same
process, one CG + BoomerAMG P1 Poisson solve on the same mesh (assembly included, rtol 1e-8;
the pattern of benchmarks/fem_scaling.py) is the yardstick: "ours/Poisson" is a step in units
of it, which survives the noise of a shared machine better than seconds do. The 1-minute load
average is printed with every row.

Installing FiPy. The virtual environment is made inside the project environment with
`python3 -m venv --without-pip --system-site-packages DIR` (it sees the system's numpy, scipy,
matplotlib and pip; Debian's python has no ensurepip) and FiPy goes in with
`DIR/bin/python -m pip install --no-deps fipy==4.0.3` (numpy, scipy and matplotlib come from
the system; FiPy's other requirements, typer and typing_extensions, serve only its command-line
tools, not `import fipy`). Nothing is installed into the project environment. The venv lives
in a temporary directory removed at the end, unless `--keep-venv DIR` (made there and kept, to
rerun quickly) or `--venv DIR` (one made before, used as it is).

If pip cannot reach the index from inside the container: behind a TLS-intercepting proxy the
container lacks the host's CA bundle (pip reports CERTIFICATE_VERIFY_FAILED); copy it where the
container sees it and pass it, or download the wheel on the host and pass that:

    cp /etc/ssl/certs/ca-certificates.crt /tmp/host-ca.crt
    ./env/run python3 benchmarks/fv_vs_fipy.py --pip-cert /tmp/host-ca.crt
    # or, offline:
    python3 -m pip download fipy==4.0.3 --no-deps -d /tmp/wheels          # on the host
    ./env/run python3 benchmarks/fv_vs_fipy.py --fipy-wheel /tmp/wheels/fipy-4.0.3-py3-none-any.whl

Usage:

    ./env/run python3 benchmarks/fv_vs_fipy.py [--sizes 32 64 128] [--methods fv1 fv-bdf2 fv2]
        [--pip-cert FILE | --fipy-wheel WHEEL] [--keep-venv DIR | --venv DIR]
        [--fipy-lu both|default|tight] [--fipy-drift diffusion|convection] [--no-direct]
        [--json [FILE]]

BLAS/OpenMP threads are set to 1 (unless already set) in both processes: SuperLU on both sides,
single-threaded, on a 2-core machine shared with others. Serial only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yardstick

FIPY_VERSION = "4.0.3"
HERE = Path(__file__).resolve().parent
CASE = HERE / "fipy_problem.toml"
METHODS = ("fv1", "fv-bdf2", "fv2")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# The FiPy side, run by the venv's python: argv[1] is a JSON object of the settings; prints one
# line "RESULT {json}".
FIPY_SCRIPT = r"""
import json
import sys
import time

import numpy as np

import fipy as fp

cfg = json.loads(sys.argv[1])
n, eps, dt = cfg["n"], cfg["eps"], cfg["dt"]
psi_left, psi_right = cfg["psi_left"], cfg["psi_right"]
setup_start = time.perf_counter()
mesh = fp.Grid2D(nx=n, ny=n, dx=1.0 / n, dy=1.0 / n)
x = mesh.cellCenters[0]
cp = fp.CellVariable(mesh=mesh, name="c+", value=1.0, hasOld=True)
cm = fp.CellVariable(mesh=mesh, name="c-", value=1.0, hasOld=True)
# the linear profile: the discrete Poisson solution for c+ = c-
psi = fp.CellVariable(
    mesh=mesh, name="psi", value=psi_left + (psi_right - psi_left) * x, hasOld=True
)
psi.constrain(psi_left, mesh.facesLeft)
psi.constrain(psi_right, mesh.facesRight)
if cfg["drift"] == "diffusion":
    # the drift ∇·(z c ∇ψ) as a diffusion term in ψ, c lagged by the sweeps; zero on the
    # boundary faces: no ion flux through the electrodes, where ψ is constrained
    drift_p = fp.DiffusionTerm(coeff=cp.faceValue * mesh.interiorFaces, var=psi)
    drift_m = fp.DiffusionTerm(coeff=-cm.faceValue * mesh.interiorFaces, var=psi)
else:
    # ∇·(u c) with u = z ∇ψ lagged (FiPy's ConvectionTerm, power-law upwinding); c is
    # unconstrained, so the boundary faces carry no convective flux
    drift_p = fp.ConvectionTerm(coeff=psi.faceGrad, var=cp)
    drift_m = fp.ConvectionTerm(coeff=-psi.faceGrad, var=cm)
eq_p = fp.TransientTerm(var=cp) == fp.DiffusionTerm(coeff=1.0, var=cp) + drift_p
eq_m = fp.TransientTerm(var=cm) == fp.DiffusionTerm(coeff=1.0, var=cm) + drift_m
eq_psi = (
    fp.DiffusionTerm(coeff=eps**2, var=psi)
    + fp.ImplicitSourceTerm(coeff=1.0, var=cp)
    - fp.ImplicitSourceTerm(coeff=1.0, var=cm)
    == 0
)
eq = eq_p & eq_m & eq_psi
if cfg["lu"] == "default":
    solver = fp.LinearLUSolver()
else:
    solver = fp.LinearLUSolver(tolerance=0.0, criterion="unscaled", iterations=1)
setup = time.perf_counter() - setup_start
steps = []
for _ in range(cfg["steps"]):
    start = time.perf_counter()
    for var in (cp, cm, psi):
        var.updateOld()
    history, previous = [], np.inf
    while len(history) < cfg["max_sweeps"]:
        residual = float(eq.sweep(dt=dt, solver=solver))
        history.append(residual)
        if residual >= previous:
            break
        previous = residual
    steps.append({"seconds": time.perf_counter() - start, "residuals": history})
volume = 1.0 / n**2
left = np.asarray(mesh.facesLeft.value, dtype=bool)
inner = np.asarray(mesh.faceCellIDs[0])[left]
# the charge on x = 0, eps² ∫ ∂ψ/∂n ds (n outward), as pnpf-fem's charge_left
charge = eps**2 * float(np.sum((psi_left - psi.value[inner]) / (0.5 / n))) / n
print(
    "RESULT "
    + json.dumps(
        {
            "fipy_version": fp.__version__,
            "solver_suite": fp.solvers.solver_suite,
            "unknowns": 3 * n * n,
            "setup_seconds": setup,
            "steps": steps,
            "charge_left": charge,
            "mass": [float(np.sum(cp.value)) * volume, float(np.sum(cm.value)) * volume],
            "min_c": float(min(cp.value.min(), cm.value.min())),
        }
    ),
    flush=True,
)
"""


def load_average() -> float:
    """The 1-minute load average (the machine is shared)."""
    return os.getloadavg()[0]


def _median_after_first(values: list[float]) -> float:
    rest = values[1:] if len(values) > 1 else values
    return float(statistics.median(rest))


# -- FiPy in its own virtual environment ----------------------------------------------------------
def _venv_python(directory: Path) -> Path:
    return directory / "bin" / "python"


def _fipy_version(python: Path) -> str | None:
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import fipy; print(fipy.__version__)"],
        capture_output=True,
        text=True,
        env=_fipy_env("scipy"),
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def prepare_venv(args: argparse.Namespace, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """The venv's python with FiPy importable, and how it got there."""
    if args.venv:
        python = _venv_python(Path(args.venv).resolve())
        found = _fipy_version(python)
        if found != FIPY_VERSION:
            sys.exit(f"fv_vs_fipy: --venv {args.venv}: no FiPy {FIPY_VERSION} there ({found})")
        return python, {"venv": str(python.parent.parent), "installed": "reused (--venv)"}
    directory = Path(args.keep_venv).resolve() if args.keep_venv else workdir / "venv"
    python = _venv_python(directory)
    if _fipy_version(python) == FIPY_VERSION:
        return python, {"venv": str(directory), "installed": "reused (--keep-venv)"}
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(directory)],
        check=True,
    )
    cmd = [str(python), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check"]
    if args.pip_cert:
        cmd += ["--cert", str(Path(args.pip_cert).resolve())]
    if args.fipy_wheel:
        cmd += ["--no-index", str(Path(args.fipy_wheel).resolve())]
        how = f"wheel {args.fipy_wheel}"
    else:
        cmd += [f"fipy=={FIPY_VERSION}"]
        how = f"index (pip install fipy=={FIPY_VERSION})"
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        sys.exit(
            f"fv_vs_fipy: installing FiPy failed ({' '.join(cmd)}):\n{tail}\n"
            "Behind a TLS-intercepting proxy pass the host's CA bundle with --pip-cert FILE, or "
            "a wheel downloaded on the host with --fipy-wheel PATH (see the docstring)."
        )
    found = _fipy_version(python)
    if found != FIPY_VERSION:
        sys.exit(f"fv_vs_fipy: the venv imports FiPy {found}, not {FIPY_VERSION}")
    info = {"venv": str(directory), "installed": how, "pip_seconds": time.perf_counter() - start}
    return python, info


def _fipy_env(suite: str) -> dict[str, str]:
    env = os.environ.copy()
    env["FIPY_SOLVERS"] = suite
    for name in THREAD_VARIABLES:
        env.setdefault(name, "1")
    env.pop("PYTHONPATH", None)  # the project's sources are not FiPy's business
    return env


def run_fipy(
    python: Path, script: Path, n: int, lu: str, problem: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    cfg = {
        "n": n,
        "lu": lu,
        "drift": args.fipy_drift,
        "max_sweeps": args.max_sweeps,
        **problem,
    }
    load_before = load_average()
    proc = subprocess.run(
        [str(python), str(script), json.dumps(cfg)],
        capture_output=True,
        text=True,
        env=_fipy_env(args.fipy_solvers),
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"fv_vs_fipy: the FiPy run (N = {n}, {lu}) failed:\n{proc.stderr[-3000:]}")
    out = json.loads(lines[-1][len("RESULT ") :])
    seconds = [s["seconds"] for s in out["steps"]]
    sweeps = [len(s["residuals"]) for s in out["steps"]]
    finals = [s["residuals"][-1] for s in out["steps"]]
    return {
        "side": "fipy",
        "solver": f"fipy {lu}",
        "n": n,
        "unknowns": out["unknowns"],
        "seconds_per_step": _median_after_first(seconds),
        "first_step": seconds[0],
        "step_seconds": seconds,
        "sweeps_per_step": sum(sweeps) / len(sweeps),
        "sweeps": sweeps,
        "final_residual": max(finals),
        "final_residuals": finals,
        "initial_residuals": [s["residuals"][0] for s in out["steps"]],
        "charge_left": out["charge_left"],
        "mass": out["mass"],
        "min_c": out["min_c"],
        "setup_seconds": out["setup_seconds"],
        "fipy_version": out["fipy_version"],
        "solver_suite": out["solver_suite"],
        "drift": args.fipy_drift,
        "load_before": load_before,
        "load_after": load_average(),
    }


# -- ours: the case file through the product's API ----------------------------------------------
def case_variant(text: str, n: int, method: str, steps: int, dt_s: float, path: Path) -> Path:
    """The case with `[mesh] n`, `[discretization] method` and `[time] end` replaced."""
    subs = [
        (r"(?m)^n = \d+$", f"n = {n}"),
        (r'(?m)^method = "[^"]*"$', f'method = "{method}"'),
        (r"(?m)^end = \S+$", f"end = {steps * dt_s!r}"),
    ]
    for pattern, new in subs:
        text, count = re.subn(pattern, new, text)
        if count != 1:
            sys.exit(f"fv_vs_fipy: {CASE} must have exactly one line matching {pattern!r}")
    path.write_text(text)
    return path


def fipy_problem(case_path: Path) -> tuple[dict[str, Any], Any]:
    """ε, FiPy's Δt (time unit L²/D = τ/ε), the steps and the potentials, from the case."""
    from pnpf_fem.app.case import load_case
    from pnpf_fem.app.setup import prepare

    setup = prepare(load_case(case_path))
    model = setup.model
    if tuple(model.valences) != (1.0, -1.0) or len(set(model.frictions)) != 1:
        sys.exit("fv_vs_fipy: the case must hold one +1 and one −1 species of equal friction")
    if set(setup.dirichlet) != {"left", "right"} or setup.problem.surface_charges:
        sys.exit("fv_vs_fipy: the case must set potentials on left and right only")
    # the scaled NP equation is ∂c/∂t̃ = (ε/ν) ∇·(∇c + z c ∇ψ): one τ is ε/ν units of L²/D
    unit = model.eps / model.frictions[0]
    problem = {
        "eps": model.eps,
        "dt": setup.dt * unit,
        "steps": round(setup.t_end / setup.dt),
        "psi_left": setup.dirichlet["left"],
        "psi_right": setup.dirichlet["right"],
        "tau_in_fipy_units": unit,
        "dt_case": setup.dt,
        "tau_s": model.scales.time if model.scales else None,
    }
    return problem, setup


def run_ours(case_path: Path, out_dir: Path, n: int, method: str) -> dict[str, Any]:
    """`run_case` on the variant; time per step from observables.csv."""
    import csv

    from pnpf_fem.app.run import run_case

    load_before = load_average()
    start = time.perf_counter()
    summary = run_case(case_path, output=out_dir, quiet=True)
    total = time.perf_counter() - start
    with open(out_dir / "observables.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[1:]  # row 0 is the initial state
    seconds = [float(r["wall_time"]) for r in rows]
    newton = [int(r["newton_iterations"]) for r in rows]
    return {
        "side": "ours",
        "solver": method,
        "n": n,
        "unknowns": 4 * summary["mesh"]["vertices"],
        "seconds_per_step": _median_after_first(seconds),
        "first_step": seconds[0],
        "step_seconds": seconds,
        "newton_per_step": sum(newton) / len(newton),
        "newton": newton,
        "steps": len(rows),
        "charge_left": float(rows[-1]["charge_left"]),
        "mass": [float(rows[-1]["mass_cation"]), float(rows[-1]["mass_anion"])],
        "min_c": float(rows[-1]["min_c"]),
        "max_dT": float(rows[-1]["max_dT"]),
        "run_case_seconds": total,
        "run_case_timings": summary["timings_s"],
        "load_before": load_before,
        "load_after": load_average(),
    }


def time_direct(case_path: Path, control_tol: float, max_it: int) -> dict[str, Any]:
    """The same case stepped by `integrate`, each whole `step` (observables included) timed."""
    from pnpf_fem.app.case import load_case
    from pnpf_fem.app.setup import prepare
    from pnpf_fem.fv.build import build_scheme
    from pnpf_fem.fv.solver import SolverControl
    from pnpf_fem.integrate import FixedSteps, integrate

    case = load_case(case_path)
    setup = prepare(case)
    start = time.perf_counter()
    control = SolverControl(tol=control_tol, max_iterations=max_it)
    scheme = build_scheme(setup.problem, setup.method, control)
    build = time.perf_counter() - start
    marks = [time.perf_counter()]

    def observe(record: Any, _dt: float) -> None:
        marks.append(time.perf_counter())

    load_before = load_average()
    marks[0] = time.perf_counter()
    integrate(scheme, setup.t_end, FixedSteps(setup.dt), observers=[observe])
    seconds = [b - a for a, b in itertools.pairwise(marks)]
    return {
        "seconds_per_step": _median_after_first(seconds),
        "first_step": seconds[0],
        "step_seconds": seconds,
        "build_seconds": build,
        "load_before": load_before,
        "load_after": load_average(),
    }


def poisson_yardstick(tri: Any) -> tuple[float, int]:
    """The yardstick (benchmarks/yardstick.py) on `tri`, distributed over the ranks."""
    from mpi4py import MPI

    from pnpf_fem.fem.mesh import from_triangulation

    return yardstick.poisson_yardstick(from_triangulation(tri, MPI.COMM_WORLD))


# -- the table ----------------------------------------------------------------------------------
def _row(r: dict[str, Any], fipy: dict[str, dict[str, Any]], poisson: float) -> str:
    head = (
        f"{r['n']:>4d}  {r['solver']:<16s}{r['unknowns']:>8d}  {r['seconds_per_step']:>8.3f}"
        f"  {r['first_step']:>7.3f}"
    )
    if r["side"] == "fipy":
        its = f"{r['sweeps_per_step']:5.1f} sw"
        tail = f"{r['final_residual']:>9.1e}  {'':>8s}  {'':>13s}  {'':>8s}"
    else:
        its = f"{r['newton_per_step']:5.1f} Nw"
        direct = r.get("direct", {}).get("seconds_per_step")
        direct_s = f"{direct:8.3f}" if direct is not None else f"{'-':>8s}"
        ratios = []
        for lu in ("lu-tight", "lu-default"):
            f = fipy.get(lu)
            ratios.append(
                f"{f['seconds_per_step'] / r['seconds_per_step']:6.1f}" if f else "     -"
            )
        tail = (
            f"{'':>9s}  {direct_s}  {' '.join(ratios):>13s}"
            f"  {r['seconds_per_step'] / poisson:>8.1f}"
        )
    return f"{head}  {its}  {tail}  {r['charge_left']:>9.5f}  {r['load_after']:>5.2f}"


def print_table(results: dict[str, Any]) -> None:
    p = results["problem"]
    print(
        f"FiPy {FIPY_VERSION} ({results['fipy']['solver_suite']} LinearLUSolver, drift as "
        f"{results['fipy']['drift']} term) vs pnpf-fem FV (SuperLU Newton, tol "
        f"{results['newton_tol']:g}); eps = {p['eps']:g}, "
        f"{p['steps']} steps of dt = {p['dt']:g} L^2/D = {p['dt_case']:g} tau "
        f"(tau = {p['tau_in_fipy_units']:g} L^2/D)"
    )
    print(
        "s/step: median of steps 2..; first: step 1; sw: sweeps/step, Nw: Newton "
        "iterations/step; res: largest final sweep residual of the steps; direct: ours stepped "
        "by integrate (observables included); FiPy/ours: lu-tight, lu-default; Q_left: charge "
        "on x = 0 at the end; load: 1-min load average after the row"
    )
    print(
        f"{'N':>4s}  {'solver':<16s}{'unknowns':>8s}  {'s/step':>8s}  {'first':>7s}  "
        f"{'its/step':>8s}  {'res':>9s}  {'direct':>8s}  {'FiPy/ours':>13s}  "
        f"{'ours/Poi':>8s}  {'Q_left':>9s}  {'load':>5s}"
    )
    for size in results["sizes"]:
        fipy = {r["solver"].split()[-1]: r for r in size["rows"] if r["side"] == "fipy"}
        for r in size["rows"]:
            print(_row(r, fipy, size["poisson_seconds"]))
        print(
            f"{'':>4s}  Poisson yardstick (CG + BoomerAMG, P1, same mesh): "
            f"{size['poisson_seconds']:.4f} s ({size['poisson_its']} CG its; median of "
            f"{len(size['poisson_all'])}: {statistics.median(size['poisson_all']):.4f} s)"
        )
    print(f"load average at start {results['load_start']}, at end {results['load_end']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[32, 64, 128])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--fipy-lu", default="both", choices=("both", "default", "tight"))
    parser.add_argument("--fipy-drift", default="diffusion", choices=("diffusion", "convection"))
    parser.add_argument(
        "--fipy-solvers",
        default="scipy",
        choices=("scipy", "petsc"),
        help="FiPy's solver suite (FIPY_SOLVERS; default scipy: SuperLU, as ours)",
    )
    parser.add_argument("--max-sweeps", type=int, default=100, help="cap on sweeps per step")
    parser.add_argument("--steps", type=int, default=None, help="default: the case's end/dt")
    parser.add_argument("--pip-cert", default=None, help="CA bundle for pip (see docstring)")
    parser.add_argument("--fipy-wheel", default=None, help="install FiPy from this wheel")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--keep-venv", default=None, help="make the venv in DIR and keep it")
    group.add_argument("--venv", default=None, help="use the FiPy venv in DIR as it is")
    parser.add_argument("--repeats", type=int, default=3, help="Poisson yardstick solves")
    parser.add_argument(
        "--no-direct", action="store_true", help="skip stepping ours by integrate directly"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        help="write the results as JSON to FILE (no FILE: print JSON instead of the table)",
    )
    args = parser.parse_args()
    for name in THREAD_VARIABLES:  # before numpy is imported
        os.environ.setdefault(name, "1")

    load_start = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="fv_vs_fipy_"))
    try:
        results = measure(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["load_start"] = [round(x, 2) for x in load_start]
    results["load_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json not in (None, "-"):
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.json == "-":
        print(json.dumps(results, indent=1))
    else:
        print_table(results)


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from pnpf_fem.app.case import load_case

    text = CASE.read_text()
    base = load_case(CASE)
    tol, max_it = base.solver["rtol"], base.solver["max_iterations"]
    problem, _ = fipy_problem(CASE)
    if args.steps is not None:
        problem["steps"] = args.steps
    python, venv_info = prepare_venv(args, workdir)
    script = workdir / "fipy_pnp.py"
    script.write_text(FIPY_SCRIPT)
    lus = ("default", "tight") if args.fipy_lu == "both" else (args.fipy_lu,)
    dt_s = base.time["dt"]
    sizes = []
    fipy_meta: dict[str, Any] = {"drift": args.fipy_drift, "solver_suite": args.fipy_solvers}
    for n in args.sizes:
        rows: list[dict[str, Any]] = []
        for lu in lus:
            row = run_fipy(python, script, n, lu, problem, args)
            row["solver"] = f"fipy lu-{lu}"
            fipy_meta["solver_suite"] = row["solver_suite"]
            rows.append(row)
            print(
                f"[{time.strftime('%H:%M:%S')}] N = {n} {row['solver']}: "
                f"{row['seconds_per_step']:.3f} s/step, load {row['load_after']:.2f}",
                file=sys.stderr,
                flush=True,
            )
        poisson_tri = None
        for method in args.methods:
            path = workdir / f"case_{n}_{method}.toml"
            case_variant(text, n, method, problem["steps"], dt_s, path)
            row = run_ours(path, workdir / f"run_{n}_{method}", n, method)
            if row["steps"] != problem["steps"]:
                sys.exit(f"fv_vs_fipy: {method} took {row['steps']} steps, not {problem['steps']}")
            if not args.no_direct:
                row["direct"] = time_direct(path, tol, max_it)
            rows.append(row)
            print(
                f"[{time.strftime('%H:%M:%S')}] N = {n} {method}: "
                f"{row['seconds_per_step']:.3f} s/step, load {row['load_after']:.2f}",
                file=sys.stderr,
                flush=True,
            )
            if poisson_tri is None:
                from pnpf_fem.app.setup import prepare

                poisson_tri = prepare(load_case(path)).tri
        if poisson_tri is None:
            from pnpf_fem.app.setup import prepare

            path = case_variant(text, n, "fv1", problem["steps"], dt_s, workdir / "p.toml")
            poisson_tri = prepare(load_case(path)).tri
        poisson = [poisson_yardstick(poisson_tri) for _ in range(max(args.repeats, 1))]
        sizes.append(
            {
                "n": n,
                "rows": rows,
                "poisson_seconds": poisson[0][0],  # the first solve is the unit
                "poisson_its": poisson[0][1],
                "poisson_all": [p[0] for p in poisson],
            }
        )
    return {
        "problem": problem,
        "newton_tol": tol,
        "fipy": fipy_meta | venv_info,
        "case": str(CASE),
        "sizes": sizes,
        "threads": {name: os.environ.get(name) for name in THREAD_VARIABLES},
    }


if __name__ == "__main__":
    main()
