"""``mission-control plan``: inspect, convert and build flight plans (QGroundControl ``.plan``).

Every subcommand works offline on files, through the pure :mod:`flight_plans` library.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from flight_plans import geojson, patterns, qgc
from flight_plans.camera import CameraModel
from flight_plans.energy import VehicleProfile, estimate
from flight_plans.geodesy import GeoPoint
from flight_plans.mission import HomePosition, Mission, command_name
from flight_plans.plan import Plan
from mission_control.cli.errors import CliError

OUTPUT_SUFFIXES = (".plan", ".geojson")


def number(text: str) -> float:
    """argparse type: a finite real number (refuses nan/inf, which float() accepts)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def count(text: str) -> int:
    """argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``plan`` and its subcommands."""
    p = sub.add_parser(
        "plan",
        help="inspect, convert and build flight plans",
        description="Inspect, convert and build QGroundControl .plan flight plans.",
    )
    cmds = p.add_subparsers(dest="plan_command", metavar="SUBCOMMAND", required=True)

    show = cmds.add_parser("show", help="summarise a .plan file")
    show.add_argument("file", type=Path, metavar="FILE.plan")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=cmd_show)

    conv = cmds.add_parser("convert", help="convert a .plan to .plan or .geojson")
    conv.add_argument("input", type=Path, metavar="IN.plan")
    conv.add_argument("output", type=Path, metavar="OUT", help="OUT.plan or OUT.geojson")
    conv.set_defaults(func=cmd_convert)

    orbit = _pattern_parser(cmds, "orbit", "overwatch orbit around a point, camera on the point")
    _point_args(orbit)
    orbit.add_argument("--radius-m", type=number, required=True, help="orbit radius (m)")
    turns = orbit.add_mutually_exclusive_group()
    turns.add_argument("--turns", type=number, help="number of turns (default 1)")
    turns.add_argument("--time-on-station-s", type=number, help="time on the orbit (s)")
    orbit.add_argument("--ccw", action="store_true", help="fly counter-clockwise")
    orbit.add_argument("--gimbal-pitch-deg", type=number, help="camera pitch (default: aim)")
    orbit.set_defaults(func=cmd_orbit)

    hover = _pattern_parser(cmds, "hover", "hover over (or offset from) a point")
    _point_args(hover)
    hover.add_argument("--time-s", type=number, help="hold time (s); default: until commanded")
    hover.add_argument("--offset-m", type=number, default=0.0, help="stand-off distance (m)")
    hover.add_argument(
        "--offset-bearing-deg", type=number, default=0.0, help="stand-off direction from point"
    )
    hover.set_defaults(func=cmd_hover)

    survey = _pattern_parser(cmds, "survey", "lawnmower survey of a polygon")
    survey.add_argument("--polygon", type=Path, required=True, metavar="FILE.geojson")
    survey.add_argument("--alt-rel-m", type=number, required=True, help="altitude above home")
    survey.add_argument("--angle-deg", type=number, default=0.0, help="transect direction")
    survey.add_argument("--front-overlap", type=number, default=0.7, help="0..1 (default 0.7)")
    survey.add_argument("--side-overlap", type=number, default=0.7, help="0..1 (default 0.7)")
    survey.add_argument("--turnaround-m", type=number, default=10.0, help="overshoot (m)")
    cam = survey.add_argument_group("camera (default: 1-inch 20 MP, 8.8 mm lens)")
    cam.add_argument("--sensor-width-mm", type=number, default=13.2)
    cam.add_argument("--sensor-height-mm", type=number, default=8.8)
    cam.add_argument("--focal-length-mm", type=number, default=8.8)
    cam.add_argument("--image-width-px", type=count, default=5472)
    cam.add_argument("--image-height-px", type=count, default=3648)
    survey.set_defaults(func=cmd_survey)

    square = _pattern_parser(cmds, "expanding-square", "IAMSAR expanding square search")
    _point_args(square)
    square.add_argument("--track-spacing-m", type=number, required=True)
    square.add_argument("--legs", type=count, required=True)
    square.add_argument("--first-bearing-deg", type=number, default=0.0)
    square.set_defaults(func=cmd_expanding_square)

    sector = _pattern_parser(cmds, "sector", "IAMSAR sector search (VS)")
    _point_args(sector)
    sector.add_argument("--radius-m", type=number, required=True)
    sector.add_argument("--first-bearing-deg", type=number, default=0.0)
    sector.add_argument("--rounds", type=count, default=1)
    sector.set_defaults(func=cmd_sector)

    perim = _pattern_parser(cmds, "perimeter", "ring around a polygon at an offset")
    perim.add_argument("--polygon", type=Path, required=True, metavar="FILE.geojson")
    perim.add_argument("--alt-rel-m", type=number, required=True)
    perim.add_argument("--offset-m", type=number, required=True)
    perim.add_argument("--laps", type=count, default=1)
    perim.set_defaults(func=cmd_perimeter)


def _pattern_parser(
    cmds: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str
) -> argparse.ArgumentParser:
    p = cmds.add_parser(
        name,
        help=help_text,
        description=f"Build a mission: take-off, {help_text}, return to launch.",
    )
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.plan")
    home = p.add_argument_group("home / launch point (default: the target point, 0 m AMSL)")
    home.add_argument("--home-lat", type=number)
    home.add_argument("--home-lon", type=number)
    home.add_argument("--home-alt-amsl-m", type=number, default=0.0)
    p.add_argument("--takeoff-alt-rel-m", type=number, help="default: the pattern altitude")
    p.add_argument("--speed-m-s", type=number, help="horizontal speed (DO_CHANGE_SPEED)")
    return p


def _point_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lat", type=number, required=True, help="latitude of the point (deg)")
    p.add_argument("--lon", type=number, required=True, help="longitude of the point (deg)")
    p.add_argument("--alt-rel-m", type=number, required=True, help="altitude above home (m)")


# -- show / convert ---------------------------------------------------------------------------


def summarise(plan: Plan) -> dict[str, Any]:
    """The facts ``plan show`` prints, as a JSON-ready dict."""
    mission = plan.mission
    profile = _profile_for(plan)
    est = estimate(mission, profile)
    counts: dict[str, int] = {}
    for it in mission.items:
        counts[command_name(it.command)] = counts.get(command_name(it.command), 0) + 1
    home = mission.home
    return {
        "item_count": len(mission.items),
        "commands": list(mission.commands),
        "command_names": [command_name(c) for c in mission.commands],
        "command_counts": counts,
        "home": (
            None
            if home is None
            else {"lat_deg": home.lat_deg, "lon_deg": home.lon_deg, "alt_amsl_m": home.alt_amsl_m}
        ),
        "fence_inclusion": plan.fence.inclusion_count,
        "fence_exclusion": plan.fence.exclusion_count,
        "fence_polygons": len(plan.fence.polygons),
        "fence_circles": len(plan.fence.circles),
        "rally_count": len(plan.rally_points),
        "path_length_m": round(est.horizontal_distance_m, 2),
        "est_time_s": round(est.time_s, 1),
        "est_energy_wh": round(est.energy_wh, 2),
        "open_ended": est.open_ended_at is not None,
        "speed_m_s": profile.cruise_speed_m_s,
    }


def _profile_for(plan: Plan) -> VehicleProfile:
    # QGroundControl plans carry the speed the planner assumed: hover speed for
    # multicopters, cruise speed for fixed wings (MAV_TYPE 1).
    speed = plan.cruise_speed_m_s if plan.vehicle_type == 1 else plan.hover_speed_m_s
    return VehicleProfile(cruise_speed_m_s=speed) if speed > 0 else VehicleProfile()


def cmd_show(args: argparse.Namespace) -> int:
    plan = qgc.load_plan(args.file)
    s = summarise(plan)
    if args.json:
        print(json.dumps(s, sort_keys=True))
        return 0
    home = s["home"]
    lines = [
        f"{args.file}",
        f"  items:        {s['item_count']}",
        "  commands:     "
        + (
            ", ".join(f"{n} ({c})" for n, c in zip(s["command_names"], s["commands"], strict=True))
            or "none"
        ),
        "  home:         "
        + (
            f"{home['lat_deg']:.7f}, {home['lon_deg']:.7f}, {home['alt_amsl_m']:.1f} m AMSL"
            if home
            else "not set"
        ),
        f"  fence:        {s['fence_polygons']} polygon(s), {s['fence_circles']} circle(s) "
        f"({s['fence_inclusion']} inclusion, {s['fence_exclusion']} exclusion)",
        f"  rally points: {s['rally_count']}",
        f"  path length:  {s['path_length_m']:.0f} m",
        f"  est. time:    {s['est_time_s']:.0f} s at {s['speed_m_s']:g} m/s"
        + (" (then holds until commanded)" if s["open_ended"] else ""),
        f"  est. energy:  {s['est_energy_wh']:.1f} Wh",
    ]
    print("\n".join(lines))
    return 0


def _write(plan: Plan, out: Path) -> None:
    suffix = out.suffix.lower()
    if suffix == ".plan":
        qgc.dump_plan(plan, out)
    elif suffix == ".geojson":
        out.write_text(
            geojson.dumps_geojson(geojson.plan_to_geojson(plan)) + "\n", encoding="utf-8"
        )
    else:
        raise CliError(f"{out}: unknown output type {out.suffix!r}; use .plan or .geojson")


def cmd_convert(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise CliError(
            f"{args.output}: unknown output type {args.output.suffix!r}; use .plan or .geojson"
        )
    plan = qgc.load_plan(args.input)
    _write(plan, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


# -- pattern builders ---------------------------------------------------------------------------


def _home(args: argparse.Namespace, default: GeoPoint) -> HomePosition:
    if (args.home_lat is None) != (args.home_lon is None):
        raise CliError("give both --home-lat and --home-lon, or neither")
    if args.home_lat is None:
        return HomePosition(default.lat_deg, default.lon_deg, args.home_alt_amsl_m)
    return HomePosition(args.home_lat, args.home_lon, args.home_alt_amsl_m)


def _finish(
    args: argparse.Namespace, fragment: Mission, home: HomePosition, alt_rel_m: float
) -> int:
    if args.output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise CliError(
            f"{args.output}: unknown output type {args.output.suffix!r}; use .plan or .geojson"
        )
    mission = patterns.with_takeoff_and_rtl(
        fragment,
        home,
        takeoff_alt_rel_m=args.takeoff_alt_rel_m
        if args.takeoff_alt_rel_m is not None
        else alt_rel_m,
        speed_m_s=args.speed_m_s,
    )
    plan = Plan(
        mission=mission, hover_speed_m_s=args.speed_m_s or VehicleProfile().cruise_speed_m_s
    )
    _write(plan, args.output)
    s = summarise(plan)
    print(
        f"wrote {args.output}: {s['item_count']} items, {s['path_length_m']:.0f} m, "
        f"~{s['est_time_s']:.0f} s",
        file=sys.stderr,
    )
    return 0


def cmd_orbit(args: argparse.Namespace) -> int:
    center = GeoPoint(args.lat, args.lon)
    home = _home(args, center)
    turns = args.turns
    if turns is None and args.time_on_station_s is None:
        turns = 1.0
    fragment = patterns.orbit(
        center,
        radius_m=args.radius_m,
        alt_rel_m=args.alt_rel_m,
        clockwise=not args.ccw,
        turns=turns,
        time_on_station_s=args.time_on_station_s,
        **({"speed_m_s": args.speed_m_s} if args.speed_m_s is not None else {}),
        gimbal_pitch_deg=args.gimbal_pitch_deg,
        entry_from=home.point,
    )
    return _finish(args, fragment, home, args.alt_rel_m)


def cmd_hover(args: argparse.Namespace) -> int:
    point = GeoPoint(args.lat, args.lon)
    home = _home(args, point)
    fragment = patterns.hover(
        point,
        alt_rel_m=args.alt_rel_m,
        time_s=args.time_s,
        offset_m=args.offset_m,
        offset_bearing_deg=args.offset_bearing_deg,
    )
    return _finish(args, fragment, home, args.alt_rel_m)


def cmd_survey(args: argparse.Namespace) -> int:
    polygon = geojson.load_polygon(args.polygon)
    home = _home(args, polygon.centroid_hint())
    camera = CameraModel(
        sensor_width_mm=args.sensor_width_mm,
        sensor_height_mm=args.sensor_height_mm,
        focal_length_mm=args.focal_length_mm,
        image_width_px=args.image_width_px,
        image_height_px=args.image_height_px,
    )
    fragment = patterns.survey(
        polygon,
        camera,
        alt_rel_m=args.alt_rel_m,
        front_overlap=args.front_overlap,
        side_overlap=args.side_overlap,
        angle_deg=args.angle_deg,
        turnaround_m=args.turnaround_m,
    )
    return _finish(args, fragment, home, args.alt_rel_m)


def cmd_expanding_square(args: argparse.Namespace) -> int:
    datum = GeoPoint(args.lat, args.lon)
    home = _home(args, datum)
    fragment = patterns.expanding_square(
        datum,
        track_spacing_m=args.track_spacing_m,
        legs=args.legs,
        alt_rel_m=args.alt_rel_m,
        first_bearing_deg=args.first_bearing_deg,
    )
    return _finish(args, fragment, home, args.alt_rel_m)


def cmd_sector(args: argparse.Namespace) -> int:
    datum = GeoPoint(args.lat, args.lon)
    home = _home(args, datum)
    fragment = patterns.sector_search(
        datum,
        radius_m=args.radius_m,
        alt_rel_m=args.alt_rel_m,
        first_bearing_deg=args.first_bearing_deg,
        rounds=args.rounds,
    )
    return _finish(args, fragment, home, args.alt_rel_m)


def cmd_perimeter(args: argparse.Namespace) -> int:
    polygon = geojson.load_polygon(args.polygon)
    home = _home(args, polygon.centroid_hint())
    fragment = patterns.perimeter(
        polygon, offset_m=args.offset_m, alt_rel_m=args.alt_rel_m, laps=args.laps
    )
    return _finish(args, fragment, home, args.alt_rel_m)
