"""The vehicle's MAVLink face, sans I/O: datagrams in, datagrams out.

:class:`VehicleLink` decodes what ground stations send (with pymavlink's parser, fed bytes
by the UDP adapter in :mod:`sim.fleet`), dispatches on message ids through a table, and
returns ``(bytes, address)`` pairs to send: command acks, mission and parameter protocol
replies, STATUSTEXT, and the telemetry streams that are due. Like PX4 it answers whoever
talks to it and streams to its configured ground station plus every address it has
recently heard from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from flight_plans.mission import MissionType
from sim._mav import MAVLinkMessage, mavlink
from sim.fence import BreachType
from sim.mav_cmd import Cmd
from sim.mission_items import MissionStore
from sim.mission_protocol import Cleared, MissionTransfer, Uploaded
from sim.modes import FlightMode
from sim.params import PARAMS, ParamError, decode_bytewise, encode_bytewise, spec
from sim.streams import RateProfile, StreamSchedule
from sim.telemetry import BUILDERS
from sim.telemetry_types import Command, ItemReached, MavResult, Severity, StatusText
from sim.vehicle import Vehicle

Address = tuple[str, int]
Outgoing = list[tuple[bytes, Address]]

_GLOBAL_FRAMES = frozenset((0, 3, 5, 6, 10, 11))
_INT32_MAX = 2**31 - 1
_STATUSTEXT_CHUNK = 50
_VIDEO_ANNOUNCE_S = 5.0
_COMMAND_DEDUP_S = 1.5
_PARAM_INT32 = mavlink.MAV_PARAM_TYPE_INT32
_PARAM_REAL32 = mavlink.MAV_PARAM_TYPE_REAL32


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """The camera stream announced with VIDEO_STREAM_INFORMATION."""

    uri: str
    width_px: int
    height_px: int
    fps: float
    bitrate_bps: int = 1_000_000
    hfov_deg: float = 80.0


class VehicleLink:
    """One vehicle's MAVLink 2 endpoint logic (system id = the vehicle's, component 1).

    Args:
        vehicle: the flight model this link speaks for.
        gcs: where telemetry goes before anyone has talked to the vehicle.
        rates: PX4's stream rate set (see :mod:`sim.streams`).
        peer_timeout_s: an address heard from keeps receiving telemetry this long after
            its last datagram (the configured addresses always do).
        video: the camera stream to announce, if the vehicle has one.

    Attributes:
        garble_uploads: test hook (default False). When True, every accepted upload of a
            mission, fence or rally list is stored — and flown — with item 0's ``z``
            (altitude) 1 m higher than sent, while the ACK still says ACCEPTED: what a
            ground station's read-back verification must catch.
    """

    def __init__(
        self,
        vehicle: Vehicle,
        *,
        gcs: tuple[Address, ...],
        rates: RateProfile = "normal",
        peer_timeout_s: float = 30.0,
        video: VideoInfo | None = None,
        now_s: float = 0.0,
    ) -> None:
        self.vehicle = vehicle
        self.system_id = vehicle.config.system_id
        self.gcs = gcs
        self.video = video
        self.peer_timeout_s = peer_timeout_s
        self.garble_uploads = False
        self.schedule = StreamSchedule(rates, phase_s=now_s + (self.system_id % 20) * 0.05)
        self.store = MissionStore()
        self.transfer = MissionTransfer(self.store, system_id=self.system_id)
        self.received = 0
        self.sent = 0
        self._mav = mavlink.MAVLink(None, srcSystem=self.system_id, srcComponent=1)
        self._parser = mavlink.MAVLink(None)
        self._parser.robust_parsing = True
        self._peers: dict[Address, float] = {}
        self._sender_addr: dict[tuple[int, int], Address] = {}
        self._statustext_id = 0
        self._last_current: tuple[int, int, int] | None = None
        self._last_breach = BreachType.NONE
        self._next_video_announce_s = now_s
        # per sender, the last command run: an identical re-send soon after (its ACK was lost)
        # is acknowledged again without running it twice
        self._last_command: dict[tuple[int, int], tuple[tuple[object, ...], float, MavResult]] = {}
        self._handlers: dict[int, Callable[[MAVLinkMessage, Address, float], Outgoing]] = {
            mavlink.MAVLINK_MSG_ID_HEARTBEAT: self._on_heartbeat,
            mavlink.MAVLINK_MSG_ID_COMMAND_LONG: self._on_command_long,
            mavlink.MAVLINK_MSG_ID_COMMAND_INT: self._on_command_int,
            mavlink.MAVLINK_MSG_ID_MISSION_SET_CURRENT: self._on_set_current,
            mavlink.MAVLINK_MSG_ID_PARAM_REQUEST_LIST: self._on_param_list,
            mavlink.MAVLINK_MSG_ID_PARAM_REQUEST_READ: self._on_param_read,
            mavlink.MAVLINK_MSG_ID_PARAM_SET: self._on_param_set,
            mavlink.MAVLINK_MSG_ID_TIMESYNC: self._on_timesync,
            mavlink.MAVLINK_MSG_ID_SET_MODE: self._on_set_mode,
            mavlink.MAVLINK_MSG_ID_PING: self._on_ping,
        }
        for msg_id in MissionTransfer.HANDLED_MESSAGE_IDS:
            self._handlers[msg_id] = self._on_mission

    # -- sending -----------------------------------------------------------------------------

    def _encode(self, msg: MAVLinkMessage) -> bytes:
        data: bytes = msg.pack(self._mav)
        self._mav.seq = (self._mav.seq + 1) % 256
        self.sent += 1
        return data

    def destinations(self, now_s: float) -> list[Address]:
        """Configured ground stations plus every address heard from recently."""
        for addr, t in list(self._peers.items()):
            if now_s - t > self.peer_timeout_s:
                del self._peers[addr]
        out = list(self.gcs)
        out.extend(a for a in self._peers if a not in self.gcs)
        return out

    def _broadcast(self, msgs: list[MAVLinkMessage], now_s: float) -> Outgoing:
        dests = self.destinations(now_s)
        out: Outgoing = []
        for m in msgs:
            data = self._encode(m)
            out.extend((data, d) for d in dests)
        return out

    def _reply(self, msgs: list[MAVLinkMessage], addr: Address) -> Outgoing:
        return [(self._encode(m), addr) for m in msgs]

    def statustext(self, text: StatusText) -> list[MAVLinkMessage]:
        """STATUSTEXT, split into MAVLink 2 chunks when longer than 50 characters."""
        raw = text.text.encode("utf-8", "replace")
        if len(raw) <= _STATUSTEXT_CHUNK:
            return [mavlink.MAVLink_statustext_message(int(text.severity), raw, 0, 0)]
        self._statustext_id = self._statustext_id % 65535 + 1
        chunks = [raw[i : i + _STATUSTEXT_CHUNK] for i in range(0, len(raw), _STATUSTEXT_CHUNK)]
        if len(chunks[-1]) == _STATUSTEXT_CHUNK:
            chunks.append(b"")  # a full last chunk has no NUL: an empty one ends the text
        return [
            mavlink.MAVLink_statustext_message(int(text.severity), c, self._statustext_id, i)
            for i, c in enumerate(chunks)
        ]

    # -- receiving ---------------------------------------------------------------------------

    def datagram(self, data: bytes, addr: Address, now_s: float) -> Outgoing:
        """Handle one UDP datagram from ``addr``; return what to send (replies first)."""
        try:
            msgs = self._parser.parse_buffer(data) or []
        except mavlink.MAVError:
            return []  # garbage on the port: ignored, as an autopilot does
        out: Outgoing = []
        for msg in msgs:
            if msg.get_type() == "BAD_DATA":
                continue
            self.received += 1
            self._peers[addr] = now_s
            self._sender_addr[(msg.get_srcSystem(), msg.get_srcComponent())] = addr
            handler = self._handlers.get(msg.get_msgId())
            if handler is not None:
                out.extend(handler(msg, addr, now_s))
        return out

    def _for_me(self, msg: MAVLinkMessage) -> bool:
        return msg.target_system in (0, self.system_id) and msg.target_component in (0, 1)

    def _on_heartbeat(self, msg: MAVLinkMessage, _addr: Address, _now_s: float) -> Outgoing:
        if msg.type == mavlink.MAV_TYPE_GCS or msg.autopilot == mavlink.MAV_AUTOPILOT_INVALID:
            self.vehicle.gcs_heartbeat()
        return []

    def _on_mission(self, msg: MAVLinkMessage, addr: Address, now_s: float) -> Outgoing:
        out = self._reply(self.transfer.receive(msg, now_s), addr)
        self._apply_mission_events()
        return out

    def _apply_mission_events(self) -> None:
        v = self.vehicle
        for ev in self.transfer.take_events():
            if isinstance(ev, Uploaded) and self.garble_uploads and ev.items:
                ev = self._garbled(ev)
            if isinstance(ev, Uploaded | Cleared):
                items = ev.items if isinstance(ev, Uploaded) else ()
                if ev.mission_type is MissionType.MISSION:
                    v.set_mission(items)
                    if isinstance(ev, Uploaded) and ev.current_seq:
                        v.set_current(ev.current_seq)
                elif ev.mission_type is MissionType.FENCE:
                    v.set_fence(items)
                else:
                    v.set_rally(items)

    def _garbled(self, ev: Uploaded) -> Uploaded:
        first = ev.items[0]
        items = (dataclasses.replace(first, z=first.z + 1.0), *ev.items[1:])
        self.store.replace(ev.mission_type, items)
        return dataclasses.replace(ev, items=items)

    def _on_set_current(self, msg: MAVLinkMessage, addr: Address, _now_s: float) -> Outgoing:
        if not self._for_me(msg):
            return []
        self.vehicle.set_current(int(msg.seq))
        self._last_current = None  # PX4 answers with MISSION_CURRENT either way
        return self._reply([BUILDERS[mavlink.MAVLINK_MSG_ID_MISSION_CURRENT](self.vehicle)], addr)

    def _on_timesync(self, msg: MAVLinkMessage, addr: Address, now_s: float) -> Outgoing:
        if msg.tc1 != 0:
            return []
        return self._reply([mavlink.MAVLink_timesync_message(int(now_s * 1e9), msg.ts1)], addr)

    def _on_ping(self, msg: MAVLinkMessage, addr: Address, _now_s: float) -> Outgoing:
        if msg.target_system != 0 or msg.target_component != 0:
            return []  # a reply to someone else's ping, or a ping answered already
        reply = mavlink.MAVLink_ping_message(
            msg.time_usec, msg.seq, msg.get_srcSystem(), msg.get_srcComponent()
        )
        return self._reply([reply], addr)

    def _on_set_mode(self, msg: MAVLinkMessage, addr: Address, now_s: float) -> Outgoing:
        """Legacy SET_MODE: PX4 runs it as DO_SET_MODE and acknowledges command 176."""
        if msg.target_system != self.system_id:
            return []
        main = (msg.custom_mode >> 16) & 0xFF
        sub = (msg.custom_mode >> 24) & 0xFF
        mode = FlightMode.from_custom_mode(main, sub)
        result = MavResult.UNSUPPORTED if mode is None else self.vehicle.enter_mode(mode).result
        ack = mavlink.MAVLink_command_ack_message(
            Cmd.DO_SET_MODE, int(result), 0, 0, msg.get_srcSystem(), msg.get_srcComponent()
        )
        out = self._reply([ack], addr)
        out.extend(self._drain_events(now_s))
        return out

    # -- commands ----------------------------------------------------------------------------

    def _on_command_long(self, msg: MAVLinkMessage, addr: Address, now_s: float) -> Outgoing:
        if not self._for_me(msg):
            return []
        cmd = Command(
            msg.command,
            msg.param1,
            msg.param2,
            msg.param3,
            msg.param4,
            msg.param5,
            msg.param6,
            msg.param7,
        )
        return self._command(cmd, msg, addr, now_s)

    def _on_command_int(self, msg: MAVLinkMessage, addr: Address, now_s: float) -> Outgoing:
        if not self._for_me(msg):
            return []
        if msg.frame in _GLOBAL_FRAMES:
            x = math.nan if msg.x == _INT32_MAX else msg.x / 1e7
            y = math.nan if msg.y == _INT32_MAX else msg.y / 1e7
        else:
            x, y = float(msg.x), float(msg.y)
        cmd = Command(
            msg.command, msg.param1, msg.param2, msg.param3, msg.param4, x, y, msg.z, msg.frame
        )
        return self._command(cmd, msg, addr, now_s)

    def _command(self, cmd: Command, msg: MAVLinkMessage, addr: Address, now_s: float) -> Outgoing:
        follow_up: list[MAVLinkMessage] = []
        local = _LINK_COMMANDS.get(cmd.command)
        sender = (msg.get_srcSystem(), msg.get_srcComponent())
        key = _nan_safe(cmd)
        last = self._last_command.get(sender)
        if local is not None:
            result, follow_up = local(self, cmd, now_s)
        elif (
            last is not None
            and last[0] == key
            and last[2] is MavResult.ACCEPTED
            and now_s - last[1] < _COMMAND_DEDUP_S
        ):
            result = last[2]  # a re-send of the command just run: its ACK was lost
        else:
            result = self.vehicle.command(cmd).result
            self._last_command[sender] = (key, now_s, result)
        ack = mavlink.MAVLink_command_ack_message(
            cmd.command, int(result), 0, 0, msg.get_srcSystem(), msg.get_srcComponent()
        )
        out = self._reply([ack, *follow_up], addr)
        out.extend(self._drain_events(now_s))
        return out

    def _message_now(self, msg_id: int) -> MAVLinkMessage | None:
        if msg_id == mavlink.MAVLINK_MSG_ID_VIDEO_STREAM_INFORMATION:
            return self._video_info()
        if msg_id == mavlink.MAVLINK_MSG_ID_CAMERA_INFORMATION:
            return self._camera_info()
        builder = BUILDERS.get(msg_id)
        return builder(self.vehicle) if builder is not None else None

    def _cmd_set_interval(
        self, cmd: Command, now_s: float
    ) -> tuple[MavResult, list[MAVLinkMessage]]:
        if not math.isfinite(cmd.param1):
            return MavResult.DENIED, []
        ok = self.schedule.set_interval(int(cmd.param1), cmd.param2, now_s)
        return (MavResult.ACCEPTED if ok else MavResult.UNSUPPORTED), []

    def _cmd_request_message(
        self, cmd: Command, _now_s: float
    ) -> tuple[MavResult, list[MAVLinkMessage]]:
        msg_id = int(cmd.param1) if math.isfinite(cmd.param1) else -1
        msg = self._message_now(msg_id)
        if msg is None:
            return MavResult.UNSUPPORTED, []
        return MavResult.ACCEPTED, [msg]

    def _camera_info(self) -> MAVLinkMessage | None:
        """CAMERA_INFORMATION of the autopilot-attached camera (MAVSDK lists it as comp 1)."""
        vi = self.video
        if vi is None:
            return None
        return mavlink.MAVLink_camera_information_message(
            int(self.vehicle.time_s * 1000) & 0xFFFFFFFF,
            list(b"Mission Control".ljust(32, b"\0")),
            list(b"sim camera".ljust(32, b"\0")),
            0,
            4.5,
            6.17,
            4.55,
            vi.width_px,
            vi.height_px,
            0,
            mavlink.CAMERA_CAP_FLAGS_HAS_VIDEO_STREAM,
            0,
            b"",
        )

    def _video_info(self) -> MAVLinkMessage | None:
        vi = self.video
        if vi is None:
            return None
        return mavlink.MAVLink_video_stream_information_message(
            1,
            1,
            mavlink.VIDEO_STREAM_TYPE_RTPUDP,
            mavlink.VIDEO_STREAM_STATUS_FLAGS_RUNNING,
            vi.fps,
            vi.width_px,
            vi.height_px,
            vi.bitrate_bps,
            0,
            round(vi.hfov_deg),
            f"sys {self.system_id} camera".encode(),
            vi.uri.encode()[:160],
            mavlink.VIDEO_STREAM_ENCODING_H264,
            0,
        )

    # -- parameters --------------------------------------------------------------------------

    def _param_value(self, name: str) -> MAVLinkMessage:
        p = spec(name)
        return mavlink.MAVLink_param_value_message(
            name.encode(),
            encode_bytewise(self.vehicle.params[name], is_int=p.is_int),
            _PARAM_INT32 if p.is_int else _PARAM_REAL32,
            len(PARAMS),
            self.vehicle.params.index(name),
        )

    def _on_param_list(self, msg: MAVLinkMessage, addr: Address, _now_s: float) -> Outgoing:
        if not self._for_me(msg):
            return []
        return self._reply([self._param_value(p.name) for p in PARAMS], addr)

    def _on_param_read(self, msg: MAVLinkMessage, addr: Address, now_s: float) -> Outgoing:
        if not self._for_me(msg):
            return []
        try:
            if msg.param_index >= 0:
                name = self.vehicle.params.by_index(msg.param_index).name
            else:
                name = spec(_param_name(msg.param_id)).name
        except ParamError as exc:
            return self._reply(self.statustext(StatusText(_WARNING, f"Param {exc}")), addr)
        return self._reply([self._param_value(name)], addr)

    def _on_param_set(self, msg: MAVLinkMessage, addr: Address, now_s: float) -> Outgoing:
        if not self._for_me(msg):
            return []
        name = _param_name(msg.param_id)
        try:
            p = spec(name)
            as_int = msg.param_type in _INT_TYPES
            value = decode_bytewise(msg.param_value, is_int=as_int)
            self.vehicle.set_param(name, value)
        except ParamError as exc:
            out = self._reply(self.statustext(StatusText(_WARNING, f"Param {exc}")), addr)
            if name in {q.name for q in PARAMS}:
                out.extend(self._reply([self._param_value(name)], addr))
            return out
        # PX4 echoes the new value to everyone listening
        return self._broadcast([self._param_value(p.name)], now_s)

    # -- the periodic part -------------------------------------------------------------------

    def _drain_events(self, now_s: float) -> Outgoing:
        msgs: list[MAVLinkMessage] = []
        for ev in self.vehicle.take_events():
            if isinstance(ev, ItemReached):
                msgs.append(mavlink.MAVLink_mission_item_reached_message(ev.seq))
            else:
                msgs.extend(self.statustext(ev))
        v = self.vehicle
        current = (v.navigator.current, len(v.navigator.items), int(v.mission_state()))
        if current != self._last_current:
            self._last_current = current
            msgs.append(BUILDERS[mavlink.MAVLINK_MSG_ID_MISSION_CURRENT](v))
        if v.fence_status.breach is not self._last_breach:
            self._last_breach = v.fence_status.breach
            msgs.append(BUILDERS[mavlink.MAVLINK_MSG_ID_FENCE_STATUS](v))
        return self._broadcast(msgs, now_s) if msgs else []

    def tick(self, now_s: float) -> Outgoing:
        """After the vehicle stepped: events, mission-protocol retries, due streams."""
        out = self._drain_events(now_s)
        retries = self.transfer.poll(now_s)
        if retries:
            # the MISSION_ACK/request names the partner; its STATUSTEXT goes to the same place
            partner: Address | None = None
            for m in retries:
                if hasattr(m, "target_system"):
                    partner = self._sender_addr.get((m.target_system, m.target_component))
                    break
            for m in retries:
                key = (getattr(m, "target_system", -1), getattr(m, "target_component", -1))
                addr = self._sender_addr.get(key) or partner
                if addr is not None:
                    out.append((self._encode(m), addr))
                else:
                    data = self._encode(m)
                    out.extend((data, a) for a in self.destinations(now_s))
            self._apply_mission_events()
        self.transfer.current_seq = self.vehicle.navigator.current
        due: list[MAVLinkMessage] = []
        v = self.vehicle
        for msg_id in self.schedule.due(now_s):
            if msg_id == mavlink.MAVLINK_MSG_ID_FENCE_STATUS and not (
                v.fence.has_shapes or v.params["GF_MAX_HOR_DIST"] or v.params["GF_MAX_VER_DIST"]
            ):
                continue
            if msg_id == mavlink.MAVLINK_MSG_ID_MISSION_CURRENT:
                self._last_current = (
                    v.navigator.current,
                    len(v.navigator.items),
                    int(v.mission_state()),
                )
            built = self._message_now(msg_id)
            if built is not None:
                due.append(built)
        if self.video is not None and now_s >= self._next_video_announce_s:
            # pushed unasked (MAVSDK polls it only every 20 s), then every few seconds
            self._next_video_announce_s = now_s + _VIDEO_ANNOUNCE_S
            info = self._video_info()
            if info is not None:
                due.append(info)
        if due:
            out.extend(self._broadcast(due, now_s))
        return out


_LinkResult = tuple[MavResult, list[MAVLinkMessage]]


def _send_message(msg_id: int) -> Callable[[VehicleLink, Command, float], _LinkResult]:
    def handler(link: VehicleLink, _cmd: Command, _now_s: float) -> _LinkResult:
        msg = link._message_now(msg_id)
        return (MavResult.ACCEPTED, [msg]) if msg is not None else (MavResult.UNSUPPORTED, [])

    return handler


def _nan_safe(cmd: Command) -> tuple[object, ...]:
    """A hashable key of a command in which NaN equals NaN (MAVSDK re-sends NaN params)."""
    return tuple(
        "nan" if isinstance(f, float) and math.isnan(f) else f
        for f in (
            cmd.command,
            cmd.param1,
            cmd.param2,
            cmd.param3,
            cmd.param4,
            cmd.param5,
            cmd.param6,
            cmd.param7,
            cmd.frame,
        )
    )


def _param_name(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    return raw.split("\x00", 1)[0].strip()


_WARNING = Severity.WARNING
_INT_TYPES = frozenset(
    (
        mavlink.MAV_PARAM_TYPE_INT8,
        mavlink.MAV_PARAM_TYPE_UINT8,
        mavlink.MAV_PARAM_TYPE_INT16,
        mavlink.MAV_PARAM_TYPE_UINT16,
        mavlink.MAV_PARAM_TYPE_INT32,
        mavlink.MAV_PARAM_TYPE_UINT32,
    )
)
_LINK_COMMANDS: dict[int, Callable[[VehicleLink, Command, float], _LinkResult]] = {
    Cmd.SET_MESSAGE_INTERVAL: VehicleLink._cmd_set_interval,
    Cmd.REQUEST_MESSAGE: VehicleLink._cmd_request_message,
    Cmd.REQUEST_AUTOPILOT_CAPABILITIES: _send_message(mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION),
    Cmd.GET_HOME_POSITION: _send_message(mavlink.MAVLINK_MSG_ID_HOME_POSITION),
    Cmd.REQUEST_VIDEO_STREAM_INFORMATION: _send_message(
        mavlink.MAVLINK_MSG_ID_VIDEO_STREAM_INFORMATION
    ),
}
