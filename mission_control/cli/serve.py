"""``mission-control serve``: the mission service (REST + websockets) until Ctrl-C.

With no ``--vehicle``, the built-in simulated fleet (``--sim N`` drones, 3 by default)
flies and talks to the service over loopback UDP MAVLink, so one machine shows the whole
flow. Settings come from ``MC_*`` variables; the flags override them.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn
from pydantic import ValidationError

from mission_control.cli.errors import CliError
from mission_control.cli.plan import number
from mission_control.config import load_settings


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def _video_source(text: str) -> tuple[int, str]:
    drone, sep, url = text.partition("=")
    try:
        drone_id = int(drone)
    except ValueError:
        drone_id = -1
    if not sep or drone_id < 1 or not url.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected ID=URL, e.g. 2=rtp://0.0.0.0:5600")
    return drone_id, url.strip()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the mission service (REST + websockets)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", help="address to bind (default 127.0.0.1; MC_HOST)")
    p.add_argument("--port", type=_positive_int, help="HTTP port (default 8000; MC_PORT)")
    p.add_argument(
        "--db", metavar="URL", help="database URL (default a SQLite file; MC_DATABASE_URL)"
    )
    p.add_argument("--sim", type=_positive_int, metavar="N", help="simulated drones (default 3)")
    p.add_argument("--sim-speed", type=number, metavar="X", help="simulated time speed-up")
    p.add_argument(
        "--vehicle",
        action="append",
        metavar="URL",
        help="MAVLink URL of real vehicles, e.g. udpin://0.0.0.0:14540 (repeatable; no sim)",
    )
    p.add_argument(
        "--zones", action="append", metavar="FILE", help="zone file to put in force (repeatable)"
    )
    p.add_argument(
        "--mqtt",
        metavar="URL",
        help="MQTT broker, e.g. mqtt://127.0.0.1:1883: bridge and cluster (MC_MQTT_URL)",
    )
    p.add_argument("--site", help="the {site} level of MQTT topics (default local; MC_SITE)")
    p.add_argument(
        "--instance-id", metavar="NAME", help="this instance's stable name (MC_INSTANCE_ID)"
    )
    p.add_argument(
        "--video",
        action="append",
        metavar="ID=URL",
        type=_video_source,
        help="video source of drone ID: rtp://HOST:PORT, rtsp://…, FILE.sdp, file:PATH, sim "
        "(repeatable; MC_VIDEO_SOURCES; default: what the drone announces)",
    )
    p.add_argument(
        "--recordings", metavar="DIR", help="evidence recordings directory (MC_VIDEO_DIR)"
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(
            host=args.host,
            port=args.port,
            database_url=args.db,
            sim_vehicles=args.sim,
            sim_speed=args.sim_speed,
            vehicle_urls=tuple(args.vehicle) if args.vehicle else None,
            zone_files=tuple(args.zones) if args.zones else None,
            mqtt_url=args.mqtt,
            site=args.site,
            instance_id=args.instance_id,
            video_sources=dict(args.video) if args.video else None,
            video_dir=args.recordings,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise CliError(f"setting {where}: {first['msg']}") from None
    from mission_control.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ws_per_message_deflate=False,  # FIELD-NOTES: deflate pegs a core on fan-out
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
        # a screen whose socket stops draining is dropped within seconds, not minutes
        ws_ping_interval=5.0,
        ws_ping_timeout=5.0,
    )
    return 0
