"""EUROCAE ED-269 (UAS geographical zones) and ED-318 (GeoZones, GeoJSON-based) features.

ED-269
    The document is ``{"features": [UASZoneVersion, ...]}``. Each zone's ``geometry`` is an
    *array* of volumes, each with ``uomDimensions`` (``M``/``FT``), ``lowerLimit`` /
    ``lowerVerticalReference``, ``upperLimit`` / ``upperVerticalReference`` and a
    ``horizontalProjection`` (``Polygon`` with ``coordinates``, or ``Circle`` with
    ``center`` and ``radius`` in metres); every volume becomes one zone ``part``.
    ``restriction``, ``reason`` (+ ``otherReasonInfo``), ``message``, ``name``,
    ``zoneAuthority[].name`` and ``applicability`` complete it.

ED-318
    A GeoJSON FeatureCollection. The geometry is a Polygon, MultiPolygon, a
    GeometryCollection of them, or a Point with ``extent: {subType: "Circle", radius}``;
    each (member) geometry carries its own ``layer`` ``{upper, upperReference, lower,
    lowerReference, uom}`` (a collection's own ``layer`` is the default of its members; no
    layer at all means surface to unlimited). Properties: ``identifier``, ``name``,
    ``type`` (the restriction), ``reason`` (+ ``otherReasonInfo``), ``message``,
    ``zoneAuthority[].name`` and ``limitedApplicability`` (absent: permanent). Texts may be
    plain strings or ``[{text, lang}]`` lists, of which the English one is taken.
"""

from __future__ import annotations

from collections.abc import Callable

from mission_control.airspace.errors import ZoneError
from mission_control.airspace.loaders_fields import (
    AltitudeFields,
    Json,
    LoadContext,
    altitude,
    applicability,
    array,
    circle,
    identifier_of,
    obj,
    optional_string,
    polygon,
    position,
    restriction,
    string,
    strings,
    text,
    vertical,
)
from mission_control.airspace.zones import (
    Restriction,
    Schedule,
    VerticalLimits,
    Zone,
    ZoneShape,
)

_ED269_LOWER = AltitudeFields("lowerLimit", "uomDimensions", "lowerVerticalReference")
_ED269_UPPER = AltitudeFields("upperLimit", "uomDimensions", "upperVerticalReference")
_ED318_LOWER = AltitudeFields("lower", "uom", "lowerReference")
_ED318_UPPER = AltitudeFields("upper", "uom", "upperReference")


def identifier(feature: object) -> str:
    """An ED-269 zone's or ED-318 feature's ``identifier`` (``""`` if it has none)."""
    if not isinstance(feature, dict):
        return ""
    props = feature.get("properties")
    holder = props if isinstance(props, dict) and "identifier" in props else feature
    return identifier_of(holder.get("identifier"))


def _authority(value: object, path: str) -> str:
    """Names of a ``zoneAuthority`` array, joined by ``"; "``."""
    if value is None:
        return ""
    names: list[str] = []
    for k, a in enumerate(array(value, path)):
        name = text(obj(a, f"{path}[{k}]").get("name"), f"{path}[{k}].name")
        if name:
            names.append(name)
    return "; ".join(names)


def _reasons(o: Json, prefix: str) -> tuple[str, ...]:
    other = text(o.get("otherReasonInfo"), f"{prefix}otherReasonInfo")
    return strings(o.get("reason"), f"{prefix}reason") + ((other,) if other else ())


# -- ED-269 ------------------------------------------------------------------------------------


def _ed269_volume(value: object, path: str, axis_order: str) -> tuple[ZoneShape, VerticalLimits]:
    g = obj(value, path)
    prefix = f"{path}."
    vert = vertical(altitude(g, _ED269_LOWER, prefix), altitude(g, _ED269_UPPER, prefix), path)
    hpath = f"{path}.horizontalProjection"
    hp = obj(g.get("horizontalProjection"), hpath)
    kind = string(hp.get("type"), f"{hpath}.type")
    if kind == "Polygon":
        return polygon(hp.get("coordinates"), f"{hpath}.coordinates", axis_order), vert
    if kind == "Circle":
        center = position(hp.get("center"), f"{hpath}.center", axis_order)
        return circle(center, hp.get("radius"), f"{hpath}.radius"), vert
    raise ZoneError(f"{hpath}.type", f"unsupported projection {kind!r} (use Polygon or Circle)")


def _parts_to_zones(
    parts: list[tuple[ZoneShape, VerticalLimits]],
    ident: str,
    ctx: LoadContext,
    *,
    restriction: Restriction,
    schedule: Schedule,
    name: str,
    reason: tuple[str, ...],
    message: str,
    authority: str,
    source: Callable[[int], str],
) -> list[Zone]:
    """One zone per (shape, vertical band) part, sharing the source zone's details."""
    return [
        Zone(
            ident,
            shape,
            kind=ctx.default_kind,
            vertical=vert,
            restriction=restriction,
            schedule=schedule,
            name=name,
            reason=reason,
            message=message,
            authority=authority,
            source=source(k),
            part=k,
        )
        for k, (shape, vert) in enumerate(parts)
    ]


def ed269_zones(feature: object, index: int, path: str, ctx: LoadContext) -> list[Zone]:
    """The zones of one ED-269 ``UASZoneVersion`` (one per ``geometry`` volume)."""
    f = obj(feature, "feature")
    if f.get("geometry") is None:
        raise ZoneError("geometry", "is missing (an ED-269 zone needs a geometry array)")
    volumes = array(f["geometry"], "geometry")
    if not volumes:
        raise ZoneError("geometry", "is empty (an ED-269 zone needs at least one volume)")
    parts = [_ed269_volume(v, f"geometry[{k}]", ctx.axis_order) for k, v in enumerate(volumes)]
    return _parts_to_zones(
        parts,
        identifier(f) or f"feature-{index}",
        ctx,
        restriction=restriction(f.get("restriction"), "restriction"),
        schedule=applicability(f.get("applicability"), "applicability"),
        name=optional_string(f.get("name"), "name"),
        reason=_reasons(f, ""),
        message=optional_string(f.get("message"), "message"),
        authority=_authority(f.get("zoneAuthority"), "zoneAuthority"),
        source=lambda k: ctx.where(f"{path}.geometry[{k}]"),
    )


# -- ED-318 ------------------------------------------------------------------------------------


def _ed318_layer(value: object, path: str) -> VerticalLimits:
    if value is None:
        return VerticalLimits()
    layer = obj(value, path)
    prefix = f"{path}."
    return vertical(
        altitude(layer, _ED318_LOWER, prefix), altitude(layer, _ED318_UPPER, prefix), path
    )


def _ed318_volumes(
    geom: Json, path: str, axis_order: str, inherited: tuple[object, str] = (None, "")
) -> list[tuple[ZoneShape, VerticalLimits]]:
    """Shapes and layers of an ED-318 geometry; ``inherited`` is a collection's own
    ``(layer, its path)``, used by members without a layer."""
    kind = string(geom.get("type"), f"{path}.type")
    own = geom.get("layer")
    layer, layer_path = (own, f"{path}.layer") if own is not None else inherited
    cpath = f"{path}.coordinates"
    if kind == "Polygon":
        vert = _ed318_layer(layer, layer_path)
        return [(polygon(geom.get("coordinates"), cpath, axis_order), vert)]
    if kind == "MultiPolygon":
        vert = _ed318_layer(layer, layer_path)
        polys = array(geom.get("coordinates"), cpath)
        if not polys:
            raise ZoneError(cpath, "a MultiPolygon needs at least one polygon")
        return [(polygon(p, f"{cpath}[{k}]", axis_order), vert) for k, p in enumerate(polys)]
    if kind == "Point":
        vert = _ed318_layer(layer, layer_path)
        center = position(geom.get("coordinates"), cpath, axis_order)
        epath = f"{path}.extent"
        if geom.get("extent") is None:
            raise ZoneError(epath, "a Point zone needs an extent {subType: Circle, radius}")
        extent = obj(geom["extent"], epath)
        sub = extent.get("subType")
        if sub != "Circle":
            raise ZoneError(f"{epath}.subType", f"unsupported extent {sub!r} (use Circle)")
        return [(circle(center, extent.get("radius"), f"{epath}.radius"), vert)]
    if kind == "GeometryCollection":
        gpath = f"{path}.geometries"
        members = array(geom.get("geometries"), gpath)
        if not members:
            raise ZoneError(gpath, "an empty GeometryCollection holds no zone")
        out: list[tuple[ZoneShape, VerticalLimits]] = []
        for k, m in enumerate(members):
            mpath = f"{gpath}[{k}]"
            out += _ed318_volumes(obj(m, mpath), mpath, axis_order, (layer, layer_path))
        return out
    raise ZoneError(
        f"{path}.type",
        f"unsupported geometry {kind!r} (use Polygon, MultiPolygon, GeometryCollection "
        "or Point with a Circle extent)",
    )


def ed318_zones(feature: object, index: int, path: str, ctx: LoadContext) -> list[Zone]:
    """The zones of one ED-318 feature (one per polygon / circle of its geometry)."""
    f = obj(feature, "feature")
    props = obj(f.get("properties"), "properties")
    if f.get("geometry") is None:
        raise ZoneError("geometry", "is missing (a zone needs a Polygon or a Point extent)")
    parts = _ed318_volumes(obj(f["geometry"], "geometry"), "geometry", ctx.axis_order)
    return _parts_to_zones(
        parts,
        identifier(f) or f"feature-{index}",
        ctx,
        restriction=restriction(props.get("type"), "properties.type"),
        schedule=applicability(
            props.get("limitedApplicability"), "properties.limitedApplicability"
        ),
        name=text(props.get("name"), "properties.name"),
        reason=_reasons(props, "properties."),
        message=text(props.get("message"), "properties.message"),
        authority=_authority(props.get("zoneAuthority"), "properties.zoneAuthority"),
        source=lambda _k: ctx.where(path),
    )
