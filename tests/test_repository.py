"""The repository explains itself: no paths outside the checkout, and the source papers cited.

Every file that git tracks (or would track: untracked files that are not ignored count too) is
scanned for references to places outside the repository — the sibling folder of shared papers
and absolute machine paths. Papers are cited by authors, title and venue, never by a path.

The forbidden patterns are assembled from pieces at run time, so that this file, which is scanned
like any other, does not match itself.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Files that are not text (or not ours to read as text): skipped by suffix. Anything else that
# fails to decode as UTF-8 or contains a NUL byte is skipped as binary too.
BINARY_SUFFIXES = frozenset(
    {
        ".bp",
        ".gif",
        ".gz",
        ".h5",
        ".ico",
        ".jpeg",
        ".jpg",
        ".msh",
        ".npy",
        ".npz",
        ".pdf",
        ".png",
        ".pyc",
        ".svg",
        ".tar",
        ".vtu",
        ".whl",
        ".xdmf",
        ".zip",
    }
)

# Folders skipped when the file list has to come from a walk of the tree (no git): the
# repository's .gitignore, by hand.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".pytest_cache",
        ".ruff_cache",
        ".scratch",
        "__pycache__",
        "build",
        "output",
        "results",
    }
)


def _join(*pieces: str) -> str:
    return "".join(pieces)


# (pattern, what it is). Built from pieces: see the module docstring.
FORBIDDEN: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(re.escape(_join("..", "/", "sha", "red"))), "the sibling folder of shared files"),
    (
        re.compile(re.escape(_join("sha", "red", "/", "pa", "pers"))),
        "the folder of the source papers",
    ),
    (
        # the folders work, home, root and Users at the start of an absolute path (not inside
        # a URL or a longer relative path such as a docs subfolder named after one of them)
        re.compile(r"(?<![\w.-])/" + _join("(?:wo", "rk|ho", "me|ro", "ot|Us", "ers)") + "/"),
        "an absolute machine path",
    ),
    (re.compile(r"(?<!\w)[A-Z]" + _join(":", r"\\") + r"\\?[\w. -]"), "a Windows drive path"),
)


def _git_files() -> list[str] | None:
    """Tracked plus untracked-but-not-ignored files, or None if git cannot tell."""
    if not (ROOT / ".git").exists():
        return None
    cmd = [
        "git",
        "-c",
        f"safe.directory={ROOT}",
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
    ]
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted({name for name in out.decode("utf-8", "surrogateescape").split("\0") if name})


def _walked_files() -> list[str]:
    """Every file under ROOT outside the skipped (ignored) folders."""
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIPPED_DIRS and not d.endswith(".egg-info") and not d.endswith("_scratch")
        )
        for name in names:
            if name.endswith(".pyc"):
                continue
            files.append((Path(folder) / name).relative_to(ROOT).as_posix())
    return sorted(files)


def repository_files() -> list[str]:
    """Paths (relative to ROOT, POSIX) of the repository's files: `git ls-files` or a walk."""
    files = _git_files()
    return _walked_files() if files is None else files


def text_lines(relpath: str) -> list[str] | None:
    """The lines of a text file, or None for binary, undecodable or missing files."""
    path = ROOT / relpath
    if path.suffix.lower() in BINARY_SUFFIXES or not path.is_file():
        return None
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None


def offending_lines(relpath: str) -> Iterator[str]:
    """`file:line: what: text` for every line of `relpath` naming a path outside the repo."""
    lines = text_lines(relpath)
    if lines is None:
        return
    for number, line in enumerate(lines, start=1):
        found = [what for pattern, what in FORBIDDEN if pattern.search(line)]
        if found:
            yield f"{relpath}:{number}: {', '.join(found)}: {line.strip()[:120]}"


def test_the_file_list_is_found():
    files = repository_files()
    for expected in ("README.md", "pyproject.toml", "tests/test_repository.py"):
        assert expected in files


@pytest.mark.parametrize(
    "line",
    [
        _join("see ", "..", "/sha", "red/x.md"),
        _join("`", "sha", "red", "/pa", "pers/a.md`"),
        _join("open ", "/wo", "rk/ma", "in/README.md"),
        _join("(", "/ho", "me/user/data)"),
        _join("cd ", "/ro", "ot/x"),
        _join('"', "/Us", 'ers/me/x"'),
        _join("C:", "\\", "Users\\me"),
    ],
)
def test_the_patterns_catch_machine_paths(line):
    assert any(p.search(line) for p, _ in FORBIDDEN), line


@pytest.mark.parametrize(
    "line",
    [
        _join("https://github.com/FEniCS/dolfinx/ho", "me/x"),
        _join("docs/wo", "rk/notes.md and tests/ho", "me/x.py"),
        _join("~/.cache/pnpf-fem and /o", "pt/pnpf-fem and /t", "mp/envbuild"),
        'print(f"x:\\n")',
        "Schmuck, J. Math. Phys. 54, 021504 (2013)",
    ],
)
def test_the_patterns_spare_ordinary_text(line):
    assert not any(p.search(line) for p, _ in FORBIDDEN), line


def test_no_file_names_a_path_outside_the_repository():
    offenders = [hit for f in repository_files() for hit in offending_lines(f)]
    assert not offenders, (
        "files name paths outside the repository (cite papers by authors, title and venue; "
        "use paths relative to the checkout):\n" + "\n".join(offenders)
    )


PAPERS = {
    "the PNPF paper (Ding, Ji & Zhou)": "arXiv:2407.10050",
    "the porous-medium PNP paper (Schmuck)": "J. Math. Phys. 54, 021504",
}


def _flat(relpath: str) -> str:
    """The text of a file with all whitespace runs collapsed (citations may wrap lines)."""
    return " ".join((ROOT / relpath).read_text(encoding="utf-8").split())


@pytest.mark.parametrize("relpath", ["README.md", "docs/theory.md"])
def test_readme_and_theory_cite_both_papers(relpath):
    text = _flat(relpath)
    missing = [name for name, key in PAPERS.items() if key not in text]
    assert not missing, f"{relpath} does not cite {', '.join(missing)}"


def test_readme_links_the_theory_document():
    assert "docs/theory.md" in _flat("README.md")


@pytest.mark.parametrize(
    ("relpath", "key"),
    [
        ("src/pnpf_fem/fv/__init__.py", "arXiv:2407.10050"),
        ("src/pnpf_fem/homogenization/__init__.py", "J. Math. Phys. 54, 021504"),
        ("src/pnpf_fem/porous/__init__.py", "J. Math. Phys. 54, 021504"),
    ],
)
def test_package_docstrings_cite_their_paper(relpath, key):
    assert key in _flat(relpath), f"{relpath} does not cite {key}"
