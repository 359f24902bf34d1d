"""Operator rules (ceiling, distance, minimum altitude) and the checker's shared context."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from flight_plans.geodesy import GeoPoint, LocalFrame, distance_m
from flight_plans.mission import AltDatum
from mission_control.airspace.errors import AirspaceError
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.path import FlightPath, PathPoint
from mission_control.airspace.terrain import TerrainProvider
from mission_control.airspace.violations import Violation, ViolationKind, describe_leg
from mission_control.airspace.zones import Altitude

FRAME_RADIUS_M = 15_000.0
"""Every leg is evaluated in a local frame centred within this distance of both its ends."""


@dataclass(frozen=True, slots=True)
class Rules:
    """The operator's rules on top of the zones.

    Attributes:
        ceiling_agl_m: global ceiling above ground (120 m in the EU; US users set
            ``400 * 0.3048``); ``None`` disables it.
        max_distance_from_launch_m: furthest the path may go from the launch point.
        min_transit_alt_rel_m: lowest altitude for mission legs (not take-off/landing).
        rtl_alt_rel_m: altitude a return-to-launch climbs to (PX4 ``RTL_RETURN_ALT``).
        pad_m: safety pad added around exclusion zones (and taken off inclusion zones).
    """

    ceiling_agl_m: float | None = 120.0
    max_distance_from_launch_m: float | None = None
    min_transit_alt_rel_m: float | None = None
    rtl_alt_rel_m: float = 60.0
    pad_m: float = 1.0

    def __post_init__(self) -> None:
        for name in ("ceiling_agl_m", "max_distance_from_launch_m", "min_transit_alt_rel_m"):
            v = getattr(self, name)
            if v is not None and (not math.isfinite(v) or v < 0):
                raise AirspaceError(f"rules.{name}: must be a finite number >= 0, got {v!r}")
        if not math.isfinite(self.rtl_alt_rel_m) or self.rtl_alt_rel_m < 0:
            raise AirspaceError(f"rules.rtl_alt_rel_m: must be >= 0, got {self.rtl_alt_rel_m!r}")
        if not math.isfinite(self.pad_m) or self.pad_m < 0:
            raise AirspaceError(f"rules.pad_m: must be >= 0, got {self.pad_m!r}")


@dataclass(slots=True)
class CheckContext:
    """State of one check: inputs, local frames in use, findings (internal)."""

    index: ZoneIndex
    rules: Rules
    terrain: TerrainProvider
    launch: GeoPoint
    launch_alt_amsl_m: float | None
    ground_launch_m: float
    authorisations: Mapping[str, str]
    frames: list[LocalFrame] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)
    seen: set[tuple[object, ...]] = field(default_factory=set)

    def frame_for(self, a: GeoPoint, b: GeoPoint) -> LocalFrame:
        for f in self.frames:
            if (
                distance_m(f.origin, a) <= FRAME_RADIUS_M
                and distance_m(f.origin, b) <= FRAME_RADIUS_M
            ):
                return f
        mid = LocalFrame(a).to_geo(*(c / 2 for c in LocalFrame(a).to_local(b)))
        f = LocalFrame(mid)
        self.frames.append(f)
        return f

    def band_rel(self, alt: Altitude | None, at: GeoPoint, *, floor: bool) -> float:
        """A zone limit as metres above launch at ``at`` (±inf when unbounded/unknown)."""
        unbounded = -math.inf if floor else math.inf
        if alt is None:
            return unbounded
        if alt.datum is AltDatum.REL_HOME:
            return alt.value_m
        if alt.datum is AltDatum.AMSL:
            if self.launch_alt_amsl_m is None:
                return unbounded  # unknown: assume the zone covers every altitude
            return alt.value_m - self.launch_alt_amsl_m
        ground = self.terrain.elevation_amsl_m([at])[0]
        return alt.value_m + ground - self.ground_launch_m

    def add(self, v: Violation) -> None:
        key = (v.kind, v.zone_label, v.item_index, v.leg)
        if key in self.seen:
            return
        self.seen.add(key)
        (self.violations if v.blocking else self.warnings).append(v)


# -- operator rules ------------------------------------------------------------------------------


def _samples(ctx: CheckContext, a: PathPoint, b: PathPoint) -> list[tuple[GeoPoint, float]]:
    """Points along the leg every terrain resolution (none over flat ground)."""
    step = ctx.terrain.resolution_m
    if not math.isfinite(step) or a.point == b.point:
        return []
    frame = LocalFrame(a.point)
    bx, by = frame.to_local(b.point)
    n = min(10_000, math.ceil(math.hypot(bx, by) / step))
    return [
        (frame.to_geo(bx * k / n, by * k / n), a.alt_rel_m + (b.alt_rel_m - a.alt_rel_m) * k / n)
        for k in range(n + 1)
    ]


def check_rules(ctx: CheckContext, path: FlightPath) -> None:
    """Ceiling, distance from launch and minimum transit altitude, worst case per item.

    Along a leg the altitude is linear and the distance from launch is largest at an end
    (in the local frame a disc is convex), so checking every path point covers the legs.
    """
    r = ctx.rules
    worst: dict[tuple[ViolationKind, int | None], tuple[float, Violation]] = {}

    def keep(amount: float, v: Violation) -> None:
        key = (v.kind, v.item_index)
        if key not in worst or amount > worst[key][0]:
            worst[key] = (amount, v)

    prev = path.points[0]
    for p in path.points[1:]:
        leg = (prev.item_index, p.item_index)
        if r.ceiling_agl_m is not None:
            limit = Altitude(r.ceiling_agl_m, AltDatum.TERRAIN)
            # worst point of the leg: its end over flat ground, else sampled along it
            at, alt_at = p.point, p.alt_rel_m
            ceiling = ctx.band_rel(limit, at, floor=False)
            for q, q_alt in _samples(ctx, prev, p):
                c = ctx.band_rel(limit, q, floor=False)
                if q_alt - c > alt_at - ceiling:
                    at, alt_at, ceiling = q, q_alt, c
            over = alt_at - ceiling
            if over > 1e-6:
                keep(
                    over,
                    Violation(
                        kind=ViolationKind.ABOVE_CEILING,
                        message=(
                            f"{describe_leg(prev, p)} reaches {alt_at:.0f} m above launch, "
                            f"{over:.1f} m over the {r.ceiling_agl_m:.0f} m AGL ceiling"
                        ),
                        suggestion=(
                            f"lower the altitude there to {ceiling:.0f} m or less"
                            if p.phase != "rtl"
                            else f"set the return altitude to {ceiling:.0f} m or less"
                        ),
                        item_index=p.item_index,
                        leg=leg,
                        over_m=over,
                        location=at,
                    ),
                )
        if r.max_distance_from_launch_m is not None:
            d = distance_m(path.launch, p.point)
            beyond = d - r.max_distance_from_launch_m
            if beyond > 1e-6:
                keep(
                    beyond,
                    Violation(
                        kind=ViolationKind.TOO_FAR,
                        message=(
                            f"item {p.item_index} is {d:.0f} m from the launch point, "
                            f"beyond the {r.max_distance_from_launch_m:.0f} m limit"
                        ),
                        suggestion="launch from a closer vehicle or move the point nearer",
                        item_index=p.item_index,
                        leg=leg,
                        inside_m=beyond,
                        location=p.point,
                    ),
                )
        if r.min_transit_alt_rel_m is not None and p.phase == "mission":
            under = r.min_transit_alt_rel_m - p.alt_rel_m
            if under > 1e-6:
                keep(
                    under,
                    Violation(
                        kind=ViolationKind.BELOW_MIN_ALTITUDE,
                        message=(
                            f"item {p.item_index} is at {p.alt_rel_m:.0f} m, below the minimum "
                            f"transit altitude of {r.min_transit_alt_rel_m:.0f} m"
                        ),
                        suggestion=f"raise it to {r.min_transit_alt_rel_m:.0f} m",
                        item_index=p.item_index,
                        leg=leg,
                        over_m=under,
                        location=p.point,
                    ),
                )
        prev = p
    for _, v in worst.values():
        ctx.add(v)
