"""Small-signal impedance of a FEM problem at a steady state, frequency by frequency.

Linearization. The backward-Euler residual F(u, u_n) of a stationary state u* = u_n is
F = S(u, u_n)/Δt + G(u) where S vanishes at u = u_n (every storage term has the form
(s(u) − s(u_n)) · weight(u)). Hence, at u*,

    ∂F/∂u_n = −M/Δt,   ∂F/∂u = M/Δt + K,   so   M = −Δt ∂F/∂u_n,   K = ∂F/∂u + ∂F/∂u_n,

exactly, with UFL derivatives of the residual the time stepping solves (the storage of c, of T
weighted by 1/T and of P's (1 + μ) ∂_t c included). A perturbation δV e^{iωt} of an electrode
potential then gives (K + iωM) δu = −(∂F/∂V) δV with δψ = δV on the electrode's Dirichlet nodes
and δu = 0 on every other Dirichlet node (other electrodes, reservoirs, thermostats).

Driving. V enters as Dirichlet data (a lifting, δu⁰) and through forms (the Stern layer's
(ε²/λ_S)(V − ψ), the Butler–Volmer overpotential V − ψ − E_eq); ∂F/∂V is the UFL derivative
after the Constants holding V are replaced by a cell-wise field.

Algebra. DOLFINx here is a real build, so the complex system is solved in the real 2 × 2 block
form [[K, −ωM], [ωM, K]] [x; y] = [b; ωc]; its sparsity is the same at every ω, so the LU
factorization's symbolic analysis (MUMPS) is done once.

Current. The current into the electrode is I = dQ/dt + I_F, the displacement current of its
charge Q (`Scheme.electrode_charges`) and the anodic Faradaic current I_F; so
δI = iω δQ + δI_F with δQ = ∂Q/∂u δu + ∂Q/∂V δV. The admittance is Y = δI/δV and Z = 1/Y.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import ufl
from dolfinx import fem
from dolfinx.fem import petsc
from petsc4py import PETSc

from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fem.snes import converged_or_raise_ksp

__all__ = ["FrequencyResponse", "SmallSignal"]


@dataclass(frozen=True, eq=False)
class SmallSignal:
    """What the linearization needs of a backward-Euler problem at a steady state.

    residual: F(u, u_n) with the time-step Constant `dt`; bcs: every Dirichlet condition of u
    (their values are ignored: the perturbation is homogeneous on them); drive_dofs: the local
    dofs of u where δψ = δV (the driven electrode's Dirichlet nodes, empty behind a Stern layer);
    potentials: the UFL Constants holding the driven V in the forms; charge, faradaic: the
    electrode's charge Q and Faradaic current I_F as functionals of u (None: none)."""

    u: fem.Function
    u_n: fem.Function
    dt: fem.Constant
    residual: ufl.Form
    bcs: Sequence[fem.DirichletBC]
    drive_dofs: npt.NDArray[np.int32]
    potentials: Sequence[ufl.core.expr.Expr]
    charge: ufl.Form
    faradaic: ufl.Form | None = None


def _owned_bc_dofs(bcs: Sequence[fem.DirichletBC]) -> npt.NDArray[np.int32]:
    """The owned (unrolled) dofs of all `bcs`."""
    parts = []
    for bc in bcs:
        dofs, first_ghost = bc._cpp_object.dof_indices()
        parts.append(dofs[:first_ghost])
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int32)


def _assembled_vector(form: fem.Form) -> PETSc.Vec:
    b = petsc.assemble_vector(form)
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    return b


class FrequencyResponse:
    """The admittance Y(ω) = δI/δV of `SmallSignal` at the state now in `u` (dimensionless ω).

    Assembles K, M and the right-hand sides once; `admittance(ω)` solves one real 2 × 2 block
    system with MUMPS (options prefix `pnpf_impedance_`)."""

    def __init__(self, s: SmallSignal) -> None:
        self.s = s
        domain = s.u.function_space.mesh
        self.comm = domain.comm
        # V as a cell-wise field (value irrelevant: only derivatives at the state are taken)
        Q = fem.functionspace(domain, ("DG", 0))
        self._v, one = fem.Function(Q), fem.Function(Q)
        one.x.array[:] = 1.0
        swap = {c: self._v for c in s.potentials}
        for c in s.potentials:
            self._v.x.array[:] = float(c.value)  # any: the forms hold V linearly or not
        residual = ufl.replace(s.residual, swap) if swap else s.residual
        du = ufl.TrialFunction(s.u.function_space)
        k_form = ufl.derivative(residual, s.u, du) + ufl.derivative(residual, s.u_n, du)
        m_form = -s.dt * ufl.derivative(residual, s.u_n, du)
        self._forms = {"K": fem.form(k_form), "M": fem.form(m_form)}

        def vector(functional: ufl.Form | None, wrt) -> PETSc.Vec | None:
            if functional is None:
                return None
            f = ufl.replace(functional, swap) if swap else functional
            if wrt == "V":
                return fem.form(ufl.derivative(f, self._v, one)) if swap else None
            return _assembled_vector(fem.form(ufl.derivative(f, s.u)))

        self._dF_dV = vector(s.residual, "V") if swap else None
        self._q_u, self._q_v = vector(s.charge, "u"), vector(s.charge, "V")
        self._i_u = vector(s.faradaic, "u")
        self._i_v = vector(s.faradaic, "V")
        self._assemble()

    # -- assembly -------------------------------------------------------------------------------
    def _scalar(self, form: fem.Form | None) -> float:
        if form is None:
            return 0.0
        return float(self.comm.allreduce(fem.assemble_scalar(form)))

    def _assemble(self) -> None:
        s, forms = self.s, self._forms
        K_full, M_full = petsc.assemble_matrix(forms["K"]), petsc.assemble_matrix(forms["M"])
        K_full.assemble()
        M_full.assemble()
        self.K = petsc.assemble_matrix(forms["K"], bcs=list(s.bcs), diagonal=1.0)
        self.M = petsc.assemble_matrix(forms["M"], bcs=list(s.bcs), diagonal=0.0)
        self.K.assemble()
        self.M.assemble()
        # δu⁰: δV = 1 on the driven nodes; the system is for w = δu − δu⁰ (zero on all bcs)
        self.du0 = self.K.createVecRight()
        n_owned = self.du0.getLocalSize()
        drive = s.drive_dofs[s.drive_dofs < n_owned]
        self.du0.array[drive] = 1.0
        self.b_real, self.b_imag = self.K.createVecLeft(), self.K.createVecLeft()
        K_full.mult(self.du0, self.b_real)
        M_full.mult(self.du0, self.b_imag)
        if self._dF_dV is not None:
            self.b_real.axpy(1.0, _assembled_vector(self._dF_dV))
        self.b_real.scale(-1.0)
        self.b_imag.scale(-1.0)
        fixed = _owned_bc_dofs(s.bcs)
        self.b_real.array[fixed] = 0.0
        self.b_imag.array[fixed] = 0.0
        K_full.destroy()
        M_full.destroy()
        self._block_system()

    def _block_system(self) -> None:
        """A(ω) = A0 + ω A1, A0 = diag(K, K), A1 = [[0, −M], [M, 0]], in one AIJ pattern."""
        minus_M = self.M.copy()
        minus_M.scale(-1.0)
        A0 = PETSc.Mat().createNest([[self.K, None], [None, self.K]], comm=self.comm)
        A1 = PETSc.Mat().createNest([[None, minus_M], [self.M, None]], comm=self.comm)
        self._A0, self._A1 = A0.convert("aij"), A1.convert("aij")
        self._A = self._A0.copy()
        self._A.axpy(1.0, self._A1, structure=PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
        self._keep = (A0, A1, minus_M)
        self.ksp = PETSc.KSP().create(self.comm)
        self.ksp.setOptionsPrefix("pnpf_impedance_")
        self.ksp.setType("preonly")
        pc = self.ksp.getPC()
        pc.setType("lu")
        pc.setFactorSolverType("mumps")
        self.ksp.setFromOptions()
        self._x, self._rhs = self._A.createVecs()

    # -- solves ---------------------------------------------------------------------------------
    def solve(self, omega: float) -> tuple[PETSc.Vec, PETSc.Vec]:
        """(Re δu, Im δu) for δV = 1 at the dimensionless angular frequency ω ≥ 0."""
        if not (np.isfinite(omega) and omega >= 0):
            raise InputError(f"angular frequency must be finite and non-negative, got {omega!r}")
        A = self._A
        A.zeroEntries()
        A.axpy(1.0, self._A0, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
        A.axpy(omega, self._A1, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
        n = self.b_real.getLocalSize()
        rhs = self._rhs.array
        rhs[:n] = self.b_real.array
        rhs[n:] = omega * self.b_imag.array
        self.ksp.setOperators(A)
        self.ksp.solve(self._rhs, self._x)
        converged_or_raise_ksp(self.ksp, "pnpf_impedance_")
        re, im = self.du0.copy(), self.du0.duplicate()
        re.array[:] += self._x.array[:n]
        im.array[:] = self._x.array[n:]
        return re, im

    def admittance(self, omega: float) -> complex:
        """Y(ω) = δI/δV (dimensionless current per unit potential)."""
        re, im = self.solve(omega)
        dq = complex(self._q_u.dot(re) + self._scalar(self._q_v), self._q_u.dot(im))
        di = 0j
        if self._i_u is not None:
            di = complex(self._i_u.dot(re) + self._scalar(self._i_v), self._i_u.dot(im))
        re.destroy()
        im.destroy()
        return 1j * omega * dq + di

    def impedance(self, omega: float) -> complex:
        """Z(ω) = 1/Y(ω); SolverError where Y vanishes (a blocking cell at ω = 0)."""
        y = self.admittance(omega)
        if y == 0:
            raise SolverError(f"the admittance vanishes at ω = {omega:g} (no DC current path)")
        return 1.0 / y

    def spectrum(self, omegas: Sequence[float]) -> npt.NDArray[np.complex128]:
        """Z at every ω of `omegas`."""
        return np.array([self.impedance(w) for w in omegas], dtype=complex)
