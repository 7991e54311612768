"""Test A (4.1)–(4.2) for the FEM: the manufactured problem of `pnpf_fem.model.cases.mms`.

The exact fields and the sources are written once, in UFL and in NumPy, in `pnpf_fem.mms`; the
UFL sources follow by differentiation of (2.13) with the model's coefficients.
"""

from __future__ import annotations

from pnpf_fem.fem.build import fem_problem
from pnpf_fem.fem.mesh import FEMMesh
from pnpf_fem.fem.problem import PNPFProblem
from pnpf_fem.mms import ufl_exact_fields as exact_fields
from pnpf_fem.model import cases
from pnpf_fem.units import DimensionlessPNPF

__all__ = ["exact_fields", "mms_problem"]


def mms_problem(
    mesh: FEMMesh, degree: int = 1, model: DimensionlessPNPF | None = None
) -> PNPFProblem:
    """Test A on [0,1]² (tags left/right/bottom/top): exact ψ on the left and right sides, zero
    surface charge on the others, zero flux and insulation everywhere; c^ℓ = c¹ of (4.2)."""
    return fem_problem(cases.mms(mesh, model), mesh, degree)
