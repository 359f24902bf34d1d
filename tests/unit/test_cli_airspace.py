"""`mission-control airspace show|check|route`: exit codes, output, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flight_plans import qgc
from flight_plans.geodesy import GeoPoint, LocalFrame, distance_m
from mission_control.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
ED269 = DATA / "airspace" / "uas_standards-test_eurocae_ed269.json"
ED318 = DATA / "airspace" / "ED-318-Example_Collection.json"
HOME = GeoPoint(46.52, 6.63)  # south-east of Lausanne airport (ED-269 fixture)
F = LocalFrame(HOME)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def square_zone_file(path: Path, center: GeoPoint, half_m: float, **props: object) -> Path:
    f = LocalFrame(center)
    ring = [
        f.to_geo(x, y)
        for x, y in ((-half_m, -half_m), (half_m, -half_m), (half_m, half_m), (-half_m, half_m))
    ]
    coords = [[p.lon_deg, p.lat_deg] for p in [*ring, ring[0]]]
    feature = {
        "type": "Feature",
        "properties": {"identifier": "NFZ-TEST", "name": "test zone", **props},
        "geometry": {"type": "Polygon", "coordinates": [coords]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


def orbit_plan(capsys: pytest.CaptureFixture[str], tmp_path: Path, lat: float, lon: float) -> Path:
    out = tmp_path / "orbit.plan"
    code, _, err = run(
        capsys, "plan", "orbit", "--lat", str(lat), "--lon", str(lon), "--alt-rel-m", "80",
        "--radius-m", "150", "--home-lat", str(HOME.lat_deg), "--home-lon", str(HOME.lon_deg),
        "--home-alt-amsl-m", "450", "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    return out


def test_show_lists_zones_of_the_ed269_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "airspace", "show", str(ED269), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["format"] == "ed269"
    assert doc["zone_count"] == 10
    gantrisch = [z for z in doc["zones"] if z["identifier"] == "Gantrisch Nature Park"]
    assert {z["restriction"] for z in gantrisch} == {"no_restriction", "req_authorisation"}
    assert gantrisch[0]["ceiling"] == {"m": pytest.approx(76.2), "datum": "agl"}
    code, out, _ = run(capsys, "airspace", "show", str(ED318))
    assert code == 0
    assert "ABC1234" in out
    assert "circle r=3500 m" in out


def test_check_exit_codes_clear_and_violations(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    inside_airport = orbit_plan(capsys, tmp_path, 46.545, 6.617)
    code, out, _ = run(
        capsys,
        "airspace",
        "check",
        str(inside_airport),
        "--zones",
        str(ED269),
        "--at",
        "2026-05-02T12:00Z",
    )
    assert code == 1
    assert "Lausanne Airport" in out
    assert "fix:" in out
    code, out, _ = run(
        capsys,
        "airspace",
        "check",
        str(inside_airport),
        "--zones",
        str(ED269),
        "--at",
        "2026-05-02T12:00Z",
        "--json",
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False
    assert {v["zone_id"] for v in doc["violations"]} == {"Lausanne Airport"}
    assert all(v["kind"] == "zone_incursion" for v in doc["violations"])
    clear = orbit_plan(capsys, tmp_path, 46.505, 6.66)  # south-east, away from every zone
    code, out, _ = run(
        capsys, "airspace", "check", str(clear), "--zones", str(ED269), "--at", "2026-05-02T12:00Z"
    )
    assert code == 0, out
    assert "CLEAR" in out


def test_check_rules_and_authorisation_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = orbit_plan(capsys, tmp_path, 46.505, 6.66)
    code, out, _ = run(
        capsys,
        "airspace",
        "check",
        str(plan),
        "--zones",
        str(ED269),
        "--ceiling-ft",
        "200",
        "--json",
    )
    assert code == 1
    assert {v["kind"] for v in json.loads(out)["violations"]} == {"above_ceiling"}  # 80 m > 61 m
    code, out, _ = run(
        capsys,
        "airspace",
        "check",
        str(plan),
        "--zones",
        str(ED269),
        "--max-distance-m",
        "1000",
        "--json",
    )
    assert code == 1
    assert {v["kind"] for v in json.loads(out)["violations"]} == {"too_far_from_launch"}
    zone = square_zone_file(
        tmp_path / "auth.geojson",
        GeoPoint(46.505, 6.66),
        300,
        restriction="REQ_AUTHORISATION",
        lower_limit_altitude=0,
        lower_limit_unit="m",
        lower_limit_alt_ref="AGL",
        upper_limit_altitude=120,
        upper_limit_unit="m",
        upper_limit_alt_ref="AGL",
    )
    code, _, _ = run(capsys, "airspace", "check", str(plan), "--zones", str(zone))
    assert code == 1
    code, _, _ = run(
        capsys,
        "airspace",
        "check",
        str(plan),
        "--zones",
        str(zone),
        "--authorisation",
        "NFZ-TEST=CH-2026-17",
    )
    assert code == 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--zones", "{missing}"], "missing.json"),
        (["--zones", "{bad}"], "bad.json"),
        (["--zones", "{ed269}", "--at", "yesterday"], "--at"),
        (["--zones", "{ed269}", "--at", "2026-05-02T12:00"], "time zone"),
        (["--zones", "{ed269}", "--ceiling-m", "nan"], "--ceiling-m"),
        (["--zones", "{ed269}", "--authorisation", "no-equals-sign"], "ZONE_ID=REFERENCE"),
    ],
)
def test_check_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], needle: str
) -> None:
    plan = orbit_plan(capsys, tmp_path, 46.505, 6.66)
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "X"}, "geometry": {"type": "Polygon", "coordinates": [[[6.6, 46.5], [6.7, 46.6], [6.6, 46.6], [6.7, 46.5], [6.6, 46.5]]]}}]}'
    )
    subst = {"missing": str(tmp_path / "missing.json"), "bad": str(bad), "ed269": str(ED269)}
    args = [a.format(**subst) for a in argv]
    try:
        code = main(["airspace", "check", str(plan), *args])
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    assert code == 2
    _, err = capsys.readouterr()
    assert needle in err
    assert len(err.strip().splitlines()) == 1


def test_check_bad_feature_names_index_and_identifier(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = orbit_plan(capsys, tmp_path, 46.505, 6.66)
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "BOWTIE"}, "geometry": {"type": "Polygon", "coordinates": [[[6.6, 46.5], [6.7, 46.6], [6.6, 46.6], [6.7, 46.5], [6.6, 46.5]]]}}]}'
    )
    code, _, err = run(capsys, "airspace", "check", str(plan), "--zones", str(bad))
    assert code == 2
    assert "feature 0" in err
    assert "BOWTIE" in err
    code, _, err = run(
        capsys, "airspace", "check", str(plan), "--zones", str(bad), str(ED269), "--skip-invalid"
    )
    assert code == 0
    assert "skipped" in err


def test_route_around_a_zone_writes_a_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mid = F.to_geo(0, 1000)
    zone = square_zone_file(tmp_path / "z.geojson", mid, 200)
    goal = F.to_geo(0, 2000)
    out = tmp_path / "route.plan"
    code, stdout, err = run(
        capsys, "airspace", "route", "--from", f"{HOME.lat_deg},{HOME.lon_deg}",
        "--to", f"{goal.lat_deg},{goal.lon_deg}", "--zones", str(zone), "--margin-m", "50",
        "-o", str(out), "--json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["goal_reached"] is True
    assert doc["length_m"] > doc["direct_length_m"]
    plan = qgc.load_plan(out)
    assert plan.mission.items[0].command == 22
    # the routed plan itself passes the airspace check
    code, _, _ = run(capsys, "airspace", "check", str(out), "--zones", str(zone))
    assert code == 0
    # and stays at least the margin away from the zone's centre square
    for p in doc["points"]:
        assert distance_m(GeoPoint(*p), mid) > 200


def test_route_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["airspace", "route", "--from", "91,8", "--to", "47,8", "--zones", str(ED269)])
    assert ei.value.code == 2
    assert "latitude" in capsys.readouterr().err
    zone = square_zone_file(tmp_path / "z.geojson", HOME, 500)
    code, _, err = run(
        capsys,
        "airspace",
        "route",
        "--from",
        f"{HOME.lat_deg},{HOME.lon_deg}",
        "--to",
        "46.6,6.7",
        "--zones",
        str(zone),
    )
    assert code == 2
    assert "NFZ-TEST" in err
