"""Bad input across `run`, `compare`, `cell` and `reproduce`: one line, exit code 2, no output.

Each case names a command line and the files it needs; the check is the same for all: exit code
2, exactly one line on stderr naming the problem (the expected fragment), nothing on stdout and
no output folder. The table runs in-process; under ``mpirun -n 2`` (marker ``mpi``) it runs on
both ranks at once and rank 0 alone prints. A few cases also run as real processes, serially and
under ``mpirun``, to check the exit code and that the message is the last line the user sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mpi4py import MPI

from pnpf_fem.app.cli import main
from pnpf_fem.app.config import read_text_file
from pnpf_fem.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CASE = """
[mesh]
builtin = "unit_square"
n = 4
kind = "structured"

[[species]]
name = "cation"
valence = 1
friction = 4.14e-10
initial_concentration = 200

[[species]]
name = "anion"
valence = -1
friction = 4.14e-10
initial_concentration = 200

[parameters]
temperature = 300.0
relative_permittivity = 80.0
heat_capacity = 38800.0
thermal_conductivity = 1.2e-4
length_scale = 1e-8

[boundary.left]
potential = 0.0
[boundary.right]
potential_thermal = 2.0

[time]
end = 4e-9
dt = 1e-9

[discretization]
method = "fem-be"
"""

CELL = 'shape = "circle"\nporosity = 0.6\nelectrolyte_permittivity = 80.0\n'


def edited(*pairs: tuple[str, str]) -> str:
    text = CASE
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


@dataclass(frozen=True)
class Bad:
    """A command line (``{d}`` is the work folder) and the files to write there first."""

    argv: str
    message: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    prepare: Callable[[Path], None] | None = None


def _directory(d: Path) -> None:
    (d / "folder.toml").mkdir()


def _checkpointless(d: Path) -> None:
    (d / "out").mkdir()


BAD = {
    # -- run: the file itself
    "run-missing": Bad("run {d}/nope.toml", "does not exist"),
    "run-directory": Bad("run {d}/folder.toml", "is a directory", prepare=_directory),
    "run-empty": Bad("run {d}/c.toml", "is empty", {"c.toml": "\n  \n"}),
    "run-latin1": Bad("run {d}/c.toml", "not UTF-8", {"c.toml": CASE.encode() + b"# \xe9t\xe9\n"}),
    "run-binary": Bad("run {d}/c.toml", "binary file", {"c.toml": b"\x89PNG\r\n\x1a\n\x00\x00"}),
    "run-not-toml": Bad("run {d}/c.toml", "not valid TOML", {"c.toml": "[mesh\nbuiltin = 1"}),
    "run-cell-config": Bad("run {d}/c.toml", "is a cell config", {"c.toml": CELL}),
    "run-json": Bad("run {d}/c.toml", "not valid TOML", {"c.toml": '{"mesh": 1}'}),
    # -- run: sections and keys
    "run-unknown-section": Bad(
        "run {d}/c.toml", "unknown section [tme]", {"c.toml": CASE + "[tme]\n"}
    ),
    "run-missing-time": Bad(
        "run {d}/c.toml",
        "missing section [time]",
        {"c.toml": edited(("[time]\nend = 4e-9\ndt = 1e-9\n", ""))},
    ),
    "run-unknown-key": Bad(
        "run {d}/c.toml", "did you mean 'end'", {"c.toml": edited(("end = 4e-9", "ned = 4e-9"))}
    ),
    "run-type": Bad(
        "run {d}/c.toml", "dt must be a number", {"c.toml": edited(("dt = 1e-9", 'dt = "1e-9"'))}
    ),
    "run-negative-dt": Bad(
        "run {d}/c.toml", "must be positive", {"c.toml": edited(("dt = 1e-9", "dt = -1e-9"))}
    ),
    "run-dt-exceeds-end": Bad(
        "run {d}/c.toml", "exceeds end", {"c.toml": edited(("dt = 1e-9", "dt = 1e-8"))}
    ),
    "run-nan": Bad(
        "run {d}/c.toml",
        "must be finite",
        {"c.toml": edited(("temperature = 300.0", "temperature = nan"))},
    ),
    "run-method": Bad(
        "run {d}/c.toml", "must be one of", {"c.toml": edited(('"fem-be"', '"fem3"'))}
    ),
    "run-fv-degree": Bad(
        "run {d}/c.toml",
        "is FEM-only",
        {"c.toml": edited(('method = "fem-be"', 'method = "fv1"\ndegree = 2'))},
    ),
    "run-tag": Bad(
        "run {d}/c.toml",
        "did you mean 'right'",
        {"c.toml": edited(("boundary.right", "boundary.rigth"))},
    ),
    "run-two-conditions": Bad(
        "run {d}/c.toml",
        "takes at most one of potential",
        {"c.toml": edited(("potential = 0.0", "potential = 0.0\nsurface_charge = 1.0"))},
    ),
    "run-no-potential": Bad(
        "run {d}/c.toml",
        "needs a potential",
        {
            "c.toml": edited(
                ("potential = 0.0", "surface_charge = 0.0"),
                ("potential_thermal = 2.0", "surface_charge = 0.1"),
            )
        },
    ),
    "run-duplicate-species": Bad(
        "run {d}/c.toml", "must be unique", {"c.toml": edited(('"anion"', '"cation"'))}
    ),
    "run-species-name": Bad(
        "run {d}/c.toml", "must be an identifier", {"c.toml": edited(('"anion"', '"an ion"'))}
    ),
    "run-mesh-both": Bad(
        "run {d}/c.toml",
        "exactly one of 'builtin' or 'file'",
        {"c.toml": edited(('kind = "structured"', 'kind = "structured"\nfile = "m.msh"'))},
    ),
    "run-mesh-missing": Bad(
        "run {d}/c.toml",
        "does not exist",
        {"c.toml": edited(('builtin = "unit_square"', 'file = "nothere.msh"'))},
    ),
    "run-mesh-garbage": Bad(
        "run {d}/c.toml",
        "mesh file",
        {
            "c.toml": edited(('builtin = "unit_square"', 'file = "m.msh"')),
            "m.msh": "this is not a mesh\n",
        },
    ),
    "run-dt-min-max": Bad(
        "run {d}/c.toml",
        "dt_min must not exceed dt_max",
        {
            "c.toml": edited(
                ("dt = 1e-9", "dt = 1e-9\nadaptive = true\ndt_min = 1e-9\ndt_max = 1e-10")
            )
        },
    ),
    "run-restart": Bad(
        "run {d}/c.toml --restart --output {d}/out",
        "no checkpoint",
        {"c.toml": CASE},
        prepare=_checkpointless,
    ),
    "run-porous-tensors": Bad(
        "run {d}/c.toml",
        "does not exist",
        {"c.toml": CASE + '[porous]\ntensors = "missing.json"\n'},
    ),
    "run-rtol-fixed": Bad(
        "run {d}/c.toml",
        "need adaptive = true",
        {"c.toml": edited(("dt = 1e-9", "dt = 1e-9\nrtol = 1e-3"))},
    ),
    "run-steady-adaptive": Bad(
        "run {d}/c.toml",
        "steady = true chooses its own",
        {"c.toml": edited(("dt = 1e-9", "dt = 1e-9\nsteady = true\nadaptive = true"))},
    ),
    "run-wave-shape": Bad(
        "run {d}/c.toml",
        "shape = 'saw' must be one of",
        {"c.toml": edited(("potential_thermal = 2.0", 'potential_thermal = {shape = "saw"}'))},
    ),
    "run-wave-missing": Bad(
        "run {d}/c.toml",
        "missing required key 'rate'",
        {
            "c.toml": edited(
                (
                    "potential_thermal = 2.0",
                    'potential_thermal = {shape = "triangle", lower = 0, upper = 1}',
                )
            )
        },
    ),
    "run-wave-order": Bad(
        "run {d}/c.toml",
        "upper > lower",
        {
            "c.toml": edited(
                (
                    "potential_thermal = 2.0",
                    'potential_thermal = {shape = "triangle", lower = 1, upper = 0, rate = 1e9}',
                )
            )
        },
    ),
    "run-wave-too-fast": Bad(
        "run {d}/c.toml",
        "shorter than the smallest step",
        {
            "c.toml": edited(
                (
                    "potential_thermal = 2.0",
                    'potential_thermal = {shape = "triangle", upper = 1, rate = 1e12, cycles = 2'
                    ", lower = 0}",
                )
            )
        },
    ),
    "run-wave-table": Bad(
        "run {d}/c.toml",
        "does not exist",
        {
            "c.toml": edited(
                (
                    "potential_thermal = 2.0",
                    'potential_thermal = {shape = "table", file = "no.csv"}',
                )
            )
        },
    ),
    "run-reservoir-species": Bad(
        "run {d}/c.toml",
        "no species 'sodium'",
        {"c.toml": edited(("potential = 0.0", "potential = 0.0\nconcentrations = {sodium = 100}"))},
    ),
    "run-reservoir-negative": Bad(
        "run {d}/c.toml",
        "must be a positive number",
        {"c.toml": edited(("potential = 0.0", "potential = 0.0\nconcentrations = {cation = -1}"))},
    ),
    "run-reservoir-porous": Bad(
        "run {d}/c.toml",
        "concentrations (a reservoir) do not apply to [porous] runs",
        {
            "c.toml": edited(
                ("potential = 0.0", "potential = 0.0\nconcentrations = {cation = 100}")
            )
            + '[porous]\ntensors = "missing.json"\n'
        },
    ),
    "run-heat-porous": Bad(
        "run {d}/c.toml",
        "temperature does not apply to [porous] runs",
        {
            "c.toml": edited(("potential = 0.0", "potential = 0.0\ntemperature = 310.0"))
            + '[porous]\ntensors = "missing.json"\n'
        },
    ),
    "run-heat-transfer": Bad(
        "run {d}/c.toml",
        "missing required key 'ambient'",
        {
            "c.toml": edited(
                ("potential = 0.0", "potential = 0.0\nheat_transfer = {coefficient = 1.0}")
            )
        },
    ),
    "run-two-thermal": Bad(
        "run {d}/c.toml",
        "at most one of temperature",
        {
            "c.toml": edited(
                ("potential = 0.0", "potential = 0.0\ntemperature = 310.0\nheat_flux = 1.0")
            )
        },
    ),
    "run-stern-alone": Bad(
        "run {d}/c.toml",
        "stern_thickness needs a potential on the tag",
        {
            "c.toml": edited(
                ("potential = 0.0", "potential = 0.0\n[boundary.top]\nstern_thickness = 1e-10")
            )
        },
    ),
    "run-stern-twice": Bad(
        "run {d}/c.toml",
        "only one of stern_thickness, stern_capacitance",
        {
            "c.toml": edited(
                (
                    "potential = 0.0",
                    "potential = 0.0\nstern_thickness = 1e-10\nstern_capacitance = 0.2",
                )
            )
        },
    ),
    "run-stern-porous": Bad(
        "run {d}/c.toml",
        "stern_capacitance (a Stern layer) does not apply to [porous] runs",
        {
            "c.toml": edited(("potential = 0.0", "potential = 0.0\nstern_capacitance = 0.2"))
            + '[porous]\ntensors = "missing.json"\n'
        },
    ),
    "run-region-unknown": Bad(
        "run {d}/c.toml",
        "[regions.membrane] names no region of the mesh",
        {"c.toml": CASE + "[regions.membrane]\nfixed_charge = -100.0\n"},
    ),
    "run-region-no-charge": Bad(
        "run {d}/c.toml",
        "[regions.membrane] missing required key 'fixed_charge'",
        {"c.toml": CASE + "[regions.membrane]\nbox = [0.25, 0.75, 0.0, 1.0]\n"},
    ),
    "run-region-box": Bad(
        "run {d}/c.toml",
        "box = [0.75, 0.25, 0.0, 1.0] must have x0 < x1 and y0 < y1",
        {"c.toml": CASE + "[regions.m]\nfixed_charge = 1.0\nbox = [0.75, 0.25, 0.0, 1.0]\n"},
    ),
    "run-reaction-no-potential": Bad(
        "run {d}/c.toml",
        "[boundary.top] reaction needs the electrode's potential",
        {
            "c.toml": CASE
            + "[boundary.top]\nsurface_charge = 0.0\n"
            + 'reaction = {species = "cation", exchange_current_density = 1.0}\n'
        },
    ),
    "run-reaction-species": Bad(
        "run {d}/c.toml",
        "reaction species = 'cations': no such species (did you mean 'cation'?)",
        {
            "c.toml": edited(
                (
                    "potential = 0.0",
                    'potential = 0.0\nreaction = {species = "cations", '
                    "exchange_current_density = 1.0}",
                )
            )
        },
    ),
    "run-reaction-electrons": Bad(
        "run {d}/c.toml",
        "the anodic reaction must release electrons",
        {
            "c.toml": edited(
                (
                    "potential = 0.0",
                    'potential = 0.0\nreaction = {species = "anion", '
                    "exchange_current_density = 1.0}",
                )
            )
        },
    ),
    "run-reaction-alpha": Bad(
        "run {d}/c.toml",
        "[boundary.left reaction] alpha = 1.5 must lie strictly between 0.0 and 1.0",
        {
            "c.toml": edited(
                (
                    "potential = 0.0",
                    'potential = 0.0\nreaction = {species = "cation", '
                    "exchange_current_density = 1.0, alpha = 1.5}",
                )
            )
        },
    ),
    "run-reaction-porous": Bad(
        "run {d}/c.toml",
        "reaction (Butler–Volmer kinetics) does not apply to [porous] runs",
        {
            "c.toml": edited(
                (
                    "potential = 0.0",
                    'potential = 0.0\nreaction = {species = "cation", '
                    "exchange_current_density = 1.0}",
                )
            )
            + '[porous]\ntensors = "missing.json"\n'
        },
    ),
    "run-region-empty-box": Bad(
        "run {d}/c.toml",
        "no triangle of the mesh has its centroid in",
        {"c.toml": CASE + "[regions.m]\nfixed_charge = 1.0\nbox = [2.0, 3.0, 0.0, 1.0]\n"},
    ),
    "run-petsc-fv": Bad(
        "run {d}/c.toml",
        "petsc_options apply to FEM methods only",
        {
            "c.toml": edited(('method = "fem-be"', 'method = "fv1"'))
            + "[solver.petsc_options]\nksp_type = 'gmres'\n"
        },
    ),
    "run-quantity": Bad(
        "run {d}/c.toml",
        "quantities",
        {"c.toml": CASE + '[output]\nquantities = ["mass", "volts"]\n'},
    ),
    "run-bad-option": Bad(
        "run {d}/c.toml --frobnicate", "unrecognized arguments", {"c.toml": CASE}
    ),
    # -- compare
    "compare-order": Bad("compare {d}/c.toml --order 3", "--order", {"c.toml": CASE}),
    "compare-both": Bad("compare {d}/c.toml --case mms", "not both", {"c.toml": CASE}),
    "compare-cell-config": Bad("compare {d}/c.toml", "is a cell config", {"c.toml": CELL}),
    "compare-missing": Bad("compare {d}/nope.toml", "does not exist"),
    "compare-unknown-case": Bad("compare --case foo", "foo"),
    # -- cell
    "cell-case-file": Bad("cell --config {d}/c.toml", "is a case file", {"c.toml": CASE}),
    "cell-latin1": Bad("cell --config {d}/c.toml", "not UTF-8", {"c.toml": b"shape = '\xe9'\n"}),
    "cell-empty": Bad("cell --config {d}/c.toml", "is empty", {"c.toml": ""}),
    "cell-unknown-key": Bad(
        "cell --config {d}/c.toml", "unknown key", {"c.toml": CELL + "x = 1\n"}
    ),
    "cell-porosity": Bad(
        "cell --shape circle --porosity 1.5 --electrolyte-permittivity 80 --solid-permittivity 4.5",
        "porosity",
    ),
    "cell-no-shape": Bad(
        "cell --porosity 0.5 --electrolyte-permittivity 80 --solid-permittivity 4.5", "--shape"
    ),
    "cell-mesh-size": Bad(
        "cell --shape circle --porosity 0.5 --electrolyte-permittivity 80 "
        "--solid-permittivity 4.5 --mesh-size 0",
        "--mesh-size",
    ),
    "cell-shape-choice": Bad("cell --shape hexagon", "invalid choice"),
    # -- reproduce
    "reproduce-method": Bad("reproduce accuracy --method fem3 --levels 2", "unknown --method"),
    "reproduce-levels": Bad("reproduce accuracy --method fv1 --levels 1", "--levels"),
    "reproduce-rates": Bad("reproduce supercapacitor --quick --rates 1,x", "--rates"),
    "reproduce-cycles": Bad("reproduce supercapacitor --quick --cycles 0", "--cycles"),
    "reproduce-psi-max": Bad("reproduce supercapacitor --quick --psi-max -1", "--psi-max"),
    "reproduce-s": Bad("reproduce homogenization --quick --s 3,x", "--s"),
    "reproduce-study": Bad("reproduce nothing", "invalid choice"),
}


def _shared_dir(tmp_path: Path) -> Path:
    """One folder for all ranks (rank 0's tmp_path), emptied by rank 0."""
    return Path(MPI.COMM_WORLD.bcast(str(tmp_path), root=0))


def _setup(bad: Bad, d: Path) -> list[str]:
    if MPI.COMM_WORLD.rank == 0:
        for name, content in bad.files.items():
            path = d / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        if bad.prepare is not None:
            bad.prepare(d)
    MPI.COMM_WORLD.barrier()
    return bad.argv.format(d=d).split()


def _check_one_line(name: str, bad: Bad, d: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _setup(bad, d)
    before = sorted(p.name for p in d.iterdir())
    cwd = os.getcwd()
    os.chdir(d)  # a default output folder (results/...) would appear here
    try:
        code = main(argv)
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    assert code == 2, (name, out, err)
    assert out == "", (name, out)
    if MPI.COMM_WORLD.rank == 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1, (name, err)
        assert lines[0].startswith("pnpf-fem: error: "), (name, err)
        assert bad.message in lines[0], (name, lines[0])
    else:
        assert err == "", (name, err)
    MPI.COMM_WORLD.barrier()
    after = sorted(p.name for p in d.iterdir())
    assert after == before, (name, before, after)
    for sub in ("out", "results"):
        if (d / sub).is_dir():
            assert not any((d / sub).iterdir()), (name, sub)


def test_the_suite_is_large_enough() -> None:
    commands = {b.argv.split()[0] for b in BAD.values()}
    assert len(BAD) >= 35 and commands == {"run", "compare", "cell", "reproduce"}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _check_one_line(name, BAD[name], tmp_path, capsys)


@pytest.mark.mpi
@pytest.mark.parametrize(
    "name",
    [n for n in sorted(BAD) if n.startswith(("run-", "cell-", "reproduce-accuracy"))]
    + ["reproduce-method", "reproduce-levels"],
)
def test_bad_input_on_two_ranks(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _shared_dir(tmp_path) / name
    if MPI.COMM_WORLD.rank == 0:
        d.mkdir()
    MPI.COMM_WORLD.barrier()
    _check_one_line(name, BAD[name], d, capsys)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads any file, so the permission error is simulated."""
    case = tmp_path / "c.toml"
    case.write_text(CASE)

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InputError, match=r"cannot be read \(Permission denied"):
        read_text_file(case, "case file")


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pnpf_fem", *args]


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="no mpirun")
@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="starts its own processes")
@pytest.mark.parametrize("ranks", [1, 2])
@pytest.mark.parametrize("name", ["run-latin1", "run-tag", "cell-case-file"])
def test_message_is_the_last_line(name: str, ranks: int, tmp_path: Path) -> None:
    argv = _setup(BAD[name], tmp_path)
    cmd = _command(*argv)
    if ranks > 1:  # through env/run, the documented way, which keeps mpirun's banner away
        cmd = [str(ROOT / "env" / "run"), "mpirun", "-n", str(ranks), *cmd]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert lines[-1].startswith("pnpf-fem: error: "), proc.stderr
    assert BAD[name].message in lines[-1]
    assert sum(line.startswith("pnpf-fem:") for line in lines) == 1, proc.stderr
