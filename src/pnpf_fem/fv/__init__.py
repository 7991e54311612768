"""Vertex-centred Voronoi finite volumes: Scheme I (3.3)–(3.5) and Scheme II (3.14)–(3.15) of the
PNPF paper, on the FEM's `TaggedTriangulation`.

The PNPF paper: J. Ding, X. Ji, S. Zhou, "Entropy increasing numerical methods for prediction of
reversible and irreversible heating in supercapacitors", arXiv:2407.10050 (equation numbers are
the paper's). The schemes and this code's choices are written out in docs/theory.md.

    mesh = VoronoiMesh.from_triangulation(unit_square(16, "unstructured"))
    problem = PNPFProblem(mesh, DimensionlessPNPF.unit(), dirichlet={"left": 0.0, "right": 1.0})
    scheme = SchemeII(problem, state=initial_state(problem, [1.0, 1.0], 1.0))
    records = integrate(scheme, 1.0, FixedSteps(1e-2)).records  # pnpf_fem.integrate
"""

from pnpf_fem.fv.mesh import VoronoiMesh
from pnpf_fem.fv.observables import entropy, observables
from pnpf_fem.fv.problem import ElectrodeReaction, FVState, PNPFProblem, initial_state
from pnpf_fem.fv.scheme1 import SchemeI
from pnpf_fem.fv.scheme2 import SchemeII
from pnpf_fem.fv.scheme_base import FVScheme
from pnpf_fem.fv.scheme_bdf2 import SchemeBDF2
from pnpf_fem.fv.solver import SolverControl

__all__ = [
    "ElectrodeReaction",
    "FVScheme",
    "FVState",
    "PNPFProblem",
    "SchemeBDF2",
    "SchemeI",
    "SchemeII",
    "SolverControl",
    "VoronoiMesh",
    "entropy",
    "initial_state",
    "observables",
]
