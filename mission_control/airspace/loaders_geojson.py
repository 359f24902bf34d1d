"""Plain GeoJSON zone features (the property names are listed in ``loaders``' docstring)."""

from __future__ import annotations

from mission_control.airspace.errors import ZoneError
from mission_control.airspace.loaders_fields import (
    AltitudeFields,
    Json,
    LoadContext,
    altitude,
    applicability,
    array,
    circle,
    date_time,
    identifier_of,
    obj,
    optional_string,
    polygon,
    position,
    restriction,
    string,
    strings,
    vertical,
)
from mission_control.airspace.zones import (
    Period,
    Schedule,
    VerticalLimits,
    Zone,
    ZoneKind,
    ZoneShape,
)

GEOMETRY_TYPES = frozenset(
    {
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)
"""RFC 7946 geometry types (a bare geometry is a document of its own)."""

_LOWER = AltitudeFields("lower_limit_altitude", "lower_limit_unit", "lower_limit_alt_ref")
_UPPER = AltitudeFields("upper_limit_altitude", "upper_limit_unit", "upper_limit_alt_ref")
_FLOOR = AltitudeFields("floor_m", None, "floor_ref")
_CEILING = AltitudeFields("ceiling_m", None, "ceiling_ref")
_KINDS = {"exclusion": ZoneKind.EXCLUSION, "inclusion": ZoneKind.INCLUSION}


def features(doc: Json) -> tuple[list[object], list[str]] | str:
    """The features of a FeatureCollection, Feature or bare geometry and their JSON paths,
    or why ``doc`` is none of them."""
    kind = doc.get("type")
    if kind == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list):
            return "a FeatureCollection needs a 'features' array"
        return feats, [f"features[{k}]" for k in range(len(feats))]
    if kind == "Feature":
        return [doc], ["feature"]
    if kind in GEOMETRY_TYPES:
        return [{"type": "Feature", "geometry": doc, "properties": None}], ["geometry"]
    return f"not a GeoJSON object (type {kind!r})"


def _props(feature: object) -> Json:
    p = feature.get("properties") if isinstance(feature, dict) else None
    return p if isinstance(p, dict) else {}


def identifier(feature: object) -> str:
    """``identifier``, ``id`` or ``name`` property, else the feature's ``id``; ``""`` if none."""
    props = _props(feature)
    for key in ("identifier", "id", "name"):
        ident = identifier_of(props.get(key))
        if ident:
            return ident
    return identifier_of(feature.get("id")) if isinstance(feature, dict) else ""


def _shapes(geom: Json, path: str, props: Json, axis_order: str) -> list[ZoneShape]:
    kind = string(geom.get("type"), f"{path}.type")
    cpath = f"{path}.coordinates"
    if kind == "Polygon":
        return [polygon(geom.get("coordinates"), cpath, axis_order)]
    if kind == "MultiPolygon":
        polys = array(geom.get("coordinates"), cpath)
        if not polys:
            raise ZoneError(cpath, "a MultiPolygon needs at least one polygon")
        return [polygon(p, f"{cpath}[{k}]", axis_order) for k, p in enumerate(polys)]
    if kind == "Point":
        center = position(geom.get("coordinates"), cpath, axis_order)
        key = "radius_m" if "radius_m" in props else "radius"
        if props.get(key) is None:
            raise ZoneError("properties.radius_m", "a Point zone needs a radius in metres")
        return [circle(center, props[key], f"properties.{key}")]
    if kind == "GeometryCollection":
        gpath = f"{path}.geometries"
        members = array(geom.get("geometries"), gpath)
        if not members:
            raise ZoneError(gpath, "an empty GeometryCollection holds no zone")
        out: list[ZoneShape] = []
        for k, m in enumerate(members):
            out += _shapes(obj(m, f"{gpath}[{k}]"), f"{gpath}[{k}]", props, axis_order)
        return out
    raise ZoneError(
        f"{path}.type",
        f"unsupported geometry {kind!r} (use Polygon, MultiPolygon or Point with radius_m)",
    )


def _kind(props: Json, default: ZoneKind) -> ZoneKind:
    if props.get("kind") is not None:
        value = string(props["kind"], "properties.kind").strip().lower()
        if value not in _KINDS:
            raise ZoneError("properties.kind", f"expected exclusion or inclusion, got {value!r}")
        return _KINDS[value]
    # zone_type is free text in many datasets (e.g. "AIRPORT"): only the two words count
    zone_type = props.get("zone_type")
    if isinstance(zone_type, str) and zone_type.strip().lower() in _KINDS:
        return _KINDS[zone_type.strip().lower()]
    return default


def _vertical(props: Json) -> VerticalLimits:
    long_form = any(k.startswith(("lower_limit_", "upper_limit_")) for k in props)
    short_form = any(props.get(k) is not None for k in ("floor_m", "ceiling_m"))
    if long_form and short_form:
        raise ZoneError(
            "properties", "give either lower_/upper_limit_* or floor_m/ceiling_m, not both"
        )
    if long_form:
        lower, upper = (
            altitude(props, _LOWER, "properties."),
            altitude(props, _UPPER, "properties."),
        )
    else:
        lower, upper = (
            altitude(props, _FLOOR, "properties."),
            altitude(props, _CEILING, "properties."),
        )
    return vertical(lower, upper, "properties")


def _schedule(props: Json) -> Schedule:
    start = date_time(props.get("start"), "properties.start")
    end = date_time(props.get("end"), "properties.end")
    if props.get("applicability") is not None:
        if start or end:
            raise ZoneError("properties", "give either start/end or applicability, not both")
        return applicability(props["applicability"], "properties.applicability")
    if start is None and end is None:
        return Schedule()
    try:
        return Schedule((Period(start, end),))
    except ZoneError as exc:
        raise ZoneError("properties.end", exc.reason) from exc


def zones(feature: object, index: int, path: str, ctx: LoadContext) -> list[Zone]:
    """The zones of one GeoJSON feature (one per polygon of a MultiPolygon)."""
    f = obj(feature, "feature")
    if f.get("properties") is not None:
        obj(f["properties"], "properties")
    props = _props(f)
    if f.get("geometry") is None:
        raise ZoneError("geometry", "is missing (a zone needs a Polygon, MultiPolygon or Point)")
    shapes = _shapes(obj(f["geometry"], "geometry"), "geometry", props, ctx.axis_order)
    ident = identifier(f) or f"feature-{index}"
    vert = _vertical(props)
    kind = _kind(props, ctx.default_kind)
    level = restriction(props.get("restriction"), "properties.restriction")
    schedule = _schedule(props)
    name = optional_string(props.get("name"), "properties.name")
    reason = strings(props.get("reason"), "properties.reason")
    message = optional_string(props.get("message"), "properties.message")
    authority = "; ".join(strings(props.get("authority"), "properties.authority"))
    return [
        Zone(
            ident,
            shape,
            kind=kind,
            vertical=vert,
            restriction=level,
            schedule=schedule,
            name=name,
            reason=reason,
            message=message,
            authority=authority,
            source=ctx.where(path),
            part=k,
        )
        for k, shape in enumerate(shapes)
    ]
