"""``mission-control airspace``: load zone files, check plans against them, route around them.

Exit status of ``airspace check``: 0 clear, 1 violations (listed), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flight_plans import geojson, qgc
from flight_plans.geodesy import GeoPoint
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import HomePosition, Mission
from flight_plans.patterns import with_takeoff_and_rtl
from flight_plans.plan import Plan
from mission_control.airspace.check import Rules, check
from mission_control.airspace.errors import AirspaceError
from mission_control.airspace.loaders import LoadResult, load_zone_files
from mission_control.airspace.routing import route
from mission_control.airspace.zones import FT_TO_M, Altitude, Zone
from mission_control.cli.errors import CliError
from mission_control.cli.plan import number

EXIT_CLEAR = 0
EXIT_VIOLATIONS = 1


def iso_time(text: str) -> datetime:
    """argparse type: an ISO 8601 time with a time zone (``Z`` accepted)."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z for UTC)")
    return t


def lat_lon(text: str) -> GeoPoint:
    """argparse type: ``LAT,LON`` in degrees."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not LAT,LON")
    try:
        lat, lon = (number(p.strip()) for p in parts)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    if not -90 <= lat <= 90 or not -180 <= lon <= 180:
        raise argparse.ArgumentTypeError(f"{text!r}: latitude must be within ±90, longitude ±180")
    return GeoPoint(lat, lon)


def authorisation(text: str) -> tuple[str, str]:
    """argparse type: ``ZONE_ID=REFERENCE``."""
    zone, sep, ref = text.partition("=")
    if not sep or not zone.strip() or not ref.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not ZONE_ID=REFERENCE")
    return zone.strip(), ref.strip()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``airspace`` and its subcommands."""
    p = sub.add_parser(
        "airspace",
        help="zones: show, check plans, route around no-fly zones",
        description="Load airspace zone files, check plans against them, route around them.",
    )
    cmds = p.add_subparsers(dest="airspace_command", metavar="SUBCOMMAND", required=True)

    show = cmds.add_parser("show", help="what a zone file contains after loading")
    show.add_argument("files", type=Path, nargs="+", metavar="FILE")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    _load_args(show)
    show.set_defaults(func=cmd_show)

    chk = cmds.add_parser(
        "check",
        help="check a plan against zones (exit 0 clear, 1 violations, 2 bad input)",
    )
    chk.add_argument("plan", type=Path, metavar="PLAN.plan")
    chk.add_argument("--zones", type=Path, nargs="+", required=True, metavar="FILE")
    chk.add_argument("--at", type=iso_time, help="take-off time, ISO 8601 (default: now)")
    chk.add_argument("--json", action="store_true", help="print one JSON object")
    ceiling = chk.add_mutually_exclusive_group()
    ceiling.add_argument("--ceiling-m", type=number, help="ceiling above ground (default 120)")
    ceiling.add_argument("--ceiling-ft", type=number, help="ceiling above ground in feet")
    ceiling.add_argument("--no-ceiling", action="store_true", help="no global ceiling")
    chk.add_argument("--max-distance-m", type=number, help="furthest from the launch point")
    chk.add_argument("--min-transit-alt-m", type=number, help="lowest mission altitude")
    chk.add_argument("--rtl-alt-m", type=number, default=60.0, help="RTL altitude (default 60)")
    chk.add_argument(
        "--authorisation",
        type=authorisation,
        action="append",
        default=[],
        metavar="ZONE_ID=REF",
        help="an authorisation for a zone that requires one (repeatable)",
    )
    _load_args(chk)
    chk.set_defaults(func=cmd_check)

    rt = cmds.add_parser("route", help="a transit path around no-fly zones")
    rt.add_argument("--from", dest="start", type=lat_lon, required=True, metavar="LAT,LON")
    rt.add_argument("--to", dest="goal", type=lat_lon, required=True, metavar="LAT,LON")
    rt.add_argument("--zones", type=Path, nargs="+", required=True, metavar="FILE")
    rt.add_argument("--margin-m", type=number, default=50.0, help="clearance (default 50)")
    rt.add_argument("--alt-rel-m", type=number, default=60.0, help="transit altitude (default 60)")
    rt.add_argument("--home-alt-amsl-m", type=number, help="launch elevation (for AMSL limits)")
    rt.add_argument("--at", type=iso_time, help="flight time, ISO 8601 (default: now)")
    rt.add_argument("-o", "--output", type=Path, metavar="OUT.plan|OUT.geojson")
    rt.add_argument("--json", action="store_true", help="print one JSON object")
    rt.add_argument(
        "--authorisation", type=authorisation, action="append", default=[], metavar="ZONE_ID=REF"
    )
    _load_args(rt)
    rt.set_defaults(func=cmd_route)


def _load_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=["auto", "geojson", "ed269", "ed318", "qgc"],
        default="auto",
        help="zone file format (default: detect)",
    )
    p.add_argument(
        "--axis-order",
        choices=["auto", "lonlat", "latlon"],
        default="auto",
        help="coordinate order in the files (default: detect)",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip (and report) invalid features instead of rejecting the file",
    )


def _load(args: argparse.Namespace, files: Sequence[Path]) -> LoadResult:
    try:
        result = load_zone_files(
            files,
            format=args.format,
            skip_invalid=args.skip_invalid,
            axis_order=args.axis_order,
        )
    except AirspaceError as exc:
        raise CliError(str(exc)) from None
    for skip in result.skipped:
        print(f"mission-control: warning: skipped {skip}", file=sys.stderr)
    return result


# -- show ---------------------------------------------------------------------------------------


def _alt_json(a: Altitude | None) -> dict[str, Any] | None:
    return None if a is None else {"m": round(a.value_m, 3), "datum": a.datum.value}


def zone_json(z: Zone) -> dict[str, Any]:
    """A zone as a JSON-ready dict."""
    shape: dict[str, Any]
    if isinstance(z.shape, GeoCircle):
        c = z.shape.center
        shape = {"type": "circle", "center": [c.lat_deg, c.lon_deg], "radius_m": z.shape.radius_m}
    else:
        assert isinstance(z.shape, GeoPolygon)
        shape = {
            "type": "polygon",
            "vertices": len(z.shape.exterior),
            "holes": len(z.shape.holes),
            "area_m2": round(z.shape.area_m2(), 1),
        }
    return {
        "identifier": z.identifier,
        "part": z.part,
        "name": z.name,
        "kind": z.kind.value,
        "restriction": z.restriction.value,
        "floor": _alt_json(z.vertical.floor),
        "ceiling": _alt_json(z.vertical.ceiling),
        "permanent": z.schedule.permanent,
        "periods": [
            {
                "start": p.start.isoformat() if p.start else None,
                "end": p.end.isoformat() if p.end else None,
                "weekly": [
                    {
                        "days": sorted(w.days),
                        "start": w.start.isoformat(),
                        "end": w.end.isoformat(),
                    }
                    for w in p.windows
                ],
            }
            for p in z.schedule.periods
        ],
        "shape": shape,
        "reason": list(z.reason),
        "message": z.message,
        "authority": z.authority,
        "source": z.source,
    }


def _alt_text(a: Altitude | None, none: str) -> str:
    return none if a is None else f"{a.value_m:.0f} m {a.datum.value.upper()}"


def cmd_show(args: argparse.Namespace) -> int:
    result = _load(args, args.files)
    if args.json:
        doc = {
            "format": result.format,
            "axis_order": result.axis_order,
            "zone_count": len(result.zones),
            "skipped": [str(s) for s in result.skipped],
            "zones": [zone_json(z) for z in result.zones],
        }
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    print(
        f"{len(result.zones)} zone(s), format {result.format}, axis order {result.axis_order}"
        + (f", {len(result.skipped)} skipped" if result.skipped else "")
    )
    for z in result.zones:
        if isinstance(z.shape, GeoCircle):
            shape = f"circle r={z.shape.radius_m:.0f} m"
        else:
            shape = f"polygon {len(z.shape.exterior)} vertices"
            if z.shape.holes:
                shape += f", {len(z.shape.holes)} hole(s)"
        floor = _alt_text(z.vertical.floor, "surface")
        band = f"{floor} – {_alt_text(z.vertical.ceiling, 'unlimited')}"
        when = "permanent" if z.schedule.permanent else f"{len(z.schedule.periods)} period(s)"
        print(f"  {z.label}: {z.kind.value}, {z.restriction.value}, {shape}, {band}, {when}")
    return 0


# -- check --------------------------------------------------------------------------------------


def _rules(args: argparse.Namespace) -> Rules:
    if args.no_ceiling:
        ceiling: float | None = None
    elif args.ceiling_ft is not None:
        ceiling = args.ceiling_ft * FT_TO_M
    else:
        ceiling = args.ceiling_m if args.ceiling_m is not None else 120.0
    try:
        return Rules(
            ceiling_agl_m=ceiling,
            max_distance_from_launch_m=args.max_distance_m,
            min_transit_alt_rel_m=args.min_transit_alt_m,
            rtl_alt_rel_m=args.rtl_alt_m,
        )
    except AirspaceError as exc:
        raise CliError(str(exc)) from None


def cmd_check(args: argparse.Namespace) -> int:
    plan = qgc.load_plan(args.plan)
    rules = _rules(args)
    zones = _load(args, args.zones).zones
    try:
        report = check(
            plan.mission,
            zones,
            at=args.at or datetime.now(UTC),
            rules=rules,
            authorisations=dict(args.authorisation),
        )
    except AirspaceError as exc:
        raise CliError(f"{args.plan}: {exc}") from None
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        t0, t1 = report.window
        head = "CLEAR" if report.ok else f"{len(report.violations)} VIOLATION(S)"
        print(
            f"{args.plan}: {head} — {report.legs_checked} legs, {report.circles_checked} loiter "
            f"circle(s), {report.zones_considered} of {report.zones_total} zones near the path, "
            f"in force {t0:%Y-%m-%d %H:%M}–{t1:%H:%M} UTC"
        )
        for v in report.violations:
            print(f"  ✗ {v.message}\n      fix: {v.suggestion}")
        for w in report.warnings:
            print(f"  ! {w.message}\n      note: {w.suggestion}")
    return EXIT_CLEAR if report.ok else EXIT_VIOLATIONS


# -- route --------------------------------------------------------------------------------------


def cmd_route(args: argparse.Namespace) -> int:
    if args.output is not None and args.output.suffix.lower() not in (".plan", ".geojson"):
        raise CliError(f"{args.output}: unknown output type; use .plan or .geojson")
    zones = _load(args, args.zones).zones
    try:
        r = route(
            args.start,
            args.goal,
            zones,
            margin_m=args.margin_m,
            at=args.at or datetime.now(UTC),
            alt_rel_m=args.alt_rel_m,
            launch_alt_amsl_m=args.home_alt_amsl_m,
            authorisations=dict(args.authorisation),
        )
    except AirspaceError as exc:
        raise CliError(str(exc)) from None
    if args.output is not None:
        home = HomePosition(args.start.lat_deg, args.start.lon_deg, args.home_alt_amsl_m or 0.0)
        # out along the route and back along it: a plain RTL would fly straight home,
        # through the zones the route went around
        out = r.to_mission(alt_rel_m=args.alt_rel_m, home=home)
        back = replace(r, points=tuple(reversed(r.points))).to_mission(
            alt_rel_m=args.alt_rel_m, home=home
        )
        mission = with_takeoff_and_rtl(
            Mission(out.items + back.items[1:], home), home, takeoff_alt_rel_m=args.alt_rel_m
        )
        plan = Plan(mission=mission)
        if args.output.suffix.lower() == ".plan":
            qgc.dump_plan(plan, args.output)
        else:
            args.output.write_text(
                geojson.dumps_geojson(geojson.plan_to_geojson(plan)) + "\n", encoding="utf-8"
            )
    doc = {
        "points": [[p.lat_deg, p.lon_deg] for p in r.points],
        "length_m": round(r.length_m, 1),
        "direct_length_m": round(r.direct_length_m, 1),
        "goal_reached": r.goal_reached,
        "standoff_from": r.standoff_from,
        "notes": list(r.notes),
    }
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        print(
            f"route: {len(r.points)} points, {r.length_m:.0f} m "
            f"(direct {r.direct_length_m:.0f} m), "
            f"goal {'reached' if r.goal_reached else 'NOT reached'}"
        )
        for note in r.notes:
            print(f"  note: {note}")
        for p in r.points:
            print(f"  {p.lat_deg:.7f},{p.lon_deg:.7f}")
        if args.output is not None:
            print(f"wrote {args.output}", file=sys.stderr)
    return 0
