"""Dispatch latency: 50 drones and 1,000 zones over a 20 × 20 km city, 200 incidents.

Zones are random star polygons 100–400 m across (one in five a circle of 50–200 m radius);
drones stand at random legal launch points (a few busy, lost or low on battery);
incidents are random points, a quarter of them inside a zone (stand-off orbits) and a
tenth just outside one. Each dispatch plans at most ``max_candidates_planned`` drones and
runs the airspace check of the winner; the zone index is built once and shared, as the
service does.

Target: p99 < 200 ms on a 2-core machine. Prints ``bench: NAME VALUE UNIT`` lines.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections import Counter
from datetime import UTC, datetime

from _harness import report

from flight_plans.energy import VehicleProfile
from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import HomePosition
from mission_control.airspace.index import ZoneIndex
from mission_control.airspace.zones import Zone
from mission_control.domain.dispatch import DispatchResult, dispatch
from mission_control.domain.fleet import DroneSnapshot
from mission_control.domain.incident import Incident, PatternKind

CENTER = GeoPoint(47.37, 8.54)
FRAME = LocalFrame(CENTER)
HALF_SIDE_M = 10_000.0
AT = datetime(2026, 5, 2, 12, tzinfo=UTC)
KINDS = ("shots_fired", "fire", "traffic_collision", "missing_person", "medical", "burglary")


def city(rng: random.Random, n: int) -> list[tuple[Zone, float, float, float]]:
    """Zones with their centre (x, y) and rough radius in the city frame."""
    out = []
    for k in range(n):
        cx, cy = (rng.uniform(-HALF_SIDE_M, HALF_SIDE_M) for _ in range(2))
        if rng.random() < 0.2:
            r = rng.uniform(50, 200)
            out.append((Zone(f"C{k}", GeoCircle(FRAME.to_geo(cx, cy), r)), cx, cy, r))
            continue
        m = rng.randint(4, 9)
        rot = rng.uniform(0, 2 * math.pi)
        size = rng.uniform(50, 200)
        ring = []
        for j in range(m):
            r = size * rng.uniform(0.5, 1.0)
            a = rot + 2 * math.pi * j / m
            ring.append((cx + r * math.cos(a), cy + r * math.sin(a)))
        out.append((Zone(f"P{k}", GeoPolygon(tuple(FRAME.to_geo_many(ring)))), cx, cy, size))
    return out


def clear_of(zones: list[tuple[Zone, float, float, float]], x: float, y: float, gap: float) -> bool:
    return all(math.hypot(x - cx, y - cy) > r + gap for _, cx, cy, r in zones)


def fleet(rng: random.Random, zones: list[tuple[Zone, float, float, float]]) -> list[DroneSnapshot]:
    profile = VehicleProfile(cruise_speed_m_s=15.0, hover_power_w=300.0, mass_kg=4.0)
    drones: list[DroneSnapshot] = []
    while len(drones) < 50:
        x, y = (rng.uniform(-0.9, 0.9) * HALF_SIDE_M for _ in range(2))
        if not clear_of(zones, x, y, 80.0):
            continue
        p = FRAME.to_geo(x, y)
        i = len(drones) + 1
        drones.append(
            DroneSnapshot(
                drone_id=i,
                link="lost" if i % 17 == 0 else "connected",
                lat_deg=p.lat_deg,
                lon_deg=p.lon_deg,
                home=HomePosition(p.lat_deg, p.lon_deg, 410.0),
                battery_fraction=0.15 if i % 11 == 0 else rng.uniform(0.6, 1.0),
                capacity_wh=500.0,
                profile=profile,
                mission_id="m-busy" if i % 13 == 0 else None,
                gps_fix="fix_3d",
                armable=True,
            )
        )
    return drones


def incidents(rng: random.Random, zones: list[tuple[Zone, float, float, float]]) -> list[Incident]:
    out = []
    for k in range(200):
        u = rng.random()
        if u < 0.25:  # inside a zone: stand-off
            _, cx, cy, _ = rng.choice(zones)
            x, y = cx + rng.uniform(-10, 10), cy + rng.uniform(-10, 10)
        elif u < 0.35:  # just outside one
            _, cx, cy, r = rng.choice(zones)
            a = rng.uniform(0, 2 * math.pi)
            x, y = cx + (r + 60) * math.cos(a), cy + (r + 60) * math.sin(a)
        else:
            x, y = (rng.uniform(-0.9, 0.9) * HALF_SIDE_M for _ in range(2))
        p = FRAME.to_geo(x, y)
        pattern = rng.choice([None, None, None, PatternKind.HOVER, PatternKind.EXPANDING_SQUARE])
        out.append(
            Incident(
                id=f"i-{k}",
                source="bench",
                kind=rng.choice(KINDS),
                priority=1,
                lat_deg=p.lat_deg,
                lon_deg=p.lon_deg,
                reported_by="bench",
                created_at=AT,
                updated_at=AT,
                pattern=pattern,
            )
        )
    return out


def main() -> None:
    rng = random.Random(23)
    zones = city(rng, 1000)
    t0 = time.perf_counter()
    index = ZoneIndex([z for z, *_ in zones])
    report("dispatch.index_1k_zones", (time.perf_counter() - t0) * 1000, "ms")
    drones = fleet(rng, zones)
    cases = incidents(rng, zones)
    for inc in cases[:5]:  # warm-up: imports, PROJ pipelines
        dispatch(inc, drones, index, at=AT)
    samples: list[float] = []
    results: list[DispatchResult] = []
    for inc in cases:
        t = time.perf_counter()
        results.append(dispatch(inc, drones, index, at=AT))
        samples.append((time.perf_counter() - t) * 1000.0)
    samples.sort()
    p99 = samples[min(len(samples) - 1, math.ceil(0.99 * len(samples)) - 1)]
    report("dispatch_p50", statistics.median(samples), "ms")
    report("dispatch_p99", p99, "ms")
    report("dispatch_max", samples[-1], "ms")
    served = [r.proposal for r in results if r.proposal is not None]
    report("dispatch.proposals", len(served), "count")
    report("dispatch.standoff", sum(p.standoff_from is not None for p in served), "count")
    report("dispatch.mean_eta", statistics.mean(p.eta_s for p in served), "s")
    kinds = Counter(r.kind.value for res in results for r in res.rejected)
    for kind, n in sorted(kinds.items()):
        report(f"dispatch.rejections.{kind}", n, "count")


if __name__ == "__main__":
    main()
