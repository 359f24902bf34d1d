"""The mission and incident state machines: the transition tables and their values."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest

from flight_plans.mission import HomePosition, MavCmd, MissionItem
from flight_plans.mission import Mission as FpMission
from flight_plans.plan import Plan
from mission_control.domain.errors import IllegalTransition, InvalidField
from mission_control.domain.incident import (
    INCIDENT_TRANSITIONS,
    Incident,
    IncidentStatus,
    check_location,
)
from mission_control.domain.mission import (
    ACTIVE_STATES,
    MISSION_TRANSITIONS,
    TERMINAL_STATES,
    Mission,
    MissionState,
    Transition,
)

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
S = MissionState

# the happy path the issue names, in order
HAPPY = [
    S.PENDING_APPROVAL,
    S.APPROVED,
    S.UPLOADING,
    S.READY,
    S.IN_FLIGHT,
    S.PAUSED,
    S.IN_FLIGHT,
    S.RETURNING,
    S.COMPLETED,
]


def plan() -> Plan:
    home = HomePosition(47.0, 8.0, 500.0)
    items = (
        MissionItem.at(MavCmd.NAV_TAKEOFF, 47.0, 8.0, alt_rel_m=30.0),
        MissionItem.at(MavCmd.NAV_WAYPOINT, 47.001, 8.0, alt_rel_m=60.0),
        MissionItem(MavCmd.NAV_RETURN_TO_LAUNCH),
    )
    return Plan(mission=FpMission(items, home))


def mission(state: MissionState = S.PENDING_APPROVAL) -> Mission:
    return Mission(
        id="m-1",
        incident_id="inc-1",
        drone_id=3,
        plan=plan(),
        airspace_report={"ok": True},
        created_at=T0,
        updated_at=T0,
        expires_at=T0 + timedelta(minutes=5),
        state=state,
        station_item=1,
    )


def incident(**kw: object) -> Incident:
    fields: dict[str, object] = {
        "id": "inc-1",
        "source": "api",
        "kind": "fire",
        "priority": 2,
        "lat_deg": 47.0,
        "lon_deg": 8.0,
        "reported_by": "rita",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    return Incident(**fields)  # type: ignore[arg-type]


def test_the_happy_path_is_allowed_and_recorded_in_the_history() -> None:
    m = mission()
    for i, (a, b) in enumerate(itertools.pairwise(HAPPY)):
        assert m.state is a
        m = m.transition(b, at=T0 + timedelta(seconds=i + 1), by="pat", reason=f"step {i}")
    assert m.state is S.COMPLETED and m.terminal
    assert [(t.from_state, t.to_state) for t in m.history] == list(itertools.pairwise(HAPPY))
    assert m.updated_at == T0 + timedelta(seconds=len(HAPPY) - 1)
    assert m.reason == f"step {len(HAPPY) - 2}"


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_every_pair_follows_the_table(current: MissionState, target: MissionState) -> None:
    """Allowed pairs change the state; every other pair raises and changes nothing."""
    m = mission(current)
    if target in MISSION_TRANSITIONS[current]:
        assert m.transition(target, at=T0, by="pat").state is target
    else:
        with pytest.raises(IllegalTransition) as err:
            m.transition(target, at=T0, by="pat")
        assert (err.value.current, err.value.requested) == (current.value, target.value)
        assert m.state is current and m.history == ()


def test_terminal_states_have_no_way_out_and_active_ones_do() -> None:
    assert {s for s in S if not MISSION_TRANSITIONS[s]} == TERMINAL_STATES
    assert set(S) - TERMINAL_STATES == ACTIVE_STATES
    for s in ACTIVE_STATES:  # every live mission can be aborted or fail
        assert {S.ABORTED, S.FAILED} <= MISSION_TRANSITIONS[s]


def test_only_a_pending_mission_can_be_approved_rejected_or_expire() -> None:
    for target in (S.APPROVED, S.REJECTED, S.EXPIRED):
        assert {s for s in S if target in MISSION_TRANSITIONS[s]} == {S.PENDING_APPROVAL}


def test_link_lost_returns_to_flight_states_only() -> None:
    assert MISSION_TRANSITIONS[S.LINK_LOST] == {
        S.IN_FLIGHT,
        S.PAUSED,
        S.RETURNING,
        S.COMPLETED,
        S.ABORTED,
        S.FAILED,
    }
    assert {s for s in S if S.LINK_LOST in MISSION_TRANSITIONS[s]} == {
        S.IN_FLIGHT,
        S.PAUSED,
        S.RETURNING,
    }


def test_approval_records_who_and_when() -> None:
    m = mission()
    assert not m.approved
    a = m.transition(S.APPROVED, at=T0 + timedelta(seconds=9), by="pat")
    assert a.approved and a.approved_by == "pat" and a.approved_at == T0 + timedelta(seconds=9)
    # later transitions keep the approval
    assert a.transition(S.UPLOADING, at=T0, by="system").approved_by == "pat"


def test_a_transition_needs_an_aware_time_and_an_actor() -> None:
    with pytest.raises(InvalidField) as err:
        mission().transition(S.APPROVED, at=datetime(2026, 1, 1), by="pat")
    assert err.value.field == "at"
    with pytest.raises(InvalidField) as err:
        mission().transition(S.APPROVED, at=T0, by="")
    assert err.value.field == "by"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("drone_id", 0),
        ("drone_id", 256),
        ("drone_id", True),
        ("eta_s", math.nan),
        ("eta_s", -1.0),
        ("station_item", 4),
        ("id", ""),
        ("expires_at", datetime(2026, 1, 1)),
    ],
)
def test_invalid_missions_name_the_field(field: str, value: object) -> None:
    base = mission()
    kwargs = {f: getattr(base, f) for f in base.__dataclass_fields__}
    kwargs[field] = value
    with pytest.raises(InvalidField) as err:
        Mission(**kwargs)
    assert err.value.field == field


def test_history_entries_round_trip_through_json() -> None:
    t = Transition(S.PAUSED, S.IN_FLIGHT, T0, "pat", "go on")
    assert Transition.from_json(t.to_json()) == t
    first = Transition(None, S.PENDING_APPROVAL, T0, "system")
    assert Transition.from_json(first.to_json()) == first


# -- incidents -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target"), list(itertools.product(IncidentStatus, IncidentStatus))
)
def test_incident_status_changes_follow_the_table(
    current: IncidentStatus, target: IncidentStatus
) -> None:
    inc = incident(status=current, status_reason="why")
    if target in INCIDENT_TRANSITIONS[current]:
        assert inc.transition(target, at=T0, reason="because").status is target
    else:
        with pytest.raises(IllegalTransition):
            inc.transition(target, at=T0, reason="because")


def test_closed_is_final_and_unserviceable_needs_a_reason() -> None:
    assert INCIDENT_TRANSITIONS[IncidentStatus.CLOSED] == frozenset()
    with pytest.raises(InvalidField) as err:
        incident().transition(IncidentStatus.UNSERVICEABLE, at=T0)
    assert err.value.field == "status_reason"


@pytest.mark.parametrize(
    ("lat", "lon", "field"),
    [
        (math.nan, 8.0, "lat_deg"),
        (47.0, math.inf, "lon_deg"),
        (90.0001, 8.0, "lat_deg"),
        (-90.0001, 8.0, "lat_deg"),
        (47.0, 180.5, "lon_deg"),
        ("47", 8.0, "lat_deg"),
        (True, 8.0, "lat_deg"),
    ],
)
def test_bad_locations_are_refused_with_the_field(lat: object, lon: object, field: str) -> None:
    with pytest.raises(InvalidField) as err:
        check_location(lat, lon)
    assert err.value.field == field


def test_edges_of_the_globe_are_valid() -> None:
    assert check_location(90, -180) == (90.0, -180.0)
    assert check_location(-90.0, 180.0) == (-90.0, 180.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", 0),
        ("priority", 6),
        ("priority", 2.0),
        ("kind", ""),
        ("kind", "x" * 65),
        ("pattern", "zigzag"),
        ("radius_m", 5.0),
        ("radius_m", math.nan),
        ("external_id", ""),
        ("created_at", datetime(2026, 1, 1)),
    ],
)
def test_invalid_incidents_name_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidField) as err:
        incident(**{field: value})
    assert err.value.field == field
