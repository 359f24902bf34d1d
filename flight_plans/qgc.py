"""QGroundControl ``.plan`` files: import to and export from :class:`~flight_plans.plan.Plan`.

A ``.plan`` file is JSON with three parts: ``mission`` (items and the planned home),
``geoFence`` (inclusion/exclusion polygons and circles) and ``rallyPoints``. This module
reads and writes them as values; :func:`load_plan` and :func:`dump_plan` are thin file
wrappers around :func:`loads_plan` and :func:`dumps_plan`.

Import
    * ``SimpleItem`` → one :class:`~flight_plans.mission.MissionItem` (``params`` is
      param1..7, ``null`` = NaN; lat/lon are params 5/6 for positional items).
    * An item with ``AltitudeMode`` 3 ("calculated above terrain": frame 0, ``Altitude`` =
      height above terrain, param7 = the AMSL altitude QGroundControl computed, or ``null``)
      becomes a ``MAV_FRAME_GLOBAL_TERRAIN_ALT`` item with ``alt_m`` = ``Altitude``: what
      the planner meant.
    * ``DO_JUMP`` param1 is a ``doJumpId`` in the file and an item index in the model.
    * Complex items ``survey`` and ``CorridorScan`` are flattened into the MAVLink items
      QGroundControl stores inside them (``TransectStyleComplexItem.Items``).
      ``StructureScan`` stores no items, so it (like ``fwLandingPattern``,
      ``vtolLandingPattern`` and unknown types) raises :class:`UnsupportedItemError`.

Export writes what QGroundControl's loader requires (``fileType`` "Plan", ``groundStation``,
``version`` 1, mission version 2 with ``firmwareType`` and ``plannedHomePosition``,
``geoFence`` version 2, ``rallyPoints`` version 2). Complex items are written as the plain
SimpleItems they were flattened into. NaN parameters are written as ``null``; whole-number
floats as integers, as QGroundControl does.

Lossless round trip: everything a file holds beyond the model (per-item ``AltitudeMode``,
``Altitude``, ``AMSLAltAboveTerrain``, ``doJumpId``, the written frame and param7, keys this
module does not know, ``globalPlanAltitudeMode``, shape versions...) is kept in
``plan.extras["qgc"]`` (:class:`QgcExtras`) and written back as long as the plan still holds
the same item/shape at the same index. Without those details the values are derived:
``AltitudeMode`` from the frame (3 → 1 relative, 0 → 2 AMSL, 10 → 4 terrain frame),
``Altitude`` = ``alt_m``, ``AMSLAltAboveTerrain`` ``null``, ``doJumpId`` = index + 1;
non-positional items carry no altitude keys.

Errors: every refusal is a :class:`~flight_plans.errors.PlanFormatError` (or one of its
located subclasses, which are also the specific value errors, e.g.
:class:`~flight_plans.errors.PlanCoordinateError` is an ``InvalidCoordinateError``) with the
JSON ``path`` (``mission.items[3].params[4]``) and the ``source`` name.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from flight_plans._jsondoc import parse, read_text
from flight_plans._qgc_load import plan_from_json
from flight_plans._qgc_model import (
    DO_JUMP,
    FENCE_SHAPE_VERSION,
    GEOFENCE_VERSION,
    MISSION_VERSION,
    PLAN_FILE_TYPE,
    PLAN_FILE_VERSION,
    QGC_EXTRAS_KEY,
    RALLY_VERSION,
    AltitudeMode,
    QgcAltitude,
    QgcComplexSource,
    QgcExtras,
    QgcFenceDetails,
    QgcItemDetails,
)
from flight_plans.errors import InvalidValueError, UnsupportedItemError
from flight_plans.mission import AltDatum, Mission, MissionItem
from flight_plans.plan import Plan

__all__ = [
    "QGC_EXTRAS_KEY",
    "AltitudeMode",
    "QgcAltitude",
    "QgcComplexSource",
    "QgcExtras",
    "QgcFenceDetails",
    "QgcItemDetails",
    "dump_plan",
    "dumps_plan",
    "load_plan",
    "loads_plan",
    "plan_from_qgc_json",
    "plan_to_qgc_json",
    "qgc_extras",
]

_MODE_FOR_DATUM = {
    AltDatum.REL_HOME: AltitudeMode.RELATIVE,
    AltDatum.AMSL: AltitudeMode.ABSOLUTE,
    AltDatum.TERRAIN: AltitudeMode.TERRAIN_FRAME,
}


# -- import ------------------------------------------------------------------------------------


def plan_from_qgc_json(doc: object, *, source: str = "") -> Plan:
    """Build a :class:`Plan` from an already parsed ``.plan`` JSON value.

    Raises:
        PlanFormatError: see :func:`loads_plan`.
    """
    return plan_from_json(doc, source=source)


def loads_plan(text: str, *, source: str = "") -> Plan:
    """Parse the text of a QGroundControl ``.plan`` file.

    Args:
        text: the file's JSON text.
        source: a name for the document (file name) used in error messages.

    Raises:
        PlanFormatError: malformed or truncated JSON, ``NaN``/``Infinity`` tokens, wrong
            ``fileType`` or version, a missing key, a value of the wrong kind.
        UnsupportedItemError: a complex item without embedded MAVLink items, or an unknown
            item type (the message names the item index and type).
        PlanCommandError: a command number MAVLink does not define.
        PlanCoordinateError: a latitude/longitude out of range or ``null``.
        PlanPolygonError: a fence polygon with < 3 vertices or crossing itself.
        PlanValueError: any other refused value (e.g. a ``DO_JUMP`` to no item).
    """
    return plan_from_json(parse(text, source=source), source=source)


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a ``.plan`` file (UTF-8); the path is the ``source`` of any error.

    Raises:
        OSError: the file cannot be read.
        PlanFormatError: see :func:`loads_plan`.
    """
    text = read_text(path, what="a .plan file is JSON")
    return loads_plan(text, source=str(path))


# -- export ------------------------------------------------------------------------------------


def qgc_extras(plan: Plan) -> QgcExtras:
    """The QGroundControl details of ``plan`` (empty ones if it was not loaded from a file)."""
    extras = plan.extras.get(QGC_EXTRAS_KEY)
    return extras if isinstance(extras, QgcExtras) else QgcExtras()


def _num(x: float) -> int | float | None:
    """A JSON number as QGroundControl writes it: NaN → null, whole numbers without '.0'."""
    if math.isnan(x):
        return None
    if x.is_integer() and abs(x) < 2**53 and math.copysign(1.0, x) > 0:
        return int(x)
    return x


def _jump_ids(items: Sequence[MissionItem], details: Sequence[QgcItemDetails | None]) -> list[int]:
    ids = [d.do_jump_id if d and d.do_jump_id is not None else i + 1 for i, d in enumerate(details)]
    if len(set(ids)) != len(ids):
        ids = list(range(1, len(items) + 1))
    return ids


def _matching_details(mission: Mission, extras: QgcExtras) -> list[QgcItemDetails | None]:
    out: list[QgcItemDetails | None] = []
    for i, item in enumerate(mission.items):
        d = extras.items[i] if i < len(extras.items) else None
        out.append(d if d is not None and d.item == item else None)
    return out


def _item_json(
    i: int, item: MissionItem, d: QgcItemDetails | None, jump_ids: list[int]
) -> dict[str, object]:
    params = list(item.params)
    if item.command == DO_JUMP:
        target = item.param1
        if not target.is_integer() or not 0 <= target < len(jump_ids):
            raise InvalidValueError(
                "param1", target, "DO_JUMP target is not an item index", item_index=i
            )
        params[0] = float(jump_ids[int(target)])
    frame = int(item.frame)
    out: dict[str, object] = {"type": "SimpleItem", "command": int(item.command)}
    if d is not None:
        out.update(d.other)
        if d.frame != frame:  # held as terrain frame, written as QGC wrote it (frame 0)
            frame, params[6] = d.frame, d.param7
        if d.altitude is not None:
            out["AltitudeMode"] = d.altitude.mode
            out["Altitude"] = _num(d.altitude.altitude_m)
            out["AMSLAltAboveTerrain"] = _num(d.altitude.amsl_alt_above_terrain_m)
        if d.do_jump_id is not None:
            out["doJumpId"] = jump_ids[i]
    else:
        datum = item.alt_datum
        if datum is not None:
            out["AltitudeMode"] = int(_MODE_FOR_DATUM[datum])
            out["Altitude"] = _num(item.alt_m)
            out["AMSLAltAboveTerrain"] = None
        out["doJumpId"] = jump_ids[i]
    out["frame"] = frame
    out["autoContinue"] = item.autocontinue
    out["params"] = [_num(p) for p in params]
    return out


def _global_mode(mission: Mission) -> int:
    modes = {_MODE_FOR_DATUM[it.alt_datum] for it in mission.items if it.alt_datum is not None}
    if not modes:
        return int(AltitudeMode.RELATIVE)
    return int(modes.pop()) if len(modes) == 1 else int(AltitudeMode.MIXED)


def _mission_json(plan: Plan, extras: QgcExtras) -> dict[str, object]:
    mission = plan.mission
    details = _matching_details(mission, extras)
    jump_ids = _jump_ids(mission.items, details)
    items = [
        _item_json(i, it, d, jump_ids)
        for i, (it, d) in enumerate(zip(mission.items, details, strict=True))
    ]
    home = mission.home
    home_json: list[int | float | None]
    if home is None:
        home_json = [None, None, None]
    else:
        alt_null = extras.home_alt_null and home == extras.home
        home_json = [
            _num(home.lat_deg),
            _num(home.lon_deg),
            None if alt_null else _num(home.alt_amsl_m),
        ]
    mode = extras.global_plan_altitude_mode
    return {
        **extras.mission_other,
        "version": MISSION_VERSION,
        "firmwareType": plan.firmware_type,
        "vehicleType": plan.vehicle_type,
        "cruiseSpeed": _num(plan.cruise_speed_m_s),
        "hoverSpeed": _num(plan.hover_speed_m_s),
        "globalPlanAltitudeMode": _global_mode(mission) if mode is None else mode,
        "plannedHomePosition": home_json,
        "items": items,
    }


def _fence_json(plan: Plan, extras: QgcExtras) -> dict[str, object]:
    polygons: list[dict[str, object]] = []
    for j, fp in enumerate(plan.fence.polygons):
        d = extras.fence_polygons[j] if j < len(extras.fence_polygons) else None
        d = d if d is not None and d.shape == fp else None
        if fp.polygon.holes:
            raise UnsupportedItemError(
                f"fence polygon {j} has holes, which a QGroundControl fence cannot hold; "
                "write each hole as an exclusion polygon",
                path=f"geoFence.polygons[{j}]",
            )
        ring = [[_num(v.lat_deg), _num(v.lon_deg)] for v in fp.polygon.exterior]
        if d is not None and d.closed:
            ring.append(list(ring[0]))
        polygons.append(
            {
                **(d.other if d else {}),
                "version": FENCE_SHAPE_VERSION,
                "inclusion": fp.inclusion,
                "polygon": ring,
            }
        )
    circles: list[dict[str, object]] = []
    for j, fc in enumerate(plan.fence.circles):
        d = extras.fence_circles[j] if j < len(extras.fence_circles) else None
        d = d if d is not None and d.shape == fc else None
        other = dict(d.other) if d else {}
        circle_other = other.pop("circle", {})
        c = fc.circle
        circles.append(
            {
                **other,
                "version": FENCE_SHAPE_VERSION,
                "inclusion": fc.inclusion,
                "circle": {
                    **(circle_other if isinstance(circle_other, dict) else {}),
                    "center": [_num(c.center.lat_deg), _num(c.center.lon_deg)],
                    "radius": _num(c.radius_m),
                },
            }
        )
    return {
        **extras.fence_other,
        "version": GEOFENCE_VERSION,
        "polygons": polygons,
        "circles": circles,
    }


def _rally_json(plan: Plan, extras: QgcExtras) -> dict[str, object]:
    # QGroundControl ignores version 1 rally data: keep a 1 only while there are no points.
    version = extras.rally_version if not plan.rally_points else RALLY_VERSION
    return {
        **extras.rally_other,
        "version": version,
        "points": [
            [_num(p.lat_deg), _num(p.lon_deg), _num(p.alt_rel_m)] for p in plan.rally_points
        ],
    }


def plan_to_qgc_json(plan: Plan) -> dict[str, object]:
    """The ``.plan`` JSON object of ``plan`` (see the module docstring for the mapping).

    Raises:
        UnsupportedItemError: a fence polygon has holes.
        InvalidValueError: a ``DO_JUMP`` param1 is not the index of an item.
    """
    extras = qgc_extras(plan)
    return {
        **extras.top_other,
        "fileType": PLAN_FILE_TYPE,
        "groundStation": extras.ground_station,
        "version": PLAN_FILE_VERSION,
        "mission": _mission_json(plan, extras),
        "geoFence": _fence_json(plan, extras),
        "rallyPoints": _rally_json(plan, extras),
    }


def dumps_plan(plan: Plan) -> str:
    """``plan`` as the text of a QGroundControl ``.plan`` file (sorted keys, 4-space indent).

    Raises:
        UnsupportedItemError, InvalidValueError: see :func:`plan_to_qgc_json`.
    """
    doc = plan_to_qgc_json(plan)
    return json.dumps(doc, indent=4, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"


def dump_plan(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write ``plan`` to a ``.plan`` file (UTF-8). The text is built before the file is
    opened, so a refused plan leaves no half-written file.

    Raises:
        OSError: the file cannot be written.
        UnsupportedItemError, InvalidValueError: see :func:`plan_to_qgc_json`.
    """
    text = dumps_plan(plan)
    Path(path).write_text(text, encoding="utf-8")
