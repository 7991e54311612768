"""Effective quantities (26) of the porous-medium PNP system and their typed, JSON-able result.

Equation numbers are those of M. Schmuck, J. Math. Phys. 54, 021504 (2013); docs/theory.md §8
states the tensors and the identities (E), (I1)–(I3) derived from them. The form of (26) used:
    p = |Y^s| / |Y|,
    M_ik   = |Y|^{-1} ∫_{Y^s} (δ_ik - ∂_i ξ^{3_k}),
    ε⁰_ik  = |Y|^{-1} ∫_Y κ (δ_ik - ∂_i ξ^{3_k}),
    D^r_ik = |Y|^{-1} ∫_{Y^s} ∂_i ξ^{r_k}.
As printed, (26) sums over j the whole bracket {δ_ik - δ_ij ∂_{y_j} ξ^{3_k}}; read literally that
gives N δ_ik - ∂_i ξ^{3_k}. Here the sum applies to the δ_ij term only, as in the paper's own
derivation ((60), (64)–(66)); only this reading gives ε⁰ = λ² I for a cell without solid.

Tortuosity (classical perforated-domain closure, not in the paper):
    Π_ik   = |Y|^{-1} ∫_{Y^s} (δ_ik - ∂_i χ^k),  χ^k the Neumann cell problem on Y^s
(`cell_problems.solve_tortuosity_correctors`); symmetric (checked) with 0 ≼ Π ≼ pI.

ξ^{r_k} = z_r u_0^r η^k factorizes (docs/theory.md §7), so `D` below is D^r / (z_r u_0^r),
computed from its own cell problem (45); `EffectiveTensors.D_r(z, u0)` restores the factor. The
identities (I1) ε⁰ = αI + (λ² - α)M and (I2) D^r = z_r u_0^r (M - pI) are verified to solver
tolerance, ε⁰ is checked symmetric positive definite, and (E) (energy form) is compared with (26).

`compute_effective_tensors` solves the three cell problems, then computes p (`_porosity`),
M, ε⁰ and ε⁰ of (E) (`_permittivity_tensors`), D and the factorization residual
(`_ionic_tensor`), Π (`_tortuosity_tensor`) and checks the identities (`_check_identities`).
Each tensor is assembled from forms compiled once for all its entries: the gradient moments
∫ ∂_i c^k from one form ∫ e·∇c with the unit vector e a Constant and the corrector c a
coefficient, both set per entry (`_gradient_moments`, `cell_problems.CompiledFunctional`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import ufl
from dolfinx import fem
from mpi4py import MPI

from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.homogenization.cell_problems import (
    CompiledFunctional,
    CorrectorSolution,
    SolverSettings,
    solve_ionic_correctors,
    solve_permittivity_correctors,
    solve_tortuosity_correctors,
)
from pnpf_fem.homogenization.cells import PeriodicCell

__all__ = ["CellSolution", "EffectiveTensors", "compute_effective_tensors"]

Matrix = tuple[tuple[float, ...], ...]
_TENSORS = ("eps_eff", "M", "D", "tortuosity")


def _tup(a: npt.ArrayLike) -> Matrix:
    return tuple(tuple(float(v) for v in row) for row in np.asarray(a, dtype=float))


@dataclass(frozen=True)
class EffectiveTensors:
    """The effective tensors of one periodic cell (all matrices as nested tuples, row-major).

    eps_eff: ε⁰ (26)_3; M: (26)_2; D: D^r / (z_r u_0^r) from (45); porosity: p on the mesh;
    tortuosity: Π of the perforated-domain Neumann cell problem (empty in JSON written before
    it existed).
    The `*_residual` fields are relative residuals of the derived identities (docs/theory.md §8):
    identity_I1 = |ε⁰ - αI - (λ²-α)M| / |ε⁰|, identity_I2 = |D - (M - pI)| / max(|M|, p),
    factorization = ||∇(η^k + ξ^{3_k})||_{Y^s} / ||∇ξ^{3_k}||_{Y^s}, energy = |ε⁰(26) - ε⁰(E)|/|ε⁰|,
    symmetry = |ε⁰ - ε⁰ᵀ| / |ε⁰| (max norms).
    """

    dim: int
    shape: str
    porosity: float
    electrolyte_permittivity: float
    solid_permittivity: float
    eps_eff: Matrix
    M: Matrix
    D: Matrix
    dofs: int
    dofs_fluid: int
    solve_seconds: float
    degree: int = 1
    mesh_size: float | None = None
    target_porosity: float | None = None
    num_cells: int = 0
    solver: str = "lu"
    iterations: tuple[int, ...] = ()
    identity_I1_residual: float = 0.0
    identity_I2_residual: float = 0.0
    factorization_residual: float = 0.0
    energy_residual: float = 0.0
    symmetry_residual: float = 0.0
    eps_eigenvalues: tuple[float, ...] = field(default=())
    tortuosity: Matrix = field(default=())

    def array(self, name: str) -> npt.NDArray[np.float64]:
        """One tensor ("eps_eff", "M", "D" or "tortuosity") as a numpy array."""
        if name not in _TENSORS:
            raise KeyError(name)
        if name == "tortuosity" and not self.tortuosity:
            raise KeyError("tortuosity (not computed for these tensors)")
        return np.asarray(getattr(self, name), dtype=float)

    def D_r(self, z: float, u0: float) -> npt.NDArray[np.float64]:
        """D^r = z_r u_0^r (M - pI) for species charge z and macroscopic density u0 (I2)."""
        return float(z) * float(u0) * self.array("D")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in _TENSORS:
            d[k] = [list(r) for r in d[k]]
        d["iterations"] = list(self.iterations)
        d["eps_eigenvalues"] = list(self.eps_eigenvalues)
        d["D_note"] = "D = D^r / (z_r u_0^r); D^r = z_r u_0^r D"
        return d

    def to_json(self, path: str | Path | None = None, indent: int | None = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EffectiveTensors:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in data.items() if k in known}
        for k in ("eps_eff", "M", "D"):
            kw[k] = _tup(kw[k])
        kw["tortuosity"] = _tup(kw["tortuosity"]) if kw.get("tortuosity") else ()
        kw["iterations"] = tuple(int(i) for i in kw.get("iterations", ()))
        kw["eps_eigenvalues"] = tuple(float(e) for e in kw.get("eps_eigenvalues", ()))
        return cls(**kw)

    @classmethod
    def from_json(cls, path: str | Path) -> EffectiveTensors:
        return cls.from_dict(json.loads(Path(path).read_text()))


@dataclass(frozen=True, eq=False)
class CellSolution:
    """Everything computed on one cell: tensors plus the correctors (for VTX output)."""

    tensors: EffectiveTensors
    xi3: CorrectorSolution
    xir: CorrectorSolution
    xi3_fluid: tuple
    chi: CorrectorSolution | None = None  # tortuosity correctors on Y^s


def _integral(form_, comm: MPI.Comm) -> float:
    return float(comm.allreduce(fem.assemble_scalar(fem.form(form_)), op=MPI.SUM))


def compute_effective_tensors(
    cell: PeriodicCell,
    electrolyte_permittivity: float,
    solid_permittivity: float,
    *,
    degree: int = 1,
    settings: SolverSettings | None = None,
    identity_tol: float = 1e-8,
) -> CellSolution:
    """Solve (44), (45) and the tortuosity cell problem; return ε⁰, M, D, Π, p with checks.

    Raises SolverError if a solve fails, ε⁰ is not symmetric positive definite, or an
    identity residual exceeds `identity_tol` (relative); InputError if the cell tags do not
    cover the box. Every tensor is assembled from forms compiled once (`_gradient_moments`).
    """
    t0 = time.perf_counter()
    settings = settings or SolverSettings()
    lam2 = float(electrolyte_permittivity)
    alpha = float(solid_permittivity)
    xi3 = solve_permittivity_correctors(cell, lam2, alpha, degree=degree, settings=settings)
    xir, xi3_fluid = solve_ionic_correctors(cell, xi3, settings=settings)
    chi = solve_tortuosity_correctors(cell, settings, degree=degree)

    p = _porosity(cell)
    eps, M, eps_energy = _permittivity_tensors(cell, xi3.correctors, lam2, alpha, p)
    D, fact = _ionic_tensor(cell, xir.correctors, xi3_fluid)
    Pi = _tortuosity_tensor(cell, chi.correctors, p, identity_tol)
    checks = _check_identities(eps, M, D, p, eps_energy, fact, lam2, alpha, identity_tol)

    tensors = EffectiveTensors(
        dim=cell.dim,
        shape=cell.shape,
        porosity=p,
        electrolyte_permittivity=lam2,
        solid_permittivity=alpha,
        eps_eff=_tup(eps),
        M=_tup(M),
        D=_tup(D),
        dofs=xi3.dofs,
        dofs_fluid=xir.dofs,
        solve_seconds=time.perf_counter() - t0,
        degree=int(degree),
        mesh_size=cell.mesh_size,
        target_porosity=cell.target_porosity,
        num_cells=int(cell.mesh.topology.index_map(cell.dim).size_global),
        solver=settings.method if settings.method == "lu" else f"cg+{settings.amg}",
        iterations=tuple(xi3.iterations) + tuple(xir.iterations) + tuple(chi.iterations),
        tortuosity=_tup(Pi),
        **checks,
    )
    return CellSolution(tensors=tensors, xi3=xi3, xir=xir, xi3_fluid=tuple(xi3_fluid), chi=chi)


def _porosity(cell: PeriodicCell) -> float:
    """p = |Y^s| / |Y| on the mesh, after checking that the tagged cells fill the box Y."""

    mesh = cell.mesh
    one = fem.Constant(mesh, 1.0)
    vol_box = cell.volume
    vol_mesh = _integral(one * ufl.dx, mesh.comm)
    if abs(vol_mesh - vol_box) > 1e-8 * vol_box:
        raise InputError(
            f"the cell mesh fills {vol_mesh:.6g} of its bounding box volume {vol_box:.6g}: "
            "the electrolyte and solid tags must cover the whole periodic cell"
        )
    dx = ufl.Measure("dx", domain=mesh, subdomain_data=cell.cell_tags)
    return _integral(one * dx(cell.fluid_tag), mesh.comm) / vol_box


def _unit(e, i: int) -> None:
    """Set the vector Constant e to the unit vector e_i."""
    e.value[:] = 0.0
    e.value[i] = 1.0


def _gradient_moments(correctors: Sequence, measure) -> npt.NDArray[np.float64]:
    """G_ik = ∫ ∂_{y_i} c^k over `measure` (a dx restricted to a tag or to a submesh).

    One form ∫ e·∇c is compiled; it is assembled for every entry with e = e_i (a Constant)
    and the corrector c^k loaded into the coefficient c.
    """

    V = correctors[0].function_space
    e = fem.Constant(V.mesh, np.zeros(V.mesh.geometry.dim))
    moment = CompiledFunctional(lambda c: ufl.inner(e, ufl.grad(c)) * measure, V)
    d = len(correctors)
    G = np.empty((d, d))
    for i in range(d):
        _unit(e, i)
        for k in range(d):
            G[i, k] = moment(correctors[k])
    return G


def _permittivity_tensors(
    cell: PeriodicCell, xi: Sequence, lam2: float, alpha: float, p: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(ε⁰ (26)_3, M (26)_2, ε⁰ of the energy form (E)) from the correctors ξ^{3_k} of (44).

    With F_ik = ∫_{Y^s} ∂_i ξ^{3_k} and S_ik = ∫_{Y \\ Y^s} ∂_i ξ^{3_k}:
    M = (p|Y| I - F) / |Y| and ε⁰ = (λ² (p|Y| I - F) + α ((1-p)|Y| I - S)) / |Y|.
    (E): ε⁰_ik = |Y|^{-1} ∫_Y κ (e_i - ∇ξ^{3_i})·(e_k - ∇ξ^{3_k}), symmetric by construction.
    """

    mesh = cell.mesh
    vol = cell.volume
    eye = np.eye(cell.dim)
    dx = ufl.Measure("dx", domain=mesh, subdomain_data=cell.cell_tags)
    F = _gradient_moments(xi, dx(cell.fluid_tag))
    S = _gradient_moments(xi, dx(cell.solid_tag))
    M = (p * vol * eye - F) / vol  # (26)_2
    eps = (lam2 * (p * vol * eye - F) + alpha * ((1.0 - p) * vol * eye - S)) / vol  # (26)_3

    # (E): one form per phase, e_i, e_k Constants and ξ^{3_i}, ξ^{3_k} loaded per entry
    gdim = mesh.geometry.dim
    ei, ek = fem.Constant(mesh, np.zeros(gdim)), fem.Constant(mesh, np.zeros(gdim))
    V = xi[0].function_space

    def energy(tag: int) -> CompiledFunctional:
        return CompiledFunctional(
            lambda a, b: ufl.inner(ei - ufl.grad(a), ek - ufl.grad(b)) * dx(tag), V, V
        )

    e_fluid, e_solid = energy(cell.fluid_tag), energy(cell.solid_tag)
    eps_energy = np.zeros((cell.dim, cell.dim))
    for i in range(cell.dim):
        for k in range(i, cell.dim):
            _unit(ei, i)
            _unit(ek, k)
            val = (lam2 * e_fluid(xi[i], xi[k]) + alpha * e_solid(xi[i], xi[k])) / vol
            eps_energy[i, k] = eps_energy[k, i] = val
    return eps, M, eps_energy


def _ionic_tensor(
    cell: PeriodicCell, eta: Sequence, xi3_fluid: Sequence
) -> tuple[npt.NDArray[np.float64], list[float]]:
    """D_ik = |Y|^{-1} ∫_{Y^s} ∂_i η^k from the fluid cell problem (45), and the factorization
    residuals ||∇(η^k + ξ^{3_k})||_{Y^s} / ||∇ξ^{3_k}||_{Y^s} (docs/theory.md §7)."""

    Vs = eta[0].function_space
    dx_f = ufl.dx(domain=Vs.mesh)
    D = _gradient_moments(eta, dx_f) / cell.volume
    num_sq = CompiledFunctional(
        lambda a, b: ufl.inner(ufl.grad(a + b), ufl.grad(a + b)) * dx_f, Vs, Vs
    )
    den_sq = CompiledFunctional(lambda b: ufl.inner(ufl.grad(b), ufl.grad(b)) * dx_f, Vs)
    fact = []
    for k in range(cell.dim):
        num = np.sqrt(max(num_sq(eta[k], xi3_fluid[k]), 0.0))
        den = np.sqrt(max(den_sq(xi3_fluid[k]), 0.0))
        fact.append(float(num / den if den > 0 else num))
    return D, fact


def _tortuosity_tensor(
    cell: PeriodicCell, chi: Sequence, p: float, identity_tol: float
) -> npt.NDArray[np.float64]:
    """Π_ik = |Y|^{-1} ∫_{Y^s} (δ_ik - ∂_i χ^k) on the fluid submesh (docs/theory.md §9),
    checked symmetric relative to max(|Π|, p)."""

    sub = chi[0].function_space.mesh
    dx_f = ufl.dx(domain=sub)
    vol_fluid = _integral(fem.Constant(sub, 1.0) * dx_f, sub.comm)
    Pi = (vol_fluid * np.eye(cell.dim) - _gradient_moments(chi, dx_f)) / cell.volume
    scale_pi = max(float(np.max(np.abs(Pi))), p)
    res_pi_sym = float(np.max(np.abs(Pi - Pi.T))) / scale_pi
    if res_pi_sym > identity_tol:
        raise SolverError(f"tortuosity Π is not symmetric: relative asymmetry {res_pi_sym:.2e}")
    return Pi


def _check_identities(
    eps: npt.NDArray[np.float64],
    M: npt.NDArray[np.float64],
    D: npt.NDArray[np.float64],
    p: float,
    eps_energy: npt.NDArray[np.float64],
    fact: list[float],
    lam2: float,
    alpha: float,
    identity_tol: float,
) -> dict[str, Any]:
    """Residuals of (I1), (I2), the factorization, (E) and the symmetry of ε⁰ (docs/theory.md
    §8), as `EffectiveTensors` fields; raise SolverError if ε⁰ is not symmetric positive
    definite or a residual exceeds `identity_tol`."""
    eye = np.eye(len(eps))
    norm_eps = float(np.max(np.abs(eps)))
    res_I1 = float(np.max(np.abs(eps - alpha * eye - (lam2 - alpha) * M))) / norm_eps
    res_I2 = float(np.max(np.abs(D - (M - p * eye)))) / max(float(np.max(np.abs(M))), p)
    res_E = float(np.max(np.abs(eps - eps_energy))) / norm_eps
    res_sym = float(np.max(np.abs(eps - eps.T))) / norm_eps
    eig = np.linalg.eigvalsh(0.5 * (eps + eps.T))
    if res_sym > identity_tol:
        raise SolverError(f"ε⁰ is not symmetric: relative asymmetry {res_sym:.2e}")
    if not np.all(eig > 0.0):
        raise SolverError(f"ε⁰ is not positive definite: eigenvalues {eig}")
    for name, val in (
        ("(I1) ε⁰ = αI + (λ²-α)M", res_I1),
        ("(I2) D = M - pI", res_I2),
        ("factorization ξ^r = -z u0 (ξ^3 - <ξ^3>)", max(fact)),
        ("energy form (E) vs (26)", res_E),
    ):
        if not val <= identity_tol:
            raise SolverError(f"identity {name} violated: relative residual {val:.2e}")
    return {
        "identity_I1_residual": res_I1,
        "identity_I2_residual": res_I2,
        "factorization_residual": float(max(fact)),
        "energy_residual": res_E,
        "symmetry_residual": res_sym,
        "eps_eigenvalues": tuple(float(e) for e in eig),
    }
