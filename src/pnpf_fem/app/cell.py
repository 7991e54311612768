"""`pnpf-fem cell`: effective tensors of a periodic cell, correctors for ParaView, porosity sweeps.

    pnpf-fem cell --shape circle --porosity 0.6 --electrolyte-permittivity 80 \\
        --solid-permittivity 4.5 [--mesh-size 0.05] [--json] [--output results/cell]
    pnpf-fem cell --config cell.toml          # the same keys in a TOML file
    pnpf-fem cell --shape sphere --sweep ...  # table + PNG of ε⁰, M, D against p

Everything is validated before anything is computed or written: bad input raises `InputError`
(exit code 2) and leaves no files behind; a failed solve raises `SolverError` (exit code 1).
The outputs are written to a hidden sibling `.NAME.partial-PID` of the output folder (files by
rank 0 through temporary names, VTX folders by all ranks) and moved in when all are complete.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pnpf_fem.app.arguments import add_command
from pnpf_fem.app.console import emit, emit_json
from pnpf_fem.app.output import atomic_path, atomic_write_text, publish_folder, staging_folder
from pnpf_fem.errors import InputError
from pnpf_fem.homogenization.cells import inclusion_size

__all__ = ["CellRequest", "format_table", "register", "request_from_args", "run_request"]

_T = TypeVar("_T")

DEFAULT_SWEEPS = {
    "circle": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "sphere": (0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
}
_SHAPES = ("circle", "ellipse", "square", "sphere", "laminate")
_KEYS = {
    "shape": str,
    "porosity": float,
    "electrolyte-permittivity": float,
    "solid-permittivity": float,
    "mesh-size": float,
    "degree": int,
    "dim": int,
    "axis": int,
    "aspect": float,
    "mesh-file": str,
    "fluid-tag": int,
    "solid-tag": int,
    "solver": str,
    "json": bool,
    "output": str,
    "write-correctors": bool,
    "sweep": bool,
    "porosities": list,
}


@dataclass(frozen=True)
class CellRequest:
    """A validated `cell` request (all fields checked by `request_from_args`)."""

    shape: str
    porosities: tuple[float, ...]
    electrolyte_permittivity: float
    solid_permittivity: float
    mesh_size: float = 0.05
    degree: int = 1
    dim: int | None = None
    axis: int = 0
    aspect: float = 2.0
    mesh_file: str | None = None
    fluid_tag: int = 1
    solid_tag: int = 2
    solver: str = "auto"
    json: bool = False
    output: str = "results/cell"
    write_correctors: bool = True
    sweep: bool = False


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `cell` sub-command."""
    summary = "effective tensors ε⁰, M, D, Π of a periodic cell (homogenization)"
    p = add_command(subparsers, "cell", handler, summary)
    p.add_argument("--config", help="TOML file with the same keys as the long options")
    p.add_argument("--shape", choices=_SHAPES, default=None)
    p.add_argument("--porosity", type=float, default=None, help="electrolyte fraction p")
    p.add_argument(
        "--electrolyte-permittivity",
        type=float,
        default=None,
        metavar="L2",
        help="κ in the electrolyte (λ²)",
    )
    p.add_argument(
        "--solid-permittivity", type=float, default=None, metavar="A", help="κ in the solid (α)"
    )
    p.add_argument("--mesh-size", type=float, default=None, metavar="H")
    p.add_argument("--degree", type=int, default=None, help="Lagrange degree (1 or 2)")
    p.add_argument("--dim", type=int, default=None, help="laminate dimension (2 or 3)")
    p.add_argument("--axis", type=int, default=None, help="laminate layer normal (0, 1, 2)")
    p.add_argument("--aspect", type=float, default=None, help="ellipse r_x / r_y")
    p.add_argument("--mesh-file", default=None, help="user gmsh .msh cell (instead of --shape)")
    p.add_argument("--fluid-tag", type=int, default=None)
    p.add_argument("--solid-tag", type=int, default=None)
    p.add_argument(
        "--solver",
        choices=("auto", "lu", "cg"),
        default=None,
        help="auto: MUMPS LU in 2D, CG + BoomerAMG in 3D",
    )
    p.add_argument(
        "--json", action="store_const", const=True, default=None, help="print one JSON object"
    )
    p.add_argument("--output", default=None, metavar="DIR", help="default results/cell")
    p.add_argument(
        "--no-correctors",
        dest="write_correctors",
        action="store_const",
        const=False,
        default=None,
        help="do not write VTX corrector files",
    )
    p.add_argument(
        "--sweep",
        action="store_const",
        const=True,
        default=None,
        help="porosity sweep: table + PNG plot (circle: 0.3…0.9, sphere: 0.5…0.95)",
    )
    p.add_argument("--porosities", default=None, help="comma-separated sweep porosities")


def _load_config(path: str) -> dict[str, Any]:
    from pnpf_fem.app.config import read_toml

    data = read_toml(path, "cell config")
    data = data.get("cell", data)
    if not isinstance(data, dict):
        raise InputError(f"[cell] in {path!r} must be a table")
    out: dict[str, Any] = {}
    for key, val in data.items():
        k = key.replace("_", "-")
        if k not in _KEYS:
            raise InputError(f"unknown key {key!r} in {path!r}; allowed: {', '.join(_KEYS)}")
        typ = _KEYS[k]
        if typ is float and isinstance(val, int) and not isinstance(val, bool):
            val = float(val)
        if typ is list and isinstance(val, str):
            pass
        elif not isinstance(val, typ) or (typ is not bool and isinstance(val, bool)):
            raise InputError(f"key {key!r} in {path!r} must be of type {typ.__name__}")
        out[k.replace("-", "_")] = val
    return out


def _parse_porosities(val: Any) -> tuple[float, ...]:
    items = val.split(",") if isinstance(val, str) else list(val)
    try:
        ps = tuple(float(v) for v in items if str(v).strip())
    except (TypeError, ValueError) as err:
        raise InputError(f"porosities must be numbers, got {val!r}") from err
    if not ps:
        raise InputError("empty porosity list")
    return ps


def _merged_options(args: argparse.Namespace) -> dict[str, Any]:
    """--config values under the command-line options (the command line wins)."""
    cfg = _load_config(args.config) if getattr(args, "config", None) else {}
    names = [k.replace("-", "_") for k in _KEYS]
    return {
        n: (getattr(args, n) if getattr(args, n, None) is not None else cfg.get(n)) for n in names
    }


def _check_material(merged: dict[str, Any]) -> None:
    if merged["mesh_file"] is None and merged["shape"] is None:
        raise InputError("give --shape (circle, ellipse, square, sphere, laminate) or --mesh-file")
    if merged["shape"] is not None and merged["shape"] not in _SHAPES:
        raise InputError(f"unknown shape {merged['shape']!r}")
    for key in ("electrolyte_permittivity", "solid_permittivity"):
        val = merged[key]
        if val is None:
            raise InputError(f"--{key.replace('_', '-')} is required")
        if not (isinstance(val, (int, float)) and math.isfinite(val) and val > 0):
            raise InputError(f"--{key.replace('_', '-')} must be a positive number, got {val!r}")


def _porosities(merged: dict[str, Any], shape: str, sweep: bool) -> tuple[float, ...]:
    """The porosities to solve for (NaN for a user mesh, whose porosity is measured)."""
    if merged["mesh_file"] is not None:
        if sweep:
            raise InputError("--sweep needs a --shape, not a --mesh-file")
        if not Path(merged["mesh_file"]).is_file():
            raise InputError(f"mesh file {merged['mesh_file']!r} does not exist")
        return (float("nan"),)
    if sweep:
        if merged["porosities"] is not None:
            return _parse_porosities(merged["porosities"])
        if shape in DEFAULT_SWEEPS:
            return DEFAULT_SWEEPS[shape]
        raise InputError(f"no default sweep for shape {shape!r}: give --porosities")
    if merged["porosity"] is None:
        raise InputError("--porosity is required (or --sweep)")
    return (float(merged["porosity"]),)


def _check_discretization(merged: dict[str, Any], shape: str) -> tuple[int, float, int | None]:
    """(degree, mesh size, dimension) of the request, checked."""
    degree = 1 if merged["degree"] is None else int(merged["degree"])
    if degree not in (1, 2, 3):
        raise InputError(f"--degree must be 1, 2 or 3, got {degree}")
    h = 0.05 if merged["mesh_size"] is None else float(merged["mesh_size"])
    if not (math.isfinite(h) and 0 < h <= 0.5):
        raise InputError(f"--mesh-size must lie in (0, 0.5], got {h!r}")
    dim = merged["dim"]
    if dim is not None and dim not in (2, 3):
        raise InputError(f"--dim must be 2 or 3, got {dim}")
    if shape in ("circle", "ellipse", "square") and dim not in (None, 2):
        raise InputError(f"shape {shape!r} is 2D")
    if shape == "sphere" and dim not in (None, 3):
        raise InputError("shape 'sphere' is 3D")
    if merged["solver"] not in (None, "auto", "lu", "cg"):
        raise InputError(f"--solver must be auto, lu or cg, got {merged['solver']!r}")
    return degree, h, dim


def request_from_args(args: argparse.Namespace) -> CellRequest:
    """Merge --config and command-line options (command line wins) and validate everything."""
    merged = _merged_options(args)
    _check_material(merged)
    sweep = bool(merged["sweep"])
    shape = merged["shape"] or "file"
    porosities = _porosities(merged, shape, sweep)
    aspect = 2.0 if merged["aspect"] is None else float(merged["aspect"])
    if merged["mesh_file"] is None:
        for p in porosities:
            inclusion_size(shape, p, aspect)  # raises InputError if impossible
    degree, h, dim = _check_discretization(merged, shape)
    output = merged["output"] or "results/cell"
    if Path(output).exists() and not Path(output).is_dir():
        raise InputError(f"--output {output!r} exists and is not a directory")
    axis = 0 if merged["axis"] is None else int(merged["axis"])
    if shape == "laminate" and not 0 <= axis < (dim or 2):
        raise InputError(f"--axis must be 0..{(dim or 2) - 1} for this laminate, got {axis}")
    correctors = merged["write_correctors"]
    return CellRequest(
        shape=shape,
        porosities=porosities,
        electrolyte_permittivity=float(merged["electrolyte_permittivity"]),
        solid_permittivity=float(merged["solid_permittivity"]),
        mesh_size=h,
        degree=degree,
        dim=dim,
        axis=axis,
        aspect=aspect,
        mesh_file=merged["mesh_file"],
        fluid_tag=1 if merged["fluid_tag"] is None else int(merged["fluid_tag"]),
        solid_tag=2 if merged["solid_tag"] is None else int(merged["solid_tag"]),
        solver=merged["solver"] or "auto",
        json=bool(merged["json"]),
        output=output,
        write_correctors=True if correctors is None else bool(correctors),
        sweep=sweep,
    )


def _settings(req: CellRequest, dim: int):
    from pnpf_fem.homogenization.cell_problems import SolverSettings

    method = req.solver
    if method == "auto":
        method = "cg" if dim == 3 else "lu"
    return SolverSettings(method=method, amg="hypre")


def _solve_one(req: CellRequest, porosity: float):
    from pnpf_fem.homogenization.cells import cell_from_gmsh_file, make_cell
    from pnpf_fem.homogenization.effective import compute_effective_tensors

    if req.mesh_file is not None:
        cell = cell_from_gmsh_file(
            req.mesh_file, fluid_tag=req.fluid_tag, solid_tag=req.solid_tag, dim=req.dim
        )
    else:
        cell = make_cell(
            req.shape, porosity, req.mesh_size, dim=req.dim, axis=req.axis, aspect=req.aspect
        )
    return compute_effective_tensors(
        cell,
        req.electrolyte_permittivity,
        req.solid_permittivity,
        degree=req.degree,
        settings=_settings(req, cell.dim),
    )


def _summary(t) -> dict[str, Any]:
    d = t.to_dict()
    keys = ("porosity", "eps_eff", "M", "D", "tortuosity", "dofs", "solve_seconds")
    head = {k: d[k] for k in keys if k in d}
    head.update({k: v for k, v in d.items() if k not in head})
    return head


def _fmt_matrix(name: str, m) -> str:
    rows = ["[" + ", ".join(f"{v: .10g}" for v in r) + "]" for r in m]
    pad = " " * (len(name) + 3)
    return f"{name} = " + ("\n" + pad).join(rows)


def _text(t) -> str:
    lines = [
        f"cell {t.shape}, dim {t.dim}, P{t.degree}, {t.dofs} dofs ({t.dofs_fluid} in Y^s), "
        f"solver {t.solver}, {t.solve_seconds:.2f} s",
        f"λ² = {t.electrolyte_permittivity:g}, α = {t.solid_permittivity:g}, "
        f"porosity p = {t.porosity:.6f}"
        + (f" (requested {t.target_porosity:g})" if t.target_porosity is not None else ""),
        _fmt_matrix("eps_eff", t.eps_eff),
        _fmt_matrix("M", t.M),
        _fmt_matrix("D", t.D) + "   (D = D^r / (z_r u_0^r))",
        *(
            [_fmt_matrix("tortuosity", t.tortuosity) + "   (Π: Neumann cell problem on Y^s)"]
            if t.tortuosity
            else []
        ),
        f"identity residuals: I1 {t.identity_I1_residual:.1e}, I2 {t.identity_I2_residual:.1e}, "
        f"factorization {t.factorization_residual:.1e}, energy {t.energy_residual:.1e}, "
        f"symmetry {t.symmetry_residual:.1e}",
    ]
    return "\n".join(lines)


def format_table(results: list) -> str:
    """Plain-text sweep table: p, diagonal means of ε⁰, M, D, the HS bounds and MG."""
    from pnpf_fem.homogenization.bounds import hashin_shtrikman, maxwell_garnett

    head = (
        f"{'p_target':>8} {'p_mesh':>8} {'eps/l2':>10} {'HS_lo/l2':>10} {'HS_hi/l2':>10} "
        f"{'MG/l2':>10} {'M':>10} {'D':>11} {'in HS':>5} {'dofs':>8} {'sec':>7}"
    )
    lines = [head]
    worst = 0.0
    for t in results:
        lam2, alpha, p, d = t.electrolyte_permittivity, t.solid_permittivity, t.porosity, t.dim
        e = sum(t.eps_eff[i][i] for i in range(d)) / d
        m = sum(t.M[i][i] for i in range(d)) / d
        dd = sum(t.D[i][i] for i in range(d)) / d
        hs = hashin_shtrikman(p, lam2, alpha, d)
        mg = maxwell_garnett(p, lam2, alpha, d)
        ok = "yes" if hs.contains(e, rtol=1e-12) else "NO"
        lines.append(
            f"{t.target_porosity or float('nan'):8.3f} {p:8.5f} {e / lam2:10.6f} "
            f"{hs.lower / lam2:10.6f} {hs.upper / lam2:10.6f} {mg / lam2:10.6f} {m:10.6f} "
            f"{dd:11.6f} {ok:>5} {t.dofs:8d} {t.solve_seconds:7.1f}"
        )
        if ok == "NO":
            above = (e - hs.upper) / hs.upper if e > hs.upper else (hs.lower - e) / hs.lower
            worst = max(worst, above)
    if worst > 0:
        lines.append(
            f"NO: outside the Hashin–Shtrikman bounds by up to {worst:.1e} (relative). Conforming "
            "P1 over-estimates ε⁰ (the energy is an upper bound) and the exact value of a dilute "
            "array lies just below the upper bound (Maxwell Garnett): refine --mesh-size."
        )
    return "\n".join(lines)


def _plot(results: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from pnpf_fem.homogenization.bounds import hashin_shtrikman, maxwell_garnett

    t0 = results[0]
    lam2, alpha, d = t0.electrolyte_permittivity, t0.solid_permittivity, t0.dim
    p = np.array([t.porosity for t in results])
    e = np.array([np.trace(t.array("eps_eff")) / d for t in results])
    m = np.array([np.trace(t.array("M")) / d for t in results])
    dd = np.array([np.trace(t.array("D")) / d for t in results])
    pp = np.linspace(min(p.min(), 0.999), 1.0, 100)
    hs = [hashin_shtrikman(x, lam2, alpha, d) for x in pp]
    fig, ax = plt.subplots(1, 3, figsize=(13, 4))
    ax[0].plot(p, e / lam2, "o-", label="FEM ε⁰/λ²")
    ax[0].plot(pp, [b.lower / lam2 for b in hs], "k--", lw=0.8, label="Hashin–Shtrikman")
    ax[0].plot(pp, [b.upper / lam2 for b in hs], "k--", lw=0.8)
    ax[0].plot(pp, [maxwell_garnett(x, lam2, alpha, d) / lam2 for x in pp], ":", label="MG")
    ax[0].set_ylabel("ε⁰ / λ² (mean diagonal)")
    ax[1].plot(p, m, "o-", label="M")
    ax[1].plot(pp, pp, "k:", lw=0.8, label="p")
    ax[1].set_ylabel("M (mean diagonal)")
    ax[2].plot(p, dd, "o-", label="D = D^r/(z_r u_0^r)")
    ax[2].set_ylabel("D (mean diagonal)")
    for a in ax:
        a.set_xlabel("porosity p")
        a.grid(alpha=0.3)
        a.legend()
    shape = t0.shape
    fig.suptitle(f"{shape} cell ({d}D), λ² = {lam2:g}, α = {alpha:g}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _write_correctors(sol, outdir: Path, stem: str) -> list[str]:
    """VTX folders of the correctors in `outdir` (collective); returns their names."""
    from dolfinx import fem
    from dolfinx.io import VTXWriter

    written = []
    for name, funcs in (("xi3", sol.xi3.correctors), ("xir", sol.xir.correctors)):
        V = funcs[0].function_space
        outs = []
        for j, f in enumerate(funcs):
            g = fem.Function(V, name=f"{name}_{j}")
            g.x.array[:] = f.x.array
            outs.append(g)
        folder = f"{stem}_{name}.bp"
        with VTXWriter(V.mesh.comm, str(outdir / folder), outs, engine="BP4") as w:
            w.write(0.0)
        written.append(folder)
    return written


def run_request(req: CellRequest) -> tuple[list, str]:
    """Solve every porosity of the request; returns (tensors list, printable text)."""
    sols = [_solve_one(req, p) for p in req.porosities]
    results = [s.tensors for s in sols]
    if req.sweep:
        text = (
            f"porosity sweep, {req.shape}, λ² = {req.electrolyte_permittivity:g}, "
            f"α = {req.solid_permittivity:g}, h = {req.mesh_size:g}, P{req.degree}\n"
        )
        text += format_table(results)
    else:
        text = _text(results[0])
    return list(zip(results, sols, strict=True)), text


def _write_files(req: CellRequest, pairs: list, text: str, outdir: Path) -> list[str]:
    """Rank 0's files in `outdir`, each through a temporary name; returns their names."""
    results = [t for t, _ in pairs]
    if req.sweep:
        stem = f"sweep_{req.shape}_l2_{req.electrolyte_permittivity:g}_a_{req.solid_permittivity:g}"
        atomic_write_text(outdir / f"{stem}.txt", text + "\n")
        rows = json.dumps([t.to_dict() for t in results], indent=2)
        atomic_write_text(outdir / f"{stem}.json", rows + "\n")
        with atomic_path(outdir / f"{stem}.png") as tmp:
            _plot(results, tmp)
        return [f"{stem}.{e}" for e in ("txt", "json", "png")]
    t = results[0]
    atomic_write_text(outdir / f"{_stem(t)}.json", t.to_json() + "\n")
    return [f"{_stem(t)}.json"]


def _stem(t) -> str:
    return f"{t.shape}_p{t.porosity:.4f}"


def _write_output(req: CellRequest, pairs: list, text: str, comm) -> list[Path]:
    """Write everything into a hidden sibling `.NAME.partial-PID` of the output folder (rank 0
    the files, all ranks the VTX folders) and move it into place complete; returns the paths."""
    final = Path(req.output)
    staging = staging_folder(final, comm.bcast(os.getpid(), root=0))
    try:
        _on_rank0(comm, lambda: _fresh_folder(staging))
        names: list[str] = []
        if req.write_correctors and not req.sweep:
            names += _write_correctors(pairs[0][1], staging, _stem(pairs[0][0]))
        comm.barrier()
        files = _on_rank0(comm, lambda: _write_files(req, pairs, text, staging))
        _on_rank0(comm, lambda: publish_folder(staging, final))
    finally:
        if comm.rank == 0 and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [final / n for n in comm.bcast(files, root=0) + names]


def _fresh_folder(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def _on_rank0(comm, action: Callable[[], _T]) -> _T | None:
    """`action()` on rank 0 (None elsewhere); if it fails, it raises there and an OSError on
    the other ranks, so that no rank waits for rank 0 in a later collective."""
    result: _T | None = None
    failure: BaseException | None = None
    if comm.rank == 0:
        try:
            result = action()
        except BaseException as err:
            failure = err
    if comm.bcast(failure is not None, root=0):
        if failure is not None:
            raise failure
        raise OSError("rank 0 could not write the output folder")
    return result


def handler(args: argparse.Namespace) -> int:
    """Solve the periodic cell problems (44)–(45) and the tortuosity problem and print p, ε⁰, M,
    D = D^r/(z_r u_0^r) and Π; the correctors are written for ParaView (VTX) to --output."""
    from mpi4py import MPI

    req = request_from_args(args)  # all validation happens here, before any output
    pairs, text = run_request(req)
    results = [t for t, _ in pairs]
    written = _write_output(req, pairs, text, MPI.COMM_WORLD)
    if req.json:
        obj = {"sweep": [_summary(t) for t in results]} if req.sweep else _summary(results[0])
        obj["written"] = [str(w) for w in written]
        emit_json(obj, indent=None)
    else:
        emit(text + "\nwritten: " + ", ".join(str(w) for w in written))
    return 0
