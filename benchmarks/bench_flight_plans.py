"""Planning-library figures: pattern generation, .plan I/O, MAVLink conversion, estimates.

Prints ``bench: NAME VALUE UNIT`` lines (p50/p90 of repeated runs, in ms).
"""

from __future__ import annotations

from pathlib import Path

from _harness import measure

from flight_plans import geojson, patterns, qgc
from flight_plans.camera import CameraModel
from flight_plans.energy import estimate
from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.geometry import GeoPolygon
from flight_plans.mission import HomePosition, Mission
from flight_plans.survey import survey

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "qgc"
CENTER = GeoPoint(47.3977, 8.5456)
HOME = HomePosition(47.3970, 8.5440, 488.0)


def square_km(side_m: float) -> GeoPolygon:
    f = LocalFrame(CENTER)
    h = side_m / 2
    return GeoPolygon(tuple(f.to_geo_many([(-h, -h), (h, -h), (h, h), (-h, h)])))


def main() -> None:
    camera = CameraModel(13.2, 8.8, 8.8, 5472, 3648)
    field = square_km(1000.0)

    measure(
        "patterns.orbit_r100m_3turns",
        lambda: patterns.orbit(CENTER, radius_m=100, alt_rel_m=60, turns=3),
    )
    measure(
        "patterns.survey_1km2_60m",
        lambda: survey(field, camera, alt_rel_m=60, front_overlap=0.75, side_overlap=0.65),
        repeat=15,
    )
    big = patterns.with_takeoff_and_rtl(
        survey(field, camera, alt_rel_m=40, front_overlap=0.8, side_overlap=0.8),
        HOME,
        takeoff_alt_rel_m=40,
    )
    print(f"bench: patterns.survey_1km2_40m.items {len(big)} items", flush=True)
    measure("energy.estimate_survey_1km2_40m", lambda: estimate(big), repeat=15)
    measure("mission.to_mavlink_survey_1km2_40m", big.to_mavlink, repeat=15)
    wire = big.to_mavlink()
    measure(
        "mission.from_mavlink_survey_1km2_40m",
        lambda: Mission.from_mavlink(wire, home=HOME),
        repeat=15,
    )
    text = (DATA / "PX4SITL-PX4-MultiRotor.plan").read_text()
    measure("qgc.loads_px4_fixture", lambda: qgc.loads_plan(text))
    plan = qgc.loads_plan(text)
    measure("qgc.dumps_px4_fixture", lambda: qgc.dumps_plan(plan))
    measure("geojson.plan_px4_fixture", lambda: geojson.plan_to_geojson(plan))


if __name__ == "__main__":
    main()
