"""Case files: a valid case parses; each kind of bad input gives a one-line InputError."""

import copy
import tomllib
from pathlib import Path

import pytest

from pnpf_fem.app.case import load_case, parse_case
from pnpf_fem.errors import InputError

DEMO = Path(__file__).resolve().parents[1] / "demos" / "charging.toml"


def base() -> dict:
    return tomllib.loads(DEMO.read_text())


def test_demo_case_is_valid():
    case = load_case(DEMO)
    assert [s["name"] for s in case.species] == ["cation", "anion"]
    assert case.boundary["gamma2"] == {"potential_thermal": 2.0}
    assert case.discretization == {"method": "fem1", "degree": 1}
    p = case.physical_parameters()
    assert p.reference_concentration == 200 and p.friction_scale == 4.14e-10
    case.check_tags({"gamma1", "gamma2", "gamma3"})


def _set(d: dict, path: str, value) -> dict:
    d = copy.deepcopy(d)
    *parents, last = path.split(".")
    node = d
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return d


DELETE = object()

BAD = [
    ("time.dtt", 1e-9, r"\[time\] unknown key 'dtt' \(did you mean 'dt'\?\)"),
    ("paramters", {}, r"unknown section \[paramters\] \(did you mean 'parameters'\?\)"),
    ("time.end", "2e-6", r"\[time\] end must be a number, got '2e-6'"),
    ("time.adaptive", 1, r"\[time\] adaptive must be true or false"),
    ("parameters.temperature", -300.0, r"\[parameters\] temperature = -300.0 must be positive"),
    ("parameters.length_scale", DELETE, r"\[parameters\] missing required key 'length_scale'"),
    ("time", DELETE, r"missing section \[time\]"),
    ("species.0.friction", 0.0, r"\[species.0\] friction = 0.0 must be positive"),
    ("species.1.name", "cation", r"names must be unique"),
    ("species.0.name", "1st", r"must be an identifier"),
    ("species", [], r"must list at least one species"),
    ("discretization.method", "fem3", r"method = 'fem3' must be one of"),
    ("mesh.file", "x.msh", r"exactly one of 'builtin' or 'file'"),
    ("mesh.size_min", 2.0, r"size_min must not exceed size_max"),
    ("boundary.gamma2.potential", 0.1, r"\[boundary.gamma2\] takes at most one of potential"),
    ("boundary.gamma3.voltage", 0.1, r"unknown key 'voltage'"),
    ("time.dt", 1.0, r"dt = 1.0 exceeds end"),
    ("time.cut", 1.5, r"cut = 1.5 must lie strictly between 0.0 and 1.0"),
    ("time.growth", 0.9, r"growth = 0.9 must be greater than 1"),
    ("parameters.heat_capacity", float("nan"), r"heat_capacity must be finite"),
    ("solver.linear", "gmres", r"linear = 'gmres' must be one of auto, lu, iterative"),
    ("output.every", 0, r"every = 0 must be positive"),
    ("mesh.n", 2.5, r"\[mesh\] n must be an integer"),
]


@pytest.mark.parametrize("path,value,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_the_key(path, value, message):
    with pytest.raises(InputError, match=message) as err:
        parse_case(_set(base(), path, value), source="case.toml")
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("case.toml")


def test_inconsistent_options():
    d = _set(base(), "discretization.method", "fv1")
    with pytest.raises(InputError, match="degree = 2 is FEM-only"):
        parse_case(_set(d, "discretization.degree", 2))
    d = _set(base(), "time.adaptive", False)
    with pytest.raises(InputError, match="dt_min/dt_max need adaptive = true"):
        parse_case(d)
    no_potential = _set(base(), "boundary", {"gamma1": {"surface_charge": 0.0}})
    with pytest.raises(InputError, match="needs a potential on at least one tag"):
        parse_case(no_potential)


def test_unknown_tag_name_is_reported_with_suggestion():
    case = parse_case(base(), source="case.toml")
    with pytest.raises(InputError, match=r"\[boundary.gamma2\] names no boundary tag.*'gamma_2'"):
        case.check_tags({"gamma1", "gamma_2", "gamma3"})


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_case(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[time\nend = 1")
    with pytest.raises(InputError, match="not valid TOML"):
        load_case(broken)


def test_every_schema_key_is_documented():
    """docs/case_files.md names every section and key of the case schema."""
    from pnpf_fem.app.case import SCHEMA

    doc = (Path(__file__).resolve().parents[1] / "docs" / "case_files.md").read_text()
    for section, keys in SCHEMA.items():
        assert f"[{section}" in doc, section
        for key in keys:
            assert f"`{key}`" in doc, (section, key)
