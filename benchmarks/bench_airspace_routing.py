"""Routing figures: transit routes across a synthetic city of 1,000 zones.

Zones are random star polygons 100–400 m across (and one in five a circle of 50–200 m
radius) scattered over 20 × 20 km; each route crosses a good part of the city (8–25 km).
Every ``route`` call includes its own airspace check of the result.

Prints ``bench: NAME VALUE UNIT`` lines (p50/p90 over different start/goal pairs, in ms).
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
import time

from _harness import measure, report

from flight_plans.geodesy import GeoPoint, LocalFrame, distance_m
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import HomePosition
from mission_control.airspace.check import Rules, check
from mission_control.airspace.errors import NoRouteError
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.routing import Route, route
from mission_control.airspace.zones import Zone

CENTER = GeoPoint(47.37, 8.54)
FRAME = LocalFrame(CENTER)
HALF_SIDE_M = 10_000.0
MARGIN_M = 50.0


def city(rng: random.Random, n: int) -> list[Zone]:
    zones = []
    for k in range(n):
        cx, cy = (rng.uniform(-HALF_SIDE_M, HALF_SIDE_M) for _ in range(2))
        if rng.random() < 0.2:
            zones.append(Zone(f"C{k}", GeoCircle(FRAME.to_geo(cx, cy), rng.uniform(50, 200))))
            continue
        m = rng.randint(4, 9)
        rot = rng.uniform(0, 2 * math.pi)
        size = rng.uniform(50, 200)
        ring = []
        for j in range(m):
            r = size * rng.uniform(0.5, 1.0)
            a = rot + 2 * math.pi * j / m
            ring.append((cx + r * math.cos(a), cy + r * math.sin(a)))
        zones.append(Zone(f"P{k}", GeoPolygon(tuple(FRAME.to_geo_many(ring)))))
    return zones


def pairs(rng: random.Random, n: int) -> list[tuple[GeoPoint, GeoPoint]]:
    """Start/goal pairs 8–25 km apart (some starts land inside zones: an error, timed too)."""
    out: list[tuple[GeoPoint, GeoPoint]] = []
    while len(out) < n:
        a, b = (
            FRAME.to_geo(
                rng.uniform(-0.95, 0.95) * HALF_SIDE_M, rng.uniform(-0.95, 0.95) * HALF_SIDE_M
            )
            for _ in range(2)
        )
        if 8_000 <= distance_m(a, b) <= 25_000:
            out.append((a, b))
    return out


def try_route(index: ZoneIndex, a: GeoPoint, b: GeoPoint) -> Route | None:
    try:
        return route(a, b, index, margin_m=MARGIN_M)
    except NoRouteError:
        return None


def main() -> None:
    rng = random.Random(11)
    zones = city(rng, 1000)
    index = ZoneIndex(zones)
    trips = pairs(rng, 40)
    # first request for each pair: a new local frame, zones projected into it
    cycle = itertools.cycle(trips)
    measure(
        "airspace.route_city_1k_zones",
        lambda: try_route(index, *next(cycle)),
        repeat=len(trips),
        warmup=0,
    )
    # the same requests again: frame and projections cached
    measure(
        "airspace.route_city_1k_zones_repeat",
        lambda: try_route(index, *next(cycle)),
        repeat=len(trips),
        warmup=0,
    )
    found = [(r, a) for (a, b) in trips if (r := try_route(index, a, b)) is not None]
    report("airspace.route_city_1k_zones.routes_found", len(found), "count")
    report("airspace.route_city_1k_zones.no_route", len(trips) - len(found), "count")
    report(
        "airspace.route_city_1k_zones.mean_direct_km",
        statistics.mean(r.direct_length_m for r, _ in found) / 1000,
        "km",
    )
    report(
        "airspace.route_city_1k_zones.mean_length_ratio",
        statistics.mean(r.length_m / r.direct_length_m for r, _ in found),
        "x",
    )
    report(
        "airspace.route_city_1k_zones.mean_waypoints",
        statistics.mean(len(r.points) for r, _ in found),
        "count",
    )
    # what the checker alone costs on those routes (each route call runs it once)
    missions = itertools.cycle(
        [r.to_mission(alt_rel_m=60.0, home=HomePosition(a.lat_deg, a.lon_deg)) for r, a in found]
    )
    rules = Rules(ceiling_agl_m=None)
    measure(
        "airspace.check_route_mission_1k_zones",
        lambda: check(next(missions), index, rules=rules),
        repeat=len(found),
        warmup=0,
    )
    t0 = time.perf_counter()
    ZoneIndex(zones)
    report("airspace.index_1k_zones", (time.perf_counter() - t0) * 1000, "ms")


if __name__ == "__main__":
    main()
