"""The hand-derived sources of (4.1) in pnpf_fem.mms, checked by high-order finite differences."""

from __future__ import annotations

import numpy as np

from pnpf_fem import mms

H = 1e-3  # 4th-order central differences: truncation ~H⁴, round-off ~1e-16/H² per level


def _d(f, axis: int):
    """4th-order central difference of f(x, y, t) along x (0), y (1) or t (2)."""

    def df(x, y, t):
        def at(s):
            a = [x, y, t]
            a[axis] = a[axis] + s
            return f(*a)

        return (-at(2 * H) + 8 * at(H) - 8 * at(-H) + at(-2 * H)) / (12 * H)

    return df


def _flux(z: float):
    """J = −c T ∇log c − c ∇(zψ + T) by differences of the exact solution (4.2)."""

    def component(axis: int):
        def j(x, y, t):
            c, temp = mms.exact_c(x, y, t), mms.exact_temperature(x, y, t)
            dlogc = _d(lambda *a: np.log(mms.exact_c(*a)), axis)(x, y, t)
            dphi = _d(lambda *a: z * mms.exact_psi(*a) + mms.exact_temperature(*a), axis)(x, y, t)
            return -c * temp * dlogc - c * dphi

        return j

    return component(0), component(1)


def test_sources_satisfy_4_1_pointwise() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0.05, 0.95, (2, 40))
    t = 0.037
    c = mms.exact_c(x, y, t)
    temp = mms.exact_temperature(x, y, t)
    dc_dt = _d(mms.exact_c, 2)(x, y, t)
    # Poisson: −Δψ = c¹ − c² + ρ^f
    lap_psi = _d(_d(mms.exact_psi, 0), 0)(x, y, t) + _d(_d(mms.exact_psi, 1), 1)(x, y, t)
    assert np.max(np.abs(-lap_psi - (c - c + mms.fixed_charge(x, y, t)))) < 1e-6
    heat = _d(mms.exact_temperature, 2)(x, y, t) - (
        _d(_d(mms.exact_temperature, 0), 0)(x, y, t) + _d(_d(mms.exact_temperature, 1), 1)(x, y, t)
    )
    for z, f in zip(mms.VALENCES, mms.ion_sources(), strict=True):
        jx, jy = _flux(z)
        div_j = _d(jx, 0)(x, y, t) + _d(jy, 1)(x, y, t)
        assert np.max(np.abs(dc_dt + div_j - f(x, y, t))) < 1e-6
        div_j_log = _d(lambda *a, jx=jx: jx(*a) * np.log(mms.exact_c(*a)), 0)(x, y, t) + _d(
            lambda *a, jy=jy: jy(*a) * np.log(mms.exact_c(*a)), 1
        )(x, y, t)
        u2 = (jx(x, y, t) ** 2 + jy(x, y, t) ** 2) / c**2
        heat -= temp * (div_j_log + (1 + np.log(c)) * dc_dt) + c * u2
    assert np.max(np.abs(heat - mms.heat_source()(x, y, t))) < 1e-6


def test_sources_are_not_trivial() -> None:
    """Guard against a vacuous check: the sources differ from each other and from zero."""
    x, y = np.meshgrid(np.linspace(0, 1, 7), np.linspace(0, 1, 7))
    f1, f2 = (f(x, y, 0.0) for f in mms.ion_sources())
    assert np.max(np.abs(f1)) > 0.1 and np.max(np.abs(f1 - f2)) > 0.1
    assert np.max(np.abs(mms.heat_source()(x, y, 0.0))) > 0.1


def test_boundary_data_match_exact_solution() -> None:
    y = np.linspace(0, 1, 11)
    assert np.allclose(mms.psi_dirichlet_left(0 * y, y, 0.3), mms.exact_psi(0 * y, y, 0.3))
    assert np.allclose(mms.psi_dirichlet_right(0 * y + 1, y, 0.3), mms.exact_psi(0 * y + 1, y, 0.3))
