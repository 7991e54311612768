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
from typing import Any

import numpy as np
import numpy.typing as npt
import ufl
from dolfinx import fem
from dolfinx.fem import petsc
from mpi4py import MPI
from petsc4py import PETSc

from pnpf_fem.admittance import Admittance
from pnpf_fem.errors import InputError
from pnpf_fem.fem.snes import converged_or_raise_ksp

__all__ = ["FrequencyResponse", "SmallSignal"]


@dataclass(frozen=True, eq=False)
class SmallSignal:
    """What the linearization needs of a backward-Euler problem at a steady state.

    unknowns: the Functions of the state (one blocked Function, or several on different meshes,
    with `entity_maps` for mixed-domain forms); previous: each one's value at t^n (None: no
    storage, e.g. ψ); residuals: F_i(unknowns, previous), one per unknown, with the time step
    `dt`; bcs: every Dirichlet condition (their values are ignored: the perturbation is
    homogeneous on them); drive: (index of an unknown, its local dofs) where δψ = δV (the driven
    electrode's Dirichlet nodes; empty behind a Stern layer); potentials: the Constants holding
    the driven V in the forms; charge, faradaic: the electrode's charge Q and Faradaic current
    I_F as functionals of the unknowns (None: none)."""

    unknowns: Sequence[fem.Function]
    previous: Sequence[fem.Function | None]
    dt: fem.Constant
    residuals: Sequence[ufl.Form]
    bcs: Sequence[fem.DirichletBC]
    drive: tuple[int, npt.NDArray[np.int32]]
    potentials: Sequence[ufl.core.expr.Expr]
    charge: ufl.Form
    faradaic: ufl.Form | None = None
    entity_maps: Any = None


class FrequencyResponse(Admittance):
    """The admittance Y(ω) = δI/δV of `SmallSignal` at the state now in its unknowns
    (dimensionless ω).

    Assembles K, M (monolithic block matrices: the owned entries of each unknown in turn) and
    the right-hand sides once; `admittance(ω)` solves one real 2 × 2 block system with MUMPS
    (options prefix `pnpf_impedance_`)."""

    def __init__(self, s: SmallSignal) -> None:
        self.s = s
        self.spaces = [u.function_space for u in s.unknowns]
        domain = self.spaces[0].mesh
        self.comm = domain.comm
        self.sizes = [V.dofmap.index_map.size_local * V.dofmap.index_map_bs for V in self.spaces]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        # V as a cell-wise field (value irrelevant: derivatives are taken at the state)
        Q = fem.functionspace(domain, ("DG", 0))
        self._v, self._one = fem.Function(Q), fem.Function(Q)
        self._one.x.array[:] = 1.0
        self._swap = {c: self._v for c in s.potentials}
        self._build_forms()
        self._assemble()
        self._block_system()

    # -- forms ----------------------------------------------------------------------------------
    def _replaced(self, form: ufl.Form) -> ufl.Form:
        return ufl.replace(form, self._swap) if self._swap else form

    def _form(self, form: Any) -> Any:
        return fem.form(form, entity_maps=self.s.entity_maps)

    def _build_forms(self) -> None:
        """K_ij = ∂F_i/∂u_j + ∂F_i/∂u_j^n, M_ij = −Δt ∂F_i/∂u_j^n + 0·K_ij (the zero term gives
        M the pattern and the spaces of K, which block assembly needs)."""
        s, zero = self.s, fem.Constant(self.spaces[0].mesh, 0.0)
        K, M = [], []
        for F in map(self._replaced, s.residuals):
            k_row, m_row = [], []
            for u, un in zip(s.unknowns, s.previous, strict=True):
                du = ufl.TrialFunction(u.function_space)
                k = ufl.derivative(F, u, du)
                storage = None if un is None else ufl.derivative(F, un, du)
                if storage is not None and storage.empty():
                    storage = None
                if storage is not None:
                    k = k + storage
                k_row.append(None if k.empty() else k)
                m = None if k.empty() else zero * k
                if storage is not None:
                    m = -s.dt * storage if m is None else m - s.dt * storage
                m_row.append(m)
            K.append(k_row)
            M.append(m_row)
        self._K, self._M = self._form(K), self._form(M)
        self._dF_dV = (
            [self._form(ufl.derivative(self._replaced(F), self._v, self._one)) for F in s.residuals]
            if self._swap
            else None
        )

    def _functional(self, functional: ufl.Form | None) -> tuple[np.ndarray, float] | None:
        """(∂f/∂u as the owned block array, ∂f/∂V) of a functional of the unknowns."""
        if functional is None:
            return None
        f = self._replaced(functional)
        parts = []
        for u in self.s.unknowns:
            d = ufl.derivative(f, u)
            parts.append(np.zeros(0) if d.empty() else self._owned(self._form(d)))
        grad = np.concatenate(
            [p if p.size else np.zeros(n) for p, n in zip(parts, self.sizes, strict=True)]
        )
        dv = 0.0
        if self._swap:
            dv_form = ufl.derivative(f, self._v, self._one)
            if not dv_form.empty():
                dv = self._allsum(fem.assemble_scalar(self._form(dv_form)))
        return grad, dv

    def _owned(self, form: fem.Form) -> np.ndarray:
        b = petsc.assemble_vector(form)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        out = b.array_r.copy()
        b.destroy()
        return out

    def _allsum(self, value: float) -> float:
        return float(self.comm.allreduce(value, op=MPI.SUM))

    # -- assembly -------------------------------------------------------------------------------
    def _fixed_positions(self) -> np.ndarray:
        """Positions in the owned block array of every Dirichlet dof."""
        out = []
        for bc in self.s.bcs:
            space = bc.function_space  # a C++ space
            j = next(i for i, V in enumerate(self.spaces) if V._cpp_object.contains(space))
            dofs, first_ghost = bc._cpp_object.dof_indices()
            out.append(self.offsets[j] + dofs[:first_ghost])
        return np.unique(np.concatenate(out)) if out else np.zeros(0, dtype=int)

    def _assemble(self) -> None:
        s = self.s
        K_full = petsc.create_matrix_block(self._K)
        petsc.assemble_matrix_block(K_full, self._K)
        K_full.assemble()
        M_full = petsc.create_matrix_block(self._K)
        petsc.assemble_matrix_block(M_full, self._M)
        M_full.assemble()
        self.K = petsc.create_matrix_block(self._K)
        petsc.assemble_matrix_block(self.K, self._K, bcs=list(s.bcs), diagonal=1.0)
        self.K.assemble()
        self.M = petsc.create_matrix_block(self._K)
        petsc.assemble_matrix_block(self.M, self._M, bcs=list(s.bcs), diagonal=0.0)
        self.M.assemble()
        # δu⁰: δV = 1 on the driven nodes; the system is for w = δu − δu⁰ (zero on all bcs)
        block, dofs = s.drive
        self.du0 = np.zeros(self.offsets[-1])
        self.du0[self.offsets[block] + dofs[dofs < self.sizes[block]]] = 1.0
        x, y = K_full.createVecRight(), K_full.createVecLeft()
        x.array[:] = self.du0
        K_full.mult(x, y)
        self.b_real = -y.array_r.copy()
        M_full.mult(x, y)
        self.b_imag = -y.array_r.copy()
        if self._dF_dV is not None:
            self.b_real -= np.concatenate(
                [
                    self._owned(f) if f is not None else np.zeros(n)
                    for f, n in zip(self._dF_dV, self.sizes, strict=True)
                ]
            )
        fixed = self._fixed_positions()
        self.b_real[fixed] = 0.0
        self.b_imag[fixed] = 0.0
        for obj in (K_full, M_full, x, y):
            obj.destroy()
        self._charge = self._functional(s.charge)
        self._faradaic = self._functional(s.faradaic)

    def _block_system(self) -> None:
        """A(ω) = A0 + ω A1, A0 = diag(K, K), A1 = [[0, −M], [M, 0]], in one AIJ pattern."""
        minus_M = self.M.copy()
        minus_M.scale(-1.0)
        A0 = PETSc.Mat().createNest([[self.K, None], [None, self.K]], comm=self.comm)
        A1 = PETSc.Mat().createNest([[None, minus_M], [self.M, None]], comm=self.comm)
        self._A0, self._A1 = A0.convert("aij"), A1.convert("aij")
        # the converted matrices need the nests alive (destroying them first crashed PETSc)
        self._nests = (A0, A1, minus_M)
        self._A = self._A0.copy()
        self._A.axpy(1.0, self._A1, structure=PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
        self.ksp = PETSc.KSP().create(self.comm)
        self.ksp.setOptionsPrefix("pnpf_impedance_")
        self.ksp.setType("preonly")
        pc = self.ksp.getPC()
        pc.setType("lu")
        pc.setFactorSolverType("mumps")
        self.ksp.setFromOptions()
        self._x, self._rhs = self._A.createVecs()

    # -- solves ---------------------------------------------------------------------------------
    def solve(self, omega: float) -> tuple[np.ndarray, np.ndarray]:
        """(Re δu, Im δu) as owned block arrays for δV = 1 at the angular frequency ω ≥ 0."""
        if not (np.isfinite(omega) and omega >= 0):
            raise InputError(f"angular frequency must be finite and non-negative, got {omega!r}")
        A = self._A
        A.zeroEntries()
        A.axpy(1.0, self._A0, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
        A.axpy(omega, self._A1, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
        n = self.b_real.size
        self._rhs.array[:] = np.concatenate([self.b_real, omega * self.b_imag])
        self.ksp.setOperators(A)
        self.ksp.solve(self._rhs, self._x)
        converged_or_raise_ksp(self.ksp, "pnpf_impedance_")
        x = self._x.array_r
        return self.du0 + x[:n], x[n:].copy()

    def _linear(self, functional: tuple[np.ndarray, float] | None, re, im) -> complex:
        if functional is None:
            return 0j
        grad, dv = functional
        return complex(self._allsum(grad @ re) + dv, self._allsum(grad @ im))

    def admittance(self, omega: float) -> complex:
        """Y(ω) = δI/δV (dimensionless current per unit potential)."""
        re, im = self.solve(omega)
        return 1j * omega * self._linear(self._charge, re, im) + self._linear(
            self._faradaic, re, im
        )
