"""Reading the fields of one zone feature (shared by the zone file loaders).

Every refusal is a :class:`~mission_control.airspace.errors.ZoneError` whose ``field`` is
the JSON path of the offending value *inside the feature* (``geometry.coordinates[0][3]``,
``properties.upper_limit_unit``); :mod:`mission_control.airspace.loaders` adds the file,
the feature index and the identifier.

Conventions shared by every format:

* positions are read in the file's axis order (``"lonlat"`` or ``"latlon"``), then range
  checked; a third value (height) is ignored — limits come from properties;
* repeated consecutive vertices are dropped (some published files repeat a ring's first
  vertex), then :class:`~flight_plans.geometry.GeoPolygon` validates the ring;
* altitudes need a unit and, except for flight levels, a reference; references map to
  :class:`~flight_plans.mission.AltDatum` (see :data:`DATUMS`);
* schedules follow ED-269 ``applicability`` / ED-318 ``limitedApplicability``; times of
  day are UTC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flight_plans.errors import InvalidPolygonError
from flight_plans.geodesy import GeoPoint
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import AltDatum
from mission_control.airspace.errors import ZoneError
from mission_control.airspace.zones import (
    Altitude,
    Period,
    Restriction,
    Schedule,
    VerticalLimits,
    WeeklyWindow,
    ZoneKind,
)

Json = dict[str, object]

DATUMS: Mapping[str, AltDatum] = {
    "AGL": AltDatum.TERRAIN,
    "SFC": AltDatum.TERRAIN,
    "GND": AltDatum.TERRAIN,
    "AMSL": AltDatum.AMSL,
    "MSL": AltDatum.AMSL,
    # ellipsoid height taken as height above mean sea level: the geoid is within about
    # ±100 m of the ellipsoid worldwide (+45..55 m over central Europe)
    "WGS84": AltDatum.AMSL,
    "W84": AltDatum.AMSL,
    "REL": AltDatum.REL_HOME,
    "RELATIVE": AltDatum.REL_HOME,
    "LAUNCH": AltDatum.REL_HOME,
    "HOME": AltDatum.REL_HOME,
}
"""Altitude references (upper-case) and the datum each is read as."""

_UNITS: Mapping[str, str] = {
    "M": "m",
    "METRE": "m",
    "METER": "m",
    "METRES": "m",
    "METERS": "m",
    "FT": "ft",
    "FEET": "ft",
    "FOOT": "ft",
    "FL": "FL",
}

RESTRICTIONS: Mapping[str, Restriction] = {
    "PROHIBITED": Restriction.PROHIBITED,
    "REQ_AUTHORISATION": Restriction.REQ_AUTHORISATION,
    "REQ_AUTHORIZATION": Restriction.REQ_AUTHORISATION,
    "CONDITIONAL": Restriction.CONDITIONAL,
    "NO_RESTRICTION": Restriction.NO_RESTRICTION,
}
"""Restriction codes (upper-case, ED-269 and ED-318 spellings) and their level."""

_END_OF_DAY = time(23, 59, 59, 999999)


@dataclass(frozen=True, slots=True)
class LoadContext:
    """What every feature reader needs besides the feature itself."""

    source: str
    axis_order: str
    default_kind: ZoneKind

    def where(self, path: str) -> str:
        """The ``Zone.source`` of a zone found at JSON ``path`` of the document."""
        return f"{self.source}#{path}" if self.source else path


# -- typed access ------------------------------------------------------------------------------


def kind_of(value: object) -> str:
    """The JSON kind of ``value``, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def obj(value: object, path: str) -> Json:
    """``value`` as a JSON object."""
    if not isinstance(value, dict):
        raise ZoneError(path, f"expected an object, got {kind_of(value)}")
    return value


def array(value: object, path: str) -> list[object]:
    """``value`` as a JSON array."""
    if not isinstance(value, list):
        raise ZoneError(path, f"expected an array, got {kind_of(value)}")
    return value


def number(value: object, path: str) -> float:
    """``value`` as a finite float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ZoneError(path, f"expected a number, got {kind_of(value)}")
    try:
        v = float(value)
    except OverflowError:
        v = math.inf
    if not math.isfinite(v):
        raise ZoneError(path, f"{value!r} is not a finite number")
    return v


def string(value: object, path: str) -> str:
    """``value`` as a str."""
    if not isinstance(value, str):
        raise ZoneError(path, f"expected a string, got {kind_of(value)}")
    return value


def optional_string(value: object, path: str) -> str:
    """``value`` as a str, ``""`` for null or absent."""
    return "" if value is None else string(value, path)


def strings(value: object, path: str) -> tuple[str, ...]:
    """A string or an array of strings as a tuple (``()`` for null)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(string(v, f"{path}[{k}]") for k, v in enumerate(array(value, path)))


def text(value: object, path: str) -> str:
    """An ED-318 text: a string, or ``[{text, lang}, ...]`` (English first, else the first)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = [value]
    entries = [obj(v, f"{path}[{k}]") for k, v in enumerate(array(value, path))]
    for k, e in enumerate(entries):
        lang = e.get("lang")
        if isinstance(lang, str) and lang.lower().startswith("en"):
            return string(e.get("text"), f"{path}[{k}].text")
    return string(entries[0].get("text"), f"{path}[0].text") if entries else ""


def identifier_of(value: object) -> str:
    """An identifier given as a string or a whole number; ``""`` for anything else."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def restriction(value: object, path: str) -> Restriction:
    """A restriction code (case-insensitive); absent or null means prohibited."""
    if value is None:
        return Restriction.PROHIBITED
    code = string(value, path).strip().upper()
    if code not in RESTRICTIONS:
        raise ZoneError(
            path, f"unknown restriction {value!r} (use one of {', '.join(RESTRICTIONS)})"
        )
    return RESTRICTIONS[code]


# -- positions and shapes ----------------------------------------------------------------------


def position(value: object, path: str, axis_order: str) -> GeoPoint:
    """A ``[lon, lat]`` (or, with ``axis_order="latlon"``, ``[lat, lon]``) position."""
    pos = array(value, path)
    if len(pos) < 2:
        raise ZoneError(path, f"a position needs 2 numbers, got {len(pos)}")
    a = number(pos[0], f"{path}[0]")
    b = number(pos[1], f"{path}[1]")
    lon, lat = (a, b) if axis_order == "lonlat" else (b, a)
    order = "[lon, lat]" if axis_order == "lonlat" else "[lat, lon]"
    if not -90.0 <= lat <= 90.0:
        raise ZoneError(path, f"latitude {lat:g} is outside ±90° (position read as {order})")
    if not -180.0 <= lon <= 180.0:
        raise ZoneError(path, f"longitude {lon:g} is outside ±180° (position read as {order})")
    return GeoPoint(lat, lon)


def _ring(value: object, path: str, axis_order: str) -> tuple[GeoPoint, ...]:
    ring: list[GeoPoint] = []
    for k, pv in enumerate(array(value, path)):
        p = position(pv, f"{path}[{k}]", axis_order)
        if not ring or ring[-1] != p:
            ring.append(p)
    return tuple(ring)


def polygon(value: object, path: str, axis_order: str) -> GeoPolygon:
    """GeoJSON Polygon ``coordinates``: the exterior ring, then holes (closed or open)."""
    rings = array(value, path)
    if not rings:
        raise ZoneError(path, "a polygon needs an exterior ring")
    parsed = [_ring(r, f"{path}[{k}]", axis_order) for k, r in enumerate(rings)]
    try:
        return GeoPolygon(parsed[0], tuple(parsed[1:]))
    except InvalidPolygonError as exc:
        raise ZoneError(path, f"invalid polygon: {exc}") from exc


def circle(center: GeoPoint, radius: object, path: str) -> GeoCircle:
    """A circle of ``radius`` metres."""
    r = number(radius, path)
    if r <= 0.0:
        raise ZoneError(path, f"radius must be > 0 m, got {r:g}")
    return GeoCircle(center, r)


# -- altitudes ---------------------------------------------------------------------------------


def datum(value: object, path: str) -> AltDatum:
    """An altitude reference such as ``AGL`` or ``AMSL`` (see :data:`DATUMS`)."""
    ref = string(value, path).strip().upper()
    if ref not in DATUMS:
        raise ZoneError(
            path, f"unknown altitude reference {value!r} (use one of {', '.join(DATUMS)})"
        )
    return DATUMS[ref]


def unit(value: object, path: str) -> str:
    """An altitude unit: ``"m"``, ``"ft"`` or ``"FL"``."""
    u = string(value, path).strip().upper()
    if u not in _UNITS:
        raise ZoneError(path, f"unknown altitude unit {value!r} (use m, ft or FL)")
    return _UNITS[u]


@dataclass(frozen=True, slots=True)
class AltitudeFields:
    """Where the three parts of one altitude are (``unit`` may be fixed, e.g. ``floor_m``)."""

    value: str
    unit: str | None
    ref: str


def altitude(o: Mapping[str, object], f: AltitudeFields, prefix: str = "") -> Altitude | None:
    """The altitude held in ``o``'s fields ``f``; ``None`` when the value is absent or null.

    The unit is required (unless ``f.unit`` is ``None``: metres); the reference is required
    except for flight levels, which are always standard-pressure levels (taken as AMSL).
    """
    raw = o.get(f.value)
    if raw is None:
        return None
    v = number(raw, prefix + f.value)
    u = "m"
    if f.unit is not None:
        if o.get(f.unit) is None:
            raise ZoneError(prefix + f.unit, f"is required with {f.value}")
        u = unit(o[f.unit], prefix + f.unit)
    if u == "FL":
        return Altitude.of(v, u, AltDatum.AMSL)
    if o.get(f.ref) is None:
        raise ZoneError(prefix + f.ref, f"is required with {f.value}")
    return Altitude.of(v, u, datum(o[f.ref], prefix + f.ref))


def vertical(floor: Altitude | None, ceiling: Altitude | None, path: str) -> VerticalLimits:
    """A vertical band; a floor above a ceiling of the same datum is refused."""
    if floor and ceiling and floor.datum == ceiling.datum and floor.value_m > ceiling.value_m:
        raise ZoneError(
            path,
            f"lower limit {floor.value_m:g} m is above upper limit {ceiling.value_m:g} m "
            f"({floor.datum.name})",
        )
    return VerticalLimits(floor, ceiling)


# -- schedules ---------------------------------------------------------------------------------


def date_time(value: object, path: str) -> datetime | None:
    """An ISO 8601 date-time with a time zone, as UTC; ``None`` for null or absent."""
    if value is None:
        return None
    s = string(value, path)
    try:
        t = datetime.fromisoformat(s.strip())
    except ValueError:
        raise ZoneError(path, f"{s!r} is not an ISO 8601 date-time") from None
    if t.tzinfo is None:
        raise ZoneError(path, f"{s!r} has no time zone (add 'Z' for UTC)")
    return t.astimezone(UTC)


def time_of_day(value: object, path: str, default: time) -> time:
    """A UTC time of day (``17:00:00.00Z``; no offset is read as UTC)."""
    if value is None:
        return default
    s = string(value, path)
    try:
        t = time.fromisoformat(s.strip())
    except ValueError:
        raise ZoneError(path, f"{s!r} is not an ISO 8601 time of day") from None
    if t.utcoffset() not in (None, timedelta(0)):
        raise ZoneError(path, f"{s!r}: schedule times must be UTC ('Z')")
    return t.replace(tzinfo=None)


def _window(value: object, path: str) -> WeeklyWindow:
    o = obj(value, path)
    for key in ("startEvent", "endEvent"):
        if o.get(key) is not None:
            raise ZoneError(f"{path}.{key}", "sunrise/sunset events are not supported")
    days_value = o.get("day")
    days = ["ANY"] if days_value is None else list(strings(days_value, f"{path}.day"))
    start = time_of_day(o.get("startTime"), f"{path}.startTime", time(0))
    end = time_of_day(o.get("endTime"), f"{path}.endTime", _END_OF_DAY)
    try:
        return WeeklyWindow.from_names(days, start, end)
    except ZoneError as exc:
        raise ZoneError(f"{path}.day", exc.reason) from exc


def _period(value: object, path: str) -> Period:
    o = obj(value, path)
    permanent = o.get("permanent")
    if permanent is not None and string(permanent, f"{path}.permanent").upper() not in (
        "YES",
        "NO",
    ):
        raise ZoneError(f"{path}.permanent", f"expected YES or NO, got {permanent!r}")
    start = date_time(o.get("startDateTime"), f"{path}.startDateTime")
    end = date_time(o.get("endDateTime"), f"{path}.endDateTime")
    windows: tuple[WeeklyWindow, ...] = ()
    sched = o.get("schedule")
    # "permanent": "YES" means in force all day every day between start and end
    if sched is not None and str(permanent).upper() != "YES":
        spath = f"{path}.schedule"
        windows = tuple(_window(w, f"{spath}[{k}]") for k, w in enumerate(array(sched, spath)))
    try:
        return Period(start, end, windows)
    except ZoneError as exc:
        raise ZoneError(path, exc.reason) from exc


def applicability(value: object, path: str) -> Schedule:
    """An ED-269 ``applicability`` / ED-318 ``limitedApplicability`` list.

    Absent, null or empty is permanent, and so is any entry without a start, an end or
    weekly windows (it covers all time).
    """
    if value is None:
        return Schedule()
    periods = tuple(_period(p, f"{path}[{k}]") for k, p in enumerate(array(value, path)))
    if not periods or Period() in periods:
        return Schedule()
    return Schedule(periods)
