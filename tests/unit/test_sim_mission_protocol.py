"""The vehicle side of the MAVLink mission protocol, driven with no sockets.

Every message goes through real MAVLink 2 encoding (pack, then parse) in both directions,
so field types, float32 rounding and addressing are what a ground station would see.
"""

from __future__ import annotations

import dataclasses
import math
import random
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from flight_plans.mission import MavCmd, MavFrame, MissionItemInt, MissionType
from sim._mav import MAVLinkMessage, mavlink
from sim.errors import SimConfigError, SimError
from sim.mission_items import (
    GLOBAL_FRAMES,
    SUPPORTED_COMMANDS,
    SUPPORTED_FRAMES,
    MissionResult,
    validate_items,
    xy_from_float,
    xy_to_float,
)
from sim.mission_protocol import (
    MISSION_TYPE_ALL,
    Cleared,
    MissionLimits,
    MissionStore,
    MissionStoreError,
    MissionTransfer,
    Uploaded,
    UploadFailed,
)

VEHICLE = (1, 1)
GCS = (255, 190)
OTHER_GCS = (246, 1)

M, F, R = MissionType.MISSION, MissionType.FENCE, MissionType.RALLY
REL_INT = MavFrame.GLOBAL_RELATIVE_ALT_INT
ZURICH = (473977430, 85455940)


def f32(x: float) -> float:
    """``x`` rounded to float32, as it travels on the wire."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def item(
    seq: int,
    command: int,
    *,
    frame: int = REL_INT,
    x: int = ZURICH[0],
    y: int = ZURICH[1],
    z: float = 20.0,
    params: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    mission_type: int = M,
    current: int = 0,
) -> MissionItemInt:
    p1, p2, p3, p4 = params
    return MissionItemInt(seq, frame, command, current, 1, p1, p2, p3, p4, x, y, z, mission_type)


def renumber(items: Sequence[MissionItemInt]) -> list[MissionItemInt]:
    return [dataclasses.replace(it, seq=i) for i, it in enumerate(items)]


MISSION_ITEMS = [
    item(0, MavCmd.NAV_TAKEOFF, z=15.0, current=1),
    item(1, MavCmd.NAV_WAYPOINT, x=473980000, y=85460000, params=(0.0, 2.0, 0.0, 90.0)),
    item(2, MavCmd.DO_CHANGE_SPEED, frame=MavFrame.MISSION, x=0, y=0, z=0.0, params=(1.0, 7.5, -1.0, 0.0)),
    item(3, MavCmd.DO_SET_ROI_LOCATION, frame=MavFrame.GLOBAL_INT, x=473990000, y=85470000, z=500.25),
    item(4, MavCmd.NAV_LOITER_TIME, frame=MavFrame.GLOBAL_TERRAIN_ALT_INT, params=(12.5, 0.0, 0.0, 0.0)),
    item(5, MavCmd.IMAGE_START_CAPTURE, frame=MavFrame.MISSION, x=0, y=0, z=0.0, params=(0.0, 2.0, 0.0, 0.0)),
    item(6, MavCmd.NAV_RETURN_TO_LAUNCH, frame=MavFrame.MISSION, x=0, y=0, z=0.0),
]  # fmt: skip
FENCE_ITEMS = [
    *(
        item(i, MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, x=473970000 + dx, y=85450000 + dy, z=0.0, params=(4.0, 0.0, 0.0, 0.0), mission_type=F)
        for i, (dx, dy) in enumerate([(0, 0), (0, 20000), (20000, 20000), (20000, 0)])
    ),
    item(4, MavCmd.NAV_FENCE_CIRCLE_EXCLUSION, x=473980000, y=85460000, z=0.0, params=(30.0, 0.0, 0.0, 0.0), mission_type=F),
    item(5, MavCmd.NAV_FENCE_RETURN_POINT, z=0.0, mission_type=F),
]  # fmt: skip
RALLY_ITEMS = [
    item(0, MavCmd.NAV_RALLY_POINT, z=30.0, mission_type=R),
    item(1, MavCmd.NAV_RALLY_POINT, x=-338568000, y=1512153000, z=12.0, frame=MavFrame.GLOBAL_INT, mission_type=R),
]  # fmt: skip
ITEMS = {M: MISSION_ITEMS, F: FENCE_ITEMS, R: RALLY_ITEMS}

# A different, valid list of each type held on board before a test, so "store unchanged"
# is distinguishable from "store cleared".
PRELOADED = {
    M: [item(0, MavCmd.NAV_WAYPOINT, z=42.0)],
    F: [item(0, MavCmd.NAV_FENCE_CIRCLE_INCLUSION, params=(500.0, 0.0, 0.0, 0.0), mission_type=F)],
    R: [item(0, MavCmd.NAV_RALLY_POINT, z=50.0, mission_type=R)],
}


# -- a harness: the vehicle's protocol plus MAVLink encoders on both sides -----------------


class Harness:
    def __init__(self, *, preload: bool = True, **kwargs: Any) -> None:
        self.store = MissionStore()
        if preload:
            for t, items in PRELOADED.items():
                self.store.replace(t, items)
        self.transfer = MissionTransfer(
            self.store, system_id=VEHICLE[0], component_id=VEHICLE[1], **kwargs
        )
        self.now = 100.0
        self._vehicle_mav = mavlink.MAVLink(None, srcSystem=VEHICLE[0], srcComponent=VEHICLE[1])
        self._gcs_mav: dict[tuple[int, int], Any] = {}
        self._parser = mavlink.MAVLink(None)

    def _wire_from(self, msg: MAVLinkMessage, src: tuple[int, int]) -> MAVLinkMessage:
        mav = self._gcs_mav.setdefault(
            src, mavlink.MAVLink(None, srcSystem=src[0], srcComponent=src[1])
        )
        return decode(msg.pack(mav), self._parser)

    def _decoded_replies(self, replies: list[MAVLinkMessage]) -> list[MAVLinkMessage]:
        return [decode(r.pack(self._vehicle_mav), self._parser) for r in replies]

    def send(self, msg: MAVLinkMessage, *, src: tuple[int, int] = GCS) -> list[MAVLinkMessage]:
        return self._decoded_replies(self.transfer.receive(self._wire_from(msg, src), self.now))

    def advance(self, dt_s: float) -> list[MAVLinkMessage]:
        self.now += dt_s
        return self._decoded_replies(self.transfer.poll(self.now))

    def items(self, t: MissionType) -> list[MissionItemInt]:
        return list(self.store.items(t))


def decode(data: bytes, parser: Any) -> MAVLinkMessage:
    msgs = parser.parse_buffer(data)
    assert msgs is not None
    assert len(msgs) == 1
    return msgs[0]


def count_msg(n: int, t: int = M, target: tuple[int, int] = VEHICLE) -> MAVLinkMessage:
    return mavlink.MAVLink_mission_count_message(target[0], target[1], n, t)


def item_int_msg(it: MissionItemInt, target: tuple[int, int] = VEHICLE) -> MAVLinkMessage:
    return mavlink.MAVLink_mission_item_int_message(
        target[0], target[1], it.seq, it.frame, it.command, it.current, it.autocontinue,
        it.param1, it.param2, it.param3, it.param4, it.x, it.y, it.z, it.mission_type,
    )  # fmt: skip


def item_float_msg(it: MissionItemInt, lat_deg: float, lon_deg: float) -> MAVLinkMessage:
    return mavlink.MAVLink_mission_item_message(
        VEHICLE[0], VEHICLE[1], it.seq, it.frame, it.command, it.current, it.autocontinue,
        it.param1, it.param2, it.param3, it.param4, lat_deg, lon_deg, it.z, it.mission_type,
    )  # fmt: skip


def request_list_msg(t: int = M) -> MAVLinkMessage:
    return mavlink.MAVLink_mission_request_list_message(VEHICLE[0], VEHICLE[1], t)


def request_int_msg(seq: int, t: int = M) -> MAVLinkMessage:
    return mavlink.MAVLink_mission_request_int_message(VEHICLE[0], VEHICLE[1], seq, t)


def request_float_msg(seq: int, t: int = M) -> MAVLinkMessage:
    return mavlink.MAVLink_mission_request_message(VEHICLE[0], VEHICLE[1], seq, t)


def ack_msg(result: int, t: int = M) -> MAVLinkMessage:
    return mavlink.MAVLink_mission_ack_message(VEHICLE[0], VEHICLE[1], result, t)


def clear_msg(t: int = M) -> MAVLinkMessage:
    return mavlink.MAVLink_mission_clear_all_message(VEHICLE[0], VEHICLE[1], t)


def as_item(m: MAVLinkMessage) -> MissionItemInt:
    return MissionItemInt(
        m.seq, m.frame, m.command, m.current, m.autocontinue, m.param1, m.param2,
        m.param3, m.param4, m.x, m.y, m.z, m.mission_type,
    )  # fmt: skip


def kinds(msgs: list[MAVLinkMessage]) -> list[str]:
    return [m.get_type() for m in msgs]


def the_ack(msgs: list[MAVLinkMessage]) -> MAVLinkMessage:
    acks = [m for m in msgs if m.get_type() == "MISSION_ACK"]
    assert len(acks) == 1, kinds(msgs)
    return acks[0]


def statustexts(msgs: list[MAVLinkMessage]) -> list[MAVLinkMessage]:
    return [m for m in msgs if m.get_type() == "STATUSTEXT"]


def upload(
    h: Harness, items: Sequence[MissionItemInt], t: MissionType, *, src: tuple[int, int] = GCS
) -> list[MAVLinkMessage]:
    """A loss-free upload; returns the vehicle's last replies (its ACK)."""
    replies = h.send(count_msg(len(items), t), src=src)
    for it in items:
        assert kinds(replies) == ["MISSION_REQUEST_INT"]
        assert (replies[0].seq, replies[0].mission_type) == (it.seq, t)
        assert (replies[0].target_system, replies[0].target_component) == src
        replies = h.send(item_int_msg(it), src=src)
    return replies


def download(h: Harness, t: MissionType, *, src: tuple[int, int] = GCS) -> list[MissionItemInt]:
    (count,) = h.send(request_list_msg(t), src=src)
    assert count.get_type() == "MISSION_COUNT"
    assert count.mission_type == t
    out = []
    for seq in range(count.count):
        (reply,) = h.send(request_int_msg(seq, t), src=src)
        assert reply.get_type() == "MISSION_ITEM_INT"
        out.append(as_item(reply))
    assert h.send(ack_msg(mavlink.MAV_MISSION_ACCEPTED, t), src=src) == []
    return out


# -- upload and download ---------------------------------------------------------------------


@pytest.mark.parametrize("t", [M, F, R])
def test_upload_then_download_returns_exactly_the_uploaded_items(t: MissionType) -> None:
    h = Harness()
    gen = h.store.generation(t)
    replies = upload(h, ITEMS[t], t)
    ack = the_ack(replies)
    assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_ACCEPTED, t)
    assert h.items(t) == ITEMS[t]
    assert h.store.generation(t) == gen + 1
    assert not h.transfer.busy
    current = 0 if t is M else None
    assert h.transfer.take_events() == [Uploaded(t, tuple(ITEMS[t]), current)]
    assert download(h, t) == ITEMS[t]
    others = {M, F, R} - {t}
    assert all(h.items(o) == PRELOADED[o] for o in others)


def test_download_marks_the_vehicles_current_mission_item() -> None:
    h = Harness()
    upload(h, MISSION_ITEMS, M)
    h.transfer.current_seq = 3
    got = download(h, M)
    assert [it.current for it in got] == [0, 0, 0, 1, 0, 0, 0]
    assert [dataclasses.replace(it, current=0) for it in got] == [
        dataclasses.replace(it, current=0) for it in MISSION_ITEMS
    ]


def test_params_travel_as_float32_and_nan_survives() -> None:
    """Params are rounded to float32 on the wire; the stored item is what arrived."""
    h = Harness()
    sent = item(0, MavCmd.NAV_WAYPOINT, z=12.3, params=(0.1, math.nan, 0.0, math.nan))
    upload(h, [sent], M)
    (stored,) = h.items(M)
    assert stored.z == f32(12.3) and stored.param1 == f32(0.1)
    assert math.isnan(stored.param2) and math.isnan(stored.param4)
    (down,) = download(h, M)
    assert down.z == stored.z and math.isnan(down.param2)


def test_legacy_float_mission_item_upload_is_converted_to_dege7() -> None:
    h = Harness()
    lat, lon = 47.397743, 8.545594
    replies = h.send(count_msg(2))
    assert kinds(replies) == ["MISSION_REQUEST_INT"]
    wp = item(0, MavCmd.NAV_WAYPOINT, frame=MavFrame.GLOBAL_RELATIVE_ALT)
    replies = h.send(item_float_msg(wp, lat, lon))
    # The sender spoke the float protocol, so the vehicle answers in kind.
    assert kinds(replies) == ["MISSION_REQUEST"]
    assert replies[0].seq == 1
    speed = item(1, MavCmd.DO_CHANGE_SPEED, frame=MavFrame.MISSION, params=(1.0, 5.0, -1.0, 0.0))
    replies = h.send(item_float_msg(speed, 0.0, math.nan))
    assert the_ack(replies).type == mavlink.MAV_MISSION_ACCEPTED
    first, second = h.items(M)
    assert (first.x, first.y) == (round(f32(lat) * 1e7), round(f32(lon) * 1e7))
    assert first.frame == MavFrame.GLOBAL_RELATIVE_ALT
    assert (second.x, second.y) == (0, 2**31 - 1)  # NaN param6 → INT32_MAX ("unset")


def test_legacy_mission_request_gets_a_float_item_in_degrees() -> None:
    h = Harness()
    h.transfer.current_seq = 0
    (reply,) = h.send(request_float_msg(0))
    assert reply.get_type() == "MISSION_ITEM"
    assert reply.x == pytest.approx(ZURICH[0] / 1e7, abs=1e-5)
    assert reply.y == pytest.approx(ZURICH[1] / 1e7, abs=1e-5)
    assert (reply.z, reply.current) == (42.0, 1)


def test_a_client_using_the_int_protocol_gets_int_items_for_a_legacy_request() -> None:
    """Like PX4: once a sender used MISSION_REQUEST_INT, MISSION_REQUEST is answered in int."""
    h = Harness()
    h.send(request_int_msg(0))
    (reply,) = h.send(request_float_msg(0))
    assert reply.get_type() == "MISSION_ITEM_INT"


def test_downloads_are_stateless_so_retransmitted_requests_get_the_same_answer() -> None:
    h = Harness(preload=False)
    upload(h, MISSION_ITEMS, M)
    h.send(request_list_msg())
    a = [as_item(m) for m in h.send(request_int_msg(4)) + h.send(request_int_msg(4))]
    assert a == [MISSION_ITEMS[4], MISSION_ITEMS[4]]
    assert kinds(h.send(request_list_msg())) == ["MISSION_COUNT"]


@pytest.mark.parametrize(("t", "seq"), [(M, 1), (M, 65535), (F, 1), (R, 5)])
def test_download_of_a_missing_seq_is_invalid_sequence(t: MissionType, seq: int) -> None:
    h = Harness()
    replies = h.send(request_int_msg(seq, t))
    ack = the_ack(replies)
    assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_INVALID_SEQUENCE, t)
    assert len(statustexts(replies)) == 1


def test_download_of_an_empty_list_is_a_zero_count() -> None:
    h = Harness(preload=False)
    (count,) = h.send(request_list_msg(R))
    assert (count.count, count.mission_type) == (0, R)


# -- lossy uploads -------------------------------------------------------------------------------


def test_missing_item_is_re_requested_after_the_retry_timeout() -> None:
    h = Harness(retry_timeout_s=0.25)
    h.send(count_msg(3))
    h.send(item_int_msg(MISSION_ITEMS[0]))
    assert h.advance(0.2) == []
    (again,) = h.advance(0.06)
    assert (again.get_type(), again.seq) == ("MISSION_REQUEST_INT", 1)
    assert h.advance(0.1) == []
    assert [m.seq for m in h.advance(0.2)] == [1]
    assert h.transfer.busy


def test_stalled_upload_is_cancelled_after_the_protocol_timeout_and_store_unchanged() -> None:
    h = Harness(retry_timeout_s=0.25, protocol_timeout_s=2.0)
    gen = h.store.generation(M)
    h.send(count_msg(3))
    h.send(item_int_msg(MISSION_ITEMS[0]))
    requests: list[MAVLinkMessage] = []
    for _ in range(7):
        requests += h.advance(0.25)
    assert kinds(requests) == ["MISSION_REQUEST_INT"] * 7
    replies = h.advance(0.25)
    ack = the_ack(replies)
    assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_OPERATION_CANCELLED, M)
    (text,) = statustexts(replies)
    assert text.severity == mavlink.MAV_SEVERITY_WARNING
    assert text.text == "Mission upload timed out at item 1"
    assert not h.transfer.busy
    assert h.items(M) == PRELOADED[M]
    assert h.store.generation(M) == gen
    (event,) = h.transfer.take_events()
    assert isinstance(event, UploadFailed)
    assert event.result is MissionResult.OPERATION_CANCELLED
    assert h.advance(1.0) == []
    # The late item finds no transfer and is ignored.
    assert h.send(item_int_msg(MISSION_ITEMS[1])) == []


def test_an_upload_timed_out_before_a_new_count_does_not_block_it() -> None:
    """The stale upload ends first; its cancellation goes to its own partner on poll()."""
    h = Harness(protocol_timeout_s=2.0)
    h.send(count_msg(3, F))
    h.now += 3.0  # no poll() in between
    replies = h.send(count_msg(2, M), src=OTHER_GCS)
    assert [(m.get_type(), m.target_system) for m in replies] == [
        ("MISSION_REQUEST_INT", OTHER_GCS[0])
    ]
    assert h.transfer.next_poll_s == h.now
    polled = h.advance(0.0)
    ack = the_ack(polled)
    assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_OPERATION_CANCELLED, F)
    assert (ack.target_system, ack.target_component) == GCS
    assert kinds(polled) == ["MISSION_ACK", "STATUSTEXT"]
    assert h.advance(0.0) == []
    assert h.transfer.busy


def test_upload_is_cancelled_after_max_retries() -> None:
    h = Harness(retry_timeout_s=0.25, protocol_timeout_s=60.0, max_retries=2)
    h.send(count_msg(3))
    assert kinds(h.advance(0.25) + h.advance(0.25)) == ["MISSION_REQUEST_INT"] * 2
    ack = the_ack(h.advance(0.25))
    assert ack.type == mavlink.MAV_MISSION_OPERATION_CANCELLED
    assert h.items(M) == PRELOADED[M]


def test_progress_resets_the_retry_count() -> None:
    h = Harness(retry_timeout_s=0.25, protocol_timeout_s=60.0, max_retries=1)
    h.send(count_msg(3))
    h.advance(0.25)  # retry 1 of item 0
    h.send(item_int_msg(MISSION_ITEMS[0]))
    (req,) = h.advance(0.25)  # retry 1 of item 1 is allowed again
    assert req.seq == 1
    assert h.transfer.busy


def test_next_poll_s_says_when_poll_has_work() -> None:
    h = Harness(retry_timeout_s=0.25, protocol_timeout_s=5.0)
    assert h.transfer.next_poll_s is None
    h.send(count_msg(2))
    assert h.transfer.next_poll_s == pytest.approx(h.now + 0.25)


def test_duplicate_count_at_seq_0_only_re_sends_the_first_request() -> None:
    h = Harness()
    first = h.send(count_msg(3))
    again = h.send(count_msg(3))
    assert [(m.get_type(), m.seq) for m in first + again] == [("MISSION_REQUEST_INT", 0)] * 2
    assert h.store.generation(M) == 1
    assert the_ack(upload_rest(h, MISSION_ITEMS[:3])).type == mavlink.MAV_MISSION_ACCEPTED
    assert h.items(M) == MISSION_ITEMS[:3]


def upload_rest(h: Harness, items: Sequence[MissionItemInt]) -> list[MAVLinkMessage]:
    replies: list[MAVLinkMessage] = []
    for it in items:
        replies = h.send(item_int_msg(it))
    return replies


@pytest.mark.parametrize("new_count", [2, 3])
def test_a_new_count_for_the_same_list_mid_upload_restarts_it(new_count: int) -> None:
    h = Harness()
    h.send(count_msg(3))
    h.send(item_int_msg(MISSION_ITEMS[0]))
    (req,) = h.send(count_msg(new_count))
    assert req.seq == 0
    replies = upload_rest(h, RALLY_AS_MISSION[:new_count])
    assert the_ack(replies).type == mavlink.MAV_MISSION_ACCEPTED
    assert h.items(M) == RALLY_AS_MISSION[:new_count]


RALLY_AS_MISSION = [item(i, MavCmd.NAV_WAYPOINT, z=10.0 + i) for i in range(3)]


def test_out_of_sequence_items_are_ignored_and_a_skipped_item_re_requested() -> None:
    h = Harness()
    h.send(count_msg(3))
    h.send(item_int_msg(MISSION_ITEMS[0]))
    # Ahead: the vehicle asks again for the item it is missing.
    (req,) = h.send(item_int_msg(MISSION_ITEMS[2]))
    assert (req.get_type(), req.seq) == ("MISSION_REQUEST_INT", 1)
    # Behind (a stale duplicate): ignored, the retry timer covers a lost request.
    assert h.send(item_int_msg(MISSION_ITEMS[0])) == []
    replies = upload_rest(h, MISSION_ITEMS[1:3])
    assert the_ack(replies).type == mavlink.MAV_MISSION_ACCEPTED
    assert h.items(M) == MISSION_ITEMS[:3]


def test_a_lost_final_ack_is_answered_again_without_storing_again() -> None:
    h = Harness(protocol_timeout_s=5.0)
    upload(h, RALLY_ITEMS, R)
    gen = h.store.generation(R)
    h.transfer.take_events()
    h.now += 1.0
    replies = h.send(item_int_msg(RALLY_ITEMS[-1]))
    ack = the_ack(replies)
    assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_ACCEPTED, R)
    assert (ack.target_system, ack.target_component) == GCS
    assert h.store.generation(R) == gen
    assert h.transfer.take_events() == []
    # Only the sender of the upload, and only for a while; another GCS's upload in
    # between does not make the vehicle forget.
    assert h.send(item_int_msg(RALLY_ITEMS[-1]), src=OTHER_GCS) == []
    h.send(count_msg(0, F), src=OTHER_GCS)
    assert the_ack(h.send(item_int_msg(RALLY_ITEMS[-1]))).type == mavlink.MAV_MISSION_ACCEPTED
    h.advance(5.0)
    assert h.send(item_int_msg(RALLY_ITEMS[-1])) == []


def test_an_error_ack_from_the_uploader_cancels_the_upload() -> None:
    h = Harness()
    h.send(count_msg(3))
    h.send(item_int_msg(MISSION_ITEMS[0]))
    assert h.send(ack_msg(mavlink.MAV_MISSION_OPERATION_CANCELLED)) == []
    assert not h.transfer.busy
    assert h.items(M) == PRELOADED[M]
    (event,) = h.transfer.take_events()
    assert event == UploadFailed(
        M, MissionResult.OPERATION_CANCELLED, "cancelled by the ground station"
    )


def test_stray_acks_change_nothing() -> None:
    h = Harness()
    h.send(count_msg(3))
    for msg, src in [
        (ack_msg(mavlink.MAV_MISSION_ACCEPTED), GCS),  # a download's final ack
        (ack_msg(mavlink.MAV_MISSION_ERROR, F), GCS),  # another list
        (ack_msg(mavlink.MAV_MISSION_ERROR), OTHER_GCS),  # another sender
    ]:
        assert h.send(msg, src=src) == []
    assert h.transfer.busy
    assert h.send(ack_msg(mavlink.MAV_MISSION_ACCEPTED)) == []  # idle: ignored too


# -- refusals ---------------------------------------------------------------------------------


def test_count_zero_clears_the_list() -> None:
    h = Harness()
    gen = h.store.generation(F)
    ack = the_ack(h.send(count_msg(0, F)))
    assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_ACCEPTED, F)
    assert h.items(F) == []
    assert h.store.generation(F) == gen + 1
    assert h.transfer.take_events() == [Cleared(F)]
    assert h.items(M) == PRELOADED[M]


@pytest.mark.parametrize(
    ("t", "limits", "count", "text"),
    [
        (M, MissionLimits(), 1001, "Mission rejected: 1001 items, max 1000"),
        (F, MissionLimits(), 65, "Fence rejected: 65 items, max 64"),
        (R, MissionLimits(), 9, "Rally rejected: 9 items, max 8"),
        (M, MissionLimits(mission_items=5), 6, "Mission rejected: 6 items, max 5"),
    ],
)
def test_a_count_over_the_limit_is_no_space(
    t: MissionType, limits: MissionLimits, count: int, text: str
) -> None:
    h = Harness(limits=limits)
    replies = h.send(count_msg(count, t))
    ack = the_ack(replies)
    assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_NO_SPACE, t)
    (st_msg,) = statustexts(replies)
    assert (st_msg.severity, st_msg.text) == (mavlink.MAV_SEVERITY_ERROR, text)
    assert not h.transfer.busy
    assert h.items(t) == PRELOADED[t]


def test_a_count_at_the_limit_is_accepted() -> None:
    h = Harness(limits=MissionLimits(rally_points=2))
    assert the_ack(upload(h, RALLY_ITEMS, R)).type == mavlink.MAV_MISSION_ACCEPTED


@pytest.mark.parametrize(("t", "src"), [(F, GCS), (R, OTHER_GCS), (M, OTHER_GCS)])
def test_another_transfer_while_busy_is_denied_and_the_upload_carries_on(
    t: MissionType, src: tuple[int, int]
) -> None:
    h = Harness()
    h.send(count_msg(3, M))
    h.send(item_int_msg(MISSION_ITEMS[0]))
    replies = h.send(count_msg(2, t), src=src)
    ack = the_ack(replies)
    assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_DENIED, t)
    assert (ack.target_system, ack.target_component) == src
    (st_msg,) = statustexts(replies)
    assert "busy" in st_msg.text
    assert the_ack(upload_rest(h, MISSION_ITEMS[1:3])).type == mavlink.MAV_MISSION_ACCEPTED
    assert h.items(M) == MISSION_ITEMS[:3]
    assert h.items(t) == (MISSION_ITEMS[:3] if t is M else PRELOADED[t])


def test_a_download_during_an_upload_serves_the_old_list_and_does_not_disturb_it() -> None:
    h = Harness()
    h.send(count_msg(3, M))
    h.send(item_int_msg(MISSION_ITEMS[0]))
    for src in (GCS, OTHER_GCS):
        assert download(h, M, src=src) == [dataclasses.replace(PRELOADED[M][0], current=1)]
        assert download(h, F, src=src) == PRELOADED[F]
    assert h.transfer.busy
    assert the_ack(upload_rest(h, MISSION_ITEMS[1:3])).type == mavlink.MAV_MISSION_ACCEPTED
    assert h.items(M) == MISSION_ITEMS[:3]


def wp(seq: int, **kw: Any) -> MissionItemInt:
    return item(seq, MavCmd.NAV_WAYPOINT, **kw)


def vertex(seq: int, n: float, *, exclusion: bool = False) -> MissionItemInt:
    cmd = (
        MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        if exclusion
        else MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
    )
    return item(
        seq,
        cmd,
        x=473970000 + 1000 * seq,
        y=85450000 + 7000 * (seq % 2),
        params=(n, 0.0, 0.0, 0.0),
        mission_type=F,
    )


def circle(seq: int, radius_m: float) -> MissionItemInt:
    return item(
        seq, MavCmd.NAV_FENCE_CIRCLE_INCLUSION, params=(radius_m, 0.0, 0.0, 0.0), mission_type=F
    )


E7 = 10**7
# (case, list type, items, result, STATUSTEXT)
REJECTIONS: list[tuple[str, MissionType, list[MissionItemInt], int, str]] = [
    ("vtol takeoff on a multicopter", M, [wp(0), item(1, MavCmd.NAV_VTOL_TAKEOFF)], mavlink.MAV_MISSION_UNSUPPORTED, "Mission rejected: item 1 unsupported command 84"),
    ("command MAVLink does not define", M, [item(0, 4242)], mavlink.MAV_MISSION_UNSUPPORTED, "Mission rejected: item 0 unsupported command 4242"),
    ("waypoint in a fence", F, [wp(0, mission_type=F)], mavlink.MAV_MISSION_UNSUPPORTED, "Fence rejected: item 0 unsupported command 16"),
    ("fence circle in a mission", M, [item(0, MavCmd.NAV_FENCE_CIRCLE_INCLUSION, params=(5.0, 0, 0, 0))], mavlink.MAV_MISSION_UNSUPPORTED, "Mission rejected: item 0 unsupported command 5003"),
    ("waypoint in rally points", R, [wp(0, mission_type=R)], mavlink.MAV_MISSION_UNSUPPORTED, "Rally rejected: item 0 unsupported command 16"),
    ("local NED frame", M, [wp(0, frame=MavFrame.LOCAL_NED)], mavlink.MAV_MISSION_UNSUPPORTED_FRAME, "Mission rejected: item 0 unsupported frame 1"),
    ("unknown frame number", M, [wp(0, frame=77)], mavlink.MAV_MISSION_UNSUPPORTED_FRAME, "Mission rejected: item 0 unsupported frame 77"),
    ("waypoint in the mission frame", M, [wp(0, frame=MavFrame.MISSION)], mavlink.MAV_MISSION_UNSUPPORTED_FRAME, "Mission rejected: item 0 unsupported frame 2"),
    ("rally point in the mission frame", R, [item(0, MavCmd.NAV_RALLY_POINT, frame=MavFrame.MISSION, mission_type=R)], mavlink.MAV_MISSION_UNSUPPORTED_FRAME, "Rally rejected: item 0 unsupported frame 2"),
    ("latitude above 90°", M, [wp(0), wp(1), wp(2), wp(3, x=90 * E7 + 1)], mavlink.MAV_MISSION_INVALID_PARAM5_X, "Mission rejected: item 3 latitude out of range"),
    ("latitude below -90°", R, [item(0, MavCmd.NAV_RALLY_POINT, x=-91 * E7, mission_type=R)], mavlink.MAV_MISSION_INVALID_PARAM5_X, "Rally rejected: item 0 latitude out of range"),
    ("longitude beyond 180°", M, [wp(0, y=180 * E7 + 1)], mavlink.MAV_MISSION_INVALID_PARAM6_Y, "Mission rejected: item 0 longitude out of range"),
    ("longitude beyond -180°", F, [circle(0, 5.0), dataclasses.replace(circle(1, 5.0), y=-181 * E7)], mavlink.MAV_MISSION_INVALID_PARAM6_Y, "Fence rejected: item 1 longitude out of range"),
    ("NaN altitude", M, [wp(0, z=math.nan)], mavlink.MAV_MISSION_INVALID_PARAM7, "Mission rejected: item 0 altitude not finite"),
    ("infinite altitude", M, [wp(0, z=math.inf)], mavlink.MAV_MISSION_INVALID_PARAM7, "Mission rejected: item 0 altitude not finite"),
    ("fence item in a mission upload", M, [wp(0), wp(1, mission_type=F)], mavlink.MAV_MISSION_INVALID, "Mission rejected: item 1 has mission type 1"),
    ("polygon with 2 vertices", F, [vertex(0, 2), vertex(1, 2)], mavlink.MAV_MISSION_INVALID_PARAM1, "Fence rejected: item 0 polygon needs >= 3 vertices"),
    ("polygon cut short by a circle", F, [vertex(0, 4), vertex(1, 4), vertex(2, 4), circle(3, 10.0)], mavlink.MAV_MISSION_INVALID_PARAM1, "Fence rejected: item 3 polygon has 3 of 4 vertices"),
    ("polygon cut short by the end", F, [circle(0, 10.0), vertex(1, 3), vertex(2, 3)], mavlink.MAV_MISSION_INVALID_PARAM1, "Fence rejected: item 1 polygon has 2 of 3 vertices"),
    ("vertex counts disagree", F, [vertex(0, 3), vertex(1, 4), vertex(2, 3)], mavlink.MAV_MISSION_INVALID_PARAM1, "Fence rejected: item 1 polygon has 1 of 3 vertices"),
    ("inclusion and exclusion mixed", F, [vertex(0, 3), vertex(1, 3, exclusion=True), vertex(2, 3)], mavlink.MAV_MISSION_INVALID_PARAM1, "Fence rejected: item 1 polygon has 1 of 3 vertices"),
    ("fractional vertex count", F, [vertex(i, 3.5) for i in range(4)], mavlink.MAV_MISSION_INVALID_PARAM1, "Fence rejected: item 0 polygon needs >= 3 vertices"),
    ("circle of radius 0", F, [circle(0, 0.0)], mavlink.MAV_MISSION_INVALID_PARAM1, "Fence rejected: item 0 circle radius must be > 0"),
    ("circle of negative radius", F, [vertex(0, 3), vertex(1, 3), vertex(2, 3), circle(3, -5.0)], mavlink.MAV_MISSION_INVALID_PARAM1, "Fence rejected: item 3 circle radius must be > 0"),
    ("circle of NaN radius", F, [circle(0, math.nan)], mavlink.MAV_MISSION_INVALID_PARAM1, "Fence rejected: item 0 circle radius must be > 0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("t", "items", "result", "text"),
    [pytest.param(*case[1:], id=case[0]) for case in REJECTIONS],
)
def test_an_invalid_upload_is_refused_with_a_reason_and_changes_nothing(
    t: MissionType, items: list[MissionItemInt], result: int, text: str
) -> None:
    h = Harness()
    gens = {k: h.store.generation(k) for k in (M, F, R)}
    replies = upload_until_refused(h, items, t)
    ack = the_ack(replies)
    assert (ack.type, ack.mission_type) == (result, t)
    assert (ack.target_system, ack.target_component) == GCS
    (st_msg,) = statustexts(replies)
    assert (st_msg.severity, st_msg.text) == (mavlink.MAV_SEVERITY_ERROR, text)
    assert len(text) <= 50
    assert not h.transfer.busy
    assert {k: h.items(k) for k in (M, F, R)} == PRELOADED
    assert {k: h.store.generation(k) for k in (M, F, R)} == gens
    (event,) = h.transfer.take_events()
    assert event == UploadFailed(t, MissionResult(result), text)
    # A plain validator says the same (the store refuses such a list too).
    rejection = validate_items(t, items)
    assert rejection is not None
    assert rejection.result == result
    with pytest.raises(MissionStoreError):
        h.store.replace(t, items)


def upload_until_refused(
    h: Harness, items: Sequence[MissionItemInt], t: MissionType
) -> list[MAVLinkMessage]:
    """Send items as requested until the vehicle answers something else."""
    replies = h.send(count_msg(len(items), t))
    while kinds(replies) == ["MISSION_REQUEST_INT"]:
        replies = h.send(item_int_msg(items[replies[0].seq]))
    return replies


@pytest.mark.parametrize(
    ("lat_deg", "lon_deg", "result"),
    [
        (math.nan, 8.5, mavlink.MAV_MISSION_INVALID_PARAM5_X),
        (math.inf, 8.5, mavlink.MAV_MISSION_INVALID_PARAM5_X),
        (95.0, 8.5, mavlink.MAV_MISSION_INVALID_PARAM5_X),
        (47.0, 1e9, mavlink.MAV_MISSION_INVALID_PARAM6_Y),
        (47.0, -math.inf, mavlink.MAV_MISSION_INVALID_PARAM6_Y),
    ],
)
def test_a_legacy_item_with_a_bad_position_is_refused(
    lat_deg: float, lon_deg: float, result: int
) -> None:
    h = Harness()
    h.send(count_msg(1))
    replies = h.send(item_float_msg(wp(0, frame=MavFrame.GLOBAL_RELATIVE_ALT), lat_deg, lon_deg))
    assert the_ack(replies).type == result
    assert h.items(M) == PRELOADED[M]


@pytest.mark.parametrize("msg_type", [0, 3, 254])
def test_an_unknown_mission_type_is_unsupported(msg_type: int) -> None:
    h = Harness()
    t = msg_type if msg_type else 7
    for msg in (count_msg(2, t), request_list_msg(t), request_int_msg(0, t), clear_msg(t)):
        replies = h.send(msg)
        ack = the_ack(replies)
        assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_UNSUPPORTED, t)
        assert len(statustexts(replies)) == 1
    assert not h.transfer.busy


# -- clear ------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [M, F, R])
def test_clear_all_of_one_type_clears_only_that_list(t: MissionType) -> None:
    h = Harness()
    ack = the_ack(h.send(clear_msg(t)))
    assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_ACCEPTED, t)
    assert h.items(t) == []
    assert all(h.items(o) == PRELOADED[o] for o in {M, F, R} - {t})
    assert h.transfer.take_events() == [Cleared(t)]


def test_clear_all_with_type_all_clears_every_list() -> None:
    h = Harness()
    replies = h.send(clear_msg(MISSION_TYPE_ALL))
    ack = the_ack(replies)
    assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_ACCEPTED, 255)
    assert [h.items(t) for t in (M, F, R)] == [[], [], []]
    assert h.transfer.take_events() == [Cleared(M), Cleared(F), Cleared(R)]


def test_clearing_an_empty_list_is_acked_but_changes_nothing() -> None:
    """A re-sent clear (its ACK was lost) neither bumps the generation nor resets again."""
    h = Harness()
    h.send(clear_msg(R))
    h.transfer.take_events()
    gen = h.store.generation(R)
    for msg in (clear_msg(R), count_msg(0, R), clear_msg(MISSION_TYPE_ALL)):
        assert the_ack(h.send(msg)).type == mavlink.MAV_MISSION_ACCEPTED
    assert h.store.generation(R) == gen
    assert h.transfer.take_events() == [Cleared(M), Cleared(F)]


@pytest.mark.parametrize(("t", "denied"), [(M, True), (MISSION_TYPE_ALL, True), (F, False)])
def test_clear_during_an_upload_of_that_list_is_denied(t: int, denied: bool) -> None:
    h = Harness()
    h.send(count_msg(3, M))
    replies = h.send(clear_msg(t), src=OTHER_GCS)
    ack = the_ack(replies)
    assert ack.mission_type == t
    if denied:
        assert ack.type == mavlink.MAV_MISSION_DENIED
        assert statustexts(replies)[0].text == "Clear denied: mission upload busy"
        assert h.items(M) == PRELOADED[M]
    else:
        assert ack.type == mavlink.MAV_MISSION_ACCEPTED
        assert h.items(F) == []
    assert h.transfer.busy


# -- addressing ------------------------------------------------------------------------------


@pytest.mark.parametrize("src", [GCS, OTHER_GCS, (1, 191)])
def test_every_reply_is_addressed_to_the_sender(src: tuple[int, int]) -> None:
    h = Harness()
    replies = [
        *h.send(request_list_msg(F), src=src),
        *h.send(request_int_msg(0, F), src=src),
        *h.send(request_float_msg(0, R), src=src),
        *h.send(request_int_msg(9, R), src=src),
        *h.send(clear_msg(R), src=src),
        *upload(h, RALLY_ITEMS, R, src=src),
        *h.send(count_msg(2, F), src=src),
        *h.advance(0.3),
    ]
    targeted = [m for m in replies if m.get_type() != "STATUSTEXT"]
    assert len(targeted) == 8  # (upload() checks the addresses of its requests itself)
    assert {(m.target_system, m.target_component) for m in targeted} == {src}


@pytest.mark.parametrize("target", [(2, 1), (0, 1), (1, 2), (1, 100)])
def test_messages_for_another_system_or_component_are_ignored(target: tuple[int, int]) -> None:
    h = Harness()
    for msg in (
        count_msg(2, M, target),
        mavlink.MAVLink_mission_clear_all_message(target[0], target[1], MISSION_TYPE_ALL),
        mavlink.MAVLink_mission_request_list_message(target[0], target[1], M),
    ):
        assert h.send(msg) == []
    assert not h.transfer.busy
    assert h.items(M) == PRELOADED[M]


@pytest.mark.parametrize("component", [0, 190])
def test_broadcast_and_mission_planner_components_are_answered(component: int) -> None:
    h = Harness()
    (count,) = h.send(mavlink.MAVLink_mission_request_list_message(1, component, M))
    assert count.count == 1


def test_handled_message_ids_and_others_ignored() -> None:
    assert {
        mavlink.MAVLINK_MSG_ID_MISSION_COUNT,
        mavlink.MAVLINK_MSG_ID_MISSION_ITEM_INT,
        mavlink.MAVLINK_MSG_ID_MISSION_ITEM,
        mavlink.MAVLINK_MSG_ID_MISSION_REQUEST_LIST,
        mavlink.MAVLINK_MSG_ID_MISSION_REQUEST_INT,
        mavlink.MAVLINK_MSG_ID_MISSION_REQUEST,
        mavlink.MAVLINK_MSG_ID_MISSION_ACK,
        mavlink.MAVLINK_MSG_ID_MISSION_CLEAR_ALL,
    } == MissionTransfer.HANDLED_MESSAGE_IDS
    h = Harness()
    assert h.send(mavlink.MAVLink_mission_set_current_message(1, 1, 0)) == []
    assert h.send(mavlink.MAVLink_heartbeat_message(6, 8, 0, 0, 0, 3)) == []


# -- values, tables, store ---------------------------------------------------------------------


def test_mission_result_values_are_mavlinks() -> None:
    for r in MissionResult:
        assert getattr(mavlink, f"MAV_MISSION_{r.name}") == r


def test_supported_command_tables() -> None:
    assert SUPPORTED_COMMANDS[F] == {5000, 5001, 5002, 5003, 5004}
    assert SUPPORTED_COMMANDS[R] == {5100}
    mission = SUPPORTED_COMMANDS[M]
    assert {
        16,
        17,
        18,
        19,
        20,
        21,
        22,
        31,
        93,
        112,
        177,
        178,
        179,
        183,
        189,
        195,
        196,
        197,
        201,
        205,
        206,
        214,
        530,
        531,
        1000,
        2000,
        2001,
        2500,
        2501,
    } == mission
    assert MavCmd.NAV_VTOL_TAKEOFF not in mission and MavCmd.NAV_VTOL_LAND not in mission
    assert {0, 2, 3, 5, 6, 10, 11} == SUPPORTED_FRAMES
    assert MavFrame.MISSION not in GLOBAL_FRAMES


@pytest.mark.parametrize(
    ("frame", "x", "y", "expected"),
    [
        (MavFrame.GLOBAL, 47.3977432, -8.5455942, (473977432, -85455942)),
        (MavFrame.GLOBAL_RELATIVE_ALT_INT, -90.0, 180.0, (-900000000, 1800000000)),
        (MavFrame.MISSION, 3.0, math.nan, (3, 2**31 - 1)),
        (MavFrame.MISSION, 2.6, -1e12, (3, 2**31 - 1)),
    ],
)
def test_legacy_xy_conversion(frame: int, x: float, y: float, expected: tuple[int, int]) -> None:
    assert xy_from_float(frame, x, y) == expected


def test_legacy_xy_back_conversion() -> None:
    assert xy_to_float(MavFrame.GLOBAL_INT, 473977432, -85455942) == (47.3977432, -8.5455942)
    lat, lon = xy_to_float(MavFrame.MISSION, 3, 2**31 - 1)
    assert lat == 3.0 and math.isnan(lon)


def test_store_counts_generations_and_refuses_bad_lists() -> None:
    store = MissionStore()
    assert store.items(M) == () and store.generation(M) == 0
    store.replace(M, MISSION_ITEMS)
    store.replace(M, MISSION_ITEMS)
    store.clear(M)
    store.clear(M)  # already empty: no change
    assert store.generation(M) == 3 and store.generation(F) == 0
    with pytest.raises(MissionStoreError, match="INVALID_SEQUENCE") as err:
        store.replace(M, MISSION_ITEMS[1:])
    assert isinstance(err.value, SimError)
    with pytest.raises(MissionStoreError, match="item 0 has mission type 0"):
        store.replace(F, MISSION_ITEMS)
    assert store.generation(M) == 3


@pytest.mark.parametrize(
    "kwargs", [{"mission_items": 0}, {"fence_items": 65536}, {"rally_points": True}]
)
def test_limits_out_of_range_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(SimConfigError):
        MissionLimits(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"system_id": 0},
        {"system_id": 256},
        {"system_id": 1, "component_id": 0},
        {"system_id": 1, "retry_timeout_s": 0.0},
        {"system_id": 1, "retry_timeout_s": 1.0, "protocol_timeout_s": 0.5},
        {"system_id": 1, "max_retries": -1},
    ],
)
def test_transfer_settings_out_of_range_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(SimConfigError):
        MissionTransfer(MissionStore(), **kwargs)


# -- properties ---------------------------------------------------------------------------------

_lat = st.integers(-90 * E7, 90 * E7)
_lon = st.integers(-180 * E7, 180 * E7)
_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
_global = st.sampled_from(sorted(GLOBAL_FRAMES))
_positional_mission = st.sampled_from([16, 17, 18, 19, 21, 22, 31, 195])
_other_mission = st.sampled_from(sorted(SUPPORTED_COMMANDS[M] - {16, 17, 18, 19, 21, 22, 31, 195}))


@st.composite
def _mission_item(draw: st.DrawFn) -> MissionItemInt:
    params = (draw(_f32), draw(_f32), draw(_f32), draw(_f32))
    if draw(st.booleans()):
        cmd, frame, x, y = draw(_positional_mission), draw(_global), draw(_lat), draw(_lon)
    else:
        cmd, frame = draw(_other_mission), MavFrame.MISSION
        x, y = draw(st.integers(-(2**31), 2**31 - 1)), draw(st.integers(-(2**31), 2**31 - 1))
    return item(
        0, cmd, frame=frame, x=x, y=y, z=draw(_f32), params=params, current=draw(st.integers(0, 1))
    )


@st.composite
def _fence_shape(draw: st.DrawFn) -> list[MissionItemInt]:
    kind = draw(st.sampled_from(["polygon", "circle", "return"]))
    frame = draw(_global)
    if kind == "polygon":
        n = draw(st.integers(3, 8))
        cmd = draw(st.sampled_from([5001, 5002]))
        return [
            item(
                0,
                cmd,
                frame=frame,
                x=draw(_lat),
                y=draw(_lon),
                z=draw(_f32),
                params=(float(n), 0.0, 0.0, 0.0),
                mission_type=F,
            )
            for _ in range(n)
        ]
    if kind == "circle":
        radius = draw(st.floats(min_value=0.5, max_value=1e6, width=32))
        return [
            item(
                0,
                draw(st.sampled_from([5003, 5004])),
                frame=frame,
                x=draw(_lat),
                y=draw(_lon),
                z=draw(_f32),
                params=(radius, 0.0, 0.0, 0.0),
                mission_type=F,
            )
        ]
    return [item(0, 5000, frame=frame, x=draw(_lat), y=draw(_lon), z=draw(_f32), mission_type=F)]


def _fence_items() -> st.SearchStrategy[list[MissionItemInt]]:
    def flatten(shapes: list[list[MissionItemInt]]) -> list[MissionItemInt]:
        out: list[MissionItemInt] = []
        for shape in shapes:
            if len(out) + len(shape) <= 64:
                out += shape
        return renumber(out)

    return st.lists(_fence_shape(), max_size=12).map(flatten)


def _rally_item() -> st.SearchStrategy[MissionItemInt]:
    return st.builds(
        lambda frame, x, y, z: item(0, 5100, frame=frame, x=x, y=y, z=z, mission_type=R),
        _global, _lat, _lon, _f32,
    )  # fmt: skip


_uploads = st.one_of(
    st.tuples(st.just(M), st.lists(_mission_item(), max_size=25).map(renumber)),
    st.tuples(st.just(F), _fence_items()),
    st.tuples(st.just(R), st.lists(_rally_item(), max_size=8).map(renumber)),
)


class LossyGcs:
    """A ground station that uploads a list, re-sending its last message on a timeout."""

    def __init__(
        self,
        items: list[MissionItemInt],
        t: MissionType,
        *,
        timeout_s: float = 0.3,
        max_retries: int = 8,
    ) -> None:
        self.items, self.t = items, t
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self.result: int | None = None  # the vehicle's final ACK, or -1 when it gave up
        self._last: MAVLinkMessage = count_msg(len(items), t)
        self._sent_s = 0.0
        self._retries = 0

    def start(self, now_s: float) -> list[MAVLinkMessage]:
        self._sent_s = now_s
        return [self._last]

    def on_message(self, msg: MAVLinkMessage, now_s: float) -> list[MAVLinkMessage]:
        # the vehicle also says things (STATUSTEXT) that are not part of the transfer
        if self.result is not None or getattr(msg, "mission_type", None) != self.t:
            return []
        if msg.get_type() == "MISSION_ACK":
            self.result = msg.type
            return []
        if msg.get_type() == "MISSION_REQUEST_INT":
            self._last, self._sent_s, self._retries = item_int_msg(self.items[msg.seq]), now_s, 0
            return [self._last]
        return []

    def poll(self, now_s: float) -> list[MAVLinkMessage]:
        if self.result is not None or now_s - self._sent_s < self.timeout_s:
            return []
        if self._retries >= self.max_retries:
            self.result = -1
            return []
        self._retries += 1
        self._sent_s = now_s
        return [self._last]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    upload_case=_uploads,
    loss=st.floats(0.0, 0.85),
    duplication=st.floats(0.0, 0.3),
    gcs_retries=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_lossy_upload_ends_with_the_new_list_or_the_old_one(
    upload_case: tuple[MissionType, list[MissionItemInt]],
    loss: float,
    duplication: float,
    gcs_retries: int,
    seed: int,
) -> None:
    """Whatever is dropped or duplicated, the store ends as the uploaded list (if the vehicle
    accepted it) or unchanged, exactly once, and the vehicle is idle again."""
    t, items = upload_case
    rng = random.Random(seed)
    h = Harness()
    old = h.items(t)
    gen = h.store.generation(t)
    gcs = LossyGcs(items, t, max_retries=gcs_retries)

    def channel(msgs: list[MAVLinkMessage]) -> list[MAVLinkMessage]:
        out = []
        for m in msgs:
            if rng.random() < loss:
                continue
            out += [m, m] if rng.random() < duplication else [m]
        return out

    to_vehicle = channel(gcs.start(h.now))
    step_s = 0.05
    for _ in range(int(20.0 / step_s)):
        while to_vehicle:
            to_gcs: list[MAVLinkMessage] = []
            for m in to_vehicle:
                to_gcs += channel(h.send(m))
            to_vehicle = []
            for m in to_gcs:
                to_vehicle += channel(gcs.on_message(m, h.now))
        if gcs.result is not None and not h.transfer.busy:
            break
        to_vehicle = channel(gcs.poll(h.now + step_s))
        for m in channel(h.advance(step_s)):
            to_vehicle += channel(gcs.on_message(m, h.now))
    h.advance(10.0)

    assert not h.transfer.busy
    stored = h.items(t)
    event(f"gcs result {gcs.result}, stored {'new' if stored == items else 'old'}")
    events = [e for e in h.transfer.take_events() if not isinstance(e, UploadFailed)]
    if gcs.result == mavlink.MAV_MISSION_ACCEPTED:
        assert stored == items
    if stored == items and items != old:
        assert h.store.generation(t) == gen + 1
        assert len(events) == 1
    else:
        assert stored == old
        assert h.store.generation(t) == gen
        assert events == []
    for other in {M, F, R} - {t}:
        assert h.items(other) == PRELOADED[other]


_any_msg = st.one_of(
    st.builds(count_msg, st.integers(0, 70), st.sampled_from([0, 1, 2, 3, 255])),
    st.builds(
        lambda seq, frame, cmd, x, y, z, p1, t: item_int_msg(item(seq, cmd, frame=frame, x=x, y=y, z=z, params=(p1, 0.0, 0.0, 0.0), mission_type=t)),
        st.integers(0, 70), st.sampled_from([0, 1, 2, 3, 6, 11]), st.sampled_from([16, 20, 84, 5001, 5003, 5100]),
        st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1),
        st.floats(width=32), st.sampled_from([0.0, 3.0, 4.0, -1.0, math.nan]), st.sampled_from([0, 1, 2]),
    ),
    st.builds(request_list_msg, st.sampled_from([0, 1, 2, 9])),
    st.builds(request_int_msg, st.integers(0, 70), st.sampled_from([0, 1, 2])),
    st.builds(ack_msg, st.integers(0, 15), st.sampled_from([0, 1, 2])),
    st.builds(clear_msg, st.sampled_from([0, 1, 2, 255])),
)  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=st.lists(
        st.tuples(_any_msg, st.sampled_from([GCS, OTHER_GCS]), st.floats(0.0, 1.0)), max_size=40
    )
)
def test_any_message_sequence_keeps_every_list_valid(
    script: list[tuple[MAVLinkMessage, tuple[int, int], float]],
) -> None:
    """Fuzz: arbitrary protocol traffic never raises and never stores an invalid list."""
    h = Harness()
    for msg, src, dt_s in script:
        h.advance(dt_s)
        h.send(msg, src=src)
        for t in (M, F, R):
            assert validate_items(t, h.items(t)) is None
