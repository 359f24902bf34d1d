"""The vehicle (server) side of the MAVLink mission protocol, sans I/O.

:class:`MissionTransfer` is a plain state machine in the style of python-websockets'
``protocol.py``: the MAVLink face feeds it decoded messages and a monotonic clock
(:meth:`~MissionTransfer.receive`, :meth:`~MissionTransfer.poll`) and sends the messages it
returns; the vehicle drains :meth:`~MissionTransfer.take_events` to notice new or cleared
lists. It owns no socket, task or timer.

Behaviour follows the MAVLink mission protocol as PX4 implements it, for all three lists
(mission, geofence, rally points):

* Upload: ``MISSION_COUNT`` → ``MISSION_REQUEST_INT`` for each seq → ``MISSION_ACK``. Items
  are checked as they arrive and the whole list at the end (:mod:`sim.mission_items`); the
  on-board list is replaced only when the whole upload is accepted.
* Download: ``MISSION_REQUEST_LIST`` → ``MISSION_COUNT``; ``MISSION_REQUEST_INT`` /
  ``MISSION_REQUEST`` → the item. Served statelessly from the store, so retransmitted
  requests simply get the same answer and a download never disturbs an upload.
* ``MISSION_CLEAR_ALL`` clears one list, or all three for ``MAV_MISSION_TYPE_ALL``.

Every reply is addressed to the sender of the message that caused it; every error
``MISSION_ACK`` comes with a ``STATUSTEXT`` telling a user why.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from flight_plans.mission import MissionItemInt, MissionType
from sim._mav import MAVLinkMessage, mavlink
from sim.errors import SimConfigError
from sim.mission_items import (
    LIST_LABEL,
    SUPPORTED_COMMANDS,
    ItemRejection,
    MissionLimits,
    MissionResult,
    MissionStore,
    MissionStoreError,
    check_item,
    check_list,
    xy_from_float,
    xy_to_float,
)

__all__ = [
    "MISSION_TYPE_ALL",
    "SUPPORTED_COMMANDS",
    "Cleared",
    "MissionEvent",
    "MissionLimits",
    "MissionResult",
    "MissionStore",
    "MissionStoreError",
    "MissionTransfer",
    "Sender",
    "UploadFailed",
    "Uploaded",
]

Sender = tuple[int, int]
"""(system id, component id) of a message's source."""

MISSION_TYPE_ALL = 255
"""``MAV_MISSION_TYPE_ALL``: only valid in ``MISSION_CLEAR_ALL``."""

_MISSION_PLANNER_COMPONENT = 190  # MAV_COMP_ID_MISSIONPLANNER, which PX4 also answers to
_SEVERITY_ERROR = 3
_SEVERITY_WARNING = 4
_STATUSTEXT_MAX = 50
_MAX_TRACKED_SENDERS = 64
_MAX_EVENTS = 256
_MAX_OUTBOX = 16


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Uploaded:
    """A list was uploaded and is now on board.

    Attributes:
        current_seq: the item the ground station flagged ``current`` (PX4 starts the
            mission there), or ``None`` when no item was flagged.
    """

    mission_type: MissionType
    items: tuple[MissionItemInt, ...]
    current_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Cleared:
    """A list that held items was emptied (``MISSION_CLEAR_ALL`` or an upload of 0 items)."""

    mission_type: MissionType


@dataclass(frozen=True, slots=True)
class UploadFailed:
    """An upload ended without changing the store (for logs; the vehicle need not act)."""

    mission_type: MissionType
    result: MissionResult
    reason: str


MissionEvent = Uploaded | Cleared | UploadFailed


# -- the state machine ------------------------------------------------------------------------


@dataclass(slots=True)
class _Upload:
    partner: Sender
    mission_type: MissionType
    count: int
    last_progress_s: float
    last_request_s: float
    items: list[MissionItemInt] = field(default_factory=list)
    retries: int = 0


@dataclass(frozen=True, slots=True)
class _Completed:
    """The last accepted upload, so a re-sent last item (our ACK was lost) is re-acked."""

    partner: Sender
    mission_type: MissionType
    last_seq: int
    until_s: float


_Handler = Callable[[MAVLinkMessage, Sender, float], list[MAVLinkMessage]]


class MissionTransfer:
    """Mission, geofence and rally-point transfers of one vehicle.

    Args:
        store: the on-board lists the transfers read and replace.
        system_id: the vehicle's MAVLink system id; messages for other systems are ignored.
        component_id: the autopilot's component id; messages for another component are
            ignored (component 0 = all and 190 = mission planner are accepted, like PX4).
        limits: list capacities; a larger ``MISSION_COUNT`` gets ``MAV_MISSION_NO_SPACE``.
        retry_timeout_s: an upload re-requests the expected item after this long without it.
        protocol_timeout_s: an upload without progress for this long is cancelled
            (``MAV_MISSION_OPERATION_CANCELLED``); it is also how long a completed upload
            is remembered for re-acknowledging a re-sent last item.
        max_retries: re-requests of one item before the upload is cancelled.

    Attributes:
        current_seq: the mission item the vehicle is flying; set by the vehicle. Downloads
            of the mission list carry ``current=1`` on that item only.

    Raises:
        SimConfigError: an id or timing argument is out of range.
    """

    HANDLED_MESSAGE_IDS: frozenset[int] = frozenset(
        {
            mavlink.MAVLINK_MSG_ID_MISSION_COUNT,
            mavlink.MAVLINK_MSG_ID_MISSION_ITEM_INT,
            mavlink.MAVLINK_MSG_ID_MISSION_ITEM,
            mavlink.MAVLINK_MSG_ID_MISSION_REQUEST_LIST,
            mavlink.MAVLINK_MSG_ID_MISSION_REQUEST_INT,
            mavlink.MAVLINK_MSG_ID_MISSION_REQUEST,
            mavlink.MAVLINK_MSG_ID_MISSION_ACK,
            mavlink.MAVLINK_MSG_ID_MISSION_CLEAR_ALL,
        }
    )
    """Incoming message ids :meth:`receive` handles (``MISSION_SET_CURRENT`` is not one)."""

    def __init__(
        self,
        store: MissionStore,
        *,
        system_id: int,
        component_id: int = 1,
        limits: MissionLimits | None = None,
        retry_timeout_s: float = 0.25,
        protocol_timeout_s: float = 5.0,
        max_retries: int = 20,
    ) -> None:
        if not 1 <= system_id <= 255:
            raise SimConfigError("system_id", system_id, "must be in 1..255")
        if not 1 <= component_id <= 255:
            raise SimConfigError("component_id", component_id, "must be in 1..255")
        if not retry_timeout_s > 0:
            raise SimConfigError("retry_timeout_s", retry_timeout_s, "must be > 0")
        if not protocol_timeout_s >= retry_timeout_s:
            raise SimConfigError(
                "protocol_timeout_s", protocol_timeout_s, "must be >= retry_timeout_s"
            )
        if max_retries < 0:
            raise SimConfigError("max_retries", max_retries, "must be >= 0")
        self.store = store
        self.system_id = system_id
        self.component_id = component_id
        self.limits = limits if limits is not None else MissionLimits()
        self.retry_timeout_s = retry_timeout_s
        self.protocol_timeout_s = protocol_timeout_s
        self.max_retries = max_retries
        self.current_seq = 0
        self._upload: _Upload | None = None
        self._completed: _Completed | None = None
        # Give-ups noticed in receive(), sent by the next poll(); bounded in case poll()
        # is not called (each give-up is an ACK and a STATUSTEXT).
        self._outbox: deque[MAVLinkMessage] = deque(maxlen=_MAX_OUTBOX)
        self._outbox_since_s: float | None = None
        self._events: deque[MissionEvent] = deque(maxlen=_MAX_EVENTS)
        # Which senders speak the int protocol (PX4's per-link "int mode"), bounded.
        self._int_mode: dict[Sender, bool] = {}
        self._handlers: dict[int, _Handler] = {
            mavlink.MAVLINK_MSG_ID_MISSION_COUNT: self._on_count,
            mavlink.MAVLINK_MSG_ID_MISSION_ITEM_INT: self._on_item_int,
            mavlink.MAVLINK_MSG_ID_MISSION_ITEM: self._on_item_float,
            mavlink.MAVLINK_MSG_ID_MISSION_REQUEST_LIST: self._on_request_list,
            mavlink.MAVLINK_MSG_ID_MISSION_REQUEST_INT: self._on_request_int,
            mavlink.MAVLINK_MSG_ID_MISSION_REQUEST: self._on_request_float,
            mavlink.MAVLINK_MSG_ID_MISSION_ACK: self._on_ack,
            mavlink.MAVLINK_MSG_ID_MISSION_CLEAR_ALL: self._on_clear_all,
        }

    # -- public face ----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while an upload is in progress."""
        return self._upload is not None

    @property
    def next_poll_s(self) -> float | None:
        """When :meth:`poll` next has something to do (same clock as ``now_s``), or None."""
        up = self._upload
        if up is None:
            return self._outbox_since_s
        due = min(
            up.last_request_s + self.retry_timeout_s,
            up.last_progress_s + self.protocol_timeout_s,
        )
        return due if self._outbox_since_s is None else min(due, self._outbox_since_s)

    def receive(self, msg: MAVLinkMessage, now_s: float) -> list[MAVLinkMessage]:
        """Handle one incoming message; return the replies, all for its sender.

        Messages of other ids, or addressed to another system/component, are ignored.
        ``now_s`` is a monotonic time in seconds (the same clock as :meth:`poll`).
        """
        handler = self._handlers.get(msg.get_msgId())
        if handler is None or not self._addressed_to_me(msg):
            return []
        sender: Sender = (int(msg.get_srcSystem()), int(msg.get_srcComponent()))
        # An upload that timed out before this message ends first, so it cannot block a
        # new one; its cancellation goes to its own partner with the next poll().
        expired = self._check_protocol_timeout(now_s)
        if expired:
            self._outbox.extend(expired)
            self._outbox_since_s = now_s
        return handler(msg, sender, now_s)

    def poll(self, now_s: float) -> list[MAVLinkMessage]:
        """Advance the clock: re-request a missing item, or cancel a stalled upload.

        The messages go to the upload's partner (their target_system/target_component;
        a STATUSTEXT, which has no target, belongs with the MISSION_ACK just before it).
        """
        if self._completed is not None and now_s > self._completed.until_s:
            self._completed = None
        out = [*self._outbox, *self._check_protocol_timeout(now_s)]
        self._outbox.clear()
        self._outbox_since_s = None
        up = self._upload
        if up is not None and now_s - up.last_request_s >= self.retry_timeout_s:
            if up.retries >= self.max_retries:
                out.extend(self._give_up(up))
            else:
                up.retries += 1
                out.append(self._request(up, now_s))
        return out

    def take_events(self) -> list[MissionEvent]:
        """Events since the last call, oldest first (at most 256 are kept)."""
        events = list(self._events)
        self._events.clear()
        return events

    # -- upload ---------------------------------------------------------------------------------

    def _on_count(self, msg: MAVLinkMessage, sender: Sender, now_s: float) -> list[MAVLinkMessage]:
        raw_type = int(msg.mission_type)
        mission_type = _mission_type(raw_type)
        if mission_type is None:
            return _unsupported_type(sender, raw_type)
        count = int(msg.count)
        up = self._upload
        if up is not None:
            if up.partner != sender or up.mission_type is not mission_type:
                busy = LIST_LABEL[up.mission_type].lower()
                text = f"{LIST_LABEL[mission_type]} upload denied: {busy} upload busy"
                return _refusal(sender, raw_type, MissionResult.DENIED, text)
            if count == up.count and not up.items:
                # Our first request was lost and the ground station asks again.
                return [self._request(up, now_s)]
            self._upload = None  # a new upload of the same list replaces the unfinished one
        if self._completed is not None and self._completed.partner == sender:
            self._completed = None  # the sender moved on: its last upload needs no re-ack
        if count == 0:
            self._clear(mission_type)
            return [_ack(sender, raw_type, MissionResult.ACCEPTED)]
        capacity = self.limits.capacity(mission_type)
        if count > capacity:
            text = f"{LIST_LABEL[mission_type]} rejected: {count} items, max {capacity}"
            return _refusal(sender, raw_type, MissionResult.NO_SPACE, text, _SEVERITY_ERROR)
        up = _Upload(sender, mission_type, count, last_progress_s=now_s, last_request_s=now_s)
        self._upload = up
        return [self._request(up, now_s)]

    def _on_item_int(
        self, msg: MAVLinkMessage, sender: Sender, now_s: float
    ) -> list[MAVLinkMessage]:
        self._set_int_mode(sender, True)
        return self._on_item(_item_from(msg, int(msg.x), int(msg.y)), sender, now_s)

    def _on_item_float(
        self, msg: MAVLinkMessage, sender: Sender, now_s: float
    ) -> list[MAVLinkMessage]:
        self._set_int_mode(sender, False)
        x, y = xy_from_float(int(msg.frame), float(msg.x), float(msg.y))
        return self._on_item(_item_from(msg, x, y), sender, now_s)

    def _on_item(self, item: MissionItemInt, sender: Sender, now_s: float) -> list[MAVLinkMessage]:
        up = self._upload
        if up is None or up.partner != sender:
            return self._reack_completed(item, sender, now_s)
        expected = len(up.items)
        if item.seq != expected:
            # Ahead of us: our request was lost and the sender moved on, ask again now.
            # Behind us: a stale duplicate; the retry timer covers a lost request, and
            # answering each duplicate would echo extra traffic to the end of the upload.
            return [self._request(up, now_s)] if item.seq > expected else []
        rejection = check_item(up.mission_type, item)
        if rejection is not None:
            return self._reject(up, rejection)
        up.items.append(item)
        up.last_progress_s = now_s
        up.retries = 0
        if len(up.items) < up.count:
            return [self._request(up, now_s)]
        self._upload = None
        rejection = check_list(up.mission_type, up.items)
        if rejection is not None:
            return self._reject(up, rejection)
        items = tuple(up.items)
        self.store.replace(up.mission_type, items)
        current = next((it.seq for it in items if it.current), None)
        self._events.append(Uploaded(up.mission_type, items, current))
        self._completed = _Completed(
            sender, up.mission_type, up.count - 1, now_s + self.protocol_timeout_s
        )
        return [_ack(sender, up.mission_type, MissionResult.ACCEPTED)]

    def _reack_completed(
        self, item: MissionItemInt, sender: Sender, now_s: float
    ) -> list[MAVLinkMessage]:
        done = self._completed
        if (
            done is not None
            and done.partner == sender
            and done.mission_type == item.mission_type
            and done.last_seq == item.seq
            and now_s <= done.until_s
        ):
            return [_ack(sender, done.mission_type, MissionResult.ACCEPTED)]
        return []  # no transfer with this sender: a stray item

    def _on_ack(self, msg: MAVLinkMessage, sender: Sender, now_s: float) -> list[MAVLinkMessage]:
        # A download's final ACK needs nothing (downloads are stateless). During an
        # upload, an error ACK of that list from the partner cancels it.
        up = self._upload
        if (
            up is not None
            and up.partner == sender
            and int(msg.mission_type) == up.mission_type
            and int(msg.type) != MissionResult.ACCEPTED
        ):
            self._upload = None
            self._events.append(
                UploadFailed(
                    up.mission_type,
                    MissionResult.OPERATION_CANCELLED,
                    "cancelled by the ground station",
                )
            )
        return []

    def _check_protocol_timeout(self, now_s: float) -> list[MAVLinkMessage]:
        up = self._upload
        if up is not None and now_s - up.last_progress_s >= self.protocol_timeout_s:
            return self._give_up(up)
        return []

    def _give_up(self, up: _Upload) -> list[MAVLinkMessage]:
        self._upload = None
        text = f"{LIST_LABEL[up.mission_type]} upload timed out at item {len(up.items)}"
        self._events.append(UploadFailed(up.mission_type, MissionResult.OPERATION_CANCELLED, text))
        return [
            _ack(up.partner, up.mission_type, MissionResult.OPERATION_CANCELLED),
            _statustext(_SEVERITY_WARNING, text),
        ]

    def _reject(self, up: _Upload, rejection: ItemRejection) -> list[MAVLinkMessage]:
        self._upload = None
        text = f"{LIST_LABEL[up.mission_type]} rejected: item {rejection.seq} {rejection.reason}"
        self._events.append(UploadFailed(up.mission_type, rejection.result, text))
        return [
            _ack(up.partner, up.mission_type, rejection.result),
            _statustext(_SEVERITY_ERROR, text),
        ]

    def _request(self, up: _Upload, now_s: float) -> MAVLinkMessage:
        up.last_request_s = now_s
        system, component = up.partner
        seq = len(up.items)
        if self._int_mode.get(up.partner, True):
            return mavlink.MAVLink_mission_request_int_message(
                system, component, seq, int(up.mission_type)
            )
        return mavlink.MAVLink_mission_request_message(system, component, seq, int(up.mission_type))

    # -- download -------------------------------------------------------------------------------

    def _on_request_list(
        self, msg: MAVLinkMessage, sender: Sender, now_s: float
    ) -> list[MAVLinkMessage]:
        raw_type = int(msg.mission_type)
        mission_type = _mission_type(raw_type)
        if mission_type is None:
            return _unsupported_type(sender, raw_type)
        count = len(self.store.items(mission_type))
        return [
            mavlink.MAVLink_mission_count_message(sender[0], sender[1], count, int(mission_type))
        ]

    def _on_request_int(
        self, msg: MAVLinkMessage, sender: Sender, now_s: float
    ) -> list[MAVLinkMessage]:
        self._set_int_mode(sender, True)
        return self._serve(msg, sender, as_int=True)

    def _on_request_float(
        self, msg: MAVLinkMessage, sender: Sender, now_s: float
    ) -> list[MAVLinkMessage]:
        # Like PX4: a client that has used the int protocol gets MISSION_ITEM_INT anyway.
        return self._serve(msg, sender, as_int=self._int_mode.get(sender, False))

    def _serve(self, msg: MAVLinkMessage, sender: Sender, *, as_int: bool) -> list[MAVLinkMessage]:
        raw_type = int(msg.mission_type)
        mission_type = _mission_type(raw_type)
        if mission_type is None:
            return _unsupported_type(sender, raw_type)
        items = self.store.items(mission_type)
        seq = int(msg.seq)
        if not 0 <= seq < len(items):
            text = f"{LIST_LABEL[mission_type]} download: no item {seq} of {len(items)}"
            return _refusal(sender, raw_type, MissionResult.INVALID_SEQUENCE, text)
        it = items[seq]
        if mission_type is MissionType.MISSION:
            current = 1 if seq == self.current_seq else 0
        else:
            current = it.current
        system, component = sender
        if as_int:
            return [
                mavlink.MAVLink_mission_item_int_message(
                    system, component, it.seq, it.frame, it.command, current, it.autocontinue,
                    it.param1, it.param2, it.param3, it.param4, it.x, it.y, it.z,
                    it.mission_type,
                )
            ]  # fmt: skip
        x, y = xy_to_float(it.frame, it.x, it.y)
        return [
            mavlink.MAVLink_mission_item_message(
                system, component, it.seq, it.frame, it.command, current, it.autocontinue,
                it.param1, it.param2, it.param3, it.param4, x, y, it.z, it.mission_type,
            )
        ]  # fmt: skip

    # -- clear ----------------------------------------------------------------------------------

    def _on_clear_all(
        self, msg: MAVLinkMessage, sender: Sender, now_s: float
    ) -> list[MAVLinkMessage]:
        raw_type = int(msg.mission_type)
        if raw_type == MISSION_TYPE_ALL:
            types: tuple[MissionType, ...] = tuple(MissionType)
        else:
            mission_type = _mission_type(raw_type)
            if mission_type is None:
                return _unsupported_type(sender, raw_type)
            types = (mission_type,)
        up = self._upload
        if up is not None and up.mission_type in types:
            text = f"Clear denied: {LIST_LABEL[up.mission_type].lower()} upload busy"
            return _refusal(sender, raw_type, MissionResult.DENIED, text)
        for t in types:
            self._clear(t)
        return [_ack(sender, raw_type, MissionResult.ACCEPTED)]

    def _clear(self, mission_type: MissionType) -> None:
        # Clearing an empty list is no change: a re-sent clear (its ACK was lost) or
        # MAV_MISSION_TYPE_ALL must not reset the vehicle again for nothing.
        if self.store.items(mission_type):
            self.store.clear(mission_type)
            self._events.append(Cleared(mission_type))

    # -- helpers --------------------------------------------------------------------------------

    def _addressed_to_me(self, msg: MAVLinkMessage) -> bool:
        return int(msg.target_system) == self.system_id and int(msg.target_component) in (
            self.component_id,
            0,
            _MISSION_PLANNER_COMPONENT,
        )

    def _set_int_mode(self, sender: Sender, int_mode: bool) -> None:
        self._int_mode.pop(sender, None)
        self._int_mode[sender] = int_mode
        if len(self._int_mode) > _MAX_TRACKED_SENDERS:
            del self._int_mode[next(iter(self._int_mode))]


def _item_from(msg: MAVLinkMessage, x: int, y: int) -> MissionItemInt:
    """The fields of an incoming MISSION_ITEM_INT or MISSION_ITEM (x/y already as int)."""
    return MissionItemInt(
        seq=int(msg.seq),
        frame=int(msg.frame),
        command=int(msg.command),
        current=int(msg.current),
        autocontinue=int(msg.autocontinue),
        param1=float(msg.param1),
        param2=float(msg.param2),
        param3=float(msg.param3),
        param4=float(msg.param4),
        x=x,
        y=y,
        z=float(msg.z),
        mission_type=int(msg.mission_type),
    )


def _mission_type(raw: int) -> MissionType | None:
    try:
        return MissionType(raw)
    except ValueError:
        return None


def _unsupported_type(sender: Sender, raw_type: int) -> list[MAVLinkMessage]:
    text = f"Unsupported mission type {raw_type}"
    return _refusal(sender, raw_type, MissionResult.UNSUPPORTED, text)


def _refusal(
    to: Sender,
    mission_type: int,
    result: MissionResult,
    text: str,
    severity: int = _SEVERITY_WARNING,
) -> list[MAVLinkMessage]:
    """An error ACK and the STATUSTEXT that tells a user why."""
    return [_ack(to, mission_type, result), _statustext(severity, text)]


def _ack(to: Sender, mission_type: int, result: MissionResult) -> MAVLinkMessage:
    return mavlink.MAVLink_mission_ack_message(to[0], to[1], int(result), int(mission_type))


def _statustext(severity: int, text: str) -> MAVLinkMessage:
    data = text.encode("ascii", errors="replace")[:_STATUSTEXT_MAX]
    return mavlink.MAVLink_statustext_message(severity, data)
