"""Units and scaling: validation of the SI parameter object and the dimensionless numbers."""

import dataclasses
import math

import pytest

from pnpf_fem.units import (
    DimensionlessPNPF,
    PNPFParameters,
    Species,
    molar,
    nondimensionalize,
    supercapacitor_parameters,
)

# λ_D = sqrt(ε0 ε_r k_B T / (e² c0 N_A)) for c0 = 0.2 M, T = 300 K, ε_r = 80, worked by hand
# with CODATA 2018 constants (ε0 = 8.8541878128e-12 F/m): 0.974139 nm.
HAND_DEBYE_LENGTH = 9.741386715e-10


def test_debye_length_matches_hand_computation():
    p = dataclasses.replace(supercapacitor_parameters(), vacuum_permittivity=8.8541878128e-12)
    d = nondimensionalize(p)
    assert d.scales is not None
    assert abs(d.scales.debye_length / HAND_DEBYE_LENGTH - 1) < 1e-6


def test_supercapacitor_dimensionless_set():
    p = supercapacitor_parameters()
    d = nondimensionalize(p)
    s = d.scales
    assert s is not None
    kT = 1.380649e-23 * 300.0
    n0 = 200.0 * 6.02214076e23
    debye = math.sqrt(8.85e-12 * 80 * kT / (1.602176634e-19**2 * n0))
    assert d.eps == pytest.approx(debye / 10e-9, rel=1e-12)
    tau = debye * 10e-9 * 4.14e-10 / kT
    assert s.time == pytest.approx(tau, rel=1e-12)
    assert d.conductivity == pytest.approx(tau * 1.2e-4 / (1.380649e-23 * n0 * 1e-16), rel=1e-12)
    assert d.heat_capacity == pytest.approx(38.8 / 0.2, rel=1e-12)
    assert d.frictions == (1.0, 1.0)
    assert d.valences == (1.0, -1.0)
    assert s.potential == pytest.approx(kT / 1.602176634e-19, rel=1e-12)
    # The charging study's times 0.1, 1, 30 µs are O(1)–O(30) in units of τ ≈ 0.97 µs.
    assert 0.5e-6 < s.time < 2e-6


def test_molar():
    assert molar(0.2) == pytest.approx(200.0)


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("reference_concentration", 0.0, "reference_concentration must be positive"),
        ("reference_temperature", -300.0, "reference_temperature must be positive"),
        ("length_scale", float("nan"), "length_scale must be finite"),
        ("thermal_conductivity", float("inf"), "thermal_conductivity must be finite"),
        ("heat_capacity", None, "heat_capacity is missing"),
        ("relative_permittivity", "80", "relative_permittivity must be a number"),
        ("fixed_charge", float("nan"), "fixed_charge must be finite"),
    ],
)
def test_invalid_parameters_name_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(supercapacitor_parameters(), **{field: value})


def test_invalid_species():
    with pytest.raises(ValueError, match="friction must be positive"):
        Species("cation", 1, 0.0)
    with pytest.raises(ValueError, match="valence must be finite"):
        Species("cation", float("nan"), 1.0)
    with pytest.raises(ValueError, match="duplicate names"):
        dataclasses.replace(
            supercapacitor_parameters(), species=(Species("a", 1, 1.0), Species("a", -1, 1.0))
        )
    with pytest.raises(ValueError, match="species must be a non-empty tuple"):
        dataclasses.replace(supercapacitor_parameters(), species=())


def test_missing_parameter_is_reported():
    with pytest.raises(TypeError, match="length_scale"):
        PNPFParameters(  # type: ignore[call-arg]
            species=(Species("a", 1, 1.0),),
            reference_concentration=1.0,
            reference_temperature=1.0,
            heat_capacity=1.0,
            thermal_conductivity=1.0,
            friction_scale=1.0,
        )


def test_dimensionless_validation():
    with pytest.raises(ValueError, match="eps must be positive"):
        DimensionlessPNPF(("a",), (1.0,), (1.0,), 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="same length"):
        DimensionlessPNPF(("a", "b"), (1.0,), (1.0, 1.0), 1.0, 1.0, 1.0)
    unit = DimensionlessPNPF.unit()
    assert unit.num_species == 2 and unit.eps == 1.0 and unit.species_names == ("c1", "c2")


def test_parameters_are_frozen():
    p = supercapacitor_parameters()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.length_scale = 1.0  # type: ignore[misc]
