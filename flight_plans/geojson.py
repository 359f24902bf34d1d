"""Missions, fences and rally points as GeoJSON (RFC 7946), and polygons read from GeoJSON.

Output follows RFC 7946: positions are ``[lon, lat]`` on WGS84 (no ``crs`` member), rings
are closed, exterior rings counter-clockwise and holes clockwise (the right-hand rule).
Positions are 2-D: mission altitudes are relative to home, to terrain or to mean sea
level, never the ellipsoidal height a third GeoJSON coordinate would mean, so they are
given as properties (``alt_m`` and ``alt_datum``) instead. Geometries that cross the
antimeridian are not split.

Every feature has a ``kind`` property:

``flight_path``
    LineString through the nav items in order, starting at home when the mission has
    one, and ending at home when the mission's last item is ``NAV_RETURN_TO_LAUNCH``.
    ``item_indices`` gives the mission item index of each vertex (``null`` for home).
``mission_item``
    Point per item with a position: ``index``, ``command``, ``command_name``, ``alt_m``,
    ``alt_datum`` (``rel``/``amsl``/``agl``), ``nav`` (part of the flight path or not,
    e.g. a region of interest).
``home``
    Point with ``alt_amsl_m``.
``fence_polygon``
    Polygon with ``index`` and ``inclusion``.
``fence_circle``
    Primary form: a Polygon approximating the circle, its vertices placed geodesically
    (``pyproj.Geod``) at ``radius_m`` from the centre, with ``radius_m``, ``center``
    (``[lon, lat]``) and ``inclusion``, so any GeoJSON viewer draws the true area. On
    request (``circles="point"`` or ``"both"``) also or instead a Point at the centre with
    ``radius_m`` — exact, but only tools that know the convention draw it as a circle.
    ``form`` says which (``"polygon"``/``"point"``).
``rally_point``
    Point with ``alt_rel_m``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Literal

from shapely.geometry import LinearRing

from flight_plans._jsondoc import JsonReader, index_path, key_path, parse, read_text
from flight_plans.errors import (
    InvalidCoordinateError,
    InvalidPolygonError,
    InvalidValueError,
    PlanCoordinateError,
    PlanPolygonError,
)
from flight_plans.geodesy import GeoPoint, destination
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import MavCmd, Mission
from flight_plans.plan import Plan

__all__ = [
    "circle_ring",
    "dumps_geojson",
    "load_polygon",
    "loads_polygon",
    "mission_to_geojson",
    "plan_to_geojson",
    "polygon_geometry",
]

CircleForm = Literal["polygon", "point", "both"]

Json = dict[str, object]


def _pos(p: GeoPoint) -> list[float]:
    return [p.lon_deg, p.lat_deg]


def _feature(geometry: Json, properties: Json) -> Json:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _point(p: GeoPoint) -> Json:
    return {"type": "Point", "coordinates": _pos(p)}


def _closed(ring: list[GeoPoint]) -> list[list[float]]:
    coords = [_pos(p) for p in ring]
    return [*coords, coords[0]]


# -- export ------------------------------------------------------------------------------------


def mission_to_geojson(mission: Mission) -> Json:
    """A FeatureCollection of the flight path, the items with a position and home.

    The LineString is left out when it would have fewer than two positions.
    """
    features: list[Json] = []
    home = mission.home
    path: list[GeoPoint] = []
    indices: list[int | None] = []
    if home is not None:
        path.append(home.point)
        indices.append(None)
    for i, item in mission.nav_items():
        assert item.position is not None  # nav items are global
        path.append(item.position)
        indices.append(i)
    returns = bool(mission.items) and mission.items[-1].command == MavCmd.NAV_RETURN_TO_LAUNCH
    if returns and home is not None:
        path.append(home.point)
        indices.append(None)
    if len(path) >= 2:
        features.append(
            _feature(
                {"type": "LineString", "coordinates": [_pos(p) for p in path]},
                {
                    "kind": "flight_path",
                    "starts_at_home": home is not None,
                    "returns_home": returns and home is not None,
                    "item_indices": indices,
                },
            )
        )
    for i, item in enumerate(mission.items):
        pos, datum = item.position, item.alt_datum
        if pos is None or datum is None:
            continue
        features.append(
            _feature(
                _point(pos),
                {
                    "kind": "mission_item",
                    "index": i,
                    "command": int(item.command),
                    "command_name": item.name,
                    "alt_m": item.alt_m,
                    "alt_datum": datum.value,
                    "nav": item.is_nav,
                },
            )
        )
    if home is not None:
        features.append(
            _feature(_point(home.point), {"kind": "home", "alt_amsl_m": home.alt_amsl_m})
        )
    return {"type": "FeatureCollection", "features": features}


def _oriented(ring: tuple[GeoPoint, ...], ccw: bool, polygon: GeoPolygon) -> list[GeoPoint]:
    """``ring`` in the requested winding, judged in the polygon's local metric frame."""
    is_ccw = bool(LinearRing(polygon.frame().to_local_many(ring)).is_ccw)
    return list(ring) if is_ccw == ccw else list(reversed(ring))


def polygon_geometry(polygon: GeoPolygon) -> Json:
    """A GeoJSON Polygon geometry (closed rings, right-hand rule)."""
    rings = [_closed(_oriented(polygon.exterior, True, polygon))]
    rings += [_closed(_oriented(h, False, polygon)) for h in polygon.holes]
    return {"type": "Polygon", "coordinates": rings}


def circle_ring(circle: GeoCircle, *, segments: int = 64) -> list[GeoPoint]:
    """``segments`` points at ``circle.radius_m`` (geodesic) from the centre, counter-clockwise
    seen from above, starting due north; the ring is open (first point not repeated).

    Raises:
        InvalidValueError: ``segments`` < 3.
    """
    if segments < 3:
        raise InvalidValueError("segments", segments, "a ring needs at least 3 points")
    # Decreasing bearings run north → west → south → east: counter-clockwise.
    return [
        destination(circle.center, -360.0 * k / segments, circle.radius_m) for k in range(segments)
    ]


def plan_to_geojson(
    plan: Plan, *, circles: CircleForm = "polygon", circle_segments: int = 64
) -> Json:
    """:func:`mission_to_geojson` plus fence polygons and circles and rally points.

    Args:
        plan: the plan.
        circles: fence circle form: ``"polygon"`` (geodesic approximation, default),
            ``"point"`` (centre + ``radius_m``) or ``"both"``.
        circle_segments: vertices of the polygon approximation.

    Raises:
        InvalidValueError: unknown ``circles`` form or ``circle_segments`` < 3.
    """
    if circles not in ("polygon", "point", "both"):
        raise InvalidValueError("circles", circles, "use 'polygon', 'point' or 'both'")
    doc = mission_to_geojson(plan.mission)
    features = doc["features"]
    assert isinstance(features, list)
    for j, fp in enumerate(plan.fence.polygons):
        features.append(
            _feature(
                polygon_geometry(fp.polygon),
                {"kind": "fence_polygon", "index": j, "inclusion": fp.inclusion},
            )
        )
    for j, fc in enumerate(plan.fence.circles):
        c = fc.circle
        props: Json = {
            "kind": "fence_circle",
            "index": j,
            "inclusion": fc.inclusion,
            "radius_m": c.radius_m,
            "center": _pos(c.center),
        }
        if circles in ("polygon", "both"):
            ring = _closed(circle_ring(c, segments=circle_segments))
            geometry: Json = {"type": "Polygon", "coordinates": [ring]}
            features.append(_feature(geometry, {**props, "form": "polygon"}))
        if circles in ("point", "both"):
            features.append(_feature(_point(c.center), {**props, "form": "point"}))
    for k, rp in enumerate(plan.rally_points):
        features.append(
            _feature(
                _point(GeoPoint(rp.lat_deg, rp.lon_deg)),
                {"kind": "rally_point", "index": k, "alt_rel_m": rp.alt_rel_m},
            )
        )
    return doc


def dumps_geojson(doc: Mapping[str, object], *, indent: int | None = 2) -> str:
    """GeoJSON text of ``doc`` (no trailing newline).

    Raises:
        ValueError: ``doc`` holds NaN or infinity, which JSON cannot carry.
    """
    return json.dumps(doc, indent=indent, allow_nan=False, ensure_ascii=False)


# -- import: a polygon (an area to survey, a perimeter) -----------------------------------------


def _ring(r: JsonReader, value: object, path: str, index: int | None) -> list[GeoPoint]:
    ring: list[GeoPoint] = []
    for k, pv in enumerate(r.array(value, path)):
        ppath = index_path(path, k)
        pos = r.array(pv, ppath)
        if len(pos) not in (2, 3):
            r.fail(f"a position is [lon, lat] or [lon, lat, alt], got {len(pos)} values", ppath)
        lon = r.number(pos[0], index_path(ppath, 0), field="lon_deg")
        lat = r.number(pos[1], index_path(ppath, 1), field="lat_deg")
        try:
            ring.append(GeoPoint(lat, lon))
        except InvalidCoordinateError as exc:
            slot = 1 if exc.field == "lat_deg" else 0
            raise PlanCoordinateError(
                exc.field,
                exc.value,
                exc.reason,
                path=index_path(ppath, slot),
                source=r.source,
                item_index=index,
            ) from None
    return ring


def _polygon_from_geometry(r: JsonReader, geom: Mapping[str, object], path: str) -> GeoPolygon:
    kind = r.string(r.required(geom, "type", path), key_path(path, "type"))
    cpath = key_path(path, "coordinates")
    coords = r.required(geom, "coordinates", path)
    if kind == "MultiPolygon":
        polys = r.array(coords, cpath)
        if len(polys) != 1:
            r.fail(f"expected a MultiPolygon of exactly 1 polygon, got {len(polys)}", cpath)
        coords, cpath = polys[0], index_path(cpath, 0)
    elif kind != "Polygon":
        r.fail(f"expected a Polygon geometry, got {kind!r}", key_path(path, "type"))
    rings = r.array(coords, cpath)
    if not rings:
        r.fail("a Polygon needs an exterior ring", cpath)
    parsed = [_ring(r, rv, index_path(cpath, k), None) for k, rv in enumerate(rings)]
    try:
        return GeoPolygon(tuple(parsed[0]), tuple(tuple(h) for h in parsed[1:]))
    except InvalidPolygonError as exc:
        raise PlanPolygonError(exc.field, exc.reason, path=cpath, source=r.source) from None


def loads_polygon(text: str, *, source: str = "") -> GeoPolygon:
    """Read one polygon from GeoJSON text.

    Accepts a Polygon (or single-polygon MultiPolygon) geometry, a Feature holding one, or
    a FeatureCollection with exactly one polygon feature. Rings may be closed or open.

    Raises:
        PlanFormatError: not JSON, not such a document, or a malformed position.
        PlanCoordinateError: a longitude/latitude out of range.
        PlanPolygonError: fewer than 3 distinct vertices, zero area, or self-intersection.
    """
    r = JsonReader(source)
    doc = r.obj(parse(text, source=source), "")
    kind = r.string(r.required(doc, "type", ""), "type")
    if kind == "FeatureCollection":
        feats = r.array(r.required(doc, "features", ""), "features")
        found: list[tuple[str, Mapping[str, object]]] = []
        for k, fv in enumerate(feats):
            fpath = index_path("features", k)
            f = r.obj(fv, fpath)
            gv = f.get("geometry")
            if gv is None:
                continue
            g = r.obj(gv, key_path(fpath, "geometry"))
            if g.get("type") in ("Polygon", "MultiPolygon"):
                found.append((key_path(fpath, "geometry"), g))
        if len(found) != 1:
            r.fail(f"expected exactly 1 polygon feature, found {len(found)}", "features")
        return _polygon_from_geometry(r, found[0][1], found[0][0])
    if kind == "Feature":
        geom = r.obj(r.required(doc, "geometry", ""), "geometry")
        return _polygon_from_geometry(r, geom, "geometry")
    return _polygon_from_geometry(r, doc, "")


def load_polygon(path: str | os.PathLike[str]) -> GeoPolygon:
    """Read one polygon from a GeoJSON file (see :func:`loads_polygon`).

    Raises:
        OSError: the file cannot be read.
        PlanFormatError: see :func:`loads_polygon`.
    """
    text = read_text(path, what="a GeoJSON file is JSON")
    return loads_polygon(text, source=str(path))
