"""`pnpf-fem run` with a [porous] section: the upscaled PNP system from a case file."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx")

from pnpf_fem.app.case import load_case
from pnpf_fem.app.cli import main

DEMOS = Path(__file__).resolve().parents[1] / "demos"
TENSORS = DEMOS / "cell_circle_p0.6.json"

CASE = """
[mesh]
builtin = "unit_square"
n = 8
kind = "structured"

[[species]]
name = "cation"
valence = 1
friction = 4.14e-10
initial_concentration = 10

[[species]]
name = "anion"
valence = -1
friction = 4.14e-10
initial_concentration = 10

[parameters]
temperature = 300.0
relative_permittivity = 80.0
heat_capacity = 38800.0
thermal_conductivity = 0.6
length_scale = 2e-8

[boundary.left]
potential_thermal = 4.0
[boundary.right]
potential = 0.0

[time]
end = 2e-6
dt = 2e-7

[discretization]
method = "{method}"

[porous]
tensors = "{tensors}"
transport = "{transport}"

[output]
every = 1
checkpoint_every = {checkpoint}
"""


def write_case(path: Path, method="fem-be", transport="perforated", tensors=TENSORS, checkpoint=0):
    text = CASE.format(method=method, transport=transport, tensors=tensors, checkpoint=checkpoint)
    path.write_text(text)
    return path


def rows(folder: Path) -> list[dict[str, float]]:
    with (folder / "observables.csv").open() as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


@pytest.mark.parametrize("transport", ["perforated", "schmuck"])
def test_porous_case_runs_and_conserves(tmp_path, transport):
    out = tmp_path / "out"
    case = write_case(tmp_path / "porous.toml", transport=transport)
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"observables.csv", "summary.json", "fields.bp", "fields.png"} <= names
    r = rows(out)
    assert len(r) == 11
    for key in ("mass_cation", "mass_anion"):
        assert r[-1][key] == pytest.approx(r[0][key], rel=1e-10)
    # ∫ p c: the porosity of the cell times the (unit) initial concentration times |Ω| = 1
    assert r[0]["mass_cation"] == pytest.approx(0.6004677, rel=1e-6)
    assert abs(r[-1]["charge"]) < 1e-10  # blocking electrodes: the medium stays neutral
    assert r[-1]["min_c"] < 0.9  # double layers formed (counter-ions depleted)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"]["porous"]["transport"] == transport


def test_tortuosity_slows_charging(tmp_path):
    """The perforated closure (Π_xx ≈ 0.43 < p ≈ 0.60) charges more slowly than the paper's."""
    mins = {}
    for transport in ("perforated", "schmuck"):
        out = tmp_path / transport
        case = write_case(tmp_path / f"{transport}.toml", transport=transport)
        assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
        mins[transport] = rows(out)[-1]["min_c"]
    assert mins["schmuck"] < mins["perforated"] < 1.0


def test_porous_checkpoint_round_trip(tmp_path):
    from pnpf_fem.app.setup import build_simulation, prepare

    case = load_case(write_case(tmp_path / "porous.toml"))
    setup = prepare(case)
    sim = build_simulation(setup, tmp_path)
    for _ in range(3):
        sim.step(setup.dt)
    sim.save_checkpoint(tmp_path / "ck.npz", {"step": 3})
    a = [sim.step(setup.dt) for _ in range(2)][-1]
    other = build_simulation(setup, tmp_path)
    assert other.load_checkpoint(tmp_path / "ck.npz")["step"] == 3
    b = [other.step(setup.dt) for _ in range(2)][-1]
    assert other.t == pytest.approx(sim.t, rel=1e-14)
    for key in ("mass_cation", "mass_anion", "min_c", "charge"):
        assert b[key] == pytest.approx(a[key], rel=1e-10, abs=1e-13), key
    fields = other.vertex_fields()
    assert set(fields) == {"c_cation", "c_anion", "psi"} and np.all(fields["c_anion"] > 0)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"method": "fem1"}, "[porous]"),
        ({"tensors": "missing.json"}, "does not exist"),
        ({"transport": "tortuous"}, "transport"),
    ],
)
def test_porous_bad_input(tmp_path, capsys, change, message):
    out = tmp_path / "never"
    case = write_case(tmp_path / "bad.toml", **change)
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_porous_needs_two_monovalent_species_and_scaled_tensors(tmp_path, capsys):
    case = write_case(tmp_path / "bad.toml")
    text = case.read_text().replace("valence = -1", "valence = -2")
    case.write_text(text)
    assert main(["run", str(case), "--output", str(tmp_path / "o"), "--quiet"]) == 2
    assert "valences" in capsys.readouterr().err
    data = json.loads(TENSORS.read_text())
    del data["electrolyte_permittivity"]
    bad = tmp_path / "cell.json"
    bad.write_text(json.dumps(data))
    case = write_case(tmp_path / "bad2.toml", tensors=bad)
    assert main(["run", str(case), "--output", str(tmp_path / "o"), "--quiet"]) == 2
    assert "electrolyte_permittivity" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


HEAT = """heat = true
solid_heat_capacity = 8000.0
solid_thermal_conductivity = 3.0
heat_source = "{source}"
"""


def heat_case(path: Path, source: str = "derived", thermostat: bool = True) -> Path:
    text = write_case(path).read_text().replace('transport = "perforated"\n', "")
    text = text.replace(
        "[porous]\n", '[porous]\ntransport = "perforated"\n' + HEAT.format(source=source)
    )
    if thermostat:
        text = text.replace("[boundary.right]\n", "temperature = 300.0\n[boundary.right]\n")
    path.write_text(text)
    return path


def test_porous_heat_case_runs_with_both_sources(tmp_path):
    """`heat = true`: the upscaled PNPF system. Insulated, the entropy S grows and T rises;
    the naive source releases less Joule heat than the derived one (Π_xx/p < 1)."""
    heat = {}
    for source in ("derived", "naive"):
        out = tmp_path / source
        case = heat_case(tmp_path / f"{source}.toml", source, thermostat=False)
        assert main(["run", str(case), "--output", str(out), "--quiet"]) == 0
        r = rows(out)
        s = np.array([x["S"] for x in r])
        assert np.all(np.diff(s) >= -1e-12 * np.abs(s[1:])) and s[-1] > s[0]
        assert r[-1]["max_dT"] > 0 and r[-1]["min_T"] >= 1.0 - 1e-9
        for key in ("mass_cation", "mass_anion"):
            assert r[-1][key] == pytest.approx(r[0][key], rel=1e-10)
        heat[source] = r[-1]["max_dT"]
        fields = {p.name for p in out.iterdir()}
        assert "fields.bp" in fields
    assert heat["naive"] < heat["derived"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace('transport = "perforated"\nheat', 'transport = "schmuck"\nheat'),
            'needs transport = "perforated"',
        ),
        (lambda t: t.replace("solid_heat_capacity = 8000.0\n", ""), "needs solid_heat_capacity"),
        (lambda t: t.replace("heat = true", "heat = false"), "solid_heat_capacity needs heat"),
        (lambda t: t.replace('heat_source = "derived"', 'heat_source = "average"'), "heat_source"),
    ],
)
def test_porous_heat_bad_input(tmp_path, capsys, edit, message):
    case = heat_case(tmp_path / "bad.toml", thermostat=False)
    case.write_text(edit(case.read_text()))
    out = tmp_path / "never"
    assert main(["run", str(case), "--output", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
