"""Pore-resolved PNP (20) on a periodic array: mixed-domain plumbing, conservation, Gauss law."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dolfinx")

import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from pnpf_fem.compat import blocked_lagrange_space
from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.fem.snes import NonlinearSolver, SolverOptions
from pnpf_fem.integrate import FixedSteps, integrate
from pnpf_fem.porous.arrays import (
    ELECTROLYTE_TAG,
    SOLID_TAG,
    periodic_array,
)
from pnpf_fem.porous.microscale import VERTEX_RULE, ResolvedPNP

TIGHT = SolverOptions(rtol=1e-13, atol=1e-13)


def _bump(x):
    return 1.0 + 0.5 * np.sin(np.pi * x[0]) * np.cos(np.pi * x[1])


# ---------------------------------------------------------------------------- arrays


def test_array_geometry_is_exact_and_tagged():
    arr = periodic_array(0.25, rows=2, porosity=0.75, cells_per_side=8, comm=MPI.COMM_SELF)
    msh = arr.mesh
    dx = ufl.Measure("dx", domain=msh, subdomain_data=arr.cell_tags)
    one = fem.Constant(msh, PETSc.ScalarType(1.0))
    fluid = fem.assemble_scalar(fem.form(one * dx(ELECTROLYTE_TAG)))
    solid = fem.assemble_scalar(fem.form(one * dx(SOLID_TAG)))
    assert fluid == pytest.approx(0.75 * 0.5, rel=1e-13)
    assert solid == pytest.approx(0.25 * 0.5, rel=1e-13)
    ds = ufl.Measure("ds", domain=msh, subdomain_data=arr.facet_tags)
    for name, length in (("left", 0.5), ("right", 0.5), ("bottom", 1.0), ("top", 1.0)):
        value = fem.assemble_scalar(fem.form(one * ds(arr.facet_names[name])))
        assert value == pytest.approx(length, rel=1e-13)
    assert arr.columns == 4 and arr.height == pytest.approx(0.5)
    i, j = arr.cell_index(np.array([[0.1, 0.9, 0.999999], [0.3, 0.1, 0.49]]))
    assert i.tolist() == [0, 3, 3] and j.tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"s": 0.3}, "1/s must be an integer"),
        ({"s": 0.25, "cells_per_side": 6}, "does not resolve the inclusion"),
        ({"s": 0.25, "porosity": 0.0}, "porosity"),
        ({"s": 0.25, "rows": 0}, "rows"),
    ],
)
def test_array_rejects_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        periodic_array(comm=MPI.COMM_SELF, **kwargs)


# ---------------------------------------------------------------------------- (a) no solid


def _plain_solve(arr, lambda_sq, psi_bcs, ion_bcs, steps, dt):
    """The same PNP, one blocked P1 space (η+, η−, ψ) on the whole mesh, ordinary forms."""
    msh = arr.mesh
    fdim = msh.topology.dim - 1
    W = blocked_lagrange_space(msh, 1, 3)
    u, u_old = fem.Function(W), fem.Function(W)
    u.sub(0).interpolate(lambda x: np.log(_bump(x)))
    u.x.array[1::3] = 0.0
    u.x.array[2::3] = 0.0
    u.x.scatter_forward()
    bcs = []
    for name, value in psi_bcs.items():
        facets = arr.facet_tags.find(arr.facet_names[name])
        dofs = fem.locate_dofs_topological(W.sub(2), fdim, facets)
        bcs.append(fem.dirichletbc(PETSc.ScalarType(value), dofs, W.sub(2)))
    for name, value in ion_bcs.items():
        for k in range(2):
            facets = arr.facet_tags.find(arr.facet_names[name])
            dofs = fem.locate_dofs_topological(W.sub(k), fdim, facets)
            bcs.append(fem.dirichletbc(PETSc.ScalarType(math.log(value)), dofs, W.sub(k)))
    dxL = ufl.Measure("dx", domain=msh, metadata=VERTEX_RULE)
    v = ufl.TestFunction(W)
    dtc = fem.Constant(msh, PETSc.ScalarType(dt))
    n = [ufl.exp(u[k]) for k in range(2)]
    n_old = [ufl.exp(u_old[k]) for k in range(2)]
    F = 0
    for k, z in enumerate((1.0, -1.0)):
        flux = n[k] * (ufl.grad(u[k]) + z * ufl.grad(u[2]))
        F += ((n[k] - n_old[k]) / dtc * v[k] + ufl.inner(flux, ufl.grad(v[k]))) * dxL
    F += (lambda_sq * ufl.inner(ufl.grad(u[2]), ufl.grad(v[2])) - (n[0] - n[1]) * v[2]) * dxL
    solver = NonlinearSolver(F, u, bcs, name="plain_pnp", options=TIGHT)
    for _ in range(steps):
        u_old.x.array[:] = u.x.array
        solver.solve()
    return W, u


def _values_by_vertex(V, values, bs, comp):
    coords = V.tabulate_dof_coordinates()[:, :2]
    keys = [tuple(np.round(c, 10)) for c in coords]
    return {k: values[bs * i + comp] for i, k in enumerate(keys)}


def test_no_solid_matches_single_domain_solve():
    arr = periodic_array(0.25, rows=2, porosity=1.0, cells_per_side=4, comm=MPI.COMM_SELF)
    assert set(np.unique(arr.cell_tags.values).tolist()) == {ELECTROLYTE_TAG}
    psi_bcs, ion_bcs = {"left": 2.0, "right": 0.0}, {"left": 1.0}
    lam2, dt, steps = 0.05, 0.05, 3
    micro = ResolvedPNP(
        arr,
        lambda_sq=lam2,
        alpha=1.0,
        potential_bcs=psi_bcs,
        ion_bcs=ion_bcs,
        initial_densities=(_bump, 1.0),
        solver_options=TIGHT,
    )
    for _ in range(steps):
        micro.step(dt)
    W, u = _plain_solve(arr, lam2, psi_bcs, ion_bcs, steps, dt)
    ref = [_values_by_vertex(W, u.x.array, 3, c) for c in range(3)]
    got = [_values_by_vertex(micro.Q, micro.eta.x.array, 2, c) for c in range(2)]
    got.append(_values_by_vertex(micro.V, micro.psi.x.array, 1, 0))
    for r, g in zip(ref, got, strict=True):
        assert r.keys() == g.keys()
        diff = max(abs(r[k] - g[k]) for k in r)
        assert diff < 1e-10
    # the solution is not trivial: the potential drop has moved the ions
    assert np.ptp(micro.psi.x.array) > 1.0
    assert np.ptp(micro.eta.x.array[1::2]) > 0.1


# ---------------------------------------------------------------------------- (b), (c)


def test_closed_system_conserves_ions():
    arr = periodic_array(0.25, rows=1, porosity=0.75, cells_per_side=8, comm=MPI.COMM_SELF)
    micro = ResolvedPNP(
        arr,
        lambda_sq=0.05,
        alpha=0.005,
        potential_bcs={"left": 1.0, "right": -1.0},
        initial_densities=(_bump, lambda x: 2.0 - 0.5 * x[0]),
        solver_options=TIGHT,
    )
    start = np.array(micro.total_ions())
    before = micro.eta.x.array.copy()
    for _ in range(4):
        micro.step(0.02)
    end = np.array(micro.total_ions())
    assert np.max(np.abs(end - start) / start) < 1e-12
    assert np.max(np.abs(micro.eta.x.array - before)) > 1e-2  # the ions did move


def test_equilibrium_stays_put():
    arr = periodic_array(0.25, rows=1, porosity=0.75, cells_per_side=8, comm=MPI.COMM_SELF)
    micro = ResolvedPNP(
        arr,
        lambda_sq=0.1,
        alpha=0.01,
        potential_bcs={"left": 0.0, "right": 0.0},
        ion_bcs={"left": 1.0, "right": 1.0},
    )
    for _ in range(3):
        assert micro.step(0.01).newton_iterations == 0
    assert np.max(np.abs(micro.eta.x.array)) < 1e-14
    assert np.max(np.abs(micro.psi.x.array)) < 1e-14
    assert micro.t == pytest.approx(0.03)


# ---------------------------------------------------------------------------- (d) Gauss law


def test_gauss_law_and_interface_flux():
    """Charge balances displacement flux through the outer boundary and through each interface.

    Ions enter only on the left, so the potential drop builds a net charge. Checks, each with
    assemblies on different meshes: (1) flux(left) + flux(right) = −Q (mixed-domain Poisson
    residual against the submesh-only total charge); (2) for the closed solid region B (all
    vertices of the inclusions, interface included), the displacement flux ∫ ε∇ψ·∇w_B over the
    parent equals the interface charge ∫ ρ w_B dxL over the electrolyte submesh (continuity of
    ε∂nψ across I^s, charge only on the electrolyte side); (3) inside the solid the flux balance
    has no charge: α ∫ ∇ψ·∇w = 0 for w = 1 on the solid-interior vertices.
    """
    arr = periodic_array(0.25, rows=1, porosity=0.75, cells_per_side=8, comm=MPI.COMM_SELF)
    micro = ResolvedPNP(
        arr,
        lambda_sq=0.05,
        alpha=0.01,
        potential_bcs={"left": 1.0, "right": 0.0},
        ion_bcs={"left": 1.0},
        solver_options=TIGHT,
    )
    integrate(micro, 0.2, FixedSteps(0.05))
    Q = micro.charge()
    assert abs(Q) > 1e-3
    left, right = micro.displacement_flux("left"), micro.displacement_flux("right")
    assert left + right == pytest.approx(-Q, abs=1e-11)

    msh, V = micro.mesh, micro.V
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim, 0)
    c2v = msh.topology.connectivity(tdim, 0)
    tags = np.zeros(msh.topology.index_map(tdim).size_local, dtype=np.int32)
    tags[arr.cell_tags.indices] = arr.cell_tags.values
    solid_v = np.unique(np.concatenate([c2v.links(c) for c in np.flatnonzero(tags == SOLID_TAG)]))
    fluid_v = np.unique(
        np.concatenate([c2v.links(c) for c in np.flatnonzero(tags == ELECTROLYTE_TAG)])
    )
    interior_v = np.setdiff1d(solid_v, fluid_v)
    assert interior_v.size > 0
    dxp = ufl.Measure("dx", domain=msh)
    dxs = ufl.Measure("dx", domain=micro.submesh, metadata=VERTEX_RULE)

    def p1(vertices):
        w = fem.Function(V)
        dofs = fem.locate_dofs_topological(V, 0, vertices)
        w.x.array[dofs] = 1.0
        return w

    wB = p1(solid_v)
    displacement = fem.assemble_scalar(
        fem.form(micro.eps * ufl.inner(ufl.grad(micro.psi), ufl.grad(wB)) * dxp)
    )
    # w_B on the submesh: interface vertices of the electrolyte
    Vs = micro.Q.sub(0).collapse()[0]
    wBs = fem.Function(Vs)
    sub_v = micro.sub.parent_to_sub_vertices[solid_v]
    wBs.x.array[fem.locate_dofs_topological(Vs, 0, sub_v[sub_v >= 0])] = 1.0
    n = [ufl.exp(micro.eta[k]) for k in range(2)]
    interface_charge = fem.assemble_scalar(fem.form((n[0] - n[1]) * wBs * dxs))
    assert abs(interface_charge) > 1e-4
    assert displacement == pytest.approx(interface_charge, abs=1e-11)

    wI = p1(interior_v)
    solid_flux = fem.assemble_scalar(
        fem.form(micro.eps * ufl.inner(ufl.grad(micro.psi), ufl.grad(wI)) * dxp)
    )
    gradient_scale = fem.assemble_scalar(
        fem.form(micro.eps * abs(ufl.inner(ufl.grad(micro.psi), ufl.grad(wI))) * dxp)
    )
    assert gradient_scale > 1e-6
    assert abs(solid_flux) < 1e-11


# ---------------------------------------------------------------------------- failure, MPI


def test_failed_step_restores_state():
    arr = periodic_array(0.25, rows=1, porosity=0.75, cells_per_side=4, comm=MPI.COMM_SELF)
    micro = ResolvedPNP(
        arr,
        potential_bcs={"left": 5.0, "right": 0.0},
        ion_bcs={"left": 1.0, "right": 1.0},
        solver_options=SolverOptions(max_it=1),
    )
    eta, psi = micro.eta.x.array.copy(), micro.psi.x.array.copy()
    with pytest.raises(SolverError) as err:
        micro.step(0.1)
    assert err.value.reason
    assert np.array_equal(micro.eta.x.array, eta) and np.array_equal(micro.psi.x.array, psi)
    assert micro.t == 0.0 and micro.timing.steps == 0


def _averages(comm):
    arr = periodic_array(0.25, rows=2, porosity=0.75, cells_per_side=4, comm=comm)
    micro = ResolvedPNP(
        arr,
        lambda_sq=0.05,
        alpha=0.01,
        potential_bcs={"left": 1.0, "right": 0.0},
        ion_bcs={"left": 1.0, "right": (1.5, 1.2)},
        initial_densities=(_bump, 1.0),
        solver_options=TIGHT,
    )
    integrate(micro, 0.06, FixedSteps(0.02))
    flux = micro.displacement_flux("left") + micro.displacement_flux("right")
    return micro.cell_averages(), micro.total_ions(), flux, micro.charge()


@pytest.mark.mpi
def test_parallel_cell_averages_match_serial():
    par, par_tot, par_flux, par_q = _averages(MPI.COMM_WORLD)
    ser, ser_tot, ser_flux, _ = _averages(MPI.COMM_SELF)
    for key in ("n_plus", "n_minus", "psi", "electrolyte_area", "cell_area"):
        a, b = getattr(par, key), getattr(ser, key)
        assert a.shape == (4, 2)
        assert np.max(np.abs(a - b)) < 1e-10, key
        gathered = MPI.COMM_WORLD.allgather(a)
        assert all(np.array_equal(g, a) for g in gathered)
    assert np.allclose(par.electrolyte_area, 0.75 * 0.25**2, rtol=1e-12)
    assert np.allclose(par_tot, ser_tot, rtol=1e-11)
    assert par_flux == pytest.approx(ser_flux, abs=1e-11)
    assert par_flux == pytest.approx(-par_q, abs=1e-11)
    assert np.ptp(par.n_plus) > 1e-2 and np.ptp(par.psi) > 0.1
