"""`mission-control plan ...`: the forms later issues and external checks rely on."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flight_plans import qgc
from flight_plans.geodesy import GeoPoint, distance_m
from flight_plans.mission import MavCmd
from mission_control.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
QGC = DATA / "qgc"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def show_json(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, object]:
    code, out, err = run(capsys, "plan", "show", str(path), "--json")
    assert code == 0, err
    doc: dict[str, object] = json.loads(out)
    return doc


@pytest.mark.parametrize(
    ("name", "items", "commands", "incl", "excl"),
    [
        ("simple_square.plan", 5, [16, 22], 0, 0),
        ("PX4SITL-PX4-MultiRotor.plan", 11, [16, 19, 21, 22, 178, 195], 0, 0),
        ("ArduPilotSITL-ArduCopter.plan", 11, [16, 19, 21, 22, 82, 178, 201], 0, 0),
        ("ce_geofence_home_base.plan", 0, [], 1, 1),
    ],
)
def test_show_json_summarises_fixture_plans(
    capsys: pytest.CaptureFixture[str],
    name: str,
    items: int,
    commands: list[int],
    incl: int,
    excl: int,
) -> None:
    s = show_json(capsys, QGC / name)
    assert s["item_count"] == items
    assert s["commands"] == commands
    assert (s["fence_inclusion"], s["fence_exclusion"], s["rally_count"]) == (incl, excl, 0)
    assert isinstance(s["home"], dict)
    assert {"lat_deg", "lon_deg", "alt_amsl_m"} <= set(s["home"])


def test_show_json_path_length_and_time_for_the_simple_square(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The square's ground track is home → 4 corners (no RTL): 4 geodesic legs."""
    s = show_json(capsys, QGC / "simple_square.plan")
    corners = [(47.398742, 8.546594), (47.398742, 8.544594), (47.396742, 8.544594)]
    corners.append((47.396742, 8.546594))
    pts = [GeoPoint(47.397742, 8.545594)] + [GeoPoint(a, b) for a, b in corners]
    expected = sum(distance_m(a, b) for a, b in itertools.pairwise(pts))
    assert s["path_length_m"] == pytest.approx(expected, abs=0.01)
    # at the plan's 5 m/s hover speed, plus a 20 m climb at 3 m/s, no hold
    assert s["est_time_s"] == pytest.approx(expected / 5 + 20 / 3, abs=0.1)


def test_show_prints_a_human_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "show", str(QGC / "ce_geofence_home_base.plan"))
    assert code == 0
    assert "1 inclusion, 1 exclusion" in out


def test_orbit_builds_a_plan_with_takeoff_roi_circle_and_rtl(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "orbit.plan"
    code, _, err = run(
        capsys,
        "plan", "orbit", "--lat", "47.3977", "--lon", "8.5456", "--alt-rel-m", "60",
        "--radius-m", "80", "--turns", "2", "--home-lat", "47.3970", "--home-lon", "8.5440",
        "--home-alt-amsl-m", "488", "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    plan = qgc.load_plan(out)
    items = plan.mission.items
    assert items[0].command == MavCmd.NAV_TAKEOFF
    assert items[-1].command == MavCmd.NAV_RETURN_TO_LAUNCH
    assert plan.mission.home is not None
    assert plan.mission.home.alt_amsl_m == 488.0
    roi = [it for it in items if it.command == MavCmd.DO_SET_ROI_LOCATION]
    assert len(roi) == 1
    assert (roi[0].lat_deg, roi[0].lon_deg) == (47.3977, 8.5456)
    center = GeoPoint(47.3977, 8.5456)
    on_circle = [
        it for it in items if it.command == MavCmd.NAV_WAYPOINT and it.position is not None
    ]
    ring = [it for it in on_circle if abs(distance_m(center, it.position) - 80) < 0.5]
    assert len(ring) >= 16  # two turns of at least 8 points
    assert all(it.alt_m == 60 for it in ring)
    s = show_json(capsys, out)
    assert s["item_count"] == len(items)
    assert 195 in s["commands"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("argv", "expect_cmd"),
    [
        (["hover", "--lat", "47.39", "--lon", "8.54", "--alt-rel-m", "40", "--time-s", "120",
          "--offset-m", "80", "--offset-bearing-deg", "180"], MavCmd.NAV_LOITER_TIME),
        (["hover", "--lat", "47.39", "--lon", "8.54", "--alt-rel-m", "40"], MavCmd.NAV_LOITER_UNLIM),
        (["expanding-square", "--lat", "47.39", "--lon", "8.54", "--alt-rel-m", "50",
          "--track-spacing-m", "40", "--legs", "8"], MavCmd.NAV_WAYPOINT),
        (["sector", "--lat", "47.39", "--lon", "8.54", "--alt-rel-m", "50",
          "--radius-m", "300"], MavCmd.NAV_WAYPOINT),
    ],
)  # fmt: skip
def test_point_patterns_write_loadable_plans(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], expect_cmd: MavCmd
) -> None:
    out = tmp_path / "p.plan"
    code, _, err = run(capsys, "plan", *argv, "-o", str(out))
    assert code == 0, err
    plan = qgc.load_plan(out)
    cmds = [it.command for it in plan.mission.items]
    assert cmds[0] == MavCmd.NAV_TAKEOFF
    assert expect_cmd in cmds


def _square_geojson(path: Path) -> Path:
    ring = [[8.540, 47.390], [8.545, 47.390], [8.545, 47.393], [8.540, 47.393], [8.540, 47.390]]
    feature = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


def test_survey_and_perimeter_from_a_geojson_polygon(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    poly = _square_geojson(tmp_path / "field.geojson")
    out = tmp_path / "survey.plan"
    code, _, err = run(
        capsys, "plan", "survey", "--polygon", str(poly), "--alt-rel-m", "60",
        "--angle-deg", "30", "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    cmds = [it.command for it in qgc.load_plan(out).mission.items]
    assert 206 in cmds  # DO_SET_CAM_TRIGG_DIST: the camera is triggered along transects
    out2 = tmp_path / "ring.geojson"
    code, _, err = run(
        capsys, "plan", "perimeter", "--polygon", str(poly), "--alt-rel-m", "45",
        "--offset-m", "30", "-o", str(out2),
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out2.read_text())
    assert doc["type"] == "FeatureCollection"
    lines = [f for f in doc["features"] if f["geometry"]["type"] == "LineString"]
    assert lines
    assert all(
        -180 <= c[0] <= 180 and -90 <= c[1] <= 90 for c in lines[0]["geometry"]["coordinates"]
    )


def test_convert_plan_to_plan_and_geojson(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    src = QGC / "PX4SITL-PX4-MultiRotor.plan"
    code, _, _ = run(capsys, "plan", "convert", str(src), str(tmp_path / "copy.plan"))
    assert code == 0
    assert json.loads((tmp_path / "copy.plan").read_text()) == json.loads(src.read_text())
    code, _, _ = run(capsys, "plan", "convert", str(src), str(tmp_path / "m.geojson"))
    assert code == 0
    doc = json.loads((tmp_path / "m.geojson").read_text())
    # RFC 7946: lon, lat order — Zurich is lon 8.5, lat 47.4
    coords = next(f for f in doc["features"] if f["geometry"]["type"] == "LineString")["geometry"][
        "coordinates"
    ]
    assert all(8.4 < c[0] < 8.6 and 47.3 < c[1] < 47.5 for c in coords)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["orbit", "--lat", "95", "--lon", "8", "--alt-rel-m", "50", "--radius-m", "80"], "lat"),
        (["orbit", "--lat", "47", "--lon", "-181", "--alt-rel-m", "50", "--radius-m", "80"], "lon"),
        (["orbit", "--lat", "nan", "--lon", "8", "--alt-rel-m", "50", "--radius-m", "80"], "--lat"),
        (["orbit", "--lat", "47", "--lon", "8", "--alt-rel-m", "inf", "--radius-m", "80"], "--alt-rel-m"),
        (["orbit", "--lat", "47", "--lon", "8", "--alt-rel-m", "50", "--radius-m", "-5"], "radius_m"),
        (["expanding-square", "--lat", "47", "--lon", "8", "--alt-rel-m", "50",
          "--track-spacing-m", "-40", "--legs", "8"], "track_spacing_m"),
        (["expanding-square", "--lat", "47", "--lon", "8", "--alt-rel-m", "50",
          "--track-spacing-m", "40", "--legs", "0"], "--legs"),
        (["orbit", "--lat", "47", "--lon", "8", "--alt-rel-m", "50", "--radius-m", "80",
          "--home-lat", "47"], "--home-lon"),
    ],
)  # fmt: skip
def test_bad_values_exit_2_with_one_line_and_write_nothing(
    tmp_path: Path, argv: list[str], needle: str
) -> None:
    out = tmp_path / "x.plan"
    proc = subprocess.run(
        [sys.executable, "-m", "mission_control.cli", "plan", *argv, "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    err_lines = proc.stderr.strip().splitlines()
    assert len(err_lines) == 1, proc.stderr
    assert needle in err_lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"fileType": "Plan", "mission": {', "JSON"),
        ('{"fileType": "Mission"}', "fileType"),
        ("", "JSON"),
    ],
)
def test_malformed_plan_files_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, needle: str
) -> None:
    bad = tmp_path / "bad.plan"
    bad.write_text(content)
    code, out, err = run(capsys, "plan", "show", str(bad))
    assert code == 2
    assert out == ""
    assert "bad.plan" in err
    assert needle in err
    assert len(err.strip().splitlines()) == 1


def test_bad_item_in_a_plan_names_the_item(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = json.loads((QGC / "simple_square.plan").read_text())
    doc["mission"]["items"][2]["command"] = 31337
    bad = tmp_path / "bad.plan"
    bad.write_text(json.dumps(doc))
    code, _, err = run(capsys, "plan", "convert", str(bad), str(tmp_path / "out.plan"))
    assert code == 2
    assert "items[2]" in err
    assert "31337" in err
    assert not (tmp_path / "out.plan").exists()


def test_missing_file_and_unknown_output_type(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "plan", "show", str(tmp_path / "nope.plan"))
    assert code == 2
    assert "nope.plan" in err
    code, _, err = run(
        capsys, "plan", "convert", str(QGC / "simple_square.plan"), str(tmp_path / "o.kml")
    )
    assert code == 2
    assert ".kml" in err


def test_console_script_is_installed() -> None:
    exe = shutil.which("mission-control", path=str(Path(sys.executable).parent))
    assert exe is not None
    proc = subprocess.run([exe, "plan", "--help"], capture_output=True, text=True, check=True)
    for sub in ("show", "convert", "orbit", "survey", "expanding-square", "hover"):
        assert sub in proc.stdout


@pytest.mark.parametrize(
    ("ring", "needle"),
    [
        (
            [[8.54, 47.39], [8.545, 47.393], [8.545, 47.39], [8.54, 47.393], [8.54, 47.39]],
            "Self-intersection",
        ),
        ([[8.54, 47.39], [8.545, 47.39], [8.54, 47.39]], "3 distinct vertices"),
        ([[8.54, 47.39], [8.545, 97.39], [8.545, 47.393], [8.54, 47.39]], "latitude"),
    ],
)
def test_survey_refuses_bad_polygons(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ring: list[list[float]], needle: str
) -> None:
    poly = tmp_path / "bad.geojson"
    poly.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    out = tmp_path / "s.plan"
    code, _, err = run(
        capsys, "plan", "survey", "--polygon", str(poly), "--alt-rel-m", "60", "-o", str(out)
    )
    assert code == 2
    assert needle in err
    assert "bad.geojson" in err
    assert not out.exists()
