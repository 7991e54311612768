"""Time-dependent boundary data: step, ramp, triangle (cyclic voltammetry), sine, table.

A waveform is a callable t ↦ value that also lists its `corners` — the times where it has a
kink or a jump — so that the integrator lands on them (`integrate(..., stops=corners)`) instead of
stepping across. Each is given in the units of the caller (a case file: seconds and V, k_BT0/e
or C/m²); `in_units(wave, tau, unit)` turns it into the dimensionless data of a `Problem`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pnpf_fem.errors import InputError

__all__ = ["InUnits", "Ramp", "Sine", "Step", "Table", "Triangle", "Waveform", "in_units"]


class Waveform:
    """A function of time with the times of its kinks and jumps."""

    def __call__(self, t: float) -> float:
        raise NotImplementedError

    def corners(self, t_end: float) -> list[float]:
        """The kink and jump times in (0, t_end)."""
        return []


def _inside(times: Sequence[float], t_end: float) -> list[float]:
    return sorted({float(t) for t in times if 0 < t < t_end})


@dataclass(frozen=True)
class Step(Waveform):
    """`before` until `at`, then `after`."""

    before: float
    after: float
    at: float

    def __call__(self, t: float) -> float:
        return self.after if t >= self.at else self.before

    def corners(self, t_end: float) -> list[float]:
        return _inside([self.at], t_end)


@dataclass(frozen=True)
class Ramp(Waveform):
    """`start` until t0, linear to `end` at t1, then `end`."""

    start: float
    end: float
    t0: float
    t1: float

    def __post_init__(self) -> None:
        if not self.t1 > self.t0:
            raise InputError(f"ramp needs t1 > t0, got t0 = {self.t0}, t1 = {self.t1}")

    def __call__(self, t: float) -> float:
        s = min(max((t - self.t0) / (self.t1 - self.t0), 0.0), 1.0)
        return self.start + s * (self.end - self.start)

    def corners(self, t_end: float) -> list[float]:
        return _inside([self.t0, self.t1], t_end)


@dataclass(frozen=True)
class Triangle(Waveform):
    """Cyclic voltammetry, (4.4) of the PNPF paper generalized: from `lower` up to `upper` and
    back at |rate| per unit time, `cycles` times, starting at t0; `lower` before and after."""

    lower: float
    upper: float
    rate: float
    cycles: int = 1
    t0: float = 0.0

    def __post_init__(self) -> None:
        if not (self.upper > self.lower and self.rate > 0 and self.cycles >= 1):
            raise InputError(
                f"triangle needs upper > lower, rate > 0 and cycles >= 1, got {self.lower}, "
                f"{self.upper}, {self.rate}, {self.cycles}"
            )

    @property
    def half_period(self) -> float:
        return (self.upper - self.lower) / self.rate

    def __call__(self, t: float) -> float:
        s = (t - self.t0) / self.half_period
        if s <= 0 or s >= 2 * self.cycles:
            return self.lower
        phase = s % 2.0
        return self.lower + (self.upper - self.lower) * (phase if phase <= 1 else 2 - phase)

    def corners(self, t_end: float) -> list[float]:
        return _inside([self.t0 + k * self.half_period for k in range(2 * self.cycles + 1)], t_end)


@dataclass(frozen=True)
class Sine(Waveform):
    """offset + amplitude · sin(2π frequency t + phase) (smooth: no corners)."""

    offset: float
    amplitude: float
    frequency: float
    phase: float = 0.0

    def __post_init__(self) -> None:
        if not self.frequency > 0:
            raise InputError(f"sine needs frequency > 0, got {self.frequency}")

    def __call__(self, t: float) -> float:
        return self.offset + self.amplitude * math.sin(
            2 * math.pi * self.frequency * t + self.phase
        )


@dataclass(frozen=True)
class Table(Waveform):
    """Piecewise linear through (times[i], values[i]); constant outside; corners at the times."""

    times: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        t = np.asarray(self.times, dtype=float)
        if len(t) < 2 or len(t) != len(self.values) or np.any(np.diff(t) <= 0):
            raise InputError("a table needs at least two rows with strictly increasing times")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(self.values))):
            raise InputError("a table needs finite times and values")

    def __call__(self, t: float) -> float:
        return float(np.interp(t, self.times, self.values))

    def corners(self, t_end: float) -> list[float]:
        return _inside(self.times, t_end)


class InUnits(Waveform):
    """`wave` in other units: value(t) = wave(t · tau) / unit (e.g. seconds → τ, V → k_BT0/e)."""

    def __init__(self, wave: Waveform, tau: float, unit: float) -> None:
        self.wave, self.tau, self.unit = wave, float(tau), float(unit)

    def __call__(self, t: float) -> float:
        return self.wave(t * self.tau) / self.unit

    def corners(self, t_end: float) -> list[float]:
        return [c / self.tau for c in self.wave.corners(t_end * self.tau)]

    def __repr__(self) -> str:
        return f"InUnits({self.wave!r}, tau={self.tau:g}, unit={self.unit:g})"


def in_units(wave: Waveform, tau: float, unit: float) -> InUnits:
    """The dimensionless form of a waveform given in seconds and in units of `unit`."""
    return InUnits(wave, tau, unit)
