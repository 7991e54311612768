"""FEM–FV cross-validation: differences on the same meshes fall at O(h²)."""

import pytest

pytest.importorskip("dolfinx")

from pnpf_fem.compare import compare, format_compare_table
from pnpf_fem.errors import InputError


def test_mms_fem1_fv1_differences_second_order():
    result = compare("mms", "1", levels=2)
    fine = result["levels"][-1]
    assert all(fine["orders"][v] >= 1.8 for v in ("c1", "c2", "psi", "T")), fine
    assert all(0 < d < 1e-3 for d in fine["differences"].values()), fine
    assert "fem1 vs fv1" in format_compare_table(result)


def test_charging_fem1_fv1_differences_fall():
    result = compare("charging", "1", levels=2)
    fine = result["levels"][-1]
    # both discretizations conserve the same initial mass exactly
    assert all(row["mass_difference"] < 1e-12 for row in result["levels"])
    assert fine["orders"]["c1"] >= 1.8 and fine["orders"]["c2"] >= 1.8, fine
    # ψ and T are pre-asymptotic on these coarse meshes; O(h²) is checked at 4 levels (slow)
    assert fine["orders"]["psi"] > 1.0 and fine["orders"]["T"] > 1.0, fine


@pytest.mark.slow
def test_charging_differences_second_order_on_fine_meshes():
    # fem1 vs Scheme I (measured 1.95, 1.90, 1.86, 1.81 at h = 1/32 → 1/64). The second-order
    # pair's c-differences fall at only ≈ 1.6 there (see the closing note of issue 4).
    fine = compare("charging", "1", levels=4)["levels"][-1]
    assert all(fine["orders"][v] >= 1.8 for v in ("c1", "c2", "psi", "T")), fine


def test_bad_arguments():
    with pytest.raises(InputError, match="unknown compare case 'nope'"):
        compare("nope")
    with pytest.raises(InputError, match="--order must be 1 or 2"):
        compare("mms", "3")
    with pytest.raises(InputError, match="--levels must be at least 2"):
        compare("mms", "1", levels=1)
