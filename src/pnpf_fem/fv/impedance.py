"""Small-signal impedance of the finite-volume equations, as `pnpf_fem.fem.impedance` for the FEM.

The box equations of a backward-Euler step (fv-bdf2's first step, Scheme II's equations with
every term at t^{n+1}) from a steady state u* to u have the form F(u) = S(u, u*)/Δt + G(u), every
storage term vanishing at u = u*. Their Jacobian at u* is therefore affine in 1/Δt,
J(Δt) = M/Δt + K, and two Jacobians give both parts exactly (to round-off):

    M = J(½) − J(1),    K = J(1) − M.

The driven electrode's rows are the Dirichlet rows ψ_i − V = 0 (identity rows of J), so a
perturbation δV e^{iωt} is the right-hand side 1 on them; every other Dirichlet row (electrodes,
reservoirs, thermostats) holds δu = 0. (K + iωM) δu = b is solved by SciPy's complex sparse LU.
The current into the electrode is I = dQ/dt + I_F with the scheme's own observables
(`pnpf_fem.fv.observables`): their derivatives along Re δu and Im δu are taken by central
differences (they are smooth in u; step 1e-6 of the direction's size: error ~1e-12 relative).

One rank (the serial box equations); the driven electrode must be a potential (Dirichlet) tag
without an electrode reaction (there V also enters the reaction's overpotential as data).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import scipy.sparse.linalg as spla

from pnpf_fem.admittance import Admittance
from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fv.observables import electrode_charges, faradaic_currents
from pnpf_fem.fv.problem import FVState
from pnpf_fem.fv.scheme_bdf2 import SchemeBDF2

__all__ = ["FVFrequencyResponse"]

STEP = 1e-6  # of the direction's largest entry, for the central differences of observables


class FVFrequencyResponse(Admittance):
    """Y(ω) = δI/δV of fv-bdf2's box equations at the scheme's current (steady) state, driven
    by the potential of the Dirichlet tag `tag`."""

    def __init__(self, scheme: SchemeBDF2, tag: str) -> None:
        problem = scheme.problem
        if problem.partition is not None:
            raise InputError("the finite-volume impedance runs on one MPI rank")
        if tag not in problem.dirichlet:
            raise InputError(
                f"the finite-volume impedance drives a potential tag; {tag!r} is none of "
                f"{', '.join(problem.dirichlet) or 'none'}"
            )
        if any(rx.tag == tag for rx in problem.reactions):
            raise InputError(
                f"the driven tag {tag!r} carries a reaction: use a fem-* method for its impedance"
            )
        self.problem, self.tag = problem, tag
        self.state = scheme._current()
        nsp, n = problem.params.num_species, problem.mesh.num_vertices
        self.shape = (nsp + 2, n)
        x = np.concatenate([np.log(self.state.c), self.state.psi[None], np.log(self.state.T)[None]])
        self.x = x.ravel()
        J1 = scheme.residual_function(self.state, 1.0)(self.x, True)[1]
        J2 = scheme.residual_function(self.state, 0.5)(self.x, True)[1]
        self.M = (J2 - J1).tocsc()
        self.K = (J1 - self.M).tocsc()
        self.b = np.zeros(self.x.size, dtype=complex)
        self.b[nsp * n + problem.mesh.vertices_of(tag)] = 1.0

    def _state(self, x: npt.NDArray[np.float64]) -> FVState:
        u = x.reshape(self.shape)
        nsp = self.shape[0] - 2
        return FVState(t=self.state.t, c=np.exp(u[:nsp]), psi=u[nsp], T=np.exp(u[nsp + 1]))

    def _derivative(self, f: Callable[[FVState], float], du: npt.NDArray[np.complex128]) -> complex:
        """f'(u*) δu for complex δu, by central differences along its real and imaginary parts."""
        out = []
        for v in (du.real, du.imag):
            size = float(np.max(np.abs(v)))
            if size == 0.0:
                out.append(0.0)
                continue
            h = STEP / size
            out.append((f(self._state(self.x + h * v)) - f(self._state(self.x - h * v))) / (2 * h))
        return complex(out[0], out[1])

    def admittance(self, omega: float) -> complex:
        """Y(ω) = δI/δV (dimensionless current per unit potential)."""
        if not (np.isfinite(omega) and omega >= 0):
            raise InputError(f"angular frequency must be finite and non-negative, got {omega!r}")
        du = spla.spsolve((self.K + 1j * omega * self.M).tocsc(), self.b)
        if not np.all(np.isfinite(du)):
            raise SolverError(f"the FV small-signal system is singular at ω = {omega:g}")
        pb, tag = self.problem, self.tag

        def charge(state: FVState) -> float:
            return electrode_charges(pb, state)[tag]

        def faradaic(state: FVState) -> float:
            return faradaic_currents(pb, state).get(f"faradaic_{tag}", 0.0)

        return 1j * omega * self._derivative(charge, du) + self._derivative(faradaic, du)
