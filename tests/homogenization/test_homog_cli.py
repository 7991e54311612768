"""`pnpf-fem cell`: JSON output, TOML config, VTX correctors, sweep table/plot, bad input."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("dolfinx_mpc")
pytest.importorskip("gmsh")

from mpi4py import MPI

import pnpf_fem.app.cli as top

LAMINATE = [
    "cell",
    "--shape",
    "laminate",
    "--porosity",
    "0.6",
    "--electrolyte-permittivity",
    "1",
    "--solid-permittivity",
    "0.1",
    "--mesh-size",
    "0.1",
    "--json",
]


@pytest.fixture
def main(monkeypatch):
    """The real top-level CLI with the `cell` command registered."""
    mods = tuple(top._COMMAND_MODULES)
    if "pnpf_fem.app.cell" not in mods:
        monkeypatch.setattr(top, "_COMMAND_MODULES", (*mods, "pnpf_fem.app.cell"))
    return top.main


@pytest.fixture
def outdir(tmp_path):
    return MPI.COMM_WORLD.bcast(tmp_path, root=0) / "out"


@pytest.mark.mpi
def test_cell_json_and_correctors(main, outdir, capsys):
    rc = main([*LAMINATE, "--output", str(outdir)])
    assert rc == 0
    out = capsys.readouterr().out
    if MPI.COMM_WORLD.rank == 0:
        obj = json.loads(out)
        assert set(obj) >= {"porosity", "eps_eff", "M", "D", "dofs", "solve_seconds"}
        assert obj["porosity"] == pytest.approx(0.6)
        assert obj["eps_eff"][0][0] == pytest.approx(1 / 4.6, abs=1e-10)
        assert obj["eps_eff"][1][1] == pytest.approx(0.64, abs=1e-10)
        assert isinstance(obj["dofs"], int) and obj["dofs"] > 0
        names = {p.name for p in outdir.iterdir()}
        assert any(n.endswith("_xi3.bp") for n in names)
        assert any(n.endswith("_xir.bp") for n in names)
        assert any(n.endswith(".json") for n in names)


def test_cell_toml_config(main, tmp_path, capsys):
    cfg = MPI.COMM_WORLD.bcast(tmp_path, root=0) / "cell.toml"
    out = cfg.parent / "toml_out"
    if MPI.COMM_WORLD.rank == 0:
        cfg.write_text(
            'shape = "square"\nporosity = 0.5\nelectrolyte-permittivity = 1\n'
            f'solid_permittivity = 10.0\nmesh-size = 0.1\njson = true\noutput = "{out}"\n'
            "write-correctors = false\n"
        )
    MPI.COMM_WORLD.barrier()
    assert main(["cell", "--config", str(cfg)]) == 0
    if MPI.COMM_WORLD.rank == 0:
        obj = json.loads(capsys.readouterr().out)
        assert obj["porosity"] == pytest.approx(0.5, abs=1e-12)
        assert obj["eps_eff"][0][0] > 1.0  # conducting solid raises ε⁰ above λ²
        assert not any(p.suffix == ".bp" for p in out.iterdir())


@pytest.mark.parametrize(
    "argv",
    [
        ["--shape", "circle", "--porosity", "0.1"],  # disc would touch the boundary
        ["--shape", "sphere", "--porosity", "0.3"],
        ["--shape", "circle", "--porosity", "0.6", "--mesh-size", "-1"],
        ["--shape", "laminate", "--porosity", "0.6", "--axis", "3"],
        ["--shape", "circle"],  # no porosity
        ["--shape", "circle", "--sweep", "--porosities", "0.5,0.1"],
        ["--mesh-file", "does-not-exist.msh"],
        ["--config", "missing.toml"],
    ],
)
def test_bad_input_exit_2_and_nothing_written(main, outdir, argv, capsys):
    base = ["cell", "--electrolyte-permittivity", "80", "--solid-permittivity", "4.5"]
    assert main([*base, *argv, "--output", str(outdir)]) == 2
    assert "error" in capsys.readouterr().err
    assert not outdir.exists()


def test_output_that_is_a_file_is_refused(main, tmp_path):
    target = MPI.COMM_WORLD.bcast(tmp_path, root=0) / "afile"
    if MPI.COMM_WORLD.rank == 0:
        target.write_text("x")
    MPI.COMM_WORLD.barrier()
    argv = [
        "cell",
        "--shape",
        "circle",
        "--porosity",
        "0.6",
        "--electrolyte-permittivity",
        "1",
        "--solid-permittivity",
        "2",
        "--output",
        str(target),
    ]
    assert main(argv) == 2
    assert target.read_text() == "x"


def test_negative_permittivity_is_refused(main, outdir):
    argv = [
        "cell",
        "--shape",
        "circle",
        "--porosity",
        "0.6",
        "--electrolyte-permittivity",
        "-1",
        "--solid-permittivity",
        "1",
        "--output",
        str(outdir),
    ]
    assert main(argv) == 2
    assert not outdir.exists()


@pytest.mark.mpi
def test_small_sweep_writes_table_and_plot(main, outdir, capsys):
    rc = main(
        [
            "cell",
            "--shape",
            "circle",
            "--sweep",
            "--porosities",
            "0.6,0.9",
            "--electrolyte-permittivity",
            "80",
            "--solid-permittivity",
            "4.5",
            "--mesh-size",
            "0.1",
            "--output",
            str(outdir),
        ]
    )
    assert rc == 0
    if MPI.COMM_WORLD.rank == 0:
        text = capsys.readouterr().out
        assert "p_mesh" in text and "HS_lo" in text
        assert len(list(outdir.glob("sweep_circle*.png"))) == 1
        rows = json.loads(next(outdir.glob("sweep_circle*.json")).read_text())
        assert [r["target_porosity"] for r in rows] == [0.6, 0.9]
        # less solid → ε⁰ closer to λ²
        assert rows[1]["eps_eff"][0][0] > rows[0]["eps_eff"][0][0]


@pytest.mark.mpi
def test_output_appears_complete_beside_earlier_files(main, outdir, capsys):
    """The files are written to a hidden sibling folder and moved in: an existing folder keeps
    its other entries, a same-named corrector folder is replaced, nothing hidden is left."""
    if MPI.COMM_WORLD.rank == 0:
        outdir.mkdir()
        (outdir / "notes.txt").write_text("mine\n")
        (outdir / "laminate-axis0_p0.6000_xi3.bp").mkdir()  # stale: replaced by the new one
        (outdir / "laminate-axis0_p0.6000_xi3.bp" / "stale").write_text("")
    MPI.COMM_WORLD.barrier()
    assert main([*LAMINATE, "--output", str(outdir)]) == 0
    if MPI.COMM_WORLD.rank == 0:
        written = json.loads(capsys.readouterr().out)["written"]
        assert {p.split("/")[-1] for p in written} == {
            "laminate-axis0_p0.6000.json",
            "laminate-axis0_p0.6000_xi3.bp",
            "laminate-axis0_p0.6000_xir.bp",
        }
        assert all((outdir.parent / p).exists() for p in written)
        assert (outdir / "notes.txt").read_text() == "mine\n"
        assert not (outdir / "laminate-axis0_p0.6000_xi3.bp" / "stale").exists()
        assert [p.name for p in outdir.parent.iterdir() if p.name.startswith(".")] == []
        assert [p.name for p in outdir.iterdir() if p.name.startswith(".")] == []


@pytest.mark.mpi
def test_failed_write_leaves_nothing(main, outdir, monkeypatch):
    import pnpf_fem.app.cell as cell

    def disk_full(path, text):
        raise OSError("disk full")

    monkeypatch.setattr(cell, "atomic_write_text", disk_full)
    with pytest.raises(OSError, match=r"disk full|rank 0 could not write"):
        main([*LAMINATE, "--output", str(outdir)])
    MPI.COMM_WORLD.barrier()
    assert not outdir.exists()
    assert list(outdir.parent.iterdir()) == []
