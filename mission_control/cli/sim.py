"""``mission-control sim``: run a simulated PX4-like fleet until Ctrl-C.

Prints one line per vehicle (system id, its MAVLink endpoint and where it sends, video
endpoint) so a ground station, MAVSDK or the service can be pointed at it. With
``--listen-port`` the vehicles sit on fixed ports and answer whichever ground station dials
them (MAVSDK ``udpout://HOST:PORT``), e.g. the service instance that owns the vehicle now.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from mission_control.cli.plan import number
from sim.errors import SimConfigError
from sim.fleet import Fleet, FleetConfig, parse_udp_url


def _home(text: str) -> tuple[float, float, float | None]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"{text!r} is not LAT,LON or LAT,LON,ALT")
    try:
        values = [number(p) for p in parts]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    lat, lon = values[0], values[1]
    if not -90 <= lat <= 90 or not -180 <= lon <= 180:
        raise argparse.ArgumentTypeError(f"{text!r}: latitude must be within ±90, longitude ±180")
    return lat, lon, values[2] if len(values) == 3 else None


def _gcs_url(text: str) -> str:
    try:
        parse_udp_url(text)
    except SimConfigError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc.reason}") from None
    return text


def _wind(text: str) -> tuple[float, float]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not FROM_DEG,SPEED_M_S")
    try:
        from_deg, speed = (number(p) for p in parts)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    if not 0 <= speed <= 30:
        raise argparse.ArgumentTypeError(f"{text!r}: wind speed must be 0..30 m/s")
    return from_deg, speed


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is 1..65535")
    return port


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sim",
        help="run a simulated PX4-like fleet speaking MAVLink over UDP",
        description=(
            "Run N simulated multicopters, each its own MAVLink 2 system (ids 1..N) on UDP, "
            "like PX4 SITL instances: vehicle k sends to 127.0.0.1:14539+k unless told "
            "otherwise, and answers whoever talks to it. With --listen-port P, vehicle k "
            "listens on the fixed port P+k-1 and sends only to ground stations that talk to "
            "it (dial it with MAVSDK udpout://HOST:PORT). Runs until Ctrl-C."
        ),
    )
    p.add_argument("--vehicles", type=int, default=1, metavar="N", help="fleet size (1..250)")
    p.add_argument(
        "--home",
        type=_home,
        default=None,
        metavar="LAT,LON[,ALT]",
        help="launch point of vehicle 1 (default PX4 SITL's Zurich home), ALT in m AMSL",
    )
    p.add_argument("--spacing-m", type=number, default=5.0, metavar="M", help="launch grid step")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--gcs-port", type=_port, default=None, metavar="P", help="send every vehicle to one port"
    )
    where.add_argument(
        "--gcs",
        type=_gcs_url,
        nargs="+",
        default=(),
        metavar="URL",
        help="udp://HOST:PORT targets: one for all vehicles, or one per vehicle",
    )
    p.add_argument(
        "--bind",
        metavar="HOST",
        default="127.0.0.1",
        help="address the vehicles' sockets bind (0.0.0.0 to be reachable from other hosts)",
    )
    p.add_argument(
        "--listen-port",
        type=_port,
        default=None,
        metavar="PORT",
        help=(
            "vehicle k listens on the fixed UDP port PORT+k-1 and streams only to ground "
            "stations that talked to it within --peer-timeout-s (no default 14539+k target; "
            "--gcs-port/--gcs still add one); a ground station dials udpout://HOST:PORT"
        ),
    )
    p.add_argument(
        "--peer-timeout-s",
        type=number,
        default=30.0,
        metavar="S",
        help="a ground station that went silent stops receiving after S seconds (default 30)",
    )
    p.add_argument("--speed", type=number, default=1.0, metavar="X", help="simulated time factor")
    p.add_argument(
        "--camera",
        choices=("none", "inproc", "rtp"),
        default="none",
        help="synthetic cameras: none, in-process frames, or RTP/H.264 streams (+ SDP files)",
    )
    p.add_argument(
        "--video-port", type=_port, default=5600, metavar="P", help="RTP port of vehicle 1"
    )
    p.add_argument(
        "--video-dir", default=None, metavar="DIR", help="where SDP files go (default: temp)"
    )
    p.add_argument(
        "--incident",
        type=_home,
        default=None,
        metavar="LAT,LON",
        help="draw the incident marker here on every camera",
    )
    p.add_argument(
        "--rates",
        choices=("normal", "onboard"),
        default="normal",
        help="PX4 stream rates: its GCS link (normal) or its API link (onboard)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="reproducible noise/scenes")
    p.add_argument(
        "--wind",
        type=_wind,
        default=(0.0, 0.0),
        metavar="FROM_DEG,SPEED_M_S",
        help="steady wind: direction it blows from, speed",
    )
    p.add_argument("--gps-noise-m", type=number, default=0.0, metavar="M", help="GPS error σ")
    p.add_argument(
        "--duration-s", type=number, default=None, metavar="S", help="stop after S seconds"
    )
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> FleetConfig:
    """The fleet the arguments describe.

    Raises:
        SimConfigError: a value out of range (the message names it).
    """
    home = args.home
    kwargs: dict[str, object] = {}
    if home is not None:
        kwargs["home_lat_deg"], kwargs["home_lon_deg"] = home[0], home[1]
        if home[2] is not None:
            kwargs["home_alt_amsl_m"] = home[2]
    if args.incident is not None:
        kwargs["incident_lat_deg"], kwargs["incident_lon_deg"] = args.incident[:2]
    return FleetConfig(
        vehicles=args.vehicles,
        video_dir=args.video_dir,
        spacing_m=args.spacing_m,
        gcs_port=args.gcs_port,
        gcs_urls=tuple(args.gcs),
        listen_port=args.listen_port,
        bind_host=args.bind,
        peer_timeout_s=args.peer_timeout_s,
        speed=args.speed,
        camera=args.camera,
        first_video_port=args.video_port,
        rates=args.rates,
        seed=args.seed,
        gps_noise_m=args.gps_noise_m,
        wind_from_deg=args.wind[0],
        wind_speed_m_s=args.wind[1],
        **kwargs,  # type: ignore[arg-type]
    )


def describe(fleet: Fleet, out: TextIO) -> None:
    """One line per vehicle: system id, MAVLink endpoint → ground station, video."""
    cfg = fleet.config
    print(
        f"sim: {len(fleet.vehicles)} vehicle(s), speed ×{cfg.speed:g}, rates {cfg.rates}, "
        f"camera {cfg.camera}; Ctrl-C stops",
        file=out,
    )
    for v in fleet.vehicles:
        if v.gcs_address is None:
            sends = f"peers that talk to it (dial {v.dial_url})"
        else:
            host, port = v.gcs_address
            sends = f"udp://{host}:{port}"
        video = v.video_uri or "-"
        if v.sdp_path is not None:
            video = f"{video} (sdp {v.sdp_path})"
        elif cfg.camera == "inproc":
            video = "in-process frames"
        print(
            f"sys {v.system_id:3d}  mavlink {v.mavlink_url} → {sends}  video {video}",
            file=out,
        )
    out.flush()


async def _serve(config: FleetConfig, duration_s: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with Fleet(config) as fleet:
        describe(fleet, sys.stdout)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration_s)
    print("sim: stopped", flush=True)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.duration_s is not None and not args.duration_s > 0:
        raise SimConfigError("duration_s", args.duration_s, "must be > 0")
    asyncio.run(_serve(config, args.duration_s))
    return 0
