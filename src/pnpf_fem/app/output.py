"""One folder per run: atomic files written by rank 0, CSV time series and a JSON summary.

Every shared file is written to a temporary name in the same folder and renamed into place
(`os.replace` is atomic on POSIX), so an interrupted run never leaves a truncated file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "RunDirectory",
    "atomic_path",
    "atomic_write_text",
    "git_commit",
    "json_ready",
    "publish_folder",
    "staging_folder",
]

_UMASK = os.umask(0)
os.umask(_UMASK)


def staging_folder(final: Path, pid: int | None = None) -> Path:
    """The hidden sibling `.NAME.partial-PID` in which a folder of results is written."""
    return final.parent / f".{final.name}.partial-{os.getpid() if pid is None else pid}"


def publish_folder(staging: Path, final: Path) -> None:
    """Move the finished `staging` folder to `final`: one rename if `final` does not exist,
    else entry by entry (replacing entries of the same name)."""
    if not final.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, final)
        return
    for item in sorted(staging.iterdir()):
        target = final / item.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(item, target)
    staging.rmdir()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside `path` to write to (e.g. `savefig`); renamed to `path` on success,
    removed on failure. The suffix is kept, so writers that infer the format from it still work."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def json_ready(obj: Any) -> Any:
    """Convert NumPy scalars/arrays, tuples, paths and non-finite floats into JSON values."""
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # NumPy arrays and scalars
        return json_ready(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def git_commit(root: str | os.PathLike[str] | None = None) -> str:
    """The checkout's commit (with "-dirty" for local changes), or "unknown"."""
    root = Path(root or os.environ.get("PNPF_FEM_ROOT") or Path(__file__).resolve().parents[2])
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


class RunDirectory:
    """The output folder of one run. Only rank 0 (`is_writer`) touches shared files."""

    def __init__(self, path: str | os.PathLike[str], is_writer: bool = True) -> None:
        self.path = Path(path)
        self.is_writer = is_writer
        if is_writer:
            self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_text(self, name: str, text: str) -> None:
        if self.is_writer:
            atomic_write_text(self.path / name, text)

    def write_json(self, name: str, data: Mapping[str, Any]) -> None:
        self.write_text(name, json.dumps(json_ready(data), indent=2, sort_keys=False) + "\n")

    def write_csv(self, name: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write all rows (the whole time series so far) with the union of keys as header."""
        rows = list(rows)
        header: list[str] = []
        for row in rows:
            header.extend(k for k in row if k not in header)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json_ready(v) for k, v in row.items()})
        self.write_text(name, buf.getvalue())
