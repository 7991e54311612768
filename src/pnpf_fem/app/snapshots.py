"""PyVista off-screen snapshots of vertex fields on a `TaggedTriangulation`.

VTK as packaged by Debian renders through X, so without a display we start a private Xvfb server
for the duration of the rendering (`offscreen_display`) and stop it afterwards — unlike
`pyvista.start_xvfb`, which leaves the server running. When neither a display nor Xvfb is
available, `field_snapshot` raises `RuntimeError` and callers fall back to matplotlib.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pnpf_fem.app.output import atomic_path
from pnpf_fem.meshing import TaggedTriangulation
from pnpf_fem.meshing3d import TaggedTetrahedra

__all__ = ["field_snapshot", "offscreen_display"]


@contextmanager
def offscreen_display(timeout: float = 10.0) -> Iterator[str]:
    """A usable X display: the existing $DISPLAY, or a private Xvfb stopped on exit."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RuntimeError("no X display and no Xvfb: PyVista cannot render off-screen")
    number = 100 + os.getpid() % 800
    while Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
        number += 1
    proc = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + timeout
    while not socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"Xvfb :{number} did not start")
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        del os.environ["DISPLAY"]
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def _tick_format(values: np.ndarray) -> str:
    """A printf format whose ticks differ over the range of `values` (no "1.00" five times)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    span = hi - lo
    scale = max(abs(lo), abs(hi))
    if scale == 0 or span <= 1e-12 * scale:
        return "%.3g"
    if scale >= 1e4 or scale < 1e-3:
        return "%.3e"
    digits = max(0, int(np.ceil(-np.log10(span / 4))) + 1)
    return f"%.{min(digits, 8)}f"


def field_snapshot(
    tri: TaggedTriangulation | TaggedTetrahedra,
    fields: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    title: str = "",
    columns: int = 2,
) -> None:
    """One PNG with a panel per field (vertex values), rendered by PyVista off-screen. A 3D mesh
    is clipped by the plane y = (its mid-height in y), so the panels show the field inside."""
    import pyvista as pv

    three_d = tri.points.shape[1] == 3
    points = tri.points if three_d else np.column_stack([tri.points, np.zeros(tri.num_vertices)])
    kind = pv.CellType.TETRA if three_d else pv.CellType.TRIANGLE
    cells = np.column_stack([np.full(len(tri.cells), tri.cells.shape[1]), tri.cells]).ravel()
    grid = pv.UnstructuredGrid(cells, np.full(len(tri.cells), kind), points)
    names = list(fields)
    rows = -(-len(names) // columns)
    shape = (rows, min(columns, len(names)))
    with offscreen_display():
        plotter = pv.Plotter(off_screen=True, shape=shape, window_size=(560 * shape[1], 420 * rows))
        for k, name in enumerate(names):
            plotter.subplot(k // columns, k % columns)
            mesh = grid.copy()
            mesh.point_data[name] = np.asarray(fields[name], dtype=float)
            if three_d:
                mesh = mesh.clip(normal="y", origin=mesh.center, crinkle=True)
            plotter.add_mesh(
                mesh,
                scalars=name,
                cmap="viridis",
                # PyVista keys scalar bars (and their colour ranges) by title: one per panel.
                # The panel text names the field; the bar title stays short so it is not cut.
                scalar_bar_args={
                    "title": " " * (k + 1),
                    "vertical": True,
                    "fmt": _tick_format(mesh.point_data[name]),
                    "position_x": 0.82,
                    "position_y": 0.1,
                    "height": 0.75,
                    "width": 0.08,
                    "label_font_size": 14,
                },
            )
            plotter.add_text(f"{name}   {title}".strip(), font_size=11)
            if three_d:
                plotter.view_isometric()
                plotter.show_axes()
            else:
                plotter.view_xy()
        with atomic_path(path) as tmp:
            plotter.screenshot(str(tmp))
        plotter.close()
