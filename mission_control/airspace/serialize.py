"""Zones as plain GeoJSON Features and back, exactly; the summary the REST API shows.

The service stores every zone, whatever file it came from, as one GeoJSON Feature (RFC 7946:
``[lon, lat]`` positions, closed rings following the right-hand rule) written with the plain
GeoJSON properties of ``docs/airspace-zones.md``, so any GeoJSON tool reads it and
:func:`~mission_control.airspace.loaders.loads_zones` loads it. Vertical limits use the short
form (``floor_m``/``floor_ref``, ``ceiling_m``/``ceiling_ref``: metres, references ``AGL``,
``AMSL``, ``REL``) and schedules the ``applicability`` array. Four properties extend that set
so that :func:`feature_to_zone` returns the *same* :class:`Zone` that was written:

``part``
    the zone's index among the parts of its source zone (the loaders number the polygons of
    one feature; a stored feature holds one part).
``source``
    where the zone was first loaded from (file and JSON path).
``reversed_rings``
    indices of the rings written in reverse to follow the right-hand rule (exterior
    counter-clockwise, holes clockwise); they are reversed back on reading, so the zone's
    vertex order is kept. Absent when no ring was reversed.
``identifier``
    is read verbatim (the loaders strip surrounding blanks).

Round trip: ``feature_to_zone(zone_to_feature(z)) == z`` for every zone the loaders can
produce, through JSON text too (floats are written with ``repr`` precision). Two values
that mean the same thing are normalised as the loaders do: a schedule with a period that
covers all time reads back as the permanent schedule, and repeated consecutive polygon
vertices are dropped. ``loads_zones`` reads the same zones from a collection of these
features except for the extensions: parts are 0, the source is the new document, and
reversed rings keep the reversed vertex order (the same area).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta

from flight_plans.errors import FlightPlanError
from flight_plans.geodesy import GeoPoint
from flight_plans.geometry import GeoCircle
from flight_plans.mission import AltDatum
from mission_control.airspace import loaders_geojson
from mission_control.airspace.errors import ZoneError, ZoneFileError
from mission_control.airspace.loaders_fields import Json, LoadContext, array, obj
from mission_control.airspace.zones import (
    FT_TO_M,
    Altitude,
    Period,
    Schedule,
    WeeklyWindow,
    Zone,
    ZoneKind,
)

__all__ = [
    "describe_schedule",
    "feature_collection_to_zones",
    "feature_to_zone",
    "zone_summary",
    "zone_to_feature",
    "zones_to_feature_collection",
]

REFERENCES = {AltDatum.TERRAIN: "AGL", AltDatum.AMSL: "AMSL", AltDatum.REL_HOME: "REL"}
"""The altitude reference written for each datum (read back by the loaders' table)."""

_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_END_OF_DAY = time(23, 59, 59, 999999)


def _finite(value: float, path: str) -> float:
    """``value`` if it is a finite number; the stored document must be valid JSON."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ZoneError(path, f"{value!r} is not a finite number")
    return float(value)


def _position(p: GeoPoint, path: str) -> list[float]:
    return [_finite(p.lon_deg, f"{path}[0]"), _finite(p.lat_deg, f"{path}[1]")]


def _signed_area(ring: tuple[GeoPoint, ...]) -> float:
    """Twice the signed lon/lat area (> 0: counter-clockwise), across the antimeridian too."""
    lons = [p.lon_deg for p in ring]
    if max(lons) - min(lons) > 180.0:
        lons = [lo + 360.0 if lo < 0 else lo for lo in lons]
    lats = [p.lat_deg for p in ring]
    n = len(ring)
    return sum(lons[k] * lats[(k + 1) % n] - lons[(k + 1) % n] * lats[k] for k in range(n))


def _geometry(zone: Zone) -> tuple[Json, list[int]]:
    """The zone's GeoJSON geometry and the indices of the rings written reversed."""
    shape = zone.shape
    if isinstance(shape, GeoCircle):
        return {"type": "Point", "coordinates": _position(shape.center, "geometry.coordinates")}, []
    rings: list[list[list[float]]] = []
    flipped: list[int] = []
    for k, ring in enumerate((shape.exterior, *shape.holes)):
        ccw = _signed_area(ring) > 0
        path = f"geometry.coordinates[{k}]"
        coords = [_position(p, f"{path}[{j}]") for j, p in enumerate(ring)]
        if ccw != (k == 0):  # right-hand rule: exterior counter-clockwise, holes clockwise
            coords = [coords[0], *coords[:0:-1]]
            flipped.append(k)
        rings.append([*coords, coords[0]])
    return {"type": "Polygon", "coordinates": rings}, flipped


def _limit(props: Json, key: str, alt: Altitude | None) -> None:
    if alt is not None:
        props[f"{key}_m"] = _finite(alt.value_m, f"properties.{key}_m")
        props[f"{key}_ref"] = REFERENCES[AltDatum(alt.datum)]


def _utc_time(t: time, path: str) -> str:
    if t.utcoffset() not in (None, timedelta(0)):
        raise ZoneError(path, f"{t.isoformat()!r}: schedule times must be UTC")
    return t.replace(tzinfo=None).isoformat() + "Z"


def _utc_datetime(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _window_json(w: WeeklyWindow, path: str) -> Json:
    return {
        "day": [_DAYS[d] for d in sorted(w.days)],
        "startTime": _utc_time(w.start, f"{path}.startTime"),
        "endTime": _utc_time(w.end, f"{path}.endTime"),
    }


def _applicability(schedule: Schedule) -> list[Json]:
    out: list[Json] = []
    for k, p in enumerate(schedule.periods):
        path = f"properties.applicability[{k}]"
        entry: Json = {}
        if p.start is not None:
            entry["startDateTime"] = _utc_datetime(p.start)
        if p.end is not None:
            entry["endDateTime"] = _utc_datetime(p.end)
        if p.windows:
            entry["schedule"] = [
                _window_json(w, f"{path}.schedule[{j}]") for j, w in enumerate(p.windows)
            ]
        out.append(entry)
    return out


def zone_to_feature(zone: Zone) -> dict[str, object]:
    """``zone`` as one plain GeoJSON Feature (see the module docstring for the properties).

    Raises:
        ZoneError: a number is not finite (``field`` names the property or coordinate),
            a floor is above a ceiling of the same datum, or a schedule time is not UTC —
            values the loaders would refuse to read back.
    """
    geometry, flipped = _geometry(zone)
    floor, ceiling = zone.vertical.floor, zone.vertical.ceiling
    props: Json = {
        "identifier": zone.identifier,
        "part": zone.part,
        "name": zone.name,
        "kind": zone.kind.value,
        "restriction": zone.restriction.value.upper(),
    }
    _limit(props, "floor", floor)
    _limit(props, "ceiling", ceiling)
    if floor and ceiling and floor.datum == ceiling.datum and floor.value_m > ceiling.value_m:
        raise ZoneError(
            "properties.floor_m",
            f"floor {floor.value_m:g} m is above ceiling {ceiling.value_m:g} m",
        )
    if isinstance(zone.shape, GeoCircle):
        props["radius_m"] = _finite(zone.shape.radius_m, "properties.radius_m")
    if not zone.schedule.permanent:
        props["applicability"] = _applicability(zone.schedule)
    props |= {
        "reason": list(zone.reason),
        "message": zone.message,
        "authority": zone.authority,
        "source": zone.source,
    }
    if flipped:
        props["reversed_rings"] = flipped
    return {"type": "Feature", "geometry": geometry, "properties": props}


def zones_to_feature_collection(zones: Iterable[Zone]) -> dict[str, object]:
    """A FeatureCollection of :func:`zone_to_feature` features, in order.

    Raises:
        ZoneError: as :func:`zone_to_feature`.
    """
    return {"type": "FeatureCollection", "features": [zone_to_feature(z) for z in zones]}


def _unflip(feature: Json, props: Json) -> Json:
    """``feature`` with its ``reversed_rings`` put back in the zone's vertex order."""
    if props.get("reversed_rings") is None:
        return feature
    path = "properties.reversed_rings"
    geom = obj(feature.get("geometry"), "geometry")
    rings = array(geom.get("coordinates"), "geometry.coordinates")
    out = copy.deepcopy(feature)
    out_rings = out["geometry"]["coordinates"]  # type: ignore[index]
    for j, k in enumerate(array(props["reversed_rings"], path)):
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(rings):
            raise ZoneError(f"{path}[{j}]", f"{k!r} is not the index of a ring")
        ring = array(rings[k], f"geometry.coordinates[{k}]")
        out_rings[k] = ring[::-1]
    return out


def feature_to_zone(doc: Mapping[str, object], *, source: str = "") -> Zone:
    """The zone held by one GeoJSON Feature: the inverse of :func:`zone_to_feature`.

    Also reads features written by hand in the plain GeoJSON property form of
    ``docs/airspace-zones.md`` (exactly as :func:`~mission_control.airspace.loaders.loads_zones`
    reads them), provided the geometry is one Polygon or one Point with ``radius_m``.
    Without a ``source`` property the zone's source is the ``source`` argument; without
    ``part`` it is part 0.

    Raises:
        ZoneError: the feature is not a zone; ``field`` is the JSON path of the bad value
            (``properties.floor_m`` for a non-finite floor, for example).
    """
    feature = obj(doc, "feature")
    if feature.get("type") != "Feature":
        raise ZoneError("type", f"expected 'Feature', got {feature.get('type')!r}")
    props = obj(feature.get("properties") or {}, "properties")
    geom = obj(feature.get("geometry"), "geometry")
    if geom.get("type") not in ("Polygon", "Point"):
        raise ZoneError(
            "geometry.type",
            f"a stored zone is one Polygon or Point, got {geom.get('type')!r} "
            "(load MultiPolygons and collections with loads_zones)",
        )
    ctx = LoadContext(source, "lonlat", ZoneKind.EXCLUSION)
    try:
        (zone,) = loaders_geojson.zones(_unflip(feature, props), 0, "feature", ctx)
    except FlightPlanError as exc:
        raise ZoneError("geometry", str(exc)) from exc
    part = props.get("part", 0)
    if isinstance(part, bool) or not isinstance(part, int) or part < 0:
        raise ZoneError("properties.part", f"expected a whole number >= 0, got {part!r}")
    ident = props.get("identifier")
    stored_source = props.get("source", source)
    if not isinstance(stored_source, str):
        raise ZoneError("properties.source", f"expected a string, got {stored_source!r}")
    return Zone(
        ident if isinstance(ident, str) and ident.strip() else zone.identifier,
        zone.shape,
        kind=zone.kind,
        vertical=zone.vertical,
        restriction=zone.restriction,
        schedule=zone.schedule,
        name=zone.name,
        reason=zone.reason,
        message=zone.message,
        authority=zone.authority,
        source=stored_source,
        part=part,
    )


def feature_collection_to_zones(doc: Mapping[str, object], *, source: str = "") -> tuple[Zone, ...]:
    """The zones of a FeatureCollection of stored features (inverse of
    :func:`zones_to_feature_collection`).

    Raises:
        ZoneFileError: not a FeatureCollection, or a feature is invalid (``index`` and
            ``identifier`` name it; the cause is the feature's :class:`ZoneError`).
    """
    features = doc.get("features")
    if doc.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise ZoneFileError("expected a FeatureCollection with a 'features' array", source=source)
    out: list[Zone] = []
    for k, f in enumerate(features):
        try:
            out.append(feature_to_zone(f, source=source))
        except ZoneError as exc:
            ident = loaders_geojson.identifier(f)
            raise ZoneFileError(str(exc), source=source, index=k, identifier=ident) from exc
    return tuple(out)


# -- REST summary ------------------------------------------------------------------------------


def _limit_summary(alt: Altitude | None, *, floor: bool) -> dict[str, object]:
    if alt is None:
        return {
            "value_m": None,
            "value_ft": None,
            "datum": None,
            "text": "surface" if floor else "unlimited",
        }
    ref = REFERENCES[AltDatum(alt.datum)]
    return {
        "value_m": alt.value_m,
        "value_ft": round(alt.value_m / FT_TO_M, 1),
        "datum": ref,
        "text": f"{f'{alt.value_m:.1f}'.removesuffix('.0')} m {ref}",
    }


def _clock(t: time) -> str:
    if t == _END_OF_DAY:
        return "24:00"
    return t.strftime("%H:%M:%S") if t.second or t.microsecond else t.strftime("%H:%M")


def _days_text(days: frozenset[int]) -> str:
    if days == frozenset(range(7)):
        return "daily"
    return ", ".join(_DAYS[d].title() for d in sorted(days))


def _period_text(p: Period) -> str:
    bounds = []
    if p.start is not None:
        bounds.append(f"from {p.start.astimezone(UTC):%Y-%m-%d %H:%M}Z")
    if p.end is not None:
        bounds.append(f"until {p.end.astimezone(UTC):%Y-%m-%d %H:%M}Z")
    windows = [f"{_days_text(w.days)} {_clock(w.start)}–{_clock(w.end)} UTC" for w in p.windows]
    return " ".join(bounds + ([", ".join(windows)] if windows else []))


def describe_schedule(schedule: Schedule) -> str:
    """When a zone is in force, in words: ``"permanent"`` or its periods joined by ``"; "``
    (e.g. ``"from 2022-06-15 00:00Z until 2023-06-15 00:00Z Sat, Sun 17:00–24:00 UTC"``)."""
    if schedule.permanent:
        return "permanent"
    return "; ".join(_period_text(p) or "at all times" for p in schedule.periods)


def zone_summary(zone: Zone) -> dict[str, object]:
    """The JSON the REST API shows for a zone.

    Keys: ``id`` (identifier, plus ``#part`` for later parts), ``identifier``, ``part``,
    ``label``, ``name``, ``kind``, ``restriction``, ``floor`` and ``ceiling`` (each
    ``{value_m, value_ft, datum, text}``; ``value_m`` null for the surface / unlimited),
    ``schedule`` (``{permanent, text, periods}``, periods in the ``applicability`` form),
    ``reason``, ``message``, ``authority``, ``source``, ``geometry`` (GeoJSON, ``[lon, lat]``;
    a circle is a Point) and ``radius_m`` (circles; null for polygons).

    Raises:
        ZoneError: as :func:`zone_to_feature`.
    """
    feature = zone_to_feature(zone)
    radius = zone.shape.radius_m if isinstance(zone.shape, GeoCircle) else None
    return {
        "id": zone.identifier if zone.part == 0 else f"{zone.identifier}#{zone.part}",
        "identifier": zone.identifier,
        "part": zone.part,
        "label": zone.label,
        "name": zone.name,
        "kind": zone.kind.value,
        "restriction": zone.restriction.value,
        "floor": _limit_summary(zone.vertical.floor, floor=True),
        "ceiling": _limit_summary(zone.vertical.ceiling, floor=False),
        "schedule": {
            "permanent": zone.schedule.permanent,
            "text": describe_schedule(zone.schedule),
            "periods": _applicability(zone.schedule),
        },
        "reason": list(zone.reason),
        "message": zone.message,
        "authority": zone.authority,
        "source": zone.source,
        "geometry": feature["geometry"],
        "radius_m": radius,
    }
