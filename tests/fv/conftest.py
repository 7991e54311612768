"""Shared small meshes and problems for the FV tests."""

from __future__ import annotations

import pytest

from pnpf_fem.fv import VoronoiMesh
from pnpf_fem.meshing import unit_square


@pytest.fixture(scope="session")
def unstructured_mesh() -> VoronoiMesh:
    return VoronoiMesh.from_triangulation(unit_square(7, "unstructured", seed=3))


@pytest.fixture(scope="session")
def structured_mesh() -> VoronoiMesh:
    return VoronoiMesh.from_triangulation(unit_square(6, "structured"))
