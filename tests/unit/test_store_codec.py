"""The store's pure parts: row/document codec, etags, audit hashing, URLs, names."""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from flight_plans.geodesy import GeoPoint
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import HomePosition, MavCmd, MavFrame, MissionItem
from flight_plans.mission import Mission as PlanMission
from flight_plans.plan import Fence, FenceCircle, FencePolygon, Plan
from mission_control.domain.events import Event, EventKind
from mission_control.domain.incident import Incident, IncidentStatus, PatternKind
from mission_control.domain.mission import Mission, MissionState
from mission_control.store import Actor, InvalidDatabaseURL, InvalidValue, UnreadableRow
from mission_control.store.audit import GENESIS_HASH, entry_hash
from mission_control.store.codec import (
    canonical_json,
    changed_fields,
    event_from_row,
    event_row,
    incident_doc,
    incident_from_row,
    incident_row,
    mission_from_row,
    mission_row,
    mission_summary,
)
from mission_control.store.engine import hide_password, normalise_url
from mission_control.store.users import check_user_name, token_sha256

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def incident(**changes: object) -> Incident:
    base = Incident(
        id="inc-1",
        source="cad",
        external_id="CAD-77",
        kind="fire",
        priority=2,
        lat_deg=47.3977,
        lon_deg=8.5456,
        reported_by="ann",
        created_at=T0,
        updated_at=T0,
        description="smoke over the rail yard — «urgent»",
        pattern=PatternKind.SURVEY,
        radius_m=150.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def mission(**changes: object) -> Mission:
    home = HomePosition(47.39, 8.54, 488.0)
    items = (
        MissionItem.at(MavCmd.NAV_TAKEOFF, 47.39, 8.54, alt_rel_m=30.0, params=(0, 0, 0, math.nan)),
        MissionItem.at(MavCmd.NAV_WAYPOINT, 47.40, 8.55, alt_rel_m=60.0),
        MissionItem(MavCmd.NAV_RETURN_TO_LAUNCH, MavFrame.MISSION),
    )
    fence = Fence(
        (FencePolygon(GeoPolygon.from_lat_lon([(47.38, 8.53), (47.41, 8.53), (47.41, 8.56)])),),
        (FenceCircle(GeoCircle(GeoPoint(47.4, 8.55), 30.0), inclusion=False),),
    )
    base = Mission(
        id="m-1",
        incident_id="inc-1",
        drone_id=7,
        plan=Plan(PlanMission(items, home), fence),
        airspace_report={"ok": True, "violations": [], "zones_version": 3},
        created_at=T0,
        updated_at=T0,
        expires_at=T0 + timedelta(minutes=2),
        notes=("detour around the hospital pad",),
        authorisations={"LSZH-CTR": "AUTH-1"},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_incident_row_round_trip_is_equal() -> None:
    i = incident(status=IncidentStatus.UNSERVICEABLE, status_reason="no drone in range")
    assert incident_from_row(incident_row(i)) == i


def test_mission_row_round_trip_keeps_plan_fence_and_history() -> None:
    m = mission().transition(MissionState.APPROVED, at=T0 + timedelta(seconds=5), by="pat")
    back = mission_from_row(mission_row(m))
    assert back == m
    assert back.plan.fence == m.plan.fence and back.plan.mission.home == m.plan.mission.home
    assert back.history[-1].by == "pat" and back.approved_at == m.approved_at


def test_etag_ignores_the_time_zone_a_time_is_written_in() -> None:
    """The same instant in +02:00 is the same stored row: an update must not go stale."""
    cest = timezone(timedelta(hours=2))
    shifted = incident(created_at=T0.astimezone(cest), updated_at=T0.astimezone(cest))
    assert incident_row(shifted)["etag"] == incident_row(incident())["etag"]


@pytest.mark.parametrize(
    "change",
    [
        {"priority": 3},
        {"lat_deg": 47.39770000001},
        {"description": "smoke"},
        {"status": IncidentStatus.CLOSED},
        {"updated_at": T0 + timedelta(microseconds=1)},
        {"radius_m": None},
    ],
)
def test_etag_changes_with_any_field(change: dict[str, object]) -> None:
    assert incident_row(incident(**change))["etag"] != incident_row(incident())["etag"]


def test_mission_etag_survives_a_reload_of_its_plan() -> None:
    """A mission read back (plan re-parsed, with QGC extras) has the etag it was written with."""
    m = mission()
    row = mission_row(m)
    assert mission_row(mission_from_row(row))["etag"] == row["etag"]
    assert mission_row(replace(m, eta_s=1.0))["etag"] != row["etag"]


def test_mission_with_a_non_json_report_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidValue) as info:
        mission_row(mission(airspace_report={"ok": True, "worst_m": math.nan}))
    assert info.value.field == "airspace_report"


def test_unreadable_rows_raise_a_store_error_naming_the_object() -> None:
    row = incident_row(incident()) | {"priority": 9}
    with pytest.raises(UnreadableRow, match="incident inc-1"):
        incident_from_row(row)
    with pytest.raises(UnreadableRow, match="mission m-1"):
        mission_from_row(mission_row(mission()) | {"plan_qgc": "{not json"})


def test_mission_summary_leaves_out_plan_and_report() -> None:
    s = mission_summary(mission())
    assert "plan" not in s and "airspace_report" not in s
    assert s["airspace_ok"] is True and s["item_count"] == 3 and s["state"] == "pending_approval"


def test_event_row_round_trip() -> None:
    e = Event(EventKind.ALERT, "m-1", T0, {"severity": "critical", "text": "battery 14 %"})
    back = event_from_row(event_row(e) | {"seq": 41})
    assert back == replace(e, seq=41)


def test_canonical_json_is_sorted_compact_and_refuses_nan() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "é"]}) == '{"a":[1.5,"é"],"b":1}'
    with pytest.raises(InvalidValue, match="report"):
        canonical_json({"x": math.inf}, field="report")
    with pytest.raises(InvalidValue):
        canonical_json({"t": T0})


def test_changed_fields_lists_only_differences() -> None:
    before, after = incident(), incident(status=IncidentStatus.DISPATCHING)
    assert changed_fields(incident_doc(before), incident_doc(after)) == (
        {"status": "open"},
        {"status": "dispatching"},
    )


def test_entry_hash_matches_an_independent_computation() -> None:
    text = (
        '{"action":"mission.approve","actor":"pat","after":"{\\"state\\":\\"approved\\"}",'
        '"at":"2025-03-01T12:00:00.123456+00:00","before":null,"id":7,"object_id":"m-1",'
        '"object_type":"mission","prev_hash":"' + GENESIS_HASH + '","role":"pilot"}'
    )
    expected = hashlib.sha256(text.encode()).hexdigest()
    got = entry_hash(
        entry_id=7,
        at=T0,
        actor="pat",
        role="pilot",
        action="mission.approve",
        object_type="mission",
        object_id="m-1",
        before=None,
        after='{"state":"approved"}',
        prev_hash=GENESIS_HASH,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/mc.db", "sqlite+aiosqlite:///var/mc.db"),
        ("sqlite+aiosqlite:////abs/mc.db", "sqlite+aiosqlite:////abs/mc.db"),
        ("postgresql://u:pw@db:5432/mc", "postgresql+asyncpg://u:pw@db:5432/mc"),
        ("postgres://u@db/mc", "postgresql+asyncpg://u@db/mc"),
        ("postgresql+asyncpg://u@db/mc", "postgresql+asyncpg://u@db/mc"),
    ],
)
def test_urls_are_normalised_to_the_async_drivers(url: str, expected: str) -> None:
    assert normalise_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "mysql://u@h/db",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite+pysqlite:///x.db",
        "postgresql+psycopg2://u@h/db",
        "postgresql://u@h",
    ],
)
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidDatabaseURL):
        normalise_url(url)


def test_passwords_never_appear_in_url_errors() -> None:
    assert hide_password("postgresql://mc:s3cret@db/x") == "postgresql://mc:***@db/x"
    with pytest.raises(InvalidDatabaseURL) as info:
        normalise_url("mysql://mc:s3cret@db/x")
    assert "s3cret" not in str(info.value)


def test_actor_and_user_names_are_validated() -> None:
    assert Actor("system", "system").role == "system"
    with pytest.raises(InvalidValue, match=r"actor\.role"):
        Actor("ann", "superuser")
    with pytest.raises(InvalidValue, match=r"actor\.name"):
        Actor(" ", "pilot")
    assert check_user_name("ann.o-b@x_1") == "ann.o-b@x_1"
    for bad in ("", "-ann", "ann smith", "a" * 65):
        with pytest.raises(InvalidValue, match="name"):
            check_user_name(bad)


def test_token_hash_is_sha256_hex() -> None:
    assert token_sha256("abc") == hashlib.sha256(b"abc").hexdigest()
