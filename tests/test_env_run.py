"""env/run: which host paths a container run would bind, and which it refuses (exit 2).

The bind list is computed the same way in every mode; `PNPF_FEM_ENV_PRINT_BINDS=1` prints it
instead of running the command, so these checks run anywhere (here: native mode). The real
round trip through a container is checked on the host by tests/host/check_env_run.sh.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV_RUN = ROOT / "env" / "run"


def env_run(*args: str, cwd: Path | str = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PNPF_FEM_ENV": "native", "PNPF_FEM_ENV_PRINT_BINDS": "1"}
    return subprocess.run(
        [str(ENV_RUN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30
    )


def binds(*args: str, cwd: Path | str = ROOT) -> list[str]:
    proc = env_run(*args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout.splitlines()


def covered(path: str, lines: list[str]) -> bool:
    dsts = [line.split(":")[-1] for line in lines]
    return any(path == d or path.startswith(d + "/") for d in dsts)


@pytest.fixture(scope="module")
def baseline() -> list[str]:
    return binds("true")


@pytest.fixture
def outside(baseline):
    """Makes fresh directories outside the checkout and outside every default bind."""
    made = []
    base = next(
        (
            b
            for b in ("/srv", "/mnt", "/media", "/home")
            if os.path.isdir(b) and os.access(b, os.W_OK) and not covered(b, baseline)
        ),
        None,
    )
    if base is None:
        pytest.skip("no writable directory outside the default binds")

    def make() -> Path:
        made.append(Path(tempfile.mkdtemp(prefix="pnpf-env-test.", dir=base)).resolve())
        return made[-1]

    yield make
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def test_default_binds(baseline):
    for path in (str(ROOT), "/tmp", "/var/tmp"):
        assert covered(path, baseline), (path, baseline)
    assert "/" not in baseline
    assert len(baseline) == len(set(baseline))


def test_path_under_tmp_is_covered_by_tmp(baseline):
    lines = binds("pnpf-fem", "run", "x.toml", "--output", "/tmp/pnpf-no-such/x/y")
    assert lines == baseline
    assert not any(line.startswith("/tmp/") for line in lines)


def test_fresh_directory_outside_the_checkout(outside, baseline):
    fresh = outside()
    lines = binds("pnpf-fem", "run", "x.toml", "--output", f"{fresh}/run1/sub")
    assert str(fresh) in lines
    assert set(lines) - set(baseline) == {str(fresh)}


def test_option_equals_value_form(outside):
    fresh = outside()
    assert str(fresh) in binds("pnpf-fem", "cell", f"--output={fresh}/run1")


def test_relative_paths_from_a_cwd_outside_the_checkout(outside, baseline):
    here, other = outside(), outside()
    lines = binds("pnpf-fem", "run", "case.toml", "--output", "results/run1", cwd=here)
    assert set(lines) - set(baseline) == {str(here)}
    lines = binds("pnpf-fem", "run", "--output", f"../{other.name}/new/out", cwd=here)
    assert {str(here), str(other)} <= set(lines)


def test_case_file_and_mesh_outside_the_checkout(outside):
    cases, meshes = outside(), outside()
    (cases / "case.toml").write_text('[mesh]\nfile = "m.msh"\n')
    (meshes / "m.msh").write_text("")
    lines = binds("pnpf-fem", "run", str(cases / "case.toml"), "--mesh", str(meshes / "m.msh"))
    assert {str(cases), str(meshes)} <= set(lines)


def test_symlink_target_and_name_are_both_visible(outside):
    links, target = outside(), outside()
    (links / "results").symlink_to(target)
    lines = binds("true", str(links / "results" / "run1"))
    assert str(target) in lines
    assert f"{target}:{links / 'results'}" in lines


def test_existing_system_paths_are_the_containers_own(baseline):
    paths = [p for p in ("/usr/share", "/dev/null", "/proc/cpuinfo", "/") if os.path.exists(p)]
    assert binds("cat", *paths) == baseline


def test_arguments_that_are_not_paths(baseline):
    assert binds("python3", "-c", "print(1/2)", "-k", "a/b and not c") == baseline
    assert binds("sh", "-c", "/usr/bin/time python3 x.py") == baseline
    assert binds("pip", "download", "https://example.org/pnpf-no-such/x") == baseline


@pytest.mark.parametrize(
    "arg, reason",
    [
        ("/proc/pnpf-no-such/x", "does not exist in the environment"),
        ("--output=/usr/pnpf-no-such/out", "does not exist in the environment"),
        ("/pnpf-no-such-top-level/out", "nearest existing parent directory is /"),
    ],
)
def test_refused_with_exit_2_and_one_line(arg, reason):
    proc = env_run("pnpf-fem", "run", "x.toml", "--output", arg)
    path = arg.split("=")[-1]
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"env/run: cannot make {path} visible in the container: ")
    assert reason in lines[0]
