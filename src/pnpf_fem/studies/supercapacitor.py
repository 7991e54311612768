"""The supercapacitor study of the PNPF paper (§4.2–4.3), FEM and FV.

The PNPF paper: J. Ding, X. Ji, S. Zhou, "Entropy increasing numerical methods for prediction of
reversible and irreversible heating in supercapacitors", arXiv:2407.10050; section, equation and
figure numbers below are the paper's. docs/theory.md §2 gives the scaling and §5 the test cases.

Charging (§4.3.1): the comb cell of `pnpf_fem.geometries.supercapacitor`, c¹ = c² = 0.2 M
(c = 1 scaled), T = 300 K (T = 1), ψ = ψ* = 2 k_BT0/e on Γ2, ψ = 0 on Γ3, zero surface charge
ε²∂ψ/∂n = 0 on Γ1 (4.3), zero ion flux and thermal insulation everywhere. Coefficients from
`units.supercapacitor_parameters()` (L = 10 nm, c0 = 0.2 M, ν0 = ν¹, T0 = 300 K): ε ≈ 0.0974,
C_T = 194, k ≈ 702.5, τ ≈ 0.97 µs — so the paper's t = 30 µs is t ≈ 30.8 τ.

Both discretizations run on the *same* conformed triangulation (FEM P1 and FV Voronoi boxes share
the vertices), each driven adaptively by `pnpf_fem.integrate`, and record per
accepted step: total mass Σ_ℓ⟨c^ℓ,1⟩, S = S1 + S2 of (2.4)/(3.11), min c, min T and max/mean
ΔT = (T − 1)·T0 in kelvin (Fig. 4 and Fig. 5 quantities).

Cyclic voltammetry (§4.3.2, (4.4)) is defined by the case file `demos/supercapacitor_cv.toml`
(`CV_CASE_FILE`; `pnpf-fem run` runs it as it stands): the same cell, Γ2 driven by a triangle
waveform (`pnpf_fem.model.Triangle`), Γ3 at 0 V, Γ1 uncharged. The paper does not define t0
nor the units of its constant 25; the case reads 25 as the upper voltage ψ_max = 25 k_BT0/e
(0.6463 V) and t0 = ψ_max/ν, i.e. ψ*(t) = ν(t − 2(n−1)t0) rising for 2(n−1)t0 ≤ t ≤ (2n−1)t0
and ψ_max − ν(t − (2n−1)t0) falling until 2n t0. `cv_config` loads it (`app.case`), replaces
the scan rate, the number of cycles (and, if asked, ψ_max) and builds its `Problem` with
`app.setup.prepare`; the run takes the study's mesh, step control (Δt ≤ t0/20) and solver
settings and lands on every corner (`Problem.corners`). The bulk current is I = −dQ₊/dt with Q₊
the ionic charge in x > 0 (the current through the mid-plane), the same observable for FEM and
FV. `pnpf-fem reproduce supercapacitor` (`supercapacitor_report.py`) runs the whole study and
writes the figures.

    python -m pnpf_fem.studies.supercapacitor --quick            # coarse mesh, 3 τ, FV + FEM
    python -m pnpf_fem.studies.supercapacitor --mesh meshes/supercapacitor.npz --t-end 40
    python -m pnpf_fem.studies.supercapacitor --quick --cv-rate 1.29 --cycles 3

Measured (default comb mesh, 2523 vertices, t = 40 τ ≈ 39 µs, 2 shared cores): FV Scheme II
46 steps, 1.3 s/step; FEM fem2 43 steps, 0.26 s/step; steady ΔT = 1.461 K (FV) / 1.466 K (FEM),
99 % of it by t ≈ 9 τ; mass drift 6e-15 / 2e-12. The paper reports ≈ 2.37 K for its (unstated)
electrode shapes. CV from the case file, FEM fem2, 3 cycles at 1.29 V/µs on the same mesh: 133
steps (27 s), heating slope χ = 3.41 K/µs, final mean ΔT = 18.2 K, one crossing of the last
cycle's I–V loop. Quick (`QUICK` mesh, 349 vertices), 2 cycles at 5.16 V/µs: FEM 90 steps,
χ = 14.2 K/µs, final mean ΔT = 16.5 K; FV Scheme II 100 steps, χ = 21.9 K/µs, ΔT = 22.0 K (the
coarse mesh: 35 % apart); one crossing each; about 2 s per run.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import ufl
from dolfinx import fem as dfem
from dolfinx import la
from mpi4py import MPI

from pnpf_fem import fem
from pnpf_fem.app.case import Case, parse_case, waveform_from
from pnpf_fem.app.config import read_toml
from pnpf_fem.app.setup import prepare
from pnpf_fem.errors import InputError
from pnpf_fem.fem.build import build_scheme as fem_scheme
from pnpf_fem.fv.build import build_scheme as fv_scheme
from pnpf_fem.geometries.supercapacitor import CombElectrodes, supercapacitor_mesh
from pnpf_fem.integrate import AdaptiveSteps, StepRecord, integrate
from pnpf_fem.meshing import TaggedTriangulation
from pnpf_fem.model import Problem, Waveform, cases, in_units
from pnpf_fem.units import DimensionlessPNPF, nondimensionalize, supercapacitor_parameters

__all__ = [
    "CV_CASE_FILE",
    "PAPER_SCAN_RATES",
    "QUICK",
    "ChargingConfig",
    "Series",
    "charging_study",
    "compare",
    "cv_case",
    "cv_config",
    "cv_half_period",
    "cv_study",
    "cv_voltages",
    "cv_waveform",
    "fit_power_law",
    "heating_slope",
    "last_cycle",
    "loop_intersections",
    "run_method",
    "study_mesh",
    "study_problem",
    "summary",
]

FV_SCHEMES = ("fv1", "fv2")
# SNES settings of the study's FEM runs. With the default backtracking line search, Newton
# stalls at the round-off level of the assembled residual (≈ 1e-11 here; the heat rows scale
# like C_T m(V)/Δt, so it grows as Δt shrinks) above atol = 1e-12 and fails with
# DIVERGED_LINE_SEARCH — at t = 0 for Δt ≤ 2e-5 and in every CV run. Full Newton steps with a
# relative step-size test converge there. The residual tolerances are set below round-off
# (1e-14), so Newton always ends on the step-size test, one iteration after the quadratic phase:
# the mass then stays exact to ~5e-15 over a CV run (with rtol = 1e-10 it drifted by 5e-13 per
# step, 1.5e-10 over two cycles), for about 30 % more Newton iterations.
FEM_PETSC_OPTIONS = {"snes_linesearch_type": "basic", "snes_stol": 1e-12}
FEM_TOLERANCES = {"rtol": 1e-14, "atol": 1e-14}
FEM_SCHEMES = ("fem1", "fem2", "fem-be")


@dataclass(frozen=True)
class ChargingConfig:
    """One supercapacitor run. Potentials in k_BT0/e, times in τ, mesh sizes in nm.

    psi_star: the applied voltage on Γ2 — a number (charging) or a callable t → ψ*(t) (CV);
    problem: a `Problem` to run instead of `cases.comb` with psi_star (a CV run: the case
    file's, see `cv_config`; psi_star is then its waveform, recorded in the series);
    breakpoints: times the steps must land on (the corners of a CV wave).
    """

    geometry: CombElectrodes = field(default_factory=CombElectrodes)
    size_min: float = 0.15
    size_max: float = 0.8
    psi_star: float | Callable[[float], float] = 2.0
    t_end: float = 31.0
    fv_scheme: str = "fv2"
    fem_scheme: str = "fem2"
    control: AdaptiveSteps = field(
        default_factory=lambda: AdaptiveSteps(dt0=1e-4, dt_min=1e-9, dt_max=2.0)
    )
    breakpoints: tuple[float, ...] = ()
    fem_options: Any = None  # pnpf_fem.fem.SolverOptions (None: FEM_PETSC_OPTIONS)
    snapshots: tuple[float, ...] = ()  # times [τ] at which vertex fields are kept
    problem: Problem | None = None  # its mesh is replaced by the study's (`study_problem`)

    def __post_init__(self) -> None:
        if self.fv_scheme not in FV_SCHEMES:
            raise InputError(f"fv_scheme must be one of {FV_SCHEMES}, got {self.fv_scheme!r}")
        if self.fem_scheme not in FEM_SCHEMES:
            raise InputError(f"fem_scheme must be one of {FEM_SCHEMES}, got {self.fem_scheme!r}")
        if not (math.isfinite(self.t_end) and self.t_end > 0):
            raise InputError(f"t_end must be positive, got {self.t_end}")
        for t in self.snapshots:
            if not 0 < t <= self.t_end:
                raise InputError(f"snapshot time {t} must lie in (0, t_end = {self.t_end}]")

    def stops(self) -> tuple[float, ...]:
        """Times the steps must land on: the CV corners and the snapshot times."""
        return tuple(sorted(set(self.breakpoints) | {t for t in self.snapshots if t < self.t_end}))


# The quick variant: two fingers with one branch pair, 0.5 nm at the electrodes (~350 vertices),
# three time units τ (≈ 2.9 µs).
QUICK = ChargingConfig(
    geometry=CombElectrodes(fingers=2, branches=1),
    size_min=0.5,
    size_max=1.5,
    t_end=3.0,
    control=AdaptiveSteps(dt0=1e-4, dt_min=1e-9, dt_max=1.0),
)


@dataclass
class Series:
    """Time series of one run (the initial state first) and its cost."""

    method: str
    num_vertices: int
    t: list[float] = field(default_factory=list)
    dt: list[float] = field(default_factory=list)
    mass: list[float] = field(default_factory=list)  # Σ_ℓ ⟨c^ℓ, 1⟩
    mass_cation: list[float] = field(default_factory=list)
    S: list[float] = field(default_factory=list)
    S1: list[float] = field(default_factory=list)
    S2: list[float] = field(default_factory=list)
    min_c: list[float] = field(default_factory=list)
    min_T: list[float] = field(default_factory=list)
    max_dT_K: list[float] = field(default_factory=list)
    mean_dT_K: list[float] = field(default_factory=list)
    psi_star: list[float] = field(default_factory=list)
    current: list[float] = field(default_factory=list)  # FEM: current_gamma2 (dQ/dt); FV: nan
    # ionic charge Σ_ℓ z_ℓ⟨c^ℓ, 1⟩ in the half x > 0 (vertices on x = 0 count half): its time
    # derivative is the bulk current through the mid-plane x = 0 (Fig. 6(a)), for FEM and FV alike
    charge_right: list[float] = field(default_factory=list)
    newton_iterations: list[int] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    run_time: float = 0.0  # wall time of the time loop [s]
    setup_time: float = 0.0  # problem/scheme construction [s]
    # snapshot time [τ] → vertex fields c1, c2, psi, dT_K (triangulation vertex order)
    snapshots: dict[float, dict[str, np.ndarray]] = field(default_factory=dict)

    def record(self, obs: Mapping[str, Any], T: np.ndarray, weights: np.ndarray, T0: float) -> None:
        self.t.append(float(obs["t"]))
        self.dt.append(float(obs["dt"]))
        masses = [v for k, v in obs.items() if k.startswith("mass_")]
        self.mass.append(float(sum(masses)))
        self.mass_cation.append(float(obs.get("mass_cation", math.nan)))
        for key in ("S", "S1", "S2", "min_c", "min_T"):
            getattr(self, key).append(float(obs[key]))
        self.max_dT_K.append(float((T.max() - 1.0) * T0))
        self.mean_dT_K.append(float((weights @ T / weights.sum() - 1.0) * T0))
        self.current.append(float(obs.get("current_gamma2", math.nan)))
        self.newton_iterations.append(int(obs.get("newton_iterations", 0)))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in vars(self).items() if isinstance(v, list)}

    def bulk_current(self) -> np.ndarray:
        """I(t) = −dQ₊/dt at the accepted steps (backward differences; 0 at t = 0).

        The ionic current through the mid-plane x = 0 from Γ2 (x > 0) towards Γ3, so charging
        the positive electrode Γ2 gives I > 0 (the sign of Fig. 6(a)).
        """
        t, q = np.asarray(self.t), np.asarray(self.charge_right)
        out = np.zeros_like(t)
        out[1:] = -np.diff(q) / np.diff(t)
        return out

    def keep_snapshot(
        self, t: float, snapshot_times: Sequence[float], fields: Callable[[], dict[str, np.ndarray]]
    ) -> None:
        for ts in snapshot_times:
            if abs(t - ts) <= 1e-9 * max(1.0, ts) and ts not in self.snapshots:
                self.snapshots[ts] = fields()


def _right_half_weights(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Control-volume weights of the half x > 0, vertices on the mid-plane counted half."""
    tol = 1e-12 * max(1.0, float(np.abs(x).max()))
    return weights * np.where(x > tol, 1.0, np.where(x < -tol, 0.0, 0.5))


def study_mesh(config: ChargingConfig) -> TaggedTriangulation:
    """The conformed comb mesh of `config` (FV-admissible; FEM uses the same vertices)."""
    return supercapacitor_mesh(config.geometry, size_min=config.size_min, size_max=config.size_max)


def _psi_of_t(config: ChargingConfig) -> Callable[[float], float]:
    p = config.psi_star
    return p if callable(p) else (lambda _t: float(p))


Progress = Callable[[float, float, int], None]  # (t, dt_next, Newton iterations)


@dataclass
class _Probe:
    """A scheme of the study with what the series records of it.

    nodal() gives (T, c) at the nodes, c of shape (nodes, species); weights/right are the node
    weights of the whole domain and of the half x > 0 (for Q₊, the bulk current); fields() are
    the snapshot fields at the vertices; `final()` is what the run returns besides the series.
    """

    label: str
    scheme: Any
    weights: np.ndarray
    right: np.ndarray
    nodal: Callable[[], tuple[np.ndarray, np.ndarray]]
    fields: Callable[[], dict[str, np.ndarray]]
    final: Callable[[], Any]


def study_problem(
    tri: TaggedTriangulation, model: DimensionlessPNPF, config: ChargingConfig
) -> Problem:
    """The `Problem` of a run on `tri`: the config's (a CV case file's), moved onto `tri`, or
    the comb of `pnpf_fem.model.cases` with ψ* = config.psi_star and `model`."""
    if config.problem is not None:
        return replace(config.problem, mesh=tri)
    return cases.comb(tri, model, config.psi_star)


def _fv_probe(tri: TaggedTriangulation, problem: Problem, config: ChargingConfig) -> _Probe:
    """Scheme I/II on `tri` (distributed on several ranks); the probe sees whole-mesh vertex
    arrays on every rank, so every rank records the same series."""
    scheme = fv_scheme(problem, config.fv_scheme, comm=MPI.COMM_WORLD)
    part = scheme.problem.partition

    def whole(values: np.ndarray) -> np.ndarray:
        return np.array(values if part is None else part.gather(values))

    weights = whole(scheme.problem.mesh.volumes)
    T0 = _temperature_scale(problem.model)

    def fields() -> dict[str, np.ndarray]:
        s = scheme.state
        return {"c1": whole(s.c[0]), "c2": whole(s.c[1]), "psi": whole(s.psi)} | {
            "dT_K": (whole(s.T) - 1.0) * T0
        }

    def nodal() -> tuple[np.ndarray, np.ndarray]:
        return whole(scheme.state.T), whole(scheme.state.c).T

    right = _right_half_weights(np.asarray(tri.points)[:, 0], weights)
    return _Probe(config.fv_scheme, scheme, weights, right, nodal, fields, lambda: scheme.state)


def _fem_probe(tri: TaggedTriangulation, problem: Problem, config: ChargingConfig) -> _Probe:
    """fem1/fem2/fem-be on `tri` (distributed on several ranks); like `_fv_probe`, whole-mesh
    vertex arrays (gathered by input vertex) on every rank."""
    fmesh = fem.from_triangulation(tri)
    # fem1 solves for ξ = log T ≈ 0 separately: there the relative step test cannot end Newton,
    # so it keeps the default residual tolerances
    tolerances = FEM_TOLERANCES if config.fem_scheme != "fem1" else {}
    options = config.fem_options or fem.SolverOptions(petsc_options=FEM_PETSC_OPTIONS, **tolerances)
    scheme = fem_scheme(problem, config.fem_scheme, options=options, mesh=fmesh)
    M, T0 = problem.model.num_species, _temperature_scale(problem.model)
    # lumped P1 masses ∫φ_i dx: weights of the mean temperature, as FV's m(V_i)
    mass = dfem.Function(scheme.V)
    mass.x.array[:] = dfem.assemble_vector(dfem.form(ufl.TestFunction(scheme.V) * ufl.dx)).array
    mass.x.scatter_reverse(la.InsertMode.add)
    mass.x.scatter_forward()
    weights = fem.gather_vertex_values(fmesh, mass)

    def columns() -> list[np.ndarray]:
        return [fem.gather_vertex_values(fmesh, scheme.u, i) for i in range(M + 2)]

    def fields() -> dict[str, np.ndarray]:
        col = columns()
        return {"c1": np.exp(col[0]), "c2": np.exp(col[1]), "psi": col[M]} | {
            "dT_K": (np.exp(col[M + 1]) - 1.0) * T0
        }

    def nodal() -> tuple[np.ndarray, np.ndarray]:
        col = columns()
        return np.exp(col[M + 1]), np.exp(np.column_stack(col[:M]))

    right = _right_half_weights(np.asarray(tri.points)[:, 0], weights)
    return _Probe(config.fem_scheme, scheme, weights, right, nodal, fields, lambda: scheme)


def _temperature_scale(model: DimensionlessPNPF) -> float:
    return model.scales.temperature if model.scales else 300.0


def run_method(
    method: str,
    tri: TaggedTriangulation,
    model: DimensionlessPNPF,
    config: ChargingConfig,
    progress: Progress | None = None,
) -> tuple[Series, Any]:
    """Run `config` with "fv" (Scheme I or II) or "fem" (P1; fem1/fem2/fem-be) on `tri`;
    returns the series and the final FVState (FV) or the scheme (FEM). `model` is that of the
    charging runs; a config with a `problem` (CV) brings its own (`study_problem`)."""
    start = time.perf_counter()
    problem = study_problem(tri, model, config)
    probe = (_fv_probe if method == "fv" else _fem_probe)(tri, problem, config)
    series = Series(probe.label, tri.num_vertices)
    model = problem.model
    _drive(series, probe, config, progress, start, np.asarray(model.valences), model)
    return series, probe.final()


def _drive(
    series: Series,
    probe: _Probe,
    config: ChargingConfig,
    progress: Progress | None,
    start: float,
    z: np.ndarray,
    model: DimensionlessPNPF,
) -> None:
    """Record the initial state, run `config` adaptively and record every accepted step."""
    psi_t = _psi_of_t(config)
    T0 = _temperature_scale(model)

    def record(obs: StepRecord) -> None:
        T, c = probe.nodal()
        series.record(obs, T, probe.weights, T0)
        series.psi_star.append(psi_t(obs["t"]))
        series.charge_right.append(float(probe.right @ (c @ z)))
        series.keep_snapshot(obs["t"], config.snapshots, probe.fields)

    record(probe.scheme.initial_observables())
    series.setup_time = time.perf_counter() - start

    def callback(obs: StepRecord, dt_next: float) -> None:
        record(obs)
        if progress is not None:
            progress(obs.t, dt_next, obs.newton_iterations)

    result = integrate(probe.scheme, config.t_end, config.control, config.stops(), [callback])
    series.accepted = result.accepted
    series.rejected = result.rejected
    series.run_time = result.wall_time


def charging_study(
    config: ChargingConfig = QUICK,
    methods: Sequence[str] = ("fv", "fem"),
    tri: TaggedTriangulation | None = None,
    progress: Callable[[str], Progress | None] | None = None,
) -> dict[str, Series]:
    """Run `config` with FV and/or FEM on the same mesh; series keyed "fv" / "fem"."""
    unknown = set(methods) - {"fv", "fem"}
    if unknown or not methods:
        raise InputError(f"methods must be a non-empty subset of ('fv', 'fem'), got {methods}")
    model = nondimensionalize(supercapacitor_parameters())
    tri = tri if tri is not None else study_mesh(config)
    out: dict[str, Series] = {}
    for method in ("fv", "fem"):
        if method in methods:
            bar = progress(method) if progress is not None else None
            out[method] = run_method(method, tri, model, config, bar)[0]
    return out


def _one(s: Series) -> dict[str, Any]:
    a = s.arrays()
    dS = np.diff(a["S"])
    dS2 = np.diff(a["S2"])
    steps = max(s.accepted, 1)
    return {
        "method": s.method,
        "num_vertices": s.num_vertices,
        "t_end": float(a["t"][-1]),
        "steps": s.accepted,
        "rejected": s.rejected,
        "run_time_s": s.run_time,
        "setup_time_s": s.setup_time,
        "time_per_step_s": s.run_time / steps,
        "newton_iterations_mean": float(np.mean(a["newton_iterations"][1:])) if steps else 0.0,
        "mass_rel_drift": float(np.max(np.abs(a["mass"] / a["mass"][0] - 1.0))),
        "S_initial": float(a["S"][0]),
        "S_final": float(a["S"][-1]),
        "min_dS": float(dS.min()) if dS.size else 0.0,
        "S1_change": float(a["S1"][-1] - a["S1"][0]),
        "S2_change": float(a["S2"][-1] - a["S2"][0]),
        "max_dS2": float(dS2.max()) if dS2.size else 0.0,
        "min_c": float(a["min_c"].min()),
        "min_T": float(a["min_T"].min()),
        "max_dT_K_final": float(a["max_dT_K"][-1]),
        "mean_dT_K_final": float(a["mean_dT_K"][-1]),
        "max_dT_K_peak": float(a["max_dT_K"].max()),
    }


def compare(fv: Series, fem: Series) -> dict[str, float]:
    """FEM − FV differences: masses, and ΔT (FEM interpolated in time onto the FV steps)."""
    a, b = fv.arrays(), fem.arrays()
    dT_fv = a["max_dT_K"]
    dT_fem = np.interp(a["t"], b["t"], b["max_dT_K"])
    mean_fem = np.interp(a["t"], b["t"], b["mean_dT_K"])
    return {
        "mass_rel_diff": float(abs(b["mass"][-1] - a["mass"][-1]) / abs(a["mass"][-1])),
        "max_dT_K_abs_diff_final": float(abs(b["max_dT_K"][-1] - dT_fv[-1])),
        "max_dT_K_rel_diff_final": float(abs(b["max_dT_K"][-1] - dT_fv[-1]) / abs(dT_fv[-1])),
        "mean_dT_K_rel_diff_final": float(
            abs(b["mean_dT_K"][-1] - a["mean_dT_K"][-1]) / abs(a["mean_dT_K"][-1])
        ),
        "max_dT_K_abs_diff_series": float(np.max(np.abs(dT_fem - dT_fv))),
        "mean_dT_K_abs_diff_series": float(np.max(np.abs(mean_fem - a["mean_dT_K"]))),
        "S2_rel_diff_final": float(abs(b["S2"][-1] - a["S2"][-1]) / abs(a["S2"][-1])),
        # entropy curves and bulk current (FEM interpolated onto the FV steps)
        "S_rel_diff_series": _rel_series(a, b, "S"),
        "S1_rel_diff_series": _rel_series(a, b, "S1"),
        "S2_rel_diff_series": _rel_series(a, b, "S2"),
        "current_rel_diff_series": float(
            np.max(np.abs(np.interp(a["t"], b["t"], fem.bulk_current()) - fv.bulk_current()))
            / max(float(np.max(np.abs(fv.bulk_current()))), 1e-300)
        ),
    }


def _rel_series(a: dict[str, np.ndarray], b: dict[str, np.ndarray], key: str) -> float:
    """max_t |FEM − FV| / max_t |FV − FV(0)|: the difference relative to the curve's change."""
    diff = np.abs(np.interp(a["t"], b["t"], b[key]) - a[key])
    scale = float(np.max(np.abs(a[key] - a[key][0])))
    return float(diff.max() / scale) if scale > 0 else float(diff.max())


def summary(results: dict[str, Series]) -> dict[str, Any]:
    """Per-method figures (steps, run time, drift, entropy, ΔT) and the FEM–FV comparison."""
    out: dict[str, Any] = {k: _one(s) for k, s in results.items()}
    if "fv" in results and "fem" in results:
        out["fem_vs_fv"] = compare(results["fv"], results["fem"])
    return out


# --- cyclic voltammetry (4.4): runs defined by a case file --------------------------------------


# The CV set-up (a source checkout: demos/ beside src/): the comb, the parameters of
# `units.supercapacitor_parameters()` and Γ2 driven by the triangle wave of (4.4).
CV_CASE_FILE = Path(__file__).resolve().parents[3] / "demos" / "supercapacitor_cv.toml"
# The scan rates of Fig. 7(b) [V/µs].
PAPER_SCAN_RATES = (1.29, 2.58, 3.87, 5.16)
_TRIANGLE_KEYS = ("potential", "potential_thermal")


def _triangle_entry(data: Mapping[str, Any], source: str) -> tuple[str, str]:
    """(tag, key) of the one boundary potential of the parsed case driven by a triangle."""
    found = [
        (tag, key)
        for tag, bc in (data.get("boundary") or {}).items()
        if isinstance(bc, dict)
        for key in _TRIANGLE_KEYS
        if isinstance(bc.get(key), dict) and bc[key].get("shape") == "triangle"
    ]
    if len(found) != 1:
        raise InputError(
            f"{source}: a CV case needs exactly one boundary potential driven by a triangle "
            f'waveform (shape = "triangle"), found {len(found)}'
        )
    return found[0]


def _scales(case: Case) -> Any:
    """The `units.Scales` of a case (as `app.setup.prepare` finds them)."""
    try:
        return nondimensionalize(case.physical_parameters()).scales
    except ValueError as err:
        raise InputError(f"{case.source}: {err}") from None


def cv_case(
    rate_V_per_us: float,
    cycles: int = 1,
    psi_max: float | None = None,
    case_file: str | Path = CV_CASE_FILE,
    base: ChargingConfig | None = None,
) -> Case:
    """The CV case file with the triangle's scan rate [V/µs] and cycles replaced, validated.

    `psi_max` [k_BT0/e], if given, replaces the upper voltage; [time] end becomes the end of
    the last cycle; with `base`, a built-in comb mesh takes the base's shape and sizes. The
    triangle must start at t0 = 0 (the study's analysis samples the cycle ends 2k t0).
    """
    source = str(case_file)
    data = read_toml(case_file, "case file")
    given = parse_case(data, source)  # the unmodified file must be valid on its own
    tag, key = _triangle_entry(data, source)
    if not (math.isfinite(rate_V_per_us) and rate_V_per_us > 0):
        raise InputError(f"the scan rate must be positive, got {rate_V_per_us}")
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise InputError(f"cycles must be at least 1, got {cycles}")
    scales = _scales(given)
    unit = 1.0 if key == "potential" else scales.potential  # V per unit of the key
    data = copy.deepcopy(data)
    wave = data["boundary"][tag][key]
    if wave.get("t0", 0.0) != 0.0:
        raise InputError(f"{source}: [boundary.{tag}] {key}: the CV study needs t0 = 0")
    wave |= {"rate": rate_V_per_us * 1e6 / unit, "cycles": cycles}
    if psi_max is not None:
        wave["upper"] = psi_max * scales.potential / unit
    data["time"]["end"] = 2 * cycles * (wave["upper"] - wave["lower"]) / wave["rate"]
    if base is not None and data["mesh"].get("builtin") == "supercapacitor":
        geo = base.geometry
        data["mesh"] |= {"fingers": geo.fingers, "branches": geo.branches}
        data["mesh"] |= {"size_min": base.size_min, "size_max": base.size_max}
    return parse_case(data, source)


def cv_waveform(case: Case) -> Waveform:
    """ψ*(t) of the case's triangle, dimensionless (k_BT0/e against τ), without a mesh."""
    tag, key = _triangle_entry({"boundary": case.boundary}, case.source)
    scales = _scales(case)
    unit = scales.potential if key == "potential" else 1.0
    wave = waveform_from(case.boundary[tag][key], case.source, f"boundary.{tag} {key}")
    return in_units(wave, scales.time, unit)


def cv_config(
    rate_V_per_us: float,
    cycles: int = 1,
    psi_max: float | None = None,
    base: ChargingConfig = QUICK,
    case_file: str | Path = CV_CASE_FILE,
) -> ChargingConfig:
    """A CV run of `cycles` periods 2 t0 at scan rate ν [V/µs]: the `Problem` of the case file
    (`pnpf_fem.app.setup.prepare`), the base's mesh and step control with Δt ≤ t0/20, and
    steps landing on every corner of the wave (`Problem.corners`)."""
    problem = prepare(cv_case(rate_V_per_us, cycles, psi_max, case_file, base)).problem
    wave = _wave(problem)
    corners = wave.corners(math.inf)  # t0, 2 t0, …, 2n t0
    t_end, t0 = corners[-1], corners[0]
    ctl = replace(base.control, dt_max=min(base.control.dt_max, t0 / 20.0))
    ctl = replace(ctl, dt0=min(ctl.dt0, ctl.dt_max))
    return replace(
        base,
        psi_star=wave,
        problem=problem,
        t_end=t_end,
        breakpoints=tuple(problem.corners(t_end)),
        control=ctl,
    )


def _wave(problem: Problem) -> Waveform:
    """The one waveform among the potentials of a CV problem (dimensionless)."""
    waves = [v for v in problem.potentials.values() if isinstance(v, Waveform)]
    if len(waves) != 1:
        raise InputError(f"a CV problem needs one potential waveform, found {len(waves)}")
    return waves[0]


def cv_half_period(
    rate_V_per_us: float, psi_max: float | None = None, case_file: str | Path = CV_CASE_FILE
) -> float:
    """t0 of (4.4) in τ for a scan rate in V/µs (the case file's voltages, or 0 to psi_max)."""
    return cv_waveform(cv_case(rate_V_per_us, 1, psi_max, case_file)).corners(math.inf)[0]


def cv_voltages(
    psi_max: float | None = None, case_file: str | Path = CV_CASE_FILE
) -> tuple[float, float]:
    """The lower and upper voltage of the CV case's triangle in V (psi_max replaces the upper)."""
    case = cv_case(1.0, 1, psi_max, case_file)
    wave, volt = cv_waveform(case), _scales(case).potential
    return wave(0.0) * volt, wave(wave.corners(math.inf)[0]) * volt


def cv_study(
    rates: Sequence[float] = PAPER_SCAN_RATES,
    cycles: int = 3,
    psi_max: float | None = None,
    base: ChargingConfig = QUICK,
    methods: Sequence[str] = ("fv", "fem"),
    tri: TaggedTriangulation | None = None,
    progress: Callable[[str], Progress | None] | None = None,
    case_file: str | Path = CV_CASE_FILE,
) -> dict[float, dict[str, Series]]:
    """CV runs (4.4) of the case file at each scan rate [V/µs] with FV and/or FEM on one mesh."""
    if cycles < 1:
        raise InputError(f"cycles must be at least 1, got {cycles}")
    if not rates or any(not (r > 0) for r in rates):
        raise InputError(f"scan rates must be positive, got {tuple(rates)}")
    configs = {float(r): cv_config(r, cycles, psi_max, base, case_file) for r in rates}
    tri = tri if tri is not None else study_mesh(base)
    out: dict[float, dict[str, Series]] = {}
    for rate, cfg in configs.items():
        label = (lambda m, r=rate: progress(f"CV {r:g} V/us {m}")) if progress else None
        out[rate] = charging_study(cfg, methods, tri=tri, progress=label)
    return out


def heating_slope(series: Series, t0: float, cycles: int, time_unit_us: float) -> float:
    """Cycle-averaged slope χ of the mean ΔT [K/µs]: from the end of cycle 1 to the last one.

    Sampling ΔT at the cycle ends 2k t0 removes the reversible oscillation within a cycle; with
    one cycle the slope from t = 0 is used.
    """
    a = series.arrays()
    t, dT = a["t"], a["mean_dT_K"]

    def at(tk: float) -> float:
        return float(np.interp(tk, t, dT))

    if cycles == 1:
        return at(2 * t0) / (2 * t0 * time_unit_us)
    return (at(2 * cycles * t0) - at(2 * t0)) / (2 * (cycles - 1) * t0 * time_unit_us)


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Least-squares fit log y = a + b log x: exponent b, its standard error and prefactor e^a.

    The standard error is sqrt(SSR/(n−2) / Σ(log x − mean)²) (nan for two points).
    """
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    if xa.size < 2 or xa.shape != ya.shape or np.any(xa <= 0) or np.any(ya <= 0):
        raise InputError(f"a power-law fit needs ≥ 2 positive pairs, got {list(x)}, {list(y)}")
    lx, ly = np.log(xa), np.log(ya)
    b, a = np.polyfit(lx, ly, 1)
    n = lx.size
    ssr = float(np.sum((ly - (a + b * lx)) ** 2))
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    stderr = math.sqrt(ssr / (n - 2) / sxx) if n > 2 else math.nan
    return {"exponent": float(b), "exponent_stderr": stderr, "prefactor": float(math.exp(a))}


def last_cycle(series: Series, t0: float, cycles: int) -> tuple[np.ndarray, np.ndarray]:
    """(ψ*, I) of the last cycle 2(n−1)t0 ≤ t ≤ 2n t0, I the bulk current dQ₊/dt."""
    t = np.asarray(series.t)
    keep = t >= 2 * (cycles - 1) * t0 * (1 - 1e-12)
    return np.asarray(series.psi_star)[keep], series.bulk_current()[keep]


def _segments_cross(p1, p2, q1, q2) -> tuple[float, float] | None:
    d = (p2[0] - p1[0]) * (q2[1] - q1[1]) - (p2[1] - p1[1]) * (q2[0] - q1[0])
    if d == 0.0:
        return None
    s = ((q1[0] - p1[0]) * (q2[1] - q1[1]) - (q1[1] - p1[1]) * (q2[0] - q1[0])) / d
    u = ((q1[0] - p1[0]) * (p2[1] - p1[1]) - (q1[1] - p1[1]) * (p2[0] - p1[0])) / d
    if 0.0 < s < 1.0 and 0.0 < u < 1.0:
        return (p1[0] + s * (p2[0] - p1[0]), p1[1] + s * (p2[1] - p1[1]))
    return None


def loop_intersections(psi: Sequence[float], current: Sequence[float]) -> list[tuple[float, float]]:
    """Self-intersections (ψ, I) of the I–V polyline, i.e. crossings of its charging and
    discharging branches (Fig. 7(b)); adjacent segments and the closing corner are ignored.

    Both axes are scaled to unit range first, so the test does not depend on units.
    """
    x, y = np.asarray(psi, float), np.asarray(current, float)
    if x.size < 4:
        return []
    sx, sy = np.ptp(x) or 1.0, np.ptp(y) or 1.0
    pts = np.column_stack([(x - x.min()) / sx, (y - y.min()) / sy])
    found: list[tuple[float, float]] = []
    n = len(pts) - 1
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue
            hit = _segments_cross(pts[i], pts[i + 1], pts[j], pts[j + 1])
            if hit is not None:
                found.append((x.min() + hit[0] * sx, y.min() + hit[1] * sy))
    return found


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="PNPF supercapacitor charging study (§4.3.1)")
    parser.add_argument("--quick", action="store_true", help="coarse mesh (QUICK), t_end 3 τ")
    parser.add_argument("--t-end", type=float, default=None, help="final time in τ")
    parser.add_argument("--methods", default="fv,fem")
    parser.add_argument("--fv-scheme", default=None, choices=FV_SCHEMES)
    parser.add_argument("--fem-scheme", default=None, choices=FEM_SCHEMES)
    parser.add_argument("--mesh", type=Path, default=None, help="a .npz TaggedTriangulation")
    parser.add_argument("--cv-rate", type=float, default=None, help="CV scan rate in V/µs")
    parser.add_argument("--cycles", type=int, default=1)
    parser.add_argument("--cv-case", type=Path, default=CV_CASE_FILE, help="the CV case file")
    parser.add_argument("--json", type=Path, default=None, help="write summary and series")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else ChargingConfig()
    if args.cv_rate is not None:
        config = cv_config(args.cv_rate, args.cycles, base=config, case_file=args.cv_case)
    changes: dict[str, Any] = {}
    if args.t_end is not None:
        changes["t_end"] = args.t_end
    if args.fv_scheme:
        changes["fv_scheme"] = args.fv_scheme
    if args.fem_scheme:
        changes["fem_scheme"] = args.fem_scheme
    config = replace(config, **changes)
    tri = None
    if args.mesh is not None:
        from pnpf_fem.geometries.supercapacitor import load_triangulation

        tri = load_triangulation(args.mesh)
    results = charging_study(config, tuple(args.methods.split(",")), tri=tri)
    info = summary(results)
    print(json.dumps(info, indent=2))
    if args.json is not None:
        series = {k: {n: v.tolist() for n, v in s.arrays().items()} for k, s in results.items()}
        payload = {"summary": info, "series": series}
        args.json.write_text(json.dumps(payload))


if __name__ == "__main__":
    main()
