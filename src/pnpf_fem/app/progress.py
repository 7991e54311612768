"""A progress bar for time stepping on rank 0: simulated time, Δt, Newton iterations and an ETA."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["CountProgress", "TimeProgress"]


class _Bar:
    """What both progress bars share: tqdm (or a plain fallback line) on `stream`."""

    enabled: bool
    stream: TextIO
    _bar: Any

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            self.stream.write("\n")


class TimeProgress(_Bar):
    """Progress over simulated time [t_start, t_end]; silent when `enabled` is False.

    Uses tqdm when it is installed (it is in the environment) and a plain one-line fallback
    otherwise. The ETA extrapolates wall time per unit of simulated time.
    """

    def __init__(
        self,
        t_start: float,
        t_end: float,
        enabled: bool = True,
        description: str = "time",
        stream: TextIO | None = None,
    ) -> None:
        if not t_end > t_start:
            raise ValueError(f"progress needs t_end > t_start, got {t_start}, {t_end}")
        self.t_start, self.t_end = t_start, t_end
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._wall0 = time.perf_counter()
        self._bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=1000,
                    desc=description,
                    file=self.stream,
                    # tqdm prefixes a string postfix with ", "; a one-item list is shown as is
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix[0]}",
                    postfix=[f"t={t_start:.4g}"],
                    dynamic_ncols=True,
                )
            except ImportError:
                self._bar = None

    def eta_seconds(self, t: float) -> float:
        done = (t - self.t_start) / (self.t_end - self.t_start)
        elapsed = time.perf_counter() - self._wall0
        return elapsed * (1 - done) / done if done > 0 else float("inf")

    def update(self, t: float, dt: float, newton_iterations: int) -> None:
        if not self.enabled:
            return
        eta = self.eta_seconds(t)
        eta_text = f"{eta:.0f}s" if eta != float("inf") else "?"
        info = f"t={t:.4g} dt={dt:.3g} newton={newton_iterations} eta={eta_text}"
        if self._bar is not None:
            frac = min(max((t - self.t_start) / (self.t_end - self.t_start), 0.0), 1.0)
            self._bar.n = round(1000 * frac)
            self._bar.postfix = [info]
            self._bar.refresh()
        else:
            self.stream.write(f"\r{info}")
            self.stream.flush()


class CountProgress(_Bar):
    """Progress over `total` items (e.g. frequencies) on rank 0; silent when not `enabled`."""

    def __init__(
        self, total: int, description: str, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.total, self.enabled = max(int(total), 1), enabled
        self.stream = stream or sys.stderr
        self._bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=self.total, desc=description, file=self.stream)
            except ImportError:
                self._bar = None

    def update(self, done: int, info: str = "") -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.n = done
            self._bar.set_postfix_str(info, refresh=True)
        else:
            self.stream.write(f"\r{done}/{self.total} {info}")
            self.stream.flush()
