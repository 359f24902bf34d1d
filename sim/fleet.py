"""N simulated vehicles on N UDP ports, stepped by one task; what ``mission-control sim`` runs.

Each vehicle is its own MAVLink 2 system (system id k, component 1) on its own UDP socket,
like PX4 SITL instance k-1: by default it sends to ``127.0.0.1:14539+k`` (14540 for the
first) and answers whoever talks to it. One asyncio task steps every vehicle's flight model
at ``tick_hz`` and sends what is due; datagrams are handled as they arrive, in the
protocol callbacks. No threads, no blocking receive.

Listen mode (``listen_port``): the n-th vehicle binds the fixed port ``listen_port + n - 1``
and has no default ground station: like a PX4 instance told to answer its partner, it sends
(telemetry streams as well as replies) only to the addresses that talked to it within
``peer_timeout_s``, so any ground station can dial it (MAVSDK ``udpout://HOST:PORT``),
one that goes silent stops receiving, and the next one to talk gets everything.
``gcs_port`` / ``gcs_urls`` still add an explicit ground station in that mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from flight_plans.energy import Wind
from flight_plans.errors import FlightPlanError
from flight_plans.geodesy import GeoPoint, LocalFrame
from sim.camera import CameraPose, Scene
from sim.errors import SimConfigError, SimError
from sim.mavlink import Address, Outgoing, VehicleLink, VideoInfo
from sim.streams import PROFILES, RateProfile
from sim.vehicle import Vehicle, VehicleConfig
from sim.video import FrameSource, RtpH264Streamer

CameraMode = Literal["none", "inproc", "rtp"]
PX4_HOME = (47.397743, 8.545594, 488.0)  # PX4 SITL's default home (Zurich)
FIRST_GCS_PORT = 14540
FIRST_VIDEO_PORT = 5600
# FFmpeg/OpenCV receivers also bind port+1 for RTCP, so streams sit two ports apart
VIDEO_PORT_STEP = 2


def parse_udp_url(url: str) -> Address:
    """``udp://HOST:PORT`` (or ``HOST:PORT``) as an address.

    Raises:
        SimConfigError: not a UDP URL with a host and a port in 1..65535.
    """
    text = url if "://" in url else f"udp://{url}"
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("udp", "udpout") or not parts.hostname or port is None or port == 0:
        raise SimConfigError("gcs", url, "expected udp://HOST:PORT with a port in 1..65535")
    return parts.hostname, port


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """The fleet to run.

    Attributes:
        vehicles: how many (system ids ``first_system_id`` .. ``first_system_id + N - 1``).
        first_system_id: the first vehicle's MAVLink system id (1 = like PX4 SITL instance 0;
            another value lets a second fleet run beside the first, e.g. one vehicle that a
            test stops and restarts on its own).
        home_lat_deg, home_lon_deg, home_alt_amsl_m: where vehicle 1 stands.
        spacing_m: distance between neighbours on the launch grid (rows of ⌈√N⌉).
        gcs_host: host the default ground-station ports are on.
        gcs_port: send every vehicle's telemetry to this one port (None: 14539+k each, or
            no ground station at all in listen mode).
        gcs_urls: explicit ``udp://host:port`` targets: one for all, or one per vehicle.
        bind_host: local address each vehicle's socket binds.
        listen_port: None: each vehicle binds an ephemeral port. Else listen mode: the n-th
            vehicle (n = 1..N, in system id order) binds ``listen_port + n - 1`` and, unless
            ``gcs_port`` or ``gcs_urls`` name one, has no default ground station: it sends
            only to addresses that talked to it (see the module docstring).
        peer_timeout_s: an address that talked to a vehicle keeps receiving its telemetry
            this long after its last datagram (a ground station sends a heartbeat a second).
        speed: simulated seconds per wall second (1 = real time).
        tick_hz: how often the flight models step and streams are checked.
        rates: PX4's stream-rate set (``normal`` = its GCS link, ``onboard`` = its API link).
        camera: ``none``; ``inproc`` frame sources; or ``rtp`` H.264 streams as well.
        video_host, first_video_port: where RTP video goes (vehicle k → first + 2·(k-1)).
        video_dir: where the SDP files of RTP streams are written (default: a temp dir).
        incident_lat_deg, incident_lon_deg: the incident marker drawn on the ground.
        seed: makes GPS noise, scene and wind reproducible.
        gps_noise_m: σ of the simulated GPS error (0 = exact).
        wind_from_deg, wind_speed_m_s: steady wind (costs battery, tilts the airframe).
        battery_soc: initial state of charge of every vehicle (0..1).
        params: parameter overrides applied to every vehicle (PX4 names).
    """

    vehicles: int = 1
    first_system_id: int = 1
    home_lat_deg: float = PX4_HOME[0]
    home_lon_deg: float = PX4_HOME[1]
    home_alt_amsl_m: float = PX4_HOME[2]
    spacing_m: float = 5.0
    gcs_host: str = "127.0.0.1"
    gcs_port: int | None = None
    gcs_urls: tuple[str, ...] = ()
    bind_host: str = "127.0.0.1"
    listen_port: int | None = None
    peer_timeout_s: float = 30.0
    speed: float = 1.0
    tick_hz: float = 50.0
    rates: RateProfile = "normal"
    camera: CameraMode = "none"
    video_host: str = "127.0.0.1"
    first_video_port: int = FIRST_VIDEO_PORT
    video_dir: str | None = None
    incident_lat_deg: float | None = None
    incident_lon_deg: float | None = None
    seed: int = 0
    gps_noise_m: float = 0.0
    wind_from_deg: float = 0.0
    wind_speed_m_s: float = 0.0
    battery_soc: float = 1.0
    params: tuple[tuple[str, float], ...] = field(default=())

    def __post_init__(self) -> None:
        if not 1 <= self.vehicles <= 250:
            raise SimConfigError("vehicles", self.vehicles, "must be 1..250")
        if not 1 <= self.first_system_id <= 251 - self.vehicles:
            raise SimConfigError(
                "first_system_id", self.first_system_id, f"must be 1..{251 - self.vehicles}"
            )
        if not (math.isfinite(self.speed) and 0.1 <= self.speed <= 100):
            raise SimConfigError("speed", self.speed, "must be 0.1..100")
        if not (math.isfinite(self.tick_hz) and 1 <= self.tick_hz <= 500):
            raise SimConfigError("tick_hz", self.tick_hz, "must be 1..500")
        if not (math.isfinite(self.spacing_m) and 0 <= self.spacing_m <= 10_000):
            raise SimConfigError("spacing_m", self.spacing_m, "must be 0..10000 m")
        if self.gcs_port is not None and not 1 <= self.gcs_port <= 65535:
            raise SimConfigError("gcs_port", self.gcs_port, "must be 1..65535")
        if self.gcs_port is not None and self.gcs_urls:
            raise SimConfigError("gcs", self.gcs_urls, "give either gcs_port or gcs_urls")
        if len(self.gcs_urls) not in (0, 1, self.vehicles):
            raise SimConfigError(
                "gcs_urls", self.gcs_urls, f"give one URL or one per vehicle ({self.vehicles})"
            )
        for url in self.gcs_urls:
            parse_udp_url(url)
        if self.listen_port is not None and not (
            isinstance(self.listen_port, int) and 1 <= self.listen_port <= 65536 - self.vehicles
        ):
            raise SimConfigError(
                "listen_port",
                self.listen_port,
                f"{self.vehicles} vehicle(s) listen on listen_port..listen_port+"
                f"{self.vehicles - 1}: must be 1..{65536 - self.vehicles}",
            )
        if not (math.isfinite(self.peer_timeout_s) and 0.5 <= self.peer_timeout_s <= 3600):
            raise SimConfigError("peer_timeout_s", self.peer_timeout_s, "must be 0.5..3600 s")
        if self.rates not in PROFILES:
            raise SimConfigError("rates", self.rates, f"must be one of {sorted(PROFILES)}")
        if self.camera not in ("none", "inproc", "rtp"):
            raise SimConfigError("camera", self.camera, "must be none, inproc or rtp")
        if not 1 <= self.first_video_port <= 65534 - VIDEO_PORT_STEP * self.vehicles:
            raise SimConfigError("first_video_port", self.first_video_port, "out of range")
        # the rest (home, battery, noise, params) is checked by VehicleConfig
        self.vehicle_config(self.first_system_id)

    @property
    def system_ids(self) -> range:
        """The vehicles' system ids, in order."""
        return range(self.first_system_id, self.first_system_id + self.vehicles)

    def video_port(self, system_id: int) -> int:
        return self.first_video_port + VIDEO_PORT_STEP * (system_id - self.first_system_id)

    def gcs_for(self, system_id: int) -> Address | None:
        """Where vehicle ``system_id`` sends before anyone talked to it (None: nowhere,
        the default in listen mode)."""
        if self.gcs_urls:
            i = system_id - self.first_system_id
            url = self.gcs_urls[0] if len(self.gcs_urls) == 1 else self.gcs_urls[i]
            return parse_udp_url(url)
        if self.gcs_port is not None:
            return self.gcs_host, self.gcs_port
        if self.listen_port is not None:
            return None
        return self.gcs_host, FIRST_GCS_PORT + system_id - 1

    def bind_address(self, system_id: int) -> Address:
        """The local address vehicle ``system_id`` binds (port 0: an ephemeral one)."""
        if self.listen_port is None:
            return self.bind_host, 0
        return self.bind_host, self.listen_port + system_id - self.first_system_id

    def launch_point(self, system_id: int) -> GeoPoint:
        """Vehicle k's launch point: a grid east and north of home, ``spacing_m`` apart."""
        cols = math.ceil(math.sqrt(self.vehicles))
        i = system_id - self.first_system_id
        frame = LocalFrame.at(self.home_lat_deg, self.home_lon_deg)
        return frame.to_geo((i % cols) * self.spacing_m, (i // cols) * self.spacing_m)

    def vehicle_config(self, system_id: int) -> VehicleConfig:
        p = self.launch_point(system_id)
        return VehicleConfig(
            system_id=system_id,
            lat_deg=p.lat_deg,
            lon_deg=p.lon_deg,
            alt_amsl_m=self.home_alt_amsl_m,
            battery_soc=self.battery_soc,
            gps_noise_m=self.gps_noise_m,
            wind=_wind(self.wind_from_deg, self.wind_speed_m_s),
            seed=self.seed * 1000 + system_id,
            params=self.params,
        )


def _factory(endpoint: _Endpoint) -> Callable[[], _Endpoint]:
    return lambda: endpoint


def _wind(from_deg: float, speed_m_s: float) -> Wind:
    try:
        return Wind(from_deg, speed_m_s)
    except FlightPlanError as exc:
        raise SimConfigError("wind", (from_deg, speed_m_s), str(exc)) from None


class _Endpoint(asyncio.DatagramProtocol):
    """UDP adapter of one vehicle: bytes in → :class:`VehicleLink` → bytes out."""

    def __init__(self, link: VehicleLink, loop: asyncio.AbstractEventLoop) -> None:
        self.link = link
        self._loop = loop
        self.transport: asyncio.DatagramTransport | None = None
        self.send_errors = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | bytes | int, ...]) -> None:
        host, port = str(addr[0]), int(addr[1])
        self.send(self.link.datagram(data, (host, port), self._loop.time()))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while no ground station listens: expected, not fatal
        self.send_errors += 1

    def send(self, out: Outgoing) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        for data, addr in out:
            t.sendto(data, addr)


def camera_pose(vehicle: Vehicle) -> CameraPose:
    """Where the vehicle's camera is and looks (height above the flat ground)."""
    p = vehicle.position()
    return CameraPose(
        p.lat_deg,
        p.lon_deg,
        max(vehicle.body.z_m, 0.3),  # camera height on the ground: the landing gear's
        vehicle.body.yaw_deg,
        vehicle.camera_pitch_deg(),
        vehicle.gimbal_yaw_deg,
    )


@dataclass(frozen=True, slots=True)
class SimVehicle:
    """A running vehicle: its model, its MAVLink logic and where it can be reached."""

    vehicle: Vehicle
    link: VehicleLink
    local_address: Address
    gcs_address: Address | None
    frames: FrameSource | None = None
    video_uri: str | None = None
    sdp_path: str | None = None

    @property
    def system_id(self) -> int:
        return self.vehicle.config.system_id

    @property
    def mavlink_url(self) -> str:
        host, port = self.local_address
        return f"udp://{host}:{port}"

    @property
    def dial_url(self) -> str:
        """The MAVSDK URL a ground station on this machine reaches the vehicle with
        (``udpout://``; a wildcard bind is dialled on loopback)."""
        host, port = self.local_address
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"udpout://{host}:{port}"


class Fleet:
    """Run a :class:`FleetConfig` until the context exits (``async with Fleet(cfg) as f``).

    Shutdown is ordered: the stepping task is cancelled and awaited, then video streamers
    stop, then sockets close.

    Raises:
        SimError: a socket or video stream could not be opened (the message says which).
    """

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.vehicles: list[SimVehicle] = []
        self.scene: Scene | None = None
        self._endpoints: list[_Endpoint] = []
        self._task: asyncio.Task[None] | None = None
        self._stack = contextlib.AsyncExitStack()
        self.ticks = 0

    def vehicle(self, system_id: int) -> SimVehicle:
        """The running vehicle with ``system_id``.

        Raises:
            SimConfigError: no vehicle has that id.
        """
        first = self.config.first_system_id
        if not first <= system_id < first + len(self.vehicles):
            last = first + len(self.vehicles) - 1
            raise SimConfigError("system_id", system_id, f"fleet has {first}..{last}")
        return self.vehicles[system_id - first]

    def set_incident(self, lat_deg: float | None, lon_deg: float | None = None) -> None:
        """Draw the incident marker at this point on every camera (None removes it)."""
        if self.scene is None:
            return
        where = None if lat_deg is None or lon_deg is None else GeoPoint(lat_deg, lon_deg)
        self.scene = self.scene.with_incident(where)
        for sv in self.vehicles:
            if sv.frames is not None:
                sv.frames.scene = self.scene

    async def __aenter__(self) -> Fleet:
        try:
            await self._start()
        except BaseException:
            await self._close()
            raise
        self._task = asyncio.create_task(self._run(), name="sim-fleet-step")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        if cfg.camera != "none":
            incident = None
            if cfg.incident_lat_deg is not None and cfg.incident_lon_deg is not None:
                incident = GeoPoint(cfg.incident_lat_deg, cfg.incident_lon_deg)
            home = GeoPoint(cfg.home_lat_deg, cfg.home_lon_deg)
            self.scene = Scene(home, seed=cfg.seed, incident=incident)
        video_dir = None
        if cfg.camera == "rtp":
            video_dir = (
                Path(cfg.video_dir)
                if cfg.video_dir
                else Path(
                    self._stack.enter_context(tempfile.TemporaryDirectory(prefix="mc-sim-video-"))
                )
            )
            video_dir.mkdir(parents=True, exist_ok=True)
        for k in cfg.system_ids:
            vehicle = Vehicle(cfg.vehicle_config(k))
            gcs = cfg.gcs_for(k)
            frames = streamer = None
            if self.scene is not None:
                frames = FrameSource(
                    functools.partial(camera_pose, vehicle), self.scene, label=f"sys {k}"
                )
            if frames is not None and video_dir is not None:
                streamer = RtpH264Streamer(frames, host=cfg.video_host, port=cfg.video_port(k))
                await self._stack.enter_async_context(streamer)
            video = None
            if streamer is not None:
                spec = frames.spec if frames is not None else None
                assert spec is not None
                video = VideoInfo(streamer.uri, spec.width_px, spec.height_px, spec.fps)
            link = VehicleLink(
                vehicle,
                gcs=() if gcs is None else (gcs,),
                rates=cfg.rates,
                peer_timeout_s=cfg.peer_timeout_s,
                video=video,
                now_s=loop.time(),
            )
            endpoint = _Endpoint(link, loop)
            bind_host, bind_port = cfg.bind_address(k)
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    _factory(endpoint), local_addr=(bind_host, bind_port)
                )
            except OSError as exc:
                where = f"{bind_host}:{bind_port}" if bind_port else bind_host
                raise SimError(
                    f"vehicle {k}: cannot open a UDP socket on {where}: {exc.strerror}"
                ) from None
            self._endpoints.append(endpoint)
            host, port = transport.get_extra_info("sockname")[:2]
            sdp = None
            if streamer is not None and video_dir is not None:
                sdp = str(streamer.write_sdp(video_dir / f"sys{k}.sdp"))
            self.vehicles.append(
                SimVehicle(
                    vehicle,
                    link,
                    (str(host), int(port)),
                    gcs,
                    frames,
                    streamer.uri if streamer is not None else None,
                    sdp,
                )
            )

    async def _close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self._stack.aclose()
        finally:
            for ep in self._endpoints:
                if ep.transport is not None:
                    ep.transport.close()
            self._endpoints.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.config.tick_hz
        speed = self.config.speed
        last = loop.time()
        next_tick = last + period
        while True:
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            now = loop.time()
            wall_dt = now - last
            last = now
            next_tick += period
            if next_tick < now:  # fell behind (machine busy): do not try to catch up
                next_tick = now + period
            self.step_all(wall_dt * speed, wall_dt, now)

    def step_all(self, sim_dt_s: float, wall_dt_s: float, now_s: float) -> None:
        """Step every vehicle and send what is due (one tick of the fleet)."""
        self.ticks += 1
        for ep in self._endpoints:
            ep.link.vehicle.step(sim_dt_s, link_dt_s=wall_dt_s)
            ep.send(ep.link.tick(now_s))
