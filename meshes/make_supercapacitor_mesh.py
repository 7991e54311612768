"""Write the default comb-electrode supercapacitor mesh (Fig. 3 of the PNPF paper, §4.2).

    ./env/run python3 meshes/make_supercapacitor_mesh.py [--out meshes/supercapacitor.npz]

The mesh is `supercapacitor_mesh()` with its defaults (CombElectrodes(), size_min 0.15 nm,
size_max 0.8 nm, coordinates in units of L = 10 nm), conformed for the Voronoi finite volumes.
Load it with `pnpf_fem.geometries.supercapacitor.load_triangulation(path)`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pnpf_fem.fv import VoronoiMesh
from pnpf_fem.geometries.supercapacitor import (
    DEFAULT_MESH_FILE,
    load_triangulation,
    save_triangulation,
    supercapacitor_mesh,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / DEFAULT_MESH_FILE.name)
    args = parser.parse_args()
    tri = supercapacitor_mesh()
    VoronoiMesh.from_triangulation(tri)  # raises if not admissible
    path = save_triangulation(tri, args.out)
    back = load_triangulation(path)
    if back.num_vertices != tri.num_vertices:
        raise RuntimeError("mesh file does not read back")
    counts = {n: int((tri.facet_markers == v).sum()) for n, v in tri.tag_names.items()}
    print(f"{path}: {tri.num_vertices} vertices, {tri.triangles.shape[0]} triangles, {counts}")


if __name__ == "__main__":
    main()
