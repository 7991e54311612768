"""The accuracy test (4.1)–(4.2): second order for both schemes (small levels by default)."""

from __future__ import annotations

import pytest

from pnpf_fem.app.reproduce import format_accuracy_table
from pnpf_fem.fv.accuracy import accuracy_study

VARIABLES = ("c1", "c2", "psi", "T")


def _check_contract(result: dict, method: str, levels: int) -> None:
    assert result["method"] == method
    assert len(result["levels"]) == levels
    for k, lev in enumerate(result["levels"]):
        assert lev["h"] == pytest.approx(1 / (8 * 2**k))
        assert set(lev["errors"]) == set(VARIABLES)
        assert (lev["orders"] is None) == (k == 0)
        assert lev["num_vertices"] == (8 * 2**k + 1) ** 2
    assert "err psi" in format_accuracy_table(result)


@pytest.mark.parametrize("method", ["fv1", "fv2"])
def test_accuracy_three_levels_second_order(method: str) -> None:
    """h = 1/8 … 1/32 in the default suite: order ≥ 1.8 between 1/16 and 1/32 (CI variant of
    the full table, which is the slow test below)."""
    result = accuracy_study(method, levels=3)
    _check_contract(result, method, 3)
    dt = result["levels"][1]["dt"]
    # Δt = h² (Scheme I) or h/10 (Scheme II), shortened to land on t = 0.1
    assert dt == pytest.approx(0.1 / 26 if method == "fv1" else 1 / 160)
    assert result["levels"][1]["num_steps"] == (26 if method == "fv1" else 16)
    assert all(o >= 1.6 for o in result["levels"][1]["orders"].values())
    orders = result["levels"][-1]["orders"]
    assert all(orders[v] >= 1.8 for v in VARIABLES), orders


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fv1", "fv2"])
def test_accuracy_table(method: str) -> None:
    """The full table h = 1/8 … 1/64: observed order ≥ 1.8 between the two finest meshes."""
    result = accuracy_study(method, levels=4)
    _check_contract(result, method, 4)
    orders = result["levels"][-1]["orders"]
    assert all(orders[v] >= 1.8 for v in VARIABLES), orders
