"""Link health of one vehicle: CONNECTED / DEGRADED / LOST from heartbeat age and message rate.

Pure: the state machine is driven with plain timestamps (monotonic seconds), no clock.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mission_control.errors import MissionControlError
from mission_control.vehicles.health import (
    MAX_RATE_SAMPLES,
    HealthThresholds,
    LinkHealth,
    LinkHealthError,
)
from mission_control.vehicles.types import LinkEvent, LinkState

CONNECTED, DEGRADED, LOST = LinkState.CONNECTED, LinkState.DEGRADED, LinkState.LOST
DEFAULT = HealthThresholds()
_ORDER = {"hb": 0, "msg": 1, "eval": 2}

Step = tuple[str, float]  # ("hb" | "msg" | "eval", now_s)


def every(op: str, start_s: float, stop_s: float, period_s: float) -> list[Step]:
    """``op`` at start_s, start_s + period_s, ... up to and including stop_s."""
    n = math.floor((stop_s - start_s) / period_s + 1e-9)
    return [(op, round(start_s + i * period_s, 9)) for i in range(n + 1)]


def steady(start_s: float, stop_s: float, *, msg_period_s: float = 0.25) -> list[Step]:
    """A healthy link: 1 Hz heartbeats, messages every msg_period_s, evaluated at 2 Hz."""
    return (
        every("hb", start_s, stop_s, 1.0)
        + every("msg", start_s, stop_s, msg_period_s)
        + every("eval", start_s, stop_s, 0.5)
    )


def run(
    steps: list[Step], thresholds: HealthThresholds = DEFAULT, start_s: float = 0.0
) -> list[tuple[float, LinkState | None, LinkState]]:
    """Feed the steps in time order (heartbeat, then message, then evaluation at equal
    times); return the events as (at_s, previous, state)."""
    health = LinkHealth(7, thresholds, start_s)
    events: list[tuple[float, LinkState | None, LinkState]] = []
    for op, t in sorted(steps, key=lambda s: (s[1], _ORDER[s[0]])):
        if op == "hb":
            health.heartbeat(t)
        elif op == "msg":
            health.message(t)
        elif (event := health.evaluate(t)) is not None:
            assert event.system_id == 7
            events.append((event.at_s, event.previous, event.state))
    return events


SCENARIOS: list[
    tuple[str, list[Step], HealthThresholds, list[tuple[float, LinkState | None, LinkState]]]
] = [
    ("steady 1 Hz heartbeat and 4 Hz messages stay CONNECTED", steady(0, 20), DEFAULT, []),
    (
        "silence: DEGRADED once the heartbeat is older than 1.5 s, LOST once older than 3.5 s",
        every("eval", 0.1, 4.0, 0.1),
        DEFAULT,
        [(1.6, CONNECTED, DEGRADED), (3.6, DEGRADED, LOST)],
    ),
    (
        "ages exactly at the thresholds do not cross them",
        [("eval", 1.5), ("eval", 3.5)],
        DEFAULT,
        [(3.5, CONNECTED, DEGRADED)],
    ),
    (
        "a link judged only after 4 s goes straight from CONNECTED to LOST",
        [("eval", 4.0)],
        DEFAULT,
        [(4.0, CONNECTED, LOST)],
    ),
    (
        "from LOST a new heartbeat restores CONNECTED (previous LOST)",
        [("eval", 4.0), ("hb", 10.0), ("eval", 10.1)],
        DEFAULT,
        [(4.0, CONNECTED, LOST), (10.1, LOST, CONNECTED)],
    ),
    (
        "a restore judged 1.6 s after its heartbeat is DEGRADED, not CONNECTED",
        [("eval", 4.0), ("hb", 10.0), ("eval", 11.6)],
        DEFAULT,
        [(4.0, CONNECTED, LOST), (11.6, LOST, DEGRADED)],
    ),
    (
        "1 Hz messages (under 2 Hz) DEGRADE once the first 2 s window is full",
        every("hb", 0, 6, 1.0) + every("msg", 0, 6, 1.0) + every("eval", 0, 6, 0.5),
        DEFAULT,
        [(2.0, CONNECTED, DEGRADED)],
    ),
    (
        "the rate recovering to 4 Hz brings DEGRADED back to CONNECTED",
        every("hb", 0, 8, 1.0)
        + every("msg", 0, 3, 1.0)
        + every("msg", 3.25, 8, 0.25)
        + every("eval", 0, 8, 0.5),
        DEFAULT,
        # at 3.5 the window (1.5, 3.5] holds 2, 3, 3.25, 3.5: 2 Hz, enough again
        [(2.0, CONNECTED, DEGRADED), (3.5, DEGRADED, CONNECTED)],
    ),
    (
        "after a restore the rate is judged again only once a full window has passed",
        [("eval", 4.0), *every("hb", 10, 13, 1.0), *every("eval", 10, 13, 0.5)],
        DEFAULT,
        [(4.0, CONNECTED, LOST), (10.0, LOST, CONNECTED), (12.0, CONNECTED, DEGRADED)],
    ),
    (
        "min_rate_hz=0 disables the rate check",
        every("hb", 0, 10, 1.0) + every("eval", 0, 10, 0.5),
        HealthThresholds(min_rate_hz=0.0),
        [],
    ),
    (
        "custom thresholds: DEGRADED after 0.5 s, LOST after 1 s",
        every("eval", 0.25, 1.25, 0.25),
        HealthThresholds(degraded_after_s=0.5, lost_after_s=1.0, min_rate_hz=0.0),
        [(0.75, CONNECTED, DEGRADED), (1.25, DEGRADED, LOST)],
    ),
]


@pytest.mark.parametrize(
    ("steps", "thresholds", "expected"),
    [pytest.param(s, t, e, id=name) for name, s, t, e in SCENARIOS],
)
def test_scenario_yields_these_state_changes(
    steps: list[Step],
    thresholds: HealthThresholds,
    expected: list[tuple[float, LinkState | None, LinkState]],
) -> None:
    assert run(steps, thresholds) == expected


def test_a_new_link_starts_connected_with_the_discovery_as_its_heartbeat() -> None:
    health = LinkHealth(3, DEFAULT, 100.0)
    assert health.state is CONNECTED
    assert health.heartbeat_age_s(101.25) == 1.25
    assert health.evaluate(100.5) is None


def test_the_event_carries_vehicle_previous_state_age_and_time() -> None:
    health = LinkHealth(12, DEFAULT, 50.0)
    health.heartbeat(51.0)
    event = health.evaluate(55.0)
    assert event == LinkEvent(
        system_id=12, state=LOST, previous=CONNECTED, heartbeat_age_s=4.0, at_s=55.0
    )
    assert health.state is LOST


@pytest.mark.parametrize(
    ("period_s", "last_s", "now_s", "expected_hz"),
    [
        (0.25, 2.0, 2.0, 4.0),  # arrivals 0.25 .. 2.0: 8 in the window (0, 2]
        (0.5, 2.0, 2.0, 2.0),
        (0.1, 10.0, 10.0, 10.0),
        (0.25, 2.0, 3.0, 2.0),  # only 1.25 .. 2.0 remain in (1, 3]
        (0.25, 2.0, 4.0, 0.0),  # an arrival exactly window_s old has left the window
    ],
)
def test_rate_counts_messages_in_the_trailing_window(
    period_s: float, last_s: float, now_s: float, expected_hz: float
) -> None:
    health = LinkHealth(1, DEFAULT, 0.0)
    for _, t in every("msg", period_s, last_s, period_s):
        health.message(t)
    assert health.rate_hz(now_s) == pytest.approx(expected_hz)


def test_memory_is_bounded_and_the_rate_saturates_at_the_ceiling() -> None:
    """100 000 messages in one window keep at most MAX_RATE_SAMPLES arrival times."""
    health = LinkHealth(1, DEFAULT, 0.0)
    for i in range(100_000):
        health.message(1.0 + i * 1e-5)
    assert health.rate_hz(2.0) == MAX_RATE_SAMPLES / DEFAULT.rate_window_s
    assert health.rate_hz(10.0) == 0.0


def test_times_earlier_than_already_seen_count_as_the_latest_time() -> None:
    """An adapter reporting a stale `now` never gets a negative age or a backwards event."""
    health = LinkHealth(1, DEFAULT, 0.0)
    health.heartbeat(5.0)
    assert health.heartbeat_age_s(4.0) == 0.0
    event = health.evaluate(4.0)
    assert event is not None  # judged at 5.0: the heartbeat is fresh but no messages in 2 s
    assert (event.at_s, event.state) == (5.0, DEGRADED)


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1.0", None])
def test_a_non_finite_or_non_numeric_time_is_refused(bad: object) -> None:
    health = LinkHealth(1, DEFAULT, 0.0)
    with pytest.raises(LinkHealthError, match="now_s"):
        health.message(bad)  # type: ignore[arg-type]
    with pytest.raises(LinkHealthError, match="now_s"):
        LinkHealth(1, DEFAULT, bad)  # type: ignore[arg-type]


def test_default_thresholds_declare_a_silent_vehicle_lost_within_5_s() -> None:
    assert DEFAULT.degraded_after_s == 1.5
    assert DEFAULT.lost_after_s == 3.5 <= 5.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"degraded_after_s": 0.0}, "degraded_after_s"),
        ({"degraded_after_s": -1.0}, "degraded_after_s"),
        ({"lost_after_s": 1.5}, "lost_after_s"),  # equal to degraded_after_s
        ({"degraded_after_s": 4.0, "lost_after_s": 3.0}, "lost_after_s"),
        ({"min_rate_hz": -0.1}, "min_rate_hz"),
        ({"rate_window_s": 0.0}, "rate_window_s"),
        ({"lost_after_s": math.nan}, "lost_after_s"),
        ({"rate_window_s": math.inf}, "rate_window_s"),
        ({"min_rate_hz": True}, "min_rate_hz"),
        ({"degraded_after_s": "1"}, "degraded_after_s"),
    ],
)
def test_invalid_thresholds_are_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(LinkHealthError, match=field) as info:
        HealthThresholds(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert isinstance(info.value, MissionControlError)
    assert isinstance(info.value, ValueError)


def test_integer_thresholds_are_stored_as_floats() -> None:
    t = HealthThresholds(degraded_after_s=1, lost_after_s=3, min_rate_hz=2, rate_window_s=2)
    assert isinstance(t.lost_after_s, float)
    assert t == HealthThresholds(1.0, 3.0, 2.0, 2.0)


# -- properties -------------------------------------------------------------------------------

thresholds_st = st.builds(
    lambda degraded, extra, rate, window: HealthThresholds(
        degraded, degraded + extra, rate, window
    ),
    st.floats(0.05, 3.0),
    st.floats(0.05, 3.0),
    st.floats(0.0, 10.0),
    st.floats(0.05, 5.0),
)
ops_st = st.lists(
    st.tuples(st.sampled_from(["hb", "msg", "eval"]), st.floats(0.0, 2.0)), max_size=150
)


@given(thresholds=thresholds_st, ops=ops_st, start_s=st.floats(0.0, 1e6))
def test_events_are_real_changes_and_lost_iff_heartbeat_older_than_lost_after(
    thresholds: HealthThresholds, ops: list[tuple[str, float]], start_s: float
) -> None:
    """Any sequence with nondecreasing times: no event repeats its previous state; after each
    evaluation the state is LOST exactly when the heartbeat is older than lost_after_s, and
    CONNECTED only when it is no older than degraded_after_s."""
    health = LinkHealth(1, thresholds, start_s)
    now_s = last_heartbeat_s = start_s
    for op, delta_s in ops:
        now_s += delta_s
        if op == "hb":
            health.heartbeat(now_s)
            last_heartbeat_s = now_s
        elif op == "msg":
            health.message(now_s)
        else:
            before = health.state
            event = health.evaluate(now_s)
            age_s = now_s - last_heartbeat_s
            if event is not None:
                assert event.state is not event.previous
                assert event.previous is before
                assert event.state is health.state
                assert event.heartbeat_age_s == age_s
            assert (health.state is LOST) == (age_s > thresholds.lost_after_s)
            if health.state is CONNECTED:
                assert age_s <= thresholds.degraded_after_s
