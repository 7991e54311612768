"""Run folders: atomic writes, CSV and JSON outputs, progress bar."""

import io
import json
import math

import numpy as np
import pytest

from pnpf_fem.app.output import RunDirectory, atomic_write_text, git_commit, json_ready
from pnpf_fem.app.progress import TimeProgress


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "a" / "summary.json"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_atomic_write_failure_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "x.txt"
    atomic_write_text(target, "old")

    with pytest.raises(TypeError):
        atomic_write_text(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_csv_and_json(tmp_path):
    run = RunDirectory(tmp_path / "run")
    rows = [{"t": 0.0, "S": np.float64(1.5)}, {"t": 0.1, "S": 1.6, "newton_iterations": 3}]
    run.write_csv("observables.csv", rows)
    lines = run.file("observables.csv").read_text().splitlines()
    assert lines[0] == "t,S,newton_iterations"
    assert lines[2] == "0.1,1.6,3"
    run.write_json("summary.json", {"a": np.arange(3), "b": (1, 2), "c": math.inf})
    data = json.loads(run.file("summary.json").read_text())
    assert data == {"a": [0, 1, 2], "b": [1, 2], "c": "inf"}


def test_non_writer_rank_writes_nothing(tmp_path):
    run = RunDirectory(tmp_path / "run", is_writer=False)
    run.write_json("summary.json", {"a": 1})
    assert not (tmp_path / "run").exists()


def test_json_ready_nested():
    assert json_ready({1: [np.int64(2), (np.float32(0.5),)]}) == {"1": [2, [0.5]]}


def test_git_commit_is_hash_or_unknown():
    commit = git_commit()
    assert commit == "unknown" or len(commit.split("-")[0]) == 40


def test_progress_reports_time_dt_newton_and_eta():
    stream = io.StringIO()
    bar = TimeProgress(0.0, 2.0, stream=stream)
    bar.update(1.0, 0.1, 4)
    assert bar.eta_seconds(1.0) >= 0
    bar.close()
    text = stream.getvalue()
    assert "t=1" in text and "dt=0.1" in text and "newton=4" in text and "eta=" in text
    quiet = io.StringIO()
    silent = TimeProgress(0.0, 1.0, enabled=False, stream=quiet)
    silent.update(0.5, 0.1, 2)
    silent.close()
    assert quiet.getvalue() == ""
    with pytest.raises(ValueError, match="t_end > t_start"):
        TimeProgress(1.0, 1.0)


def test_atomic_write_gives_usual_permissions(tmp_path):
    import os

    target = tmp_path / "p.txt"
    atomic_write_text(target, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)
