"""Zone files to :class:`~mission_control.airspace.zones.Zone` values.

Four formats, told apart automatically (``format="auto"``) or forced:

``qgc``
    A QGroundControl ``.plan`` (``"fileType": "Plan"``), read with
    :func:`flight_plans.qgc.plan_from_qgc_json`. Each ``geoFence`` polygon becomes zone
    ``fence-polygon-<i>``, each circle ``fence-circle-<i>``; the ``inclusion`` flag gives
    the kind. No vertical limits, permanent, prohibited. Any error in the plan (mission
    items included) rejects the file: ``skip_invalid`` does not apply.
``ed269``
    EUROCAE ED-269: a top-level object whose ``features`` are UASZone objects with a
    ``geometry`` *array* (see :mod:`~mission_control.airspace.loaders_eurocae`).
``ed318``
    EUROCAE ED-318: a GeoJSON FeatureCollection whose features carry ED-318 properties
    (``identifier`` with ``type``/``variant``/``limitedApplicability``/``zoneAuthority``)
    or geometries with ``layer``/``extent``.
``geojson``
    Anything else that is GeoJSON: a FeatureCollection, a Feature or a bare geometry.
    Polygon (holes allowed), MultiPolygon (one zone per polygon, same identifier, ``part``
    0..n-1), GeometryCollection of those, and Point with a radius (a circle). Properties:

    * identifier: ``identifier``, else ``id``, else ``name``, else the feature's ``id``,
      else ``feature-<index>``; ``name``;
    * ``kind``: ``exclusion`` or ``inclusion`` (anything else is an error); otherwise
      ``zone_type`` when it is one of those two words; otherwise ``default_kind``;
    * ``restriction``: ``PROHIBITED`` (default), ``REQ_AUTHORISATION`` /
      ``REQ_AUTHORIZATION``, ``CONDITIONAL``, ``NO_RESTRICTION`` (case-insensitive);
    * vertical limits, as national UAS geozone exports write them:
      ``lower_limit_altitude``, ``lower_limit_unit``, ``lower_limit_alt_ref``,
      ``upper_limit_altitude``, ``upper_limit_unit``, ``upper_limit_alt_ref``; or the
      short form ``floor_m`` / ``floor_ref``, ``ceiling_m`` / ``ceiling_ref`` (not both
      forms). Units ``m``, ``ft``, ``FL`` (a flight level needs no reference). References:
      ``AGL``/``SFC``/``GND`` (above ground), ``AMSL``/``MSL``, ``WGS84``/``W84``
      (ellipsoid height, *taken as AMSL*: the geoid is within about ±100 m of the
      ellipsoid), ``REL``/``RELATIVE``/``LAUNCH``/``HOME`` (above the launch point). A
      limit without unit or reference is an error; no limit means surface / unlimited;
    * ``radius_m`` (or ``radius``), metres, for Points;
    * ``reason`` (string or array), ``message``, ``authority`` (string or array);
    * schedule: ``start`` / ``end`` (ISO 8601 with a time zone), or an ED-269-style
      ``applicability`` array; neither means permanent.

Axis order: RFC 7946 positions are ``[lon, lat]``, but published files do not all agree.
With ``axis_order="auto"`` a file is read as ``[lat, lon]`` when some position in it is
impossible as ``[lon, lat]`` (second value beyond ±90°) but possible as ``[lat, lon]``;
otherwise as ``[lon, lat]``. So a swapped file is only recognised when it has a longitude
beyond ±90°: force ``axis_order="latlon"`` for the others. QGroundControl files are
``[lat, lon]`` by definition and ignore ``axis_order``.

Errors: a bad feature raises :class:`ZoneFileError` with the file, the feature ``index``,
its ``identifier`` and the JSON path of the bad value inside the feature, and the whole
file is rejected — unless ``skip_invalid=True``, which skips it and reports the error in
:attr:`LoadResult.skipped`. Problems with the file itself (unreadable, not UTF-8, not
JSON, ``NaN``/``Infinity``, wrong top-level shape, no zones at all) always raise.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from flight_plans.errors import FlightPlanError
from flight_plans.qgc import plan_from_qgc_json
from mission_control.airspace import loaders_eurocae, loaders_geojson
from mission_control.airspace.errors import ZoneError, ZoneFileError
from mission_control.airspace.loaders_fields import RESTRICTIONS, Json, LoadContext, kind_of
from mission_control.airspace.zones import Zone, ZoneKind

__all__ = [
    "AXIS_ORDERS",
    "FORMATS",
    "LoadResult",
    "detect_axis_order",
    "load_zone_files",
    "load_zones",
    "loads_zones",
]

FORMATS = ("auto", "geojson", "ed269", "ed318", "qgc")
"""Accepted values of ``format``."""
AXIS_ORDERS = ("auto", "lonlat", "latlon")
"""Accepted values of ``axis_order``."""

_Build = Callable[[object, int, str, LoadContext], list[Zone]]
_Identify = Callable[[object], str]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a zone file held.

    Attributes:
        zones: the zones loaded, in file order (parts of one source zone in part order).
        skipped: one error per feature skipped (only with ``skip_invalid=True``).
        format: ``"geojson"``, ``"ed269"``, ``"ed318"`` or ``"qgc"`` (``"mixed"`` for
            several files of different formats).
        axis_order: the order positions were read in, ``"lonlat"`` or ``"latlon"``
            (``"mixed"`` for several files read differently).
    """

    zones: tuple[Zone, ...]
    skipped: tuple[ZoneFileError, ...]
    format: str
    axis_order: str


# -- JSON --------------------------------------------------------------------------------------


class _NonFinite(ValueError):
    def __init__(self, token: str) -> None:
        self.token = token
        super().__init__(token)


def _refuse_constant(token: str) -> float:
    raise _NonFinite(token)


def _finite_float(token: str) -> float:
    v = float(token)
    if not math.isfinite(v):  # 1e999 parses as inf
        raise _NonFinite(token)
    return v


def _parse(text: str, source: str) -> object:
    if not isinstance(text, str):
        raise ZoneFileError(f"expected JSON text, got {type(text).__name__}", source=source)
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ZoneFileError("the file is empty", source=source)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NonFinite as exc:
        raise ZoneFileError(
            f"{exc.token} is not a JSON number (values must be finite)", source=source
        ) from None
    except json.JSONDecodeError as exc:
        raise ZoneFileError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", source=source
        ) from None
    except RecursionError:
        raise ZoneFileError("JSON nested too deeply", source=source) from None


# -- format and axis order ---------------------------------------------------------------------


def _is_ed269(feature: object) -> bool:
    return isinstance(feature, dict) and isinstance(feature.get("geometry"), list)


def _is_ed318(feature: object) -> bool:
    if not isinstance(feature, dict):
        return False
    geom = feature.get("geometry")
    if isinstance(geom, dict):
        members = geom.get("geometries")
        parts = [geom, *(members if isinstance(members, list) else [])]
        if any(isinstance(g, dict) and ("layer" in g or "extent" in g) for g in parts):
            return True
    props = feature.get("properties")
    if not isinstance(props, dict) or "identifier" not in props:
        return False
    marks = ("variant", "limitedApplicability", "zoneAuthority")
    kind = props.get("type")
    return any(m in props for m in marks) or (
        isinstance(kind, str) and kind.strip().upper() in RESTRICTIONS
    )


def _detect(doc: Json) -> str:
    if doc.get("fileType") == "Plan":
        return "qgc"
    feats = doc.get("features")
    if isinstance(feats, list):
        if "type" not in doc or any(_is_ed269(f) for f in feats):
            return "ed269"
        if doc.get("type") == "FeatureCollection" and any(_is_ed318(f) for f in feats):
            return "ed318"
    elif doc.get("type") == "Feature" and _is_ed318(doc):
        return "ed318"
    return "geojson"


def _swapped_pair(a: object, b: object) -> bool:
    """True if ``[a, b]`` is impossible as ``[lon, lat]`` but possible as ``[lat, lon]``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return False
    return 90.0 < abs(b) <= 180.0 and abs(a) <= 90.0


def detect_axis_order(doc: object) -> str:
    """``"latlon"`` if any position under a ``coordinates`` or ``center`` key is impossible
    as ``[lon, lat]`` but possible as ``[lat, lon]``, else ``"lonlat"``."""
    stack: list[tuple[object, bool]] = [(doc, False)]
    while stack:
        value, in_position = stack.pop()
        if isinstance(value, dict):
            for key, v in value.items():
                stack.append((v, key in ("coordinates", "center")))
        elif isinstance(value, list):
            if in_position and len(value) >= 2 and _swapped_pair(value[0], value[1]):
                return "latlon"
            stack.extend((v, in_position) for v in value if isinstance(v, dict | list))
    return "lonlat"


# -- formats -----------------------------------------------------------------------------------


def _qgc_zones(doc: Json, source: str) -> list[Zone]:
    try:
        plan = plan_from_qgc_json(doc, source=source)
    except FlightPlanError as exc:
        msg = str(exc)
        if source and msg.startswith(f"{source}: "):
            msg = msg[len(source) + 2 :]
        raise ZoneFileError(f"not a valid .plan: {msg}", source=source) from exc
    where = LoadContext(source, "latlon", ZoneKind.EXCLUSION).where
    zones = [
        Zone(
            f"fence-polygon-{i}",
            fp.polygon,
            kind=ZoneKind.INCLUSION if fp.inclusion else ZoneKind.EXCLUSION,
            source=where(f"geoFence.polygons[{i}]"),
        )
        for i, fp in enumerate(plan.fence.polygons)
    ]
    zones += [
        Zone(
            f"fence-circle-{i}",
            fc.circle,
            kind=ZoneKind.INCLUSION if fc.inclusion else ZoneKind.EXCLUSION,
            source=where(f"geoFence.circles[{i}]"),
        )
        for i, fc in enumerate(plan.fence.circles)
    ]
    if not zones:
        raise ZoneFileError("the plan has no geofence polygons or circles", source=source)
    return zones


def _features(
    doc: Json, fmt: str, source: str
) -> tuple[list[object], list[str], _Build, _Identify]:
    if fmt == "ed269":
        feats = doc.get("features")
        if not isinstance(feats, list):
            raise ZoneFileError("an ED-269 file needs a 'features' array", source=source)
        paths = [f"features[{k}]" for k in range(len(feats))]
        return feats, paths, loaders_eurocae.ed269_zones, loaders_eurocae.identifier
    found = loaders_geojson.features(doc)
    if isinstance(found, str):
        raise ZoneFileError(
            f"not a recognised zone file: {found}; expected GeoJSON, EUROCAE ED-269 or "
            "ED-318, or a QGroundControl .plan",
            source=source,
        )
    if fmt == "ed318":
        return *found, loaders_eurocae.ed318_zones, loaders_eurocae.identifier
    return *found, loaders_geojson.zones, loaders_geojson.identifier


# -- API ---------------------------------------------------------------------------------------


def loads_zones(
    text: str,
    *,
    source: str = "",
    format: str = "auto",
    skip_invalid: bool = False,
    axis_order: str = "auto",
    default_kind: ZoneKind = ZoneKind.EXCLUSION,
) -> LoadResult:
    """Zones from the text of a zone file.

    Args:
        text: the file's JSON text.
        source: a name for the document (file name), used in errors and ``Zone.source``.
        format: one of :data:`FORMATS`; ``"auto"`` detects it (see the module docstring).
        skip_invalid: skip bad features (reported in ``skipped``) instead of rejecting
            the file.
        axis_order: one of :data:`AXIS_ORDERS`; ``"auto"`` reads ``[lon, lat]`` unless
            the file proves otherwise.
        default_kind: the kind of zones whose source does not say (GeoJSON without
            ``kind``, every ED-269/ED-318 zone).

    Raises:
        ZoneFileError: the file is not a zone file of the format (always), or a feature is
            invalid (unless ``skip_invalid``); ``index`` and ``identifier`` name the feature.
    """
    if format not in FORMATS:
        raise ZoneFileError(f"unknown format {format!r} (use {', '.join(FORMATS)})", source=source)
    if axis_order not in AXIS_ORDERS:
        raise ZoneFileError(
            f"unknown axis order {axis_order!r} (use {', '.join(AXIS_ORDERS)})", source=source
        )
    doc = _parse(text, source)
    if not isinstance(doc, dict):
        raise ZoneFileError(f"expected a JSON object, got {kind_of(doc)}", source=source)
    fmt = _detect(doc) if format == "auto" else format
    if fmt == "qgc":
        return LoadResult(tuple(_qgc_zones(doc, source)), (), "qgc", "latlon")
    order = detect_axis_order(doc) if axis_order == "auto" else axis_order
    ctx = LoadContext(source, order, ZoneKind(default_kind))
    feats, paths, build, identify = _features(doc, fmt, source)
    if not feats:
        raise ZoneFileError("the file holds no zones (no features)", source=source)
    zones: list[Zone] = []
    skipped: list[ZoneFileError] = []
    for index, (feature, path) in enumerate(zip(feats, paths, strict=True)):
        try:
            zones += build(feature, index, path, ctx)
        except (ZoneError, FlightPlanError) as exc:
            err = ZoneFileError(str(exc), source=source, index=index, identifier=identify(feature))
            if not skip_invalid:
                raise err from exc
            err.__cause__ = exc
            skipped.append(err)
    return LoadResult(tuple(zones), tuple(skipped), fmt, order)


def load_zones(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    skip_invalid: bool = False,
    axis_order: str = "auto",
    default_kind: ZoneKind = ZoneKind.EXCLUSION,
) -> LoadResult:
    """Zones from a zone file (UTF-8, optionally with a BOM); see :func:`loads_zones`.

    Raises:
        ZoneFileError: the file cannot be read or is not UTF-8, or as :func:`loads_zones`;
            ``source`` is the path.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ZoneFileError(f"cannot read the file: {exc.strerror or exc}", source=name) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ZoneFileError(f"not UTF-8 text (byte {exc.start})", source=name) from None
    return loads_zones(
        text,
        source=name,
        format=format,
        skip_invalid=skip_invalid,
        axis_order=axis_order,
        default_kind=default_kind,
    )


def load_zone_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    format: str = "auto",
    skip_invalid: bool = False,
    axis_order: str = "auto",
    default_kind: ZoneKind = ZoneKind.EXCLUSION,
) -> LoadResult:
    """Zones of several files, concatenated in order (each file detected on its own).

    Raises:
        ZoneFileError: no paths, or as :func:`load_zones` for any file (nothing is returned
            then).
    """
    results = [
        load_zones(
            p,
            format=format,
            skip_invalid=skip_invalid,
            axis_order=axis_order,
            default_kind=default_kind,
        )
        for p in paths
    ]
    if not results:
        raise ZoneFileError("no zone files given")
    formats = {r.format for r in results}
    orders = {r.axis_order for r in results}
    return LoadResult(
        tuple(z for r in results for z in r.zones),
        tuple(e for r in results for e in r.skipped),
        formats.pop() if len(formats) == 1 else "mixed",
        orders.pop() if len(orders) == 1 else "mixed",
    )
