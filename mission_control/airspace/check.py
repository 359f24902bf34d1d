"""Whole-path airspace checks: every leg, every loiter circle, the altitude profile.

``check(mission, zones, at=...)`` flies the mission's path (:mod:`.path`) through the
rules and returns an :class:`AirspaceReport`. Unlike ground stations that test waypoints
only, each *leg* is intersected with each zone near it, and the altitude along the leg
(linear between its ends) is compared with the zone's floor and ceiling where the leg is
inside it.

Geometry and its error bound: legs longer than 10 km are split along the geodesic; each leg
is evaluated in a :class:`~flight_plans.geodesy.LocalFrame` whose centre is within 15 km of
both its ends, where the projection's scale error is below 1e-6 and a geodesic deviates
from the projected chord by millimetres; zone edges are densified (≤ 0.002°) before
projection. The total error is far below 1 m — and exclusion zones are padded by
:attr:`Rules.pad_m` (1 m) while inclusion zones are shrunk by it, so the approximation
can only make the checker stricter, never miss an incursion.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from flight_plans.energy import estimate
from flight_plans.geodesy import GeoPoint, LocalFrame, distance_m
from flight_plans.mission import HomePosition, Mission
from mission_control.airspace.errors import AirspaceError
from mission_control.airspace.index import LocalZone, ZoneIndex
from mission_control.airspace.operating_area import (
    check_inclusion_circle,
    check_inclusion_leg,
    depth_m,
    lerp,
    operating_area,
)
from mission_control.airspace.path import PathPoint, flight_path
from mission_control.airspace.rules import CheckContext, Rules, check_rules
from mission_control.airspace.terrain import FlatTerrain, TerrainProvider
from mission_control.airspace.violations import (
    AirspaceReport,
    Violation,
    ViolationKind,
    describe_leg,
)
from mission_control.airspace.zones import Restriction, Zone, ZoneKind

__all__ = ["Rules", "check"]


def _window(
    mission: Mission, at: datetime | None, until: datetime | None
) -> tuple[datetime, datetime]:
    t0 = at or datetime.now(UTC)
    if t0.tzinfo is None:
        raise AirspaceError("at: the flight time must carry a time zone (e.g. 2026-05-01T14:00Z)")
    if until is not None:
        if until.tzinfo is None or until < t0:
            raise AirspaceError("until: must be an aware time after 'at'")
        return t0, until
    try:
        duration = estimate(mission).time_s
    except Exception:  # an estimate problem (e.g. no headway) must not hide zones
        duration = 3600.0
    # generous: a quarter more than the estimate plus five minutes of delays
    return t0, t0 + timedelta(seconds=duration * 1.25 + 300.0)


def check(
    mission: Mission,
    zones: Sequence[Zone] | ZoneIndex,
    *,
    at: datetime | None = None,
    until: datetime | None = None,
    rules: Rules | None = None,
    authorisations: Mapping[str, str] | None = None,
    launch: HomePosition | None = None,
    terrain: TerrainProvider | None = None,
) -> AirspaceReport:
    """Check every leg, loiter circle and altitude of ``mission`` against ``zones``.

    Args:
        mission: the mission; its ``home`` is the launch point unless ``launch`` is given.
        zones: zones, or a prebuilt :class:`ZoneIndex` (reuse one for many checks).
        at: take-off time (aware); default now. Zones in force at any time between ``at``
            and ``until`` (default: ``at`` + the estimated flight time with margin) apply.
        rules: ceiling, maximum distance, minimum transit altitude, RTL altitude.
        authorisations: zone identifier → authorisation reference; a
            requires-authorisation zone passes only when its identifier is here.
        launch: launch point and its AMSL altitude (default: ``mission.home``).
        terrain: ground elevation; default flat at the launch point.

    Raises:
        AirspaceError: no launch point (no home and no ``launch``), or naive times.
    """
    rules = rules or Rules()
    index = zones if isinstance(zones, ZoneIndex) else ZoneIndex(zones)
    home = launch or mission.home
    if home is None:
        raise AirspaceError("the mission has no home position: give the launch point")
    terrain = terrain or FlatTerrain(home.alt_amsl_m)
    t0, t1 = _window(mission, at, until)
    ctx = CheckContext(
        index=index,
        rules=rules,
        terrain=terrain,
        launch=home.point,
        launch_alt_amsl_m=home.alt_amsl_m,
        ground_launch_m=terrain.elevation_amsl_m([home.point])[0],
        authorisations=authorisations or {},
    )
    path = flight_path(
        mission,
        launch=home.point,
        launch_alt_amsl_m=home.alt_amsl_m,
        terrain=terrain,
        rtl_alt_rel_m=rules.rtl_alt_rel_m,
    )
    legs = list(zip(path.points, path.points[1:], strict=False))
    segs = [(a.point, b.point, distance_m(a.point, b.point)) for a, b in legs]
    margin = rules.pad_m + 1.0
    found = set(index.near_segments(segs, margin_m=margin)) if segs else set()
    for c in path.circles:
        found.update(index.near_point(c.center, c.radius_m * 1.01 + 0.5 + margin))
    if len(path.points) == 1:
        found.update(index.near_point(path.launch, margin))
    candidates = sorted(found)
    active = [
        i
        for i in candidates
        if index.zones[i].restriction is not Restriction.NO_RESTRICTION
        and index.zones[i].active_during(t0, t1)
    ]
    # inclusion zones anywhere (not just near the path) define the operating area
    inclusion_all = (
        [
            i
            for i, z in enumerate(index.zones)
            if z.kind is ZoneKind.INCLUSION and z.active_during(t0, t1)
        ]
        if _has_inclusion(index)
        else []
    )

    check_rules(ctx, path)
    groups: dict[LocalFrame, list[int]] = {}
    for n, (a, b) in enumerate(legs):
        groups.setdefault(ctx.frame_for(a.point, b.point), []).append(n)
    for c in path.circles:
        groups.setdefault(ctx.frame_for(c.center, c.center), [])
    for frame, numbers in groups.items():
        _check_frame(ctx, frame, active, inclusion_all, [(n, *legs[n]) for n in numbers])
        for c in path.circles:
            if ctx.frame_for(c.center, c.center) is not frame:
                continue
            _check_circle(
                ctx,
                frame,
                index.local(active, frame),
                c.center,
                c.radius_m,
                c.alt_rel_m,
                c.item_index,
            )
            if inclusion_all:
                local_incl = index.local(inclusion_all, frame)
                check_inclusion_circle(ctx, frame, local_incl, c)
    return AirspaceReport(
        ok=not ctx.violations,
        violations=merge_runs(ctx.violations),
        warnings=merge_runs(ctx.warnings),
        window=(t0, t1),
        legs_checked=len(legs),
        circles_checked=len(path.circles),
        zones_total=len(index),
        zones_considered=len(active),
        error_bound_m=rules.pad_m,
        path=tuple((p.point, p.alt_rel_m) for p in path.points),
    )


def _has_inclusion(index: ZoneIndex) -> bool:
    return any(z.kind is ZoneKind.INCLUSION for z in index.zones)


# -- exclusion zones ------------------------------------------------------------------------------


def _inside_intervals(
    lz: LocalZone,
    padded: BaseGeometry,
    p0: tuple[float, float],
    p1: tuple[float, float],
    pad_m: float,
) -> list[tuple[float, float]]:
    """Parameter intervals ``[t0, t1] ⊆ [0, 1]`` where the segment is inside the padded zone."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    length = math.hypot(dx, dy)
    if lz.center_xy is not None:
        cx, cy = lz.center_xy
        r = lz.radius_m + pad_m
        fx, fy = p0[0] - cx, p0[1] - cy
        if length < 1e-9:
            return [(0.0, 1.0)] if math.hypot(fx, fy) <= r else []
        a = dx * dx + dy * dy
        b = 2 * (fx * dx + fy * dy)
        c = fx * fx + fy * fy - r * r
        disc = b * b - 4 * a * c
        if disc < 0:
            return []
        s = math.sqrt(disc)
        lo, hi = max((-b - s) / (2 * a), 0.0), min((-b + s) / (2 * a), 1.0)
        return [(lo, hi)] if lo <= hi else []
    poly = padded
    if length < 1e-9:
        return [(0.0, 1.0)] if poly.covers(Point(p0)) else []
    seg = LineString([p0, p1])
    if not poly.intersects(seg):
        return []
    inter = poly.intersection(seg)
    out: list[tuple[float, float]] = []
    for g in getattr(inter, "geoms", [inter]):
        if g.is_empty:
            continue
        ts = [seg.project(Point(c)) / length for c in g.coords]
        out.append((min(ts), max(ts)))
    return out


def _blocking(ctx: CheckContext, zone: Zone) -> tuple[ViolationKind, bool] | None:
    if zone.restriction is Restriction.PROHIBITED:
        return ViolationKind.ZONE_INCURSION, True
    if zone.restriction is Restriction.REQ_AUTHORISATION:
        if zone.identifier in ctx.authorisations:
            return None
        return ViolationKind.AUTHORISATION_REQUIRED, True
    if zone.restriction is Restriction.CONDITIONAL:
        return ViolationKind.CONDITIONAL_ZONE, False
    return None


def _check_frame(
    ctx: CheckContext,
    frame: LocalFrame,
    active: list[int],
    inclusion: list[int],
    legs: list[tuple[int, PathPoint, PathPoint]],
) -> None:
    """Check the legs evaluated in ``frame``: one projection, one STRtree query for all."""
    if not legs:
        return
    xy = frame.to_local_many(p.point for _, a, b in legs for p in (a, b))
    ends = [(xy[2 * k], xy[2 * k + 1]) for k in range(len(legs))]
    if inclusion:
        local_incl = ctx.index.local(inclusion, frame)
        area = operating_area(local_incl, ctx.rules.pad_m)
        for (n, a, b), (p0, p1) in zip(legs, ends, strict=True):
            check_inclusion_leg(ctx, frame, local_incl, area, n, a, b, p0, p1)
    blocking = []
    for lz in ctx.index.local(active, frame):
        if lz.zone.kind is not ZoneKind.EXCLUSION:
            continue
        verdict = _blocking(ctx, lz.zone)
        if verdict is not None:
            blocking.append((lz, verdict, _zone_geom(lz, ctx.rules.pad_m)))
    if not blocking:
        return
    tree = shapely.STRtree([g for _, _, g in blocking])
    geoms = [LineString([p0, p1]) if p0 != p1 else Point(p0) for p0, p1 in ends]
    leg_idx, zone_idx = tree.query(geoms, predicate="intersects")
    for k, j in zip(leg_idx, zone_idx, strict=True):
        n, a, b = legs[k]
        p0, p1 = ends[k]
        lz, verdict, padded = blocking[j]
        for t0, t1 in _inside_intervals(lz, padded, p0, p1, ctx.rules.pad_m):
            hit = _vertical_overlap(ctx, frame, lz, p0, p1, a, b, t0, t1)
            if hit is None:
                continue
            t_hit, alt_lo, alt_hi = hit
            samples = [t0 + (t1 - t0) * q / 8 for q in range(9)]
            depth = max(depth_m(lz, lerp(p0, p1, t)) for t in samples)
            where = frame.to_geo(*lerp(p0, p1, t_hit))
            _report_zone(ctx, verdict, lz.zone, a, b, where, depth, alt_lo, alt_hi, n)


def _vertical_overlap(
    ctx: CheckContext,
    frame: LocalFrame,
    lz: LocalZone,
    p0: tuple[float, float],
    p1: tuple[float, float],
    a: PathPoint,
    b: PathPoint,
    t0: float,
    t1: float,
) -> tuple[float, float, float] | None:
    """First ``t`` in ``[t0, t1]`` where the leg's altitude is inside the zone's band.

    Returns ``(t, lowest altitude inside, highest altitude inside)`` or ``None``.
    With flat terrain the band is constant and the altitude linear, so the interval ends
    decide; with real terrain the band is sampled every ``terrain.resolution_m``.
    """
    z = lz.zone
    length = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    step = ctx.terrain.resolution_m
    n = 1 if not math.isfinite(step) else max(1, math.ceil(length * (t1 - t0) / step))
    ts = [t0 + (t1 - t0) * k / n for k in range(n + 1)]
    for u, v in zip(ts, ts[1:] or ts, strict=False):
        mid = frame.to_geo(*lerp(p0, p1, (u + v) / 2))
        floor = ctx.band_rel(z.vertical.floor, mid, floor=True)
        ceiling = ctx.band_rel(z.vertical.ceiling, mid, floor=False)
        au = a.alt_rel_m + (b.alt_rel_m - a.alt_rel_m) * u
        av = a.alt_rel_m + (b.alt_rel_m - a.alt_rel_m) * v
        lo, hi = min(au, av), max(au, av)
        if hi >= floor and lo <= ceiling:
            # first t in [u, v] where the altitude enters [floor, ceiling]
            if floor <= au <= ceiling or av == au:
                t_in = u
            else:
                target = floor if au < floor else ceiling
                t_in = u + (v - u) * (target - au) / (av - au)
            return t_in, max(lo, floor), min(hi, ceiling)
    return None


def _report_zone(
    ctx: CheckContext,
    verdict: tuple[ViolationKind, bool],
    z: Zone,
    a: PathPoint,
    b: PathPoint,
    where: GeoPoint,
    depth_m: float,
    alt_lo: float,
    alt_hi: float,
    leg_number: int,
) -> None:
    kind, blocking = verdict
    floor = ctx.band_rel(z.vertical.floor, where, floor=True)
    ceiling = ctx.band_rel(z.vertical.ceiling, where, floor=False)
    what = {
        ViolationKind.ZONE_INCURSION: "enters no-fly zone",
        ViolationKind.AUTHORISATION_REQUIRED: "enters zone requiring authorisation",
        ViolationKind.CONDITIONAL_ZONE: "enters conditional zone",
    }[kind]
    band = _band_text(floor, ceiling)
    alts = f"{alt_lo:.0f} m" if round(alt_lo) == round(alt_hi) else f"{alt_lo:.0f}–{alt_hi:.0f} m"
    message = (
        f"{describe_leg(a, b)} {what} {z.label} at {alts} above launch "
        f"(zone from {band}), up to {depth_m:.0f} m inside it"
    )
    if kind is ViolationKind.AUTHORISATION_REQUIRED:
        suggestion = (
            f"attach the authorisation reference for zone {z.identifier!r}, or route around it"
        )
    elif kind is ViolationKind.CONDITIONAL_ZONE:
        suggestion = z.message or "check the zone's conditions before flying"
    else:
        suggestion = _fix_for(ctx, z, floor, ceiling, a, b)
    ctx.add(
        Violation(
            kind=kind,
            message=message,
            suggestion=suggestion,
            item_index=b.item_index,
            leg=(a.item_index, b.item_index),
            zone_id=z.identifier,
            zone_label=z.label,
            inside_m=depth_m,
            over_m=_vertical_depth(floor, ceiling, alt_lo, alt_hi),
            location=where,
            blocking=blocking,
            leg_number=leg_number,
        )
    )


def _vertical_depth(floor: float, ceiling: float, alt_lo: float, alt_hi: float) -> float | None:
    """How far the vehicle would have to climb or descend to leave the zone's band."""
    depth = min(alt_hi - floor, ceiling - alt_lo)
    return None if math.isinf(depth) else max(depth, 0.0)


def merge_runs(found: list[Violation]) -> tuple[Violation, ...]:
    """Merge consecutive legs breaking the same zone rule into one violation.

    An orbit flown as 30 waypoints through a zone is one finding for the pilot ("legs
    3→32 enter ..."), with the deepest incursion and the first breach location kept.
    Findings of different zones (or parts of a zone) stay separate, in path order.
    """
    out: list[Violation] = []
    open_runs: dict[tuple[ViolationKind, str], int] = {}
    for v in found:
        key = (v.kind, v.zone_label or "")
        k = open_runs.get(key) if v.zone_id is not None else None
        prev = out[k] if k is not None else None
        if (
            prev is not None
            and prev.leg is not None
            and v.leg is not None
            and prev.leg[1] == v.leg[0]
        ):
            assert k is not None
            out[k] = _joined(prev, v)
            continue
        if v.zone_id is not None:
            open_runs[key] = len(out)
        out.append(v)
    return tuple(out)


def _joined(prev: Violation, v: Violation) -> Violation:
    assert prev.leg is not None and v.leg is not None
    first = prev.leg[0]
    name = f"legs {first}→{v.leg[1]}" if first is not None else f"legs up to {v.leg[1]}"
    tail = v.message.split(" enters ", 1)
    message = f"{name} enter {tail[1]}" if len(tail) == 2 else v.message
    deepest = max(prev.inside_m or 0.0, v.inside_m or 0.0)
    message = re.sub(r"up to \d+ m inside it$", f"up to {deepest:.0f} m inside it", message)
    return replace(
        prev,
        message=message,
        leg=(first, v.leg[1]),
        item_index=v.item_index,
        inside_m=deepest,
        over_m=_max_opt(prev.over_m, v.over_m),
    )


def _max_opt(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _band_text(floor: float, ceiling: float) -> str:
    lo = "surface" if not math.isfinite(floor) or floor <= 0 else f"{floor:.0f} m"
    hi = "unlimited" if not math.isfinite(ceiling) else f"{ceiling:.0f} m"
    return f"{lo} to {hi}"


def _fix_for(
    ctx: CheckContext, z: Zone, floor: float, ceiling: float, a: PathPoint, b: PathPoint
) -> str:
    frm = f"{a.point.lat_deg:.6f},{a.point.lon_deg:.6f}"
    to = f"{b.point.lat_deg:.6f},{b.point.lon_deg:.6f}"
    route_hint = f"route around it: mission-control airspace route --from {frm} --to {to}"
    if math.isfinite(floor) and floor > 5.0:
        return f"stay below the zone's floor ({floor:.0f} m above launch) or {route_hint}"
    cap = ctx.rules.ceiling_agl_m
    if math.isfinite(ceiling) and (cap is None or ceiling + 5.0 <= cap):
        return f"climb above the zone's ceiling ({ceiling:.0f} m above launch) or {route_hint}"
    return route_hint


def _check_circle(
    ctx: CheckContext,
    frame: LocalFrame,
    local: list[LocalZone],
    center: GeoPoint,
    radius_m: float,
    alt_rel_m: float,
    item_index: int,
) -> None:
    disk = Point(frame.to_local(center)).buffer(radius_m * 1.01 + 0.5, quad_segs=32)
    pt = PathPoint(center, alt_rel_m, item_index, "mission")
    for lz in local:
        z = lz.zone
        if z.kind is not ZoneKind.EXCLUSION:
            continue
        verdict = _blocking(ctx, z)
        if verdict is None:
            continue
        zone_geom = _zone_geom(lz, ctx.rules.pad_m)
        if not disk.intersects(zone_geom):
            continue
        floor = ctx.band_rel(z.vertical.floor, center, floor=True)
        ceiling = ctx.band_rel(z.vertical.ceiling, center, floor=False)
        if not floor <= alt_rel_m <= ceiling:
            continue
        inter = disk.intersection(zone_geom)
        where = frame.to_geo(*inter.representative_point().coords[0])
        depth = depth_m(lz, inter.representative_point().coords[0])
        _report_zone(ctx, verdict, z, pt, pt, where, depth, alt_rel_m, alt_rel_m, -1)


def _zone_geom(lz: LocalZone, pad_m: float) -> BaseGeometry:
    if lz.center_xy is not None:
        # circumscribed polygon: contains the true circle
        n = 64
        r = (lz.radius_m + pad_m) / math.cos(math.pi / n)
        return Point(lz.center_xy).buffer(r, quad_segs=n // 4)
    assert lz.polygon is not None
    return lz.polygon.buffer(pad_m, join_style="mitre") if pad_m > 0 else lz.polygon
