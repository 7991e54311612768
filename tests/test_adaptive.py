"""The adaptive time stepper, driven by fake FEM-like and FV-like schemes."""

from dataclasses import dataclass

import pytest

from pnpf_fem.adaptive import AdaptiveControl, FEMStepper, FVStepper, adaptive_run
from pnpf_fem.errors import InputError, SolverError


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
        return {"t": self.t, "dt": dt, "newton_iterations": 2 if dt < 0.1 else 9}


@dataclass(frozen=True)
class State:
    t: float
    x: float


class FakeFV:
    """Functional: step(state, dt) -> (new state, obs); fails above dt_fail."""

    def __init__(self, dt_fail=0.3):
        self.dt_fail = dt_fail

    def step(self, state, dt):
        if dt > self.dt_fail:
            raise SolverError("fake", reason="max_iterations")
        obs = {"t": state.t + dt, "dt": dt, "newton_iterations": 3}
        return State(state.t + dt, state.x + dt), obs


def test_grows_while_easy_and_lands_on_t_end_and_breakpoints():
    fem = FakeFEM(dt_fail=10.0)
    ctl = AdaptiveControl(dt0=1e-3, dt_min=1e-6, dt_max=0.05, grow=2.0)
    res = adaptive_run(FEMStepper(fem), 1.0, ctl, breakpoints=[0.5])
    dts = [o["dt"] for o in res.history]
    assert fem.t == pytest.approx(1.0, abs=1e-14)
    assert dts[1] == pytest.approx(2 * dts[0]) and max(dts) <= 0.05 + 1e-15
    assert any(abs(o["t"] - 0.5) < 1e-14 for o in res.history)
    assert res.rejected == 0 and res.accepted == len(dts)
    assert min(dts) >= ctl.dt_min


def test_shrinks_on_hard_steps_and_cuts_on_failure_with_state_restored():
    fem = FakeFEM(dt_fail=0.3)
    ctl = AdaptiveControl(dt0=0.4, dt_min=1e-4, dt_max=1.0, cut=0.5, grow=1.5)
    res = adaptive_run(FEMStepper(fem), 2.0, ctl)
    assert fem.attempts[0] == (0.0, 0.4) and fem.attempts[1] == (0.0, 0.2)  # retried from t=0
    assert res.rejected >= 1 and res.history[0]["rejected"] == 1
    assert fem.t == pytest.approx(2.0)
    # dt = 0.2 needs 9 iterations (hard): the next step is smaller
    assert res.history[1]["dt"] < res.history[0]["dt"]
    assert all(o["dt"] <= 0.3 for o in res.history)


def test_fv_adapter_keeps_the_state_on_failure():
    st = FVStepper(FakeFV(dt_fail=0.05), State(0.0, 0.0))
    ctl = AdaptiveControl(dt0=0.2, dt_min=1e-3, dt_max=0.2, cut=0.5)
    res = adaptive_run(st, 1.0, ctl)
    assert st.state.t == pytest.approx(1.0) and st.state.x == pytest.approx(1.0)
    assert res.rejected >= 2  # 0.2 → 0.1 → 0.05 on the first step
    assert all(o["dt"] <= 0.05 + 1e-15 for o in res.history)


def test_gives_up_at_dt_min_and_after_max_retries():
    fem = FakeFEM(dt_fail=1e-9)
    with pytest.raises(SolverError, match="dt_min") as info:
        adaptive_run(FEMStepper(fem), 1.0, AdaptiveControl(dt0=0.1, dt_min=0.01, dt_max=0.1))
    assert info.value.reason == "DIVERGED_MAX_IT" and fem.t == 0.0
    fem = FakeFEM(dt_fail=1e-9)
    ctl = AdaptiveControl(dt0=0.1, dt_min=1e-12, dt_max=0.1, max_retries=3)
    with pytest.raises(SolverError, match="failed 4 time"):
        adaptive_run(FEMStepper(fem), 1.0, ctl)
    assert len(fem.attempts) == 4


def test_max_steps_and_bad_control():
    with pytest.raises(SolverError, match="steps reached"):
        adaptive_run(
            FEMStepper(FakeFEM(10.0)),
            1.0,
            AdaptiveControl(dt0=0.01, dt_min=0.01, dt_max=0.01, max_steps=5),
        )
    with pytest.raises(InputError, match="dt_min <= dt0"):
        AdaptiveControl(dt0=1.0, dt_min=0.1, dt_max=0.5)
    with pytest.raises(InputError, match="cut"):
        AdaptiveControl(dt0=0.1, dt_min=0.1, dt_max=0.5, cut=1.5)
    with pytest.raises(InputError, match="easy_iterations"):
        AdaptiveControl(dt0=0.1, dt_min=0.1, dt_max=0.5, easy_iterations=5, hard_iterations=5)


def test_no_sliver_step_before_a_stop():
    fem = FakeFEM(dt_fail=10.0)
    ctl = AdaptiveControl(dt0=0.3, dt_min=0.01, dt_max=0.3, grow=1.0)
    adaptive_run(FEMStepper(fem), 0.605, ctl)
    dts = [dt for _, dt in fem.attempts]
    assert min(dts) >= 0.01 and sum(dts) == pytest.approx(0.605)
