"""Airspace engine figures with 10,000 synthetic city-sized zones.

- check of a 200-item mission (indexed), against a naive "every zone, every sampled point"
  baseline in the same process, and their ratio;
- assessment throughput for 100,000 positions (batched, and one call at a time).

Prints ``bench: NAME VALUE UNIT`` lines.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
import time
from datetime import UTC, datetime

import numpy as np
import shapely
from _harness import measure, report

from flight_plans.geodesy import WGS84, GeoPoint, LocalFrame
from flight_plans.geometry import GeoPolygon
from flight_plans.mission import HomePosition, MavCmd, MavFrame, Mission, MissionItem
from mission_control.airspace.assess import Assessor
from mission_control.airspace.check import Rules, check
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.zones import AltDatum, Altitude, VerticalLimits, Zone

HOME = HomePosition(47.37, 8.54, 410.0)
FRAME = LocalFrame(HOME.point)
AT = datetime(2026, 5, 2, 12, tzinfo=UTC)
RNG = random.Random(7)


def city_zones(n: int, extent_m: float) -> list[Zone]:
    """Random star polygons 100–600 m across scattered over a square of side 2·extent_m."""
    zones = []
    for k in range(n):
        cx, cy = RNG.uniform(-extent_m, extent_m), RNG.uniform(-extent_m, extent_m)
        m = RNG.randint(4, 10)
        rot = RNG.uniform(0, 2 * math.pi)
        radii = [RNG.uniform(50, 300) for _ in range(m)]
        ring = [
            (
                cx + r * math.cos(rot + 2 * math.pi * j / m),
                cy + r * math.sin(rot + 2 * math.pi * j / m),
            )
            for j, r in enumerate(radii)
        ]
        floor = Altitude(RNG.choice([0.0, 30.0, 60.0]), AltDatum.TERRAIN)
        zones.append(
            Zone(
                f"Z{k}",
                GeoPolygon(tuple(FRAME.to_geo_many(ring))),
                vertical=VerticalLimits(floor, None),
            )
        )
    return zones


def mission_200() -> Mission:
    """A 200-item mission wandering over ~6 km around home at 40–110 m."""
    items = [MissionItem.at(MavCmd.NAV_TAKEOFF, HOME.lat_deg, HOME.lon_deg, alt_rel_m=40)]
    x = y = 0.0
    for _ in range(198):
        x = max(-3000.0, min(3000.0, x + RNG.uniform(-400, 400)))
        y = max(-3000.0, min(3000.0, y + RNG.uniform(-400, 400)))
        p = FRAME.to_geo(x, y)
        items.append(
            MissionItem.at(
                MavCmd.NAV_WAYPOINT, p.lat_deg, p.lon_deg, alt_rel_m=RNG.uniform(40, 110)
            )
        )
    items.append(MissionItem(MavCmd.NAV_RETURN_TO_LAUNCH, MavFrame.MISSION))
    return Mission(tuple(items), HOME)


def naive_check(m: Mission, zones: list[Zone], step_m: float = 10.0) -> int:
    """Baseline: sample the path every step_m and test every sample against every zone."""
    pts = [(HOME.point, 0.0)] + [
        (GeoPoint(i.lat_deg, i.lon_deg), i.alt_m) for i in m.items if i.is_nav
    ]
    pts.append((HOME.point, pts[-1][1]))
    lons: list[float] = []
    lats: list[float] = []
    alts: list[float] = []
    for (a, za), (b, zb) in itertools.pairwise(pts):
        _, _, d = WGS84.inv(a.lon_deg, a.lat_deg, b.lon_deg, b.lat_deg)
        n = max(1, math.ceil(d / step_m))
        mids = WGS84.npts(a.lon_deg, a.lat_deg, b.lon_deg, b.lat_deg, n - 1) if n > 1 else []
        seg = [(a.lon_deg, a.lat_deg), *mids]
        for j, (lo, la) in enumerate(seg):
            lons.append(lo)
            lats.append(la)
            alts.append(za + (zb - za) * j / n)
    samples = shapely.points(np.array(lons), np.array(lats))
    alt = np.array(alts)
    hits = 0
    for z in zones:
        assert isinstance(z.shape, GeoPolygon)
        poly = shapely.Polygon([(v.lon_deg, v.lat_deg) for v in z.shape.exterior])
        floor = z.vertical.floor.value_m if z.vertical.floor else -math.inf
        inside = shapely.covers(poly, samples) & (alt >= floor)
        hits += int(inside.any())
    return hits


def main() -> None:
    t0 = time.perf_counter()
    zones = city_zones(10_000, 50_000.0)
    report("airspace.build_10k_zones", (time.perf_counter() - t0) * 1000, "ms")
    t0 = time.perf_counter()
    index = ZoneIndex(zones)
    report("airspace.index_10k_zones", (time.perf_counter() - t0) * 1000, "ms")
    m = mission_200()
    rules = Rules(ceiling_agl_m=None)
    first = check(m, index, at=AT, rules=rules)
    print(
        f"bench: airspace.check_200_items_10k_zones.violations {len(first.violations)} count",
        flush=True,
    )
    print(
        f"bench: airspace.check_200_items_10k_zones.zones_considered {first.zones_considered} count"
    )
    indexed = measure(
        "airspace.check_200_items_10k_zones", lambda: check(m, index, at=AT, rules=rules), repeat=20
    )
    cold = []
    for _ in range(3):
        fresh = ZoneIndex(zones)  # empty projection cache: every candidate projected anew
        s = time.perf_counter()
        check(m, fresh, at=AT, rules=rules)
        cold.append((time.perf_counter() - s) * 1000)
    report("airspace.check_200_items_10k_zones_cold_cache.p50", statistics.median(cold), "ms")
    naive = []
    for _ in range(3):
        s = time.perf_counter()
        naive_check(m, zones)
        naive.append((time.perf_counter() - s) * 1000)
    naive_ms = statistics.median(naive)
    report("airspace.naive_check_200_items_10k_zones.p50", naive_ms, "ms")
    report("airspace.check_speedup_vs_naive", naive_ms / indexed, "x")

    n = 100_000
    xy = np.column_stack([np.random.default_rng(1).uniform(-45_000, 45_000, n) for _ in range(2)])
    geo = FRAME.to_geo_many(map(tuple, xy))
    lat = np.array([g.lat_deg for g in geo])
    lon = np.array([g.lon_deg for g in geo])
    alt = np.random.default_rng(2).uniform(10, 120, n)
    vel = np.random.default_rng(3).uniform(-15, 15, (n, 3)) * np.array([1, 1, 0.2])
    assessor = Assessor(index, launch=HOME, at=AT, search_radius_m=1000)
    s = time.perf_counter()
    res = assessor.assess_many(lat, lon, alt, vel, lookahead_s=30)
    cold_s = time.perf_counter() - s
    report("airspace.assess_100k_positions_cold.rate", n / cold_s, "positions/s")
    s = time.perf_counter()
    res = assessor.assess_many(lat, lon, alt, vel, lookahead_s=30)
    warm_s = time.perf_counter() - s
    report("airspace.assess_100k_positions.rate", n / warm_s, "positions/s")
    report("airspace.assess_100k_positions.in_breach", sum(a.in_breach for a in res), "count")
    k = 5000
    s = time.perf_counter()
    for i in range(k):
        assessor.assess(GeoPoint(lat[i], lon[i]), float(alt[i]), tuple(vel[i]), lookahead_s=30)
    report("airspace.assess_single_call.rate", k / (time.perf_counter() - s), "positions/s")


if __name__ == "__main__":
    main()
