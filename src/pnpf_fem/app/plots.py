"""The plots of a run: observables over time, the final fields (matplotlib and PyVista)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from pnpf_fem.app.output import atomic_path
from pnpf_fem.meshing import TaggedTriangulation
from pnpf_fem.meshing3d import TaggedTetrahedra

__all__ = [
    "fields_in_si",
    "plot_fields",
    "plot_impedance",
    "plot_observables",
    "pyvista_fields",
]


def plot_observables(rows: list[dict[str, Any]], species: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([r["t_s"] for r in rows])
    electrodes = [k for k in rows[0] if k.startswith("charge_")]
    panels = [
        ("entropy S", ["S"]),
        ("S1 (temperature part)", ["S1"]),
        ("S2 (ionic part)", ["S2"]),
        ("relative mass change", [f"mass_{n}" for n in species]),
        ("min c", ["min_c"]),
        ("max ΔT (units of T0)", ["max_dT"]),
        ("electrode charge Q_Γ", electrodes),
        ("total charge", ["charge"]),
    ]
    # only what the run reports (the isothermal porous model has no T and no entropy; the case
    # file may select quantities)
    panels = [(title, keys) for title, keys in panels if keys and all(k in rows[0] for k in keys)]
    if not panels:
        return
    ncol = 3 if len(panels) > 4 else 2
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(4 * ncol, 3.25 * nrow), squeeze=False, constrained_layout=True
    )
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, keys) in zip(axes.ravel(), panels, strict=False):
        for k in keys:
            y = np.array([r[k] for r in rows], dtype=float)
            if k.startswith("mass_"):
                y = y / y[0] - 1.0
            ax.plot(t, y, marker=".", ms=3, label=k)
        ax.set_title(title)
        ax.set_xlabel("t [s]")
        if len(keys) > 1:
            ax.legend(fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def plot_fields(
    tri: TaggedTriangulation | TaggedTetrahedra,
    fields: dict[str, np.ndarray],
    t_s: float,
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.tri import Triangulation

    mtri = Triangulation(tri.points[:, 0], tri.points[:, 1], tri.triangles)
    n = len(fields)
    ncol = min(n, 2)
    nrow = math.ceil(n / ncol)
    xr = np.ptp(tri.points[:, 0]) / max(np.ptp(tri.points[:, 1]), 1e-300)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(5.2 * ncol * min(max(xr, 0.7), 2.0), 4.0 * nrow), squeeze=False
    )
    for ax, (name, vals) in zip(axes.ravel(), fields.items(), strict=False):
        im = ax.tripcolor(mtri, vals, shading="gouraud", cmap="viridis")
        ax.set_aspect("equal")
        ax.set_title(name)
        fig.colorbar(im, ax=ax, shrink=0.85)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(f"t = {t_s:.4g} s (x, y in units of L)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def fields_in_si(fields: dict[str, np.ndarray], scales: Any) -> dict[str, np.ndarray]:
    """Vertex fields for plots in SI units: c in mol/m³ (= mM), ψ in V, dT = T − T0 in K.

    The temperature of a run stays close to T0, so T itself would show as "300.0" everywhere;
    its rise is what a reader looks for. Names are ASCII: VTK's default font has no ψ or Δ.
    """
    if scales is None:
        return dict(fields)
    out: dict[str, np.ndarray] = {}
    for name, values in fields.items():
        v = np.asarray(values, dtype=float)
        if name == "T":
            out["dT [K]"] = (v - 1.0) * scales.temperature
        elif name == "psi":
            out["psi [V]"] = v * scales.potential
        elif name.startswith("c_"):
            out[f"{name} [mol/m3]"] = v * scales.concentration
        else:
            out[name] = v
    return out


def pyvista_fields(
    tri: TaggedTriangulation | TaggedTetrahedra,
    fields: dict[str, np.ndarray],
    t_s: float,
    path: Path,
) -> str:
    """PyVista off-screen snapshot of the final fields; returns what was done (for the summary).

    Rendering needs an X display or Xvfb; without them the run goes on with the matplotlib
    `fields.png` and says so.
    """
    from pnpf_fem.app.snapshots import field_snapshot

    try:
        field_snapshot(tri, fields, path, title=f"t = {t_s:.4g} s")
    except (ImportError, RuntimeError) as err:
        return f"PyVista snapshot skipped: {err}"
    return f"PyVista snapshot {path.name}"


def plot_impedance(
    rows: list[dict[str, Any]], area: float | None, nyquist: Path, bode: Path
) -> None:
    """The Nyquist plot (−Im Z against Re Z, equal axes) and the Bode plot (|Z| and phase
    against frequency) of `pnpf-fem impedance` rows, in Ω with an area, else Ω·m²."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = "Ω" if area is not None else "Ω·m²"
    suffix = "ohm" if area is not None else "ohm_m2"
    f = np.array([r["frequency_Hz"] for r in rows])
    z = np.array([complex(r[f"Z_real_{suffix}"], r[f"Z_imag_{suffix}"]) for r in rows])
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot(z.real, -z.imag, "o-", ms=3)
    ax.set_xlabel(f"Re Z [{unit}]")
    ax.set_ylabel(f"−Im Z [{unit}]")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)
    ax.set_title("Nyquist")
    with atomic_path(nyquist) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(5.5, 6), sharex=True)
    a1.loglog(f, np.abs(z), "o-", ms=3)
    a1.set_ylabel(f"|Z| [{unit}]")
    a2.semilogx(f, np.degrees(np.angle(z)), "o-", ms=3)
    a2.set_ylabel("phase [deg]")
    a2.set_xlabel("frequency [Hz]")
    for a in (a1, a2):
        a.grid(True, which="both", alpha=0.3)
    a1.set_title("Bode")
    with atomic_path(bode) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
