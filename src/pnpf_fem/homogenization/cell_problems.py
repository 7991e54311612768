"""The periodic cell problems (44) and (45) of the porous-medium PNP paper, with dolfinx_mpc.

Equation numbers are those of M. Schmuck, J. Math. Phys. 54, 021504 (2013); docs/theory.md §7
states the cell problems and §9 the tortuosity problem. W_♯(Y) = H¹_♯(Y)/ℝ is the space of
Y-periodic H¹ functions modulo constants, represented by the zero-mean ones ((4)–(5)); W_♯(Y^s)
is read the same way on Y^s.

(44): find ξ^{3_j} ∈ W_♯(Y) with (κ∇ξ^{3_j}, ∇w)_Y = (κ, ∂_{y_j} w)_Y, κ = λ² in Y^s, α in the
solid, nothing imposed on the interface (transmission conditions are natural).

Tortuosity (classical perforated-domain homogenization, not in the paper): find χ^k ∈ W_♯(Y^s)
with (∇χ^k, ∇w)_{Y^s} = (∂_{y_k} w)_{Y^s}, i.e. -Δχ^k = 0 in Y^s with the natural condition
(∇χ^k - e_k)·n = 0 on the solid interface; Π_ik = |Y|^{-1} ∫_{Y^s} (δ_ik - ∂_i χ^k).

(45)–(46): find ξ^{r_j} ∈ W_♯(Y^s) with (∇ξ^{r_j}, ∇φ)_{Y^s} = -(z_r u_0^r ∇ξ^{3_j}, ∇φ)_{Y^s}, on
the electrolyte submesh only (natural no-flux condition on the solid interface). Since
z_r u_0^r is a y-constant factor, we solve for η^j := ξ^{r_j} / (z_r u_0^r), i.e. with the factor 1.

Every solve is checked: the KSP converged reason must be positive, the true residual of the
constrained system small, and on a heterogeneous cell the right-hand side and the corrector must
not vanish (a silently zero corrector is the known failure mode of this set-up). Failures raise
`SolverError`.

`_solve_periodic` runs each cell problem in six steps: (1) the periodic constraint and the
matrix (`_periodic_system`), (2) the constrained right-hand sides (`_assemble_rhs`), (3) the
solver (`_ksp`), (4) one solve per direction (`_solve_direction`), (5) the zero-mean corrector
(`_ZeroMean`), (6) the Galerkin check (`_GalerkinCheck`). Scalar forms evaluated for several
Functions are compiled once (`CompiledFunctional`), not once per Function.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dolfinx_mpc
import numpy as np
import ufl
from dolfinx import fem
from dolfinx.mesh import create_submesh
from mpi4py import MPI
from petsc4py import PETSc

from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.homogenization.cells import PeriodicCell
from pnpf_fem.homogenization.periodic import create_periodic_mpc, pin_dof

__all__ = [
    "CompiledFunctional",
    "CorrectorSolution",
    "SolverSettings",
    "fluid_submesh",
    "solve_ionic_correctors",
    "solve_permittivity_correctors",
    "solve_tortuosity_correctors",
]

_REASON_NAMES = {
    -2: "DIVERGED_NULL",
    -3: "DIVERGED_ITS",
    -4: "DIVERGED_DTOL",
    -5: "DIVERGED_BREAKDOWN",
    -7: "DIVERGED_NONSYMMETRIC",
    -8: "DIVERGED_INDEFINITE_PC",
    -9: "DIVERGED_NANORINF",
    -10: "DIVERGED_INDEFINITE_MAT",
    -11: "DIVERGED_PC_FAILED",
}


@dataclass(frozen=True)
class SolverSettings:
    """Linear solver of the cell problems.

    method "lu": MUMPS LU (with null-pivot detection); method "cg": conjugate gradients with
    algebraic multigrid (`amg` = "hypre" BoomerAMG or "gamg").
    constant_mode "pin": one interior dof is pinned (SPD system, then the mean is subtracted);
    "nullspace": the constant null space of the periodic operator is attached to the matrix
    (and used as near null space by GAMG). `residual_tol` bounds the accepted true relative
    residual ||A x - b|| / max_j ||b_j||.
    """

    method: str = "lu"
    amg: str = "hypre"
    rtol: float = 1e-12
    max_it: int = 2000
    residual_tol: float = 1e-8
    constant_mode: str = "pin"

    def __post_init__(self) -> None:
        if self.method not in ("lu", "cg"):
            raise InputError(f"solver method must be 'lu' or 'cg', got {self.method!r}")
        if self.constant_mode not in ("pin", "nullspace"):
            raise InputError(
                f"constant_mode must be 'pin' or 'nullspace', got {self.constant_mode!r}"
            )
        if self.amg not in ("hypre", "gamg"):
            raise InputError(f"AMG must be 'hypre' or 'gamg', got {self.amg!r}")
        if not (0.0 < self.rtol < 1.0 and 0.0 < self.residual_tol < 1.0 and self.max_it > 0):
            raise InputError("solver tolerances must lie in (0, 1) and max_it be positive")


@dataclass(frozen=True, eq=False)
class CorrectorSolution:
    """Correctors (one per direction, plain DOLFINx Functions with zero mean on their domain).

    `dofs` is the global size of the unconstrained space, `iterations`/`reasons`/`residuals`
    are per direction, `seconds` is the wall time of constraints + assembly + solves + checks,
    `ksp_seconds` the part spent in the Krylov/LU solves.
    """

    correctors: tuple
    space: object
    dofs: int
    iterations: tuple[int, ...]
    reasons: tuple[int, ...]
    residuals: tuple[float, ...]
    seconds: float
    ksp_seconds: float = 0.0


def _scalar(form_, comm: MPI.Comm) -> float:
    return float(comm.allreduce(fem.assemble_scalar(fem.form(form_)), op=MPI.SUM))


class CompiledFunctional:
    """A scalar form compiled once and assembled for many Functions.

    `build(*slots)` returns the UFL form in terms of placeholder Functions ("slots"), one per
    entry of `spaces`. Calling the functional with Functions of those spaces copies their values
    (owned and ghost dofs) into the slots and assembles, summed over the communicator; Constants
    the form closes over may be changed between calls. One compilation per expression replaces
    one per Function or per tensor entry.
    """

    def __init__(self, build: Callable[..., Any], *spaces: Any) -> None:
        self._slots = tuple(fem.Function(V) for V in spaces)
        self._form = fem.form(build(*self._slots))
        self._comm = spaces[0].mesh.comm

    def __call__(self, *functions: Any) -> float:
        for slot, f in zip(self._slots, functions, strict=True):
            slot.x.array[:] = f.x.array
        return float(self._comm.allreduce(fem.assemble_scalar(self._form), op=MPI.SUM))


@dataclass(eq=False)
class _PeriodicSystem:
    """One cell problem's constrained system: constraint, Dirichlet pin, A, null space, solver.

    `destroy` frees the PETSc objects and removes the solver's options from the global options
    database.
    """

    mpc: Any
    bcs: list
    a_form: Any
    A: Any
    nullspace: Any = None
    rhs: list = field(default_factory=list)
    ksp: Any = None
    option_keys: list = field(default_factory=list)

    def destroy(self) -> None:
        for b in self.rhs:
            b.destroy()
        for obj in (self.ksp, self.A, self.nullspace):
            if obj is not None:
                obj.destroy()
        opts = PETSc.Options()
        for key in self.option_keys:  # keep the global options database clean
            opts.delValue(key)


def _periodic_system(a, V, cell: PeriodicCell, settings: SolverSettings) -> _PeriodicSystem:
    """Step 1: the periodic constraint (around the pinned dof, if any) and the matrix of a."""

    if settings.constant_mode == "pin":
        bcs = [fem.dirichletbc(PETSc.ScalarType(0.0), pin_dof(V, cell.lower, cell.upper), V)]
    else:
        bcs = []
    mpc = create_periodic_mpc(V, cell.lower, cell.upper, bcs)
    a_form = fem.form(a)
    A = dolfinx_mpc.assemble_matrix(a_form, mpc, bcs=bcs)
    A.assemble()
    system = _PeriodicSystem(mpc=mpc, bcs=bcs, a_form=a_form, A=A)
    if settings.constant_mode == "nullspace":
        system.nullspace = _constant_nullspace(mpc)
        A.setNullSpace(system.nullspace)
        A.setNearNullSpace(system.nullspace)
    return system


def _constant_nullspace(mpc):
    """Constant mode of the constrained operator: 1 on non-slave dofs, 0 on slave rows
    (dolfinx_mpc puts a unit diagonal on slave rows, which decouple)."""

    ones = fem.Function(mpc.function_space)
    ones.x.array[:] = 1.0
    ones.x.array[np.asarray(mpc.slaves, dtype=np.int32)] = 0.0
    vec = ones.x.petsc_vec.copy()
    vec.normalize()
    return PETSc.NullSpace().create(vectors=[vec], comm=mpc.function_space.mesh.comm)


def _assemble_rhs(system: _PeriodicSystem, rhs: list) -> list:
    """Step 2: the constrained right-hand sides, lifted, pinned entry set, null space removed."""

    for L in rhs:
        b = dolfinx_mpc.assemble_vector(fem.form(L), system.mpc)
        dolfinx_mpc.apply_lifting(b, [system.a_form], [system.bcs], system.mpc)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fem.petsc.set_bc(b, system.bcs)
        if system.nullspace is not None:
            system.nullspace.remove(b)
        system.rhs.append(b)
    return system.rhs


def _ksp(comm: MPI.Comm, A, settings: SolverSettings, prefix: str, cell_dim: int, b_scale: float):
    """Step 3: KSP for the constrained operator A; returns it and the option keys it added.

    CG stops at rtol or at the absolute tolerance rtol * 1e-2 * max_j ||b_j||.
    """

    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(A)
    ksp.setOptionsPrefix(prefix)
    opts = PETSc.Options()
    opts.prefixPush(prefix)
    before = set(opts.getAll())
    if settings.method == "lu":
        opts["ksp_type"] = "preonly"
        opts["pc_type"] = "lu"
        opts["pc_factor_mat_solver_type"] = "mumps"
        opts["mat_mumps_icntl_24"] = 1  # null-pivot detection: robust if Y^s splits
    else:
        opts["ksp_type"] = "cg"
        opts["ksp_rtol"] = settings.rtol
        opts["ksp_atol"] = 1e-50
        opts["ksp_max_it"] = settings.max_it
        opts["ksp_norm_type"] = "unpreconditioned"
        if settings.amg == "hypre":
            opts["pc_type"] = "hypre"
            opts["pc_hypre_type"] = "boomeramg"
            opts["pc_hypre_boomeramg_strong_threshold"] = 0.5 if cell_dim == 3 else 0.25
        else:
            opts["pc_type"] = "gamg"
            opts["pc_gamg_type"] = "agg"
            opts["mg_levels_ksp_type"] = "chebyshev"
            opts["mg_levels_pc_type"] = "jacobi"
    opts.prefixPop()
    ksp.setFromOptions()
    if settings.method == "cg":
        ksp.setTolerances(rtol=settings.rtol, atol=settings.rtol * b_scale * 1e-2)
    # options such as MUMPS' ICNTL are read at factorization time: delete them after the solves
    return ksp, sorted(set(opts.getAll()) - before)


def _solve_direction(
    system: _PeriodicSystem, b, b_scale: float, settings: SolverSettings, what: str
) -> tuple[Any, int, float, float]:
    """Step 4: solve A x = b, check the converged reason and the true relative residual, and
    back-substitute the slave dofs. Returns (x in the MPC space, reason, residual, KSP seconds).
    """

    uh = fem.Function(system.mpc.function_space)
    t_ksp = time.perf_counter()
    system.ksp.solve(b, uh.x.petsc_vec)
    seconds = time.perf_counter() - t_ksp
    reason = int(system.ksp.getConvergedReason())
    if reason <= 0:
        raise SolverError(
            f"{what}: linear solver did not converge",
            reason=_REASON_NAMES.get(reason, str(reason)),
        )
    r = b.duplicate()
    system.A.mult(uh.x.petsc_vec, r)
    r.axpy(-1.0, b)
    rel = r.norm() / b_scale
    r.destroy()
    if not np.isfinite(rel) or rel > settings.residual_tol:
        raise SolverError(
            f"{what}: relative residual {rel:.3e} exceeds {settings.residual_tol:.1e}",
            reason=_REASON_NAMES.get(reason, str(reason)),
        )
    uh.x.scatter_forward()
    system.mpc.backsubstitution(uh)
    return uh, reason, float(rel), seconds


class _ZeroMean:
    """Step 5: a solution in the MPC space as a plain Function of V with zero mean over V's
    mesh (the representative in W_♯), and its L² norm; forms compiled once per cell problem."""

    def __init__(self, V) -> None:
        self._V = V
        self._mass = _scalar(fem.Constant(V.mesh, PETSc.ScalarType(1.0)) * ufl.dx, V.mesh.comm)
        self._integral = CompiledFunctional(lambda u: u * ufl.dx, V)
        self._square = CompiledFunctional(lambda u: u * u * ufl.dx, V)

    def __call__(self, uh, name: str) -> tuple[Any, float]:
        """(u, ||u||) for the solution uh (None: the zero corrector)."""

        u = fem.Function(self._V, name=name)
        if uh is not None:  # the MPC space carries extra ghosts: copy owned + V's ghosts
            imap = self._V.dofmap.index_map
            n = imap.size_local + imap.num_ghosts
            u.x.array[:n] = uh.x.array[:n]
        u.x.scatter_forward()
        u.x.array[:] -= self._integral(u) / self._mass
        return u, float(np.sqrt(self._square(u)))


class _GalerkinCheck:
    """Step 6: Galerkin orthogonality against smooth periodic test functions, independent of
    the MPC.

    For w_h = I_h sin(2π y_i / L_i), I_h cos(2π y_i / L_i) (periodic members of the discrete
    space) the discrete solution satisfies a(u, w_h) = L(w_h) whatever dofs were pinned or
    constrained, so a wrongly constrained solve (e.g. a pinned master dof) is caught here.
    The residual is measured against sqrt(a(w,w)) (sqrt(a(u,u)) + rhs_bound). The forms a(·,·)
    and L_j(·) are compiled once per cell problem and the w_h interpolated once.
    """

    def __init__(self, a, rhs: list, V, cell: PeriodicCell, settings: SolverSettings) -> None:
        test, trial = a.arguments()
        if test.number() != 0:
            test, trial = trial, test
        self._a = CompiledFunctional(lambda p, q: ufl.replace(a, {trial: p, test: q}), V, V)
        self._rhs = [CompiledFunctional(lambda q, L=L: ufl.replace(L, {test: q}), V) for L in rhs]
        self._tol = 1e2 * settings.residual_tol
        lo = np.asarray(cell.lower)
        length = cell.lengths
        self._waves = []
        for i in range(cell.dim):
            for fn in (np.sin, np.cos):
                w = fem.Function(V)
                w.interpolate(lambda x, i=i, fn=fn: fn(2.0 * np.pi * (x[i] - lo[i]) / length[i]))
                self._waves.append((w, self._a(w, w)))

    def __call__(self, u, j: int, rhs_bound: float, what: str) -> None:
        """Raise SolverError unless u satisfies a(u, w_h) = L_j(w_h) for every w_h."""
        auu = self._a(u, u)
        for w, aww in self._waves:
            au = self._a(u, w)
            lw = self._rhs[j](w)
            scale = np.sqrt(abs(aww)) * (np.sqrt(abs(auu)) + rhs_bound)
            if scale > 0 and abs(au - lw) > self._tol * scale:
                raise SolverError(
                    f"{what}: Galerkin residual against a periodic test function is "
                    f"{abs(au - lw) / scale:.2e} (relative); the periodic constraints are not "
                    "consistent with the solve"
                )


def _solve_periodic(
    a,
    rhs: list,
    rhs_bounds: list[float],
    V,
    cell: PeriodicCell,
    settings: SolverSettings,
    expect_nonzero: bool,
    label: str,
) -> CorrectorSolution:
    """Solve a(u, v) = rhs[j](v) on the periodic space V for each j; zero-mean correctors.

    `rhs_bounds[j]` bounds |rhs[j](w)| / sqrt(a(w, w)) (the dual norm of the data); it scales
    the Galerkin check. A direction whose right-hand side vanishes to round-off relative to the
    largest one (e.g. along the layers of a laminate) has the exact corrector 0.
    """
    t0 = time.perf_counter()
    system = _periodic_system(a, V, cell, settings)
    try:
        bnorms = [b.norm() for b in _assemble_rhs(system, rhs)]
        b_scale = max(bnorms)
        if expect_nonzero and not b_scale > 0.0:
            raise SolverError(
                f"cell problem {label}: every right-hand side vanishes on a heterogeneous cell "
                "(constraints or pinning misconfigured); the correctors would be silently zero"
            )
        prefix = f"pnpf_cell_{label}_{id(system.A)}_"
        system.ksp, system.option_keys = _ksp(
            V.mesh.comm, system.A, settings, prefix, cell.dim, b_scale
        )
        zero_mean = _ZeroMean(V)
        check = _GalerkinCheck(a, rhs, V, cell, settings)
        sols, its, reasons, residuals, ksp_seconds = [], [], [], [], 0.0
        for j, (b, bnorm) in enumerate(zip(system.rhs, bnorms, strict=True)):
            what = f"cell problem {label}, direction {j}"
            uh, reason, rel = None, 0, 0.0
            if bnorm > 1e-13 * b_scale:
                uh, reason, rel, seconds = _solve_direction(system, b, b_scale, settings, what)
                ksp_seconds += seconds
            # else: the data vanish to round-off in this direction, the exact corrector is 0.
            u, unorm = zero_mean(uh, f"{label}_{j}")
            if bnorm > 1e-8 * b_scale and not unorm > 0.0:
                raise SolverError(f"{what}: corrector is identically zero")
            check(u, j, rhs_bounds[j], what)
            sols.append(u)
            its.append(int(system.ksp.getIterationNumber()) if reason else 0)
            reasons.append(reason)
            residuals.append(rel)
    finally:
        system.destroy()
    return CorrectorSolution(
        correctors=tuple(sols),
        space=V,
        dofs=int(V.dofmap.index_map.size_global * V.dofmap.index_map_bs),
        iterations=tuple(its),
        reasons=tuple(reasons),
        residuals=tuple(residuals),
        seconds=time.perf_counter() - t0,
        ksp_seconds=ksp_seconds,
    )


def solve_permittivity_correctors(
    cell: PeriodicCell,
    electrolyte_permittivity: float,
    solid_permittivity: float,
    *,
    degree: int = 1,
    settings: SolverSettings | None = None,
) -> CorrectorSolution:
    """ξ^{3_j}, j = 1..N, of (44) on the whole cell with κ = λ² (fluid), α (solid)."""

    lam2, alpha = _check_permittivities(electrolyte_permittivity, solid_permittivity)
    settings = settings or SolverSettings()
    mesh = cell.mesh
    V = fem.functionspace(mesh, ("Lagrange", int(degree)))
    dx = ufl.Measure("dx", domain=mesh, subdomain_data=cell.cell_tags)
    k_f = fem.Constant(mesh, PETSc.ScalarType(lam2))
    k_s = fem.Constant(mesh, PETSc.ScalarType(alpha))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    # (44): (κ∇ξ, ∇w)_Y = Σ_i (κ δ_ij, ∂_i w)_Y, κ split by the cell tags (exact for DG0 κ).
    a = k_f * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx(cell.fluid_tag) + k_s * ufl.inner(
        ufl.grad(u), ufl.grad(v)
    ) * dx(cell.solid_tag)
    rhs = [
        k_f * v.dx(j) * dx(cell.fluid_tag) + k_s * v.dx(j) * dx(cell.solid_tag)
        for j in range(cell.dim)
    ]
    heterogeneous = cell.has_solid() and lam2 != alpha
    # |(κ, ∂_j w)| ≤ sqrt(∫κ) sqrt(a(w, w)) by Cauchy–Schwarz
    bound = float(np.sqrt(_scalar(k_f * dx(cell.fluid_tag) + k_s * dx(cell.solid_tag), mesh.comm)))
    return _solve_periodic(a, rhs, [bound] * cell.dim, V, cell, settings, heterogeneous, "xi3")


def _check_permittivities(lam2: float, alpha: float) -> tuple[float, float]:
    try:
        lam2, alpha = float(lam2), float(alpha)
    except (TypeError, ValueError) as err:
        raise InputError("permittivities must be numbers") from err
    for name, val in (("electrolyte", lam2), ("solid", alpha)):
        if not (np.isfinite(val) and val > 0.0):
            raise InputError(f"{name} permittivity must be a positive number, got {val!r}")
    return lam2, alpha


def fluid_submesh(cell: PeriodicCell):
    """(submesh, parent cell indices) of the electrolyte part Y^s (`create_submesh`)."""

    tdim = cell.mesh.topology.dim
    cells = np.sort(cell.cell_tags.find(cell.fluid_tag)).astype(np.int32)
    sub, cell_map, _, _ = create_submesh(cell.mesh, tdim, cells)
    sub.topology.create_connectivity(tdim - 1, tdim)
    return sub, np.asarray(cell_map, dtype=np.int32)


def solve_ionic_correctors(
    cell: PeriodicCell,
    xi3: CorrectorSolution,
    *,
    settings: SolverSettings | None = None,
) -> tuple[CorrectorSolution, tuple]:
    """η^j = ξ^{r_j} / (z_r u_0^r) of (45)–(46) on the electrolyte submesh Y^s.

    Returns the solution and the restrictions of ξ^{3_j} to Y^s (same element, interpolated
    exactly through the submesh cell map) used as data, for the factorization check.
    """

    settings = settings or SolverSettings()
    sub, cell_map = fluid_submesh(cell)
    V0 = xi3.space
    Vs = fem.functionspace(sub, V0.ufl_element())
    n_sub = sub.topology.index_map(sub.topology.dim)
    sub_cells = np.arange(n_sub.size_local + n_sub.num_ghosts, dtype=np.int32)
    restricted = []
    for j, xi in enumerate(xi3.correctors):
        xs = fem.Function(Vs, name=f"xi3_fluid_{j}")
        xs.interpolate(xi, cells0=cell_map[: len(sub_cells)], cells1=sub_cells)
        xs.x.scatter_forward()
        restricted.append(xs)
    u, v = ufl.TrialFunction(Vs), ufl.TestFunction(Vs)
    dx = ufl.Measure("dx", domain=sub)
    a = ufl.inner(ufl.grad(u), ufl.grad(v)) * dx
    # (46) with z_r u_0^r = 1: F(φ) = -(∇ξ^{3_j}, ∇φ)_{Y^s}; no-flux on Γ is natural.
    rhs = [-ufl.inner(ufl.grad(xs), ufl.grad(v)) * dx for xs in restricted]
    grad_sq = CompiledFunctional(lambda f: ufl.inner(ufl.grad(f), ufl.grad(f)) * dx, Vs)
    bounds = [float(np.sqrt(grad_sq(xs))) for xs in restricted]
    nonzero = max(bounds) > 0.0
    sol = _solve_periodic(a, rhs, bounds, Vs, cell, settings, nonzero, "xir")
    return sol, tuple(restricted)


def solve_tortuosity_correctors(
    cell: PeriodicCell,
    settings: SolverSettings | None = None,
    *,
    degree: int = 1,
) -> CorrectorSolution:
    """χ^k, k = 1..N, of the Neumann cell problem of a perforated domain, on the electrolyte Y^s.

    (∇χ^k, ∇w)_{Y^s} = (∂_{y_k} w)_{Y^s} for all periodic w on the fluid submesh: -Δχ^k = 0 in
    Y^s, (∇χ^k - e_k)·n = 0 on the solid interface (natural), periodic on ∂Y. The tortuosity
    (effective diffusivity) tensor is Π_ik = |Y|^{-1} ∫_{Y^s} (δ_ik - ∂_i χ^k) (`effective.py`).
    It is the insulating-solid limit α → 0 of ε⁰ at λ² = 1. Where Y^s does not percolate in
    direction k (e.g. across a laminate's solid layer), χ^k = y_k up to a constant on each
    fluid layer and Π_kk = 0.
    """

    settings = settings or SolverSettings()
    sub, _ = fluid_submesh(cell)
    V = fem.functionspace(sub, ("Lagrange", int(degree)))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    dx = ufl.Measure("dx", domain=sub)
    a = ufl.inner(ufl.grad(u), ufl.grad(v)) * dx
    rhs = [v.dx(k) * dx for k in range(cell.dim)]
    # |(∂_k w)_{Y^s}| ≤ |Y^s|^{1/2} sqrt(a(w, w)) by Cauchy–Schwarz
    vol_fluid = _scalar(fem.Constant(sub, 1.0) * dx, sub.comm)
    bound = float(np.sqrt(vol_fluid))
    return _solve_periodic(a, rhs, [bound] * cell.dim, V, cell, settings, cell.has_solid(), "chi")
