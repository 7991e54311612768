"""The one time integrator, driving fake steppers: adaptive and fixed steps, stops, failures."""

from dataclasses import dataclass

import pytest

from pnpf_fem.errors import InputError, SolverError
from pnpf_fem.integrate import AdaptiveSteps, FixedSteps, StepRecord, integrate


class FakeFEM:
    """Stateful: Newton needs more iterations for larger dt; fails above `dt_fail`."""

    def __init__(self, dt_fail=0.3, fail_times=()):
        self.t = 0.0
        self.dt_fail = dt_fail
        self.fail_times = list(fail_times)  # fail once at the first attempt beyond these times
        self.attempts = []

    def step(self, dt):
        self.attempts.append((self.t, dt))
        if dt > self.dt_fail or (self.fail_times and self.t >= self.fail_times[0]):
            if self.fail_times and self.t >= self.fail_times[0]:
                self.fail_times.pop(0)
            raise SolverError("fake divergence", reason="DIVERGED_MAX_IT")
        self.t += dt
        return StepRecord(self.t, dt, 2 if dt < 0.1 else 9, 0.0)


@dataclass(frozen=True)
class State:
    t: float
    x: float


class FakeFV:
    """A functional core (advance(state, dt) -> (state, record)) holding its current state."""

    def __init__(self, state, dt_fail=0.3):
        self.state = state
        self.dt_fail = dt_fail

    @property
    def t(self):
        return self.state.t

    def advance(self, state, dt):
        if dt > self.dt_fail:
            raise SolverError("fake", reason="max_iterations")
        return State(state.t + dt, state.x + dt), StepRecord(state.t + dt, dt, 3, 0.0)

    def step(self, dt):
        self.state, record = self.advance(self.state, dt)
        return record


def test_grows_while_easy_and_lands_on_t_end_and_breakpoints():
    fem = FakeFEM(dt_fail=10.0)
    ctl = AdaptiveSteps(dt0=1e-3, dt_min=1e-6, dt_max=0.05, grow=2.0)
    res = integrate(fem, 1.0, ctl, stops=[0.5])
    dts = [o["dt"] for o in res.records]
    assert fem.t == pytest.approx(1.0, abs=1e-14)
    assert dts[1] == pytest.approx(2 * dts[0]) and max(dts) <= 0.05 + 1e-15
    assert any(abs(o["t"] - 0.5) < 1e-14 for o in res.records)
    assert res.rejected == 0 and res.accepted == len(dts)
    assert min(dts) >= ctl.dt_min


def test_shrinks_on_hard_steps_and_cuts_on_failure_with_state_restored():
    fem = FakeFEM(dt_fail=0.3)
    ctl = AdaptiveSteps(dt0=0.4, dt_min=1e-4, dt_max=1.0, cut=0.5, grow=1.5)
    res = integrate(fem, 2.0, ctl)
    assert fem.attempts[0] == (0.0, 0.4) and fem.attempts[1] == (0.0, 0.2)  # retried from t=0
    assert res.rejected >= 1 and res.records[0].rejected == 1
    assert fem.t == pytest.approx(2.0)
    # dt = 0.2 needs 9 iterations (hard): the next step is smaller
    assert res.records[1]["dt"] < res.records[0]["dt"]
    assert all(o["dt"] <= 0.3 for o in res.records)


def test_functional_stepper_keeps_the_state_on_failure():
    st = FakeFV(State(0.0, 0.0), dt_fail=0.05)
    ctl = AdaptiveSteps(dt0=0.2, dt_min=1e-3, dt_max=0.2, cut=0.5)
    res = integrate(st, 1.0, ctl)
    assert st.state.t == pytest.approx(1.0) and st.state.x == pytest.approx(1.0)
    assert res.rejected >= 2  # 0.2 → 0.1 → 0.05 on the first step
    assert all(o["dt"] <= 0.05 + 1e-15 for o in res.records)


def test_gives_up_at_dt_min_and_after_max_retries():
    fem = FakeFEM(dt_fail=1e-9)
    with pytest.raises(SolverError, match=r"down to 0\.01; first failure: fake") as info:
        integrate(fem, 1.0, AdaptiveSteps(dt0=0.1, dt_min=0.01, dt_max=0.1))
    assert info.value.reason == "DIVERGED_MAX_IT" and fem.t == 0.0
    fem = FakeFEM(dt_fail=1e-9)
    ctl = AdaptiveSteps(dt0=0.1, dt_min=1e-12, dt_max=0.1, max_retries=3)
    with pytest.raises(SolverError, match="failed 4 time"):
        integrate(fem, 1.0, ctl)
    assert len(fem.attempts) == 4


def test_max_steps_and_bad_control():
    with pytest.raises(SolverError, match="max_steps = 5 reached"):
        integrate(
            FakeFEM(10.0),
            1.0,
            AdaptiveSteps(dt0=0.01, dt_min=0.01, dt_max=0.01, max_steps=5),
        )
    with pytest.raises(InputError, match="dt_min <= dt0"):
        AdaptiveSteps(dt0=1.0, dt_min=0.1, dt_max=0.5)
    with pytest.raises(InputError, match="cut"):
        AdaptiveSteps(dt0=0.1, dt_min=0.1, dt_max=0.5, cut=1.5)
    with pytest.raises(InputError, match="easy_iterations"):
        AdaptiveSteps(dt0=0.1, dt_min=0.1, dt_max=0.5, easy_iterations=5, hard_iterations=5)


def test_no_sliver_step_before_a_stop():
    fem = FakeFEM(dt_fail=10.0)
    ctl = AdaptiveSteps(dt0=0.3, dt_min=0.01, dt_max=0.3, grow=1.0)
    integrate(fem, 0.605, ctl)
    dts = [dt for _, dt in fem.attempts]
    assert min(dts) >= 0.01 and sum(dts) == pytest.approx(0.605)


def test_fixed_steps_land_on_stops_and_t_end_and_observers_see_every_step():
    fem = FakeFEM(dt_fail=10.0)
    seen = []
    res = integrate(
        fem, 1.0, FixedSteps(0.3), stops=[0.5], observers=[lambda r, dt: seen.append(r)]
    )
    assert [round(dt, 12) for _, dt in fem.attempts] == [0.3, 0.2, 0.3, 0.2]
    assert [r.t for r in seen] == pytest.approx([0.3, 0.5, 0.8, 1.0], abs=1e-14)
    assert res.accepted == 4 and res.rejected == 0 and seen == res.records


def test_fixed_steps_of_a_function_and_a_failing_step():
    fem = FakeFEM(dt_fail=10.0)
    integrate(fem, 1.0, FixedSteps(lambda k, t: 0.1 * (k + 1)))
    assert [round(dt, 12) for _, dt in fem.attempts] == [0.1, 0.2, 0.3, 0.4]
    fem = FakeFEM(dt_fail=0.15)
    with pytest.raises(SolverError, match="fake divergence"):
        integrate(fem, 1.0, FixedSteps(0.2))  # no retry with fixed steps
    assert fem.t == 0.0 and len(fem.attempts) == 1
    with pytest.raises(SolverError, match="max_steps"):
        integrate(FakeFEM(10.0), 1.0, FixedSteps(0.1, max_steps=3))


def test_a_record_reads_like_the_observables():
    r = StepRecord.from_observables({"t": 1.0, "dt": 0.5, "newton_iterations": 3, "S": 2.0})
    assert r["S"] == 2.0 and r["t"] == 1.0 and r.newton_iterations == 3
    assert dict(r) == {"t": 1.0, "dt": 0.5, "S": 2.0, "newton_iterations": 3, "wall_time": 0.0}
    assert r.with_rejected(2).rejected == 2
