"""The comb-electrode supercapacitor geometry (Fig. 3 of the PNPF paper)."""

import numpy as np
import pytest

pytest.importorskip("gmsh")

from pnpf_fem.errors import InputError
from pnpf_fem.geometries import CombElectrodes, supercapacitor_mesh


def _areas(m):
    p, t = m.points, m.triangles
    e1, e2 = p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]]
    return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def test_comb_mesh_area_tags_and_boundary_parts():
    geo = CombElectrodes(fingers=2, branches=1)
    m = supercapacitor_mesh(geo, size_min=0.4, size_max=1.0)
    areas = _areas(m)
    assert np.all(np.abs(areas) > 0)
    pores = geo.fingers * (geo.finger_depth * geo.finger_width)
    pores += geo.fingers * geo.branches * 2 * geo.branch_width * geo.branch_length
    exact = (geo.gap * geo.height + 2 * pores) / 10.0**2
    assert abs(np.abs(areas).sum() - exact) < 1e-9
    assert set(m.tag_names) == {"gamma1", "gamma2", "gamma3"}
    x_mid = m.points[m.facets].mean(axis=1)[:, 0]
    g1, g2, g3 = (m.facet_markers == m.tag(n) for n in ("gamma1", "gamma2", "gamma3"))
    assert np.all(np.abs(x_mid[g1]) <= 0.2 + 1e-12)
    assert np.all(x_mid[g2] >= 0.2 - 1e-12) and np.all(x_mid[g3] <= -0.2 + 1e-12)
    # Γ1 is the two lids of the gap: total length 2 × gap
    lengths = np.linalg.norm(np.diff(m.points[m.facets], axis=1)[:, 0], axis=1)
    assert abs(lengths[g1].sum() - 2 * geo.gap / 10.0) < 1e-12
    # mirror symmetry of the two electrodes
    assert abs(lengths[g2].sum() - lengths[g3].sum()) < 1e-9


def test_refinement_near_electrodes():
    m = supercapacitor_mesh(CombElectrodes(fingers=1, branches=0), size_min=0.2, size_max=1.0)
    h = np.sqrt(2 * np.abs(_areas(m)))
    centroid_x = m.points[m.triangles].mean(axis=1)[:, 0]
    assert h[np.abs(centroid_x) < 0.05].mean() > 2 * h[np.abs(centroid_x) > 0.3].mean()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"finger_depth": 9.0}, "finger_depth"),
        ({"gap": -1.0}, "gap must be positive"),
        ({"fingers": 8, "finger_width": 1.5}, "do not fit"),
        ({"branches": 5, "branch_width": 2.0}, "branch_width"),
    ],
)
def test_impossible_geometry_is_refused(kwargs, match):
    with pytest.raises(InputError, match=match):
        CombElectrodes(**kwargs)


def test_default_mesh_is_fv_admissible_by_construction():
    from pnpf_fem.fv import VoronoiMesh

    m = supercapacitor_mesh()
    vm = VoronoiMesh.from_triangulation(m)  # raises InputError on a negative τ_σ
    assert np.all(vm.transmissibility >= -1e-14)
    assert abs(vm.volumes.sum() - np.abs(_areas(m)).sum()) < 1e-12
    # the raw gmsh mesh is not: the obtuse angles at the re-entrant pore corners
    with pytest.raises(ValueError, match="not admissible"):
        VoronoiMesh.from_triangulation(supercapacitor_mesh(conform=False))


def test_mesh_file_round_trip(tmp_path):
    from pnpf_fem.geometries.supercapacitor import load_triangulation, save_triangulation

    m = supercapacitor_mesh(CombElectrodes(fingers=1, branches=0), size_min=0.5, size_max=1.5)
    back = load_triangulation(save_triangulation(m, tmp_path / "m.npz"))
    assert np.array_equal(back.points, m.points) and np.array_equal(back.triangles, m.triangles)
    assert np.array_equal(back.facets, m.facets)
    assert np.array_equal(back.facet_markers, m.facet_markers)
    assert dict(back.tag_names) == dict(m.tag_names)
    with pytest.raises(InputError, match="not found"):
        load_triangulation(tmp_path / "missing.npz")


def test_stored_default_mesh_matches_the_generator():
    from pnpf_fem.fv import VoronoiMesh
    from pnpf_fem.geometries.supercapacitor import DEFAULT_MESH_FILE, load_triangulation

    if not DEFAULT_MESH_FILE.is_file():
        pytest.skip("meshes/supercapacitor.npz exists only in a source checkout")
    stored = load_triangulation()
    fresh = supercapacitor_mesh()
    assert stored.num_vertices == fresh.num_vertices
    assert np.allclose(stored.points, fresh.points, atol=1e-12)
    assert np.array_equal(stored.triangles, fresh.triangles)
    VoronoiMesh.from_triangulation(stored)
