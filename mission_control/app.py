"""The composition root: builds every adapter and service from :class:`Settings` and wires them.

:func:`create_app` returns the FastAPI application; its lifespan opens, in order, the store
(migrations applied), the event bus, the vehicle links (and, with no vehicle URLs, the
built-in simulated fleet talking to them over loopback UDP MAVLink — the same path a real
drone takes), the zones, the executor (re-attaching every non-terminal mission), the
approvals' expiry task and the dispatcher; and closes them in reverse order.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from mission_control.api import drones as drones_api
from mission_control.api import incidents as incidents_api
from mission_control.api import missions as missions_api
from mission_control.api import plans as plans_api
from mission_control.api import recordings as recordings_api
from mission_control.api import ui as ui_api
from mission_control.api import video as video_api
from mission_control.api import ws as ws_api
from mission_control.api import zones as zones_api
from mission_control.api.errors import BodyLimit, install_error_handlers
from mission_control.api.telemetry_hub import TelemetryHub
from mission_control.bus import EventBus
from mission_control.bus.messages import Topics
from mission_control.bus.mqtt import MqttSettings
from mission_control.config import Settings
from mission_control.domain.dispatch import DispatchPolicy
from mission_control.domain.incident import Incident
from mission_control.domain.mission import Mission, MissionState
from mission_control.services.approvals import Approvals
from mission_control.services.bridge import MqttBridge
from mission_control.services.cluster import Cluster
from mission_control.services.dispatcher import Dispatcher
from mission_control.services.drones import DroneDirectory
from mission_control.services.executor import Executor, ExecutorSettings
from mission_control.services.missions import SYSTEM, MissionBook
from mission_control.services.monitor import MonitorSettings
from mission_control.services.remote import RemoteFleet
from mission_control.services.video import VideoService
from mission_control.services.zones import ZoneRegistry
from mission_control.store import Actor, Role, Store
from mission_control.vehicles.fleet import VehicleFleet
from mission_control.vehicles.health import HealthThresholds
from mission_control.vehicles.settings import VehicleLinkSettings
from mission_control.video.recording import Recorder, RecordingSettings
from mission_control.web import install_web
from sim.fleet import Fleet, FleetConfig

__all__ = ["Services", "create_app"]

log = logging.getLogger(__name__)

ROLES = tuple(role.value for role in Role)


def utc_now() -> datetime:
    """The service's clock: aware UTC now."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Services:
    """The running service's parts (what the API handlers reach through ``app.state``)."""

    settings: Settings
    store: Store
    bus: EventBus[object]
    fleet: VehicleFleet
    drones: DroneDirectory
    zones: ZoneRegistry
    book: MissionBook
    executor: Executor
    approvals: Approvals
    dispatcher: Dispatcher
    telemetry: TelemetryHub
    sim: Fleet | None
    bridge: MqttBridge | None = None
    cluster: Cluster | None = None
    video: VideoService | None = None
    recorder: Recorder | None = None
    clock: Callable[[], datetime] = utc_now
    started_s: float = field(default_factory=time.monotonic)
    demo_tokens: dict[str, str] = field(default_factory=dict)

    async def report_incident(
        self, incident: Incident, actor: Actor, idempotency_key: str | None
    ) -> tuple[Incident, bool]:
        """Store a new incident and queue it for dispatch; a repeat returns the first one."""
        stored, created, events = await self.store.add_incident(
            incident, actor, idempotency_key=idempotency_key
        )
        self.book.announce(events)
        if created:
            self.dispatcher.submit(stored.id, open_only=True)
        return stored, created


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _sim_config(settings: Settings, port: int) -> FleetConfig:
    lat, lon, alt = settings.sim_home
    return FleetConfig(
        vehicles=settings.sim_vehicles,
        gcs_port=port,
        home_lat_deg=lat,
        home_lon_deg=lon,
        home_alt_amsl_m=alt,
        spacing_m=settings.sim_spacing_m,
        speed=settings.sim_speed,
        params=(("COM_DISARM_PRFLT", 20.0),),
        camera=settings.sim_camera,
    )


async def _demo_users(store: Store, enabled: bool) -> dict[str, str]:
    if not enabled or await store.count_users() > 0:
        return {}
    tokens = {}
    for role in ROLES:
        tokens[role] = await store.add_user(f"demo-{role}", role)
    return tokens


def _print_tokens(tokens: dict[str, str]) -> None:
    if not tokens:
        return
    print("No users were configured: demo users created (keep these tokens):", flush=True)
    for role, token in tokens.items():
        print(f"  demo-{role:<9} role {role:<9} token {token}", flush=True)
    sys.stdout.flush()


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    """The application; nothing starts until its lifespan runs (uvicorn, TestClient)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            store = await stack.enter_async_context(await Store.open(settings.database_url))
            tokens = await _demo_users(store, settings.demo_users)
            bus: EventBus[object] = EventBus()
            await stack.enter_async_context(bus)
            sim: Fleet | None = None
            leased: tuple[str, ...] = ()
            if settings.simulated:
                port = settings.sim_gcs_port or _free_udp_port()
                urls: tuple[str, ...] = (f"udpin://127.0.0.1:{port}",)
            elif settings.clustered and settings.vehicle_urls:
                leased = settings.vehicle_urls  # opened by the instance holding its lease
                urls = leased
            else:  # no simulated fleet: listen where PX4 sends its API link by default
                urls = settings.vehicle_urls or ("udpin://0.0.0.0:14540",)
            fleet = await stack.enter_async_context(
                VehicleFleet(
                    VehicleLinkSettings(
                        connection_urls=urls,
                        health=HealthThresholds(
                            degraded_after_s=min(1.5, settings.link_lost_after_s / 2),
                            lost_after_s=settings.link_lost_after_s,
                        ),
                    ),
                    bus,
                    connection_urls=() if leased else None,
                )
            )
            if settings.simulated:
                sim = await stack.enter_async_context(Fleet(_sim_config(settings, port)))
            zones = ZoneRegistry(store)
            await zones.load()
            if settings.zone_files:
                await zones.import_files(settings.zone_files, SYSTEM)
            remote = (
                RemoteFleet(bus, stale_after_s=settings.lease_ttl_s) if settings.clustered else None
            )
            drones = DroneDirectory(
                fleet,
                capacity_wh=settings.battery_capacity_wh,
                remote=remote,
                instance=settings.instance,
            )
            book = MissionBook(store, bus, clock)
            book.listeners.append(
                lambda m: drones.release(m.drone_id, m.id) if m.terminal else None
            )
            policy = DispatchPolicy(time_on_station_s=settings.time_on_station_s)
            executor = await stack.enter_async_context(
                Executor(
                    book,
                    drones,
                    zones,
                    ExecutorSettings(
                        monitor=MonitorSettings(
                            lookahead_s=settings.monitor_lookahead_s,
                            battery_rtl_fraction=settings.battery_rtl_fraction,
                            link_wait_s=settings.connect_timeout_s,
                        )
                    ),
                )
            )
            approvals = await stack.enter_async_context(Approvals(book, zones, executor))
            dispatcher = await stack.enter_async_context(
                Dispatcher(book, drones, zones, policy, pending_ttl_s=settings.pending_ttl_s)
            )
            hub = await stack.enter_async_context(TelemetryHub(bus))
            video = await stack.enter_async_context(
                VideoService(settings, bus=bus, drones=drones, zones=zones, book=book, sim=sim)
            )
            recorder = await stack.enter_async_context(
                Recorder(
                    RecordingSettings(
                        Path(settings.video_dir),
                        segment_s=settings.video_segment_s,
                        retention_days=settings.video_retention_days,
                        enabled=settings.video_record,
                    ),
                    store,
                    bus,
                    video.relay,
                    clock,
                    # clustered: the instance holding a drone's link records it
                    owns=drones.is_local if settings.clustered else None,
                )
            )
            services = Services(
                settings=settings,
                store=store,
                bus=bus,
                fleet=fleet,
                drones=drones,
                zones=zones,
                book=book,
                executor=executor,
                approvals=approvals,
                dispatcher=dispatcher,
                telemetry=hub,
                sim=sim,
                clock=clock,
                demo_tokens=tokens,
                video=video,
                recorder=recorder,
            )
            if settings.mqtt_url is not None:
                await _join(services, stack, remote, leased)
            active = await store.active_missions()
            await _recover(services, active)
            await recorder.resume(active)
            app.state.services = services
            _print_tokens(tokens)
            yield

    app = FastAPI(
        title="Mission Control",
        version="0.1.0",
        summary="Drone-as-first-responder mission control: incidents, dispatch, approval, flight",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    routers = (incidents_api, missions_api, drones_api, zones_api, plans_api, ws_api)
    for module in (*routers, video_api, recordings_api, ui_api):
        app.include_router(module.router)
    install_web(app, settings)  # after the API: "/" and its mounts never shadow /api, /ws
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def mqtt_settings(settings: Settings) -> MqttSettings:
    """The MQTT client's settings (``MC_MQTT_*``); the client id is ``mc-{site}-{instance}``."""
    assert settings.mqtt_url is not None
    return MqttSettings(
        url=settings.mqtt_url,
        client_id=f"mc-{settings.site}-{settings.instance}",
        username=settings.mqtt_username,
        password=settings.mqtt_password,
        protocol=settings.mqtt_protocol,
        session_expiry_s=settings.mqtt_session_expiry_s,
        tls_ca_file=settings.mqtt_tls_ca_file,
        tls_insecure=settings.mqtt_tls_insecure,
        max_inflight=settings.mqtt_max_inflight,
    )


async def _join(
    services: Services,
    stack: contextlib.AsyncExitStack,
    remote: RemoteFleet | None,
    leased: tuple[str, ...],
) -> None:
    """Start the MQTT bridge and join the cluster (leases, leading dispatcher)."""
    settings = services.settings
    assert remote is not None
    cluster: Cluster | None = None

    async def report(incident: Incident, actor: Actor) -> tuple[Incident, bool]:
        return await services.report_incident(incident, actor, None)

    bridge = MqttBridge(
        mqtt_settings(settings),
        Topics(settings.site),
        instance=settings.instance,
        bus=services.bus,
        drones=services.drones,
        remote=remote,
        report=report,
        clock=services.clock,
        telemetry_hz=settings.mqtt_telemetry_hz,
        state_period_s=settings.mqtt_state_period_s,
        rejections=lambda: cluster is None or cluster.leading,
    )
    services.bridge = await stack.enter_async_context(bridge)
    cluster = Cluster(
        instance=settings.instance,
        store=services.store,
        bridge=bridge,
        fleet=services.fleet,
        drones=services.drones,
        remote=remote,
        book=services.book,
        executor=services.executor,
        dispatcher=services.dispatcher,
        approvals=services.approvals,
        vehicle_urls=leased,
        lease_ttl_s=settings.lease_ttl_s,
        command_timeout_s=settings.command_timeout_s,
    )
    services.cluster = await stack.enter_async_context(cluster)


async def _recover(services: Services, missions: list[Mission]) -> None:
    """Re-attach every non-terminal mission after a start-up (restart recovery)."""
    for m in missions:
        services.drones.assign(m.drone_id, m.id)
        if m.state is not MissionState.PENDING_APPROVAL:
            services.executor.start(m)
    if missions:
        log.info("recovered %d non-terminal missions", len(missions))
