"""QGroundControl ``.plan`` JSON → :class:`~flight_plans.plan.Plan` (internal; see qgc.py)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

from flight_plans._jsondoc import JsonReader, index_path, key_path
from flight_plans._qgc_model import (
    DO_JUMP,
    FENCE_SHAPE_VERSION,
    GEOFENCE_VERSION,
    GROUND_STATION,
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
from flight_plans._validate import latitude, longitude
from flight_plans.errors import (
    InvalidCoordinateError,
    InvalidPolygonError,
    InvalidValueError,
    PlanCommandError,
    PlanCoordinateError,
    PlanPolygonError,
    PlanValueError,
    UnsupportedItemError,
)
from flight_plans.geodesy import GeoPoint
from flight_plans.geometry import GeoCircle, GeoPolygon
from flight_plans.mission import (
    HomePosition,
    MavFrame,
    Mission,
    MissionItem,
    is_known_command,
)
from flight_plans.plan import Fence, FenceCircle, FencePolygon, Plan, RallyPoint

_TOP_KEYS = frozenset(
    {"fileType", "groundStation", "version", "mission", "geoFence", "rallyPoints"}
)
_MISSION_KEYS = frozenset(
    {
        "version",
        "firmwareType",
        "vehicleType",
        "cruiseSpeed",
        "hoverSpeed",
        "globalPlanAltitudeMode",
        "plannedHomePosition",
        "items",
    }
)
_ALTITUDE_KEYS = ("AltitudeMode", "Altitude", "AMSLAltAboveTerrain")
_ITEM_KEYS = frozenset(
    {"type", "command", "frame", "params", "autoContinue", "doJumpId", *_ALTITUDE_KEYS}
)
_FENCE_KEYS = frozenset({"version", "polygons", "circles"})
_POLYGON_KEYS = frozenset({"version", "inclusion", "polygon"})
_CIRCLE_KEYS = frozenset({"version", "inclusion", "circle"})
_RALLY_KEYS = frozenset({"version", "points"})
_PARAM_SLOTS = {
    "param1": 0,
    "param2": 1,
    "param3": 2,
    "param4": 3,
    "lat_deg": 4,
    "lon_deg": 5,
    "alt_m": 6,
}
"""Which ``params`` element a :class:`MissionItem` field comes from."""
_TRANSECT_COMPLEX_TYPES = frozenset({"survey", "CorridorScan"})
"""Complex items that embed their MAVLink items (TransectStyleComplexItem ``Items``)."""


def _other(obj: dict[str, object], known: frozenset[str]) -> dict[str, object]:
    """The keys this module does not interpret, copied so the caller's document stays theirs."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if k not in known}


@dataclass
class _Loader:
    r: JsonReader
    items: list[MissionItem] = field(default_factory=list)
    details: list[QgcItemDetails | None] = field(default_factory=list)
    jump_ids: list[int | None] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    complex_sources: list[QgcComplexSource] = field(default_factory=list)

    # -- small checks ---------------------------------------------------------------------

    def lat_lon(
        self, lat: float, lon: float, path: str, *, item_index: int | None = None
    ) -> tuple[float, float]:
        """Validate a (lat, lon) pair stored at ``path[0]`` and ``path[1]``."""
        for field_name, value, check, sub in (
            ("lat_deg", lat, latitude, 0),
            ("lon_deg", lon, longitude, 1),
        ):
            try:
                check(field_name, value, item_index=item_index)
            except InvalidCoordinateError as exc:
                raise PlanCoordinateError(
                    field_name,
                    None if math.isnan(value) else value,
                    exc.reason,
                    path=index_path(path, sub),
                    source=self.r.source,
                    item_index=item_index,
                ) from None
        return lat, lon

    def point(self, value: object, path: str, *, item_index: int | None = None) -> GeoPoint:
        """A ``[lat, lon]`` array."""
        arr = self.r.array(value, path, length=2)
        lat = self.r.number(arr[0], index_path(path, 0), field="lat_deg", nullable=True)
        lon = self.r.number(arr[1], index_path(path, 1), field="lon_deg", nullable=True)
        return GeoPoint(*self.lat_lon(lat, lon, path, item_index=item_index))

    def non_negative(self, obj: dict[str, object], key: str, path: str, default: float) -> float:
        if key not in obj:
            return default
        p = key_path(path, key)
        v = self.r.number(obj[key], p, field=key)
        if v < 0:
            raise PlanValueError(key, obj[key], "must be >= 0", path=p, source=self.r.source)
        return v

    # -- mission items ----------------------------------------------------------------------

    def simple_item(
        self, obj_value: object, path: str, item_index: int
    ) -> tuple[MissionItem, QgcItemDetails, int | None]:
        """One SimpleItem: the model item, its details and its doJumpId."""
        r = self.r
        obj = r.obj(obj_value, path)
        kind = r.string(r.required(obj, "type", path), key_path(path, "type"))
        if kind != "SimpleItem":
            raise UnsupportedItemError(
                f"item {item_index}: expected type 'SimpleItem', got {kind!r}",
                path=key_path(path, "type"),
                source=r.source,
            )
        cmd_path = key_path(path, "command")
        command = r.integer(r.required(obj, "command", path), cmd_path, field="command")
        if not is_known_command(command):
            raise PlanCommandError(command, path=cmd_path, source=r.source, item_index=item_index)
        frame_path = key_path(path, "frame")
        frame_raw = r.integer(r.required(obj, "frame", path), frame_path, field="frame")
        try:
            frame = MavFrame(frame_raw)
        except ValueError:
            raise PlanValueError(
                "frame",
                frame_raw,
                "not a MAVLink MAV_FRAME",
                path=frame_path,
                source=r.source,
                item_index=item_index,
            ) from None
        params_path = key_path(path, "params")
        raw_params = r.array(r.required(obj, "params", path), params_path, length=7)
        params = [
            r.number(v, index_path(params_path, k), field=f"param{k + 1}", nullable=True)
            for k, v in enumerate(raw_params)
        ]
        auto = r.boolean(r.required(obj, "autoContinue", path), key_path(path, "autoContinue"))
        jump_id = None
        if "doJumpId" in obj:
            jump_id = r.integer(obj["doJumpId"], key_path(path, "doJumpId"), field="doJumpId")
        altitude = self.altitude_keys(obj, path)

        model_frame, alt = frame, params[6]
        if (
            altitude is not None
            and altitude.mode == AltitudeMode.CALC_ABOVE_TERRAIN
            and frame == MavFrame.GLOBAL
        ):
            # QGC flies these at a height above terrain but writes frame 0 with an AMSL
            # param7 it computed (or null); the model says what is meant: terrain frame.
            model_frame, alt = MavFrame.GLOBAL_TERRAIN_ALT, altitude.altitude_m
            if not math.isfinite(alt):
                raise PlanValueError(
                    "Altitude",
                    None,
                    "AltitudeMode 3 (calculated above terrain) needs the height above terrain",
                    path=key_path(path, "Altitude"),
                    source=r.source,
                    item_index=item_index,
                )
        try:
            item = MissionItem(
                command,
                model_frame,
                params[0],
                params[1],
                params[2],
                params[3],
                params[4],
                params[5],
                alt,
                autocontinue=auto,
                index=item_index,
            )
        except InvalidValueError as exc:
            slot = _PARAM_SLOTS.get(exc.field)
            error = (
                PlanCoordinateError if isinstance(exc, InvalidCoordinateError) else PlanValueError
            )
            raise error(
                exc.field,
                exc.value,
                exc.reason,
                path=path if slot is None else index_path(params_path, slot),
                source=r.source,
                item_index=item_index,
            ) from None
        details = QgcItemDetails(
            item=item,
            frame=int(frame),
            param7=params[6],
            altitude=altitude,
            do_jump_id=jump_id,
            other=_other(obj, _ITEM_KEYS),
        )
        return item, details, jump_id

    def altitude_keys(self, obj: dict[str, object], path: str) -> QgcAltitude | None:
        """QGC requires all three altitude keys as soon as one is present."""
        if not any(k in obj for k in _ALTITUDE_KEYS):
            return None
        r = self.r
        mode = r.integer(
            r.required(obj, "AltitudeMode", path),
            key_path(path, "AltitudeMode"),
            field="AltitudeMode",
        )
        alt = r.number(
            r.required(obj, "Altitude", path),
            key_path(path, "Altitude"),
            field="Altitude",
            nullable=True,
        )
        above = r.number(
            r.required(obj, "AMSLAltAboveTerrain", path),
            key_path(path, "AMSLAltAboveTerrain"),
            field="AMSLAltAboveTerrain",
            nullable=True,
        )
        return QgcAltitude(mode, alt, above)

    def complex_item(self, obj: dict[str, object], path: str, file_index: int) -> None:
        """Flatten a survey / corridor scan into the MAVLink items QGC saved inside it."""
        r = self.r
        type_path = key_path(path, "complexItemType")
        ctype = r.string(r.required(obj, "complexItemType", path), type_path)
        if ctype == "StructureScan":
            raise UnsupportedItemError(
                f"item {file_index}: complex item 'StructureScan' stores no MAVLink items "
                "(QGroundControl recomputes its flight path on load); open the plan in "
                "QGroundControl, upload it and download it again to get plain items",
                path=type_path,
                source=r.source,
            )
        if ctype not in _TRANSECT_COMPLEX_TYPES:
            raise UnsupportedItemError(
                f"item {file_index}: complex item type {ctype!r} is not supported "
                "(supported: survey, CorridorScan)",
                path=type_path,
                source=r.source,
            )
        tpath = key_path(path, "TransectStyleComplexItem")
        if "TransectStyleComplexItem" not in obj:
            raise UnsupportedItemError(
                f"item {file_index}: this {ctype} item stores no MAVLink items (written by an "
                "old QGroundControl); re-save the plan with a current QGroundControl",
                path=tpath,
                source=r.source,
            )
        transect = r.obj(obj["TransectStyleComplexItem"], tpath)
        items_path = key_path(tpath, "Items")
        embedded = r.array(r.required(transect, "Items", tpath), items_path)
        first = len(self.items)
        for j, value in enumerate(embedded):
            jpath = index_path(items_path, j)
            item, _, jump_id = self.simple_item(value, jpath, file_index)
            self.items.append(item)
            self.details.append(None)  # exported as plain SimpleItems: nothing to restore
            self.jump_ids.append(jump_id)
            self.paths.append(jpath)
        self.complex_sources.append(QgcComplexSource(file_index, ctype, first, len(embedded)))

    def mission_items(self, values: list[object], path: str) -> None:
        r = self.r
        for i, value in enumerate(values):
            ipath = index_path(path, i)
            obj = r.obj(value, ipath)
            kind = r.string(r.required(obj, "type", ipath), key_path(ipath, "type"))
            if kind == "SimpleItem":
                item, details, jump_id = self.simple_item(obj, ipath, i)
                self.items.append(item)
                self.details.append(details)
                self.jump_ids.append(jump_id)
                self.paths.append(ipath)
            elif kind == "ComplexItem":
                self.complex_item(obj, ipath, i)
            else:
                raise UnsupportedItemError(
                    f"item {i}: unknown item type {kind!r} (expected SimpleItem or ComplexItem)",
                    path=key_path(ipath, "type"),
                    source=r.source,
                )

    def resolve_jumps(self) -> None:
        """DO_JUMP param1 is a doJumpId in the file and an item index in the model."""
        index_of: dict[int, int] = {}
        for k, jid in enumerate(self.jump_ids):
            if jid is not None:
                index_of.setdefault(jid, k)
        for k, item in enumerate(self.items):
            if item.command != DO_JUMP:
                continue
            file_index = item.index if item.index is not None else k
            p = f"{self.paths[k]}.params[0]"
            target = item.param1
            if not target.is_integer() or int(target) not in index_of:
                raise PlanValueError(
                    "param1",
                    None if math.isnan(target) else target,
                    "DO_JUMP target is not the doJumpId of any item",
                    path=p,
                    source=self.r.source,
                    item_index=file_index,
                )
            new = replace(item, param1=float(index_of[int(target)]))
            self.items[k] = new
            d = self.details[k]
            if d is not None:
                self.details[k] = replace(d, item=new)

    # -- fence and rally --------------------------------------------------------------------

    def shape_version(self, obj: dict[str, object], path: str) -> None:
        # Current QGroundControl requires version 1 on fence shapes; older files omit it.
        if "version" in obj:
            p = key_path(path, "version")
            v = self.r.integer(obj["version"], p, field="version")
            if v != FENCE_SHAPE_VERSION:
                self.r.fail(f"fence shape version {v} is not supported (expected 1)", p)

    def fence(self, value: object) -> tuple[Fence, list[QgcFenceDetails], list[QgcFenceDetails]]:
        r = self.r
        obj = r.obj(value, "geoFence")
        vpath = "geoFence.version"
        version = r.integer(r.required(obj, "version", "geoFence"), vpath, field="version")
        if version != GEOFENCE_VERSION:
            r.fail(f"geoFence version {version} is not supported (expected 2)", vpath)
        polygons: list[FencePolygon] = []
        pdetails: list[QgcFenceDetails] = []
        ppath = "geoFence.polygons"
        for j, pv in enumerate(r.array(r.required(obj, "polygons", "geoFence"), ppath)):
            path = index_path(ppath, j)
            po = r.obj(pv, path)
            self.shape_version(po, path)
            inclusion = r.boolean(r.required(po, "inclusion", path), key_path(path, "inclusion"))
            vpath2 = key_path(path, "polygon")
            raw = r.array(r.required(po, "polygon", path), vpath2)
            vertices = [
                self.point(v, index_path(vpath2, k), item_index=j) for k, v in enumerate(raw)
            ]
            try:
                polygon = GeoPolygon(tuple(vertices), index=j)
            except InvalidPolygonError as exc:
                raise PlanPolygonError(
                    "polygon",
                    f"fence polygon {j}: {exc.reason}",
                    path=vpath2,
                    source=r.source,
                    item_index=j,
                ) from None
            fp = FencePolygon(polygon, inclusion=inclusion)
            polygons.append(fp)
            closed = len(vertices) > 1 and vertices[0] == vertices[-1]
            pdetails.append(QgcFenceDetails(fp, closed, _other(po, _POLYGON_KEYS)))
        circles: list[FenceCircle] = []
        cdetails: list[QgcFenceDetails] = []
        cpath = "geoFence.circles"
        for j, cv in enumerate(r.array(r.required(obj, "circles", "geoFence"), cpath)):
            path = index_path(cpath, j)
            co = r.obj(cv, path)
            self.shape_version(co, path)
            inclusion = r.boolean(r.required(co, "inclusion", path), key_path(path, "inclusion"))
            cobj_path = key_path(path, "circle")
            cobj = r.obj(r.required(co, "circle", path), cobj_path)
            center = self.point(
                r.required(cobj, "center", cobj_path), key_path(cobj_path, "center"), item_index=j
            )
            rpath = key_path(cobj_path, "radius")
            radius = r.number(r.required(cobj, "radius", cobj_path), rpath, field="radius")
            if radius <= 0:
                raise PlanValueError(
                    "radius", radius, "must be > 0", path=rpath, source=r.source, item_index=j
                )
            fc = FenceCircle(GeoCircle(center, radius), inclusion=inclusion)
            circles.append(fc)
            other = _other(co, _CIRCLE_KEYS)
            if set(cobj) - {"center", "radius"}:
                other["circle"] = _other(cobj, frozenset({"center", "radius"}))
            cdetails.append(QgcFenceDetails(fc, False, other))
        return Fence(tuple(polygons), tuple(circles)), pdetails, cdetails

    def rally(self, value: object) -> tuple[list[RallyPoint], int]:
        r = self.r
        obj = r.obj(value, "rallyPoints")
        vpath = "rallyPoints.version"
        version = r.integer(r.required(obj, "version", "rallyPoints"), vpath, field="version")
        if version not in (1, RALLY_VERSION):
            r.fail(f"rallyPoints version {version} is not supported (expected 2)", vpath)
        if version == 1 and "points" not in obj:
            return [], version  # QGroundControl ignores version 1 rally data
        ppath = "rallyPoints.points"
        points = []
        for k, pv in enumerate(r.array(r.required(obj, "points", "rallyPoints"), ppath)):
            path = index_path(ppath, k)
            arr = r.array(pv, path, length=3)
            lat = r.number(arr[0], index_path(path, 0), field="lat_deg", nullable=True)
            lon = r.number(arr[1], index_path(path, 1), field="lon_deg", nullable=True)
            self.lat_lon(lat, lon, path, item_index=k)
            alt = r.number(arr[2], index_path(path, 2), field="alt_rel_m")
            points.append(RallyPoint(lat, lon, alt))
        return points, version

    def home(self, value: object) -> tuple[HomePosition | None, bool]:
        """``plannedHomePosition``: ``[lat, lon, alt AMSL]``; nulls mean "not set"."""
        r = self.r
        path = "mission.plannedHomePosition"
        arr = r.array(value, path, length=3)
        vals = [
            r.number(v, index_path(path, k), field=f, nullable=True)
            for k, (v, f) in enumerate(zip(arr, ("lat_deg", "lon_deg", "alt_amsl_m"), strict=True))
        ]
        if all(math.isnan(v) for v in vals):
            return None, False
        lat, lon = self.lat_lon(vals[0], vals[1], path)
        alt_null = math.isnan(vals[2])
        return HomePosition(lat, lon, 0.0 if alt_null else vals[2]), alt_null


def plan_from_json(doc: object, *, source: str = "") -> Plan:
    """Build a :class:`Plan` from a parsed ``.plan`` document (see :func:`qgc.loads_plan`)."""
    r = JsonReader(source)
    top = r.obj(doc, "")
    file_type = r.string(r.required(top, "fileType", ""), "fileType")
    if file_type != PLAN_FILE_TYPE:
        r.fail(f"fileType is {file_type!r}, expected 'Plan' (a QGroundControl plan)", "fileType")
    version = r.integer(r.required(top, "version", ""), "version", field="version")
    if version != PLAN_FILE_VERSION:
        r.fail(f"plan file version {version} is not supported (expected 1)", "version")
    ground_station = GROUND_STATION
    if "groundStation" in top:
        ground_station = r.string(top["groundStation"], "groundStation")

    m = r.obj(r.required(top, "mission", ""), "mission")
    if "version" in m:
        mv = r.integer(m["version"], "mission.version", field="version")
        if mv != MISSION_VERSION:
            r.fail(f"mission version {mv} is not supported (expected 2)", "mission.version")
    loader = _Loader(r)
    items_value = r.required(m, "items", "mission")
    loader.mission_items(r.array(items_value, "mission.items"), "mission.items")
    loader.resolve_jumps()
    firmware = r.integer(
        r.required(m, "firmwareType", "mission"), "mission.firmwareType", field="firmwareType"
    )
    vehicle = 2
    if "vehicleType" in m:
        vehicle = r.integer(m["vehicleType"], "mission.vehicleType", field="vehicleType")
    global_mode = None
    if "globalPlanAltitudeMode" in m:
        global_mode = r.integer(
            m["globalPlanAltitudeMode"],
            "mission.globalPlanAltitudeMode",
            field="globalPlanAltitudeMode",
        )
    home, home_alt_null = loader.home(r.required(m, "plannedHomePosition", "mission"))

    fence = Fence()
    pdetails: list[QgcFenceDetails] = []
    cdetails: list[QgcFenceDetails] = []
    if "geoFence" in top:
        fence, pdetails, cdetails = loader.fence(top["geoFence"])
    rally: list[RallyPoint] = []
    rally_version = RALLY_VERSION
    if "rallyPoints" in top:
        rally, rally_version = loader.rally(top["rallyPoints"])

    extras = QgcExtras(
        ground_station=ground_station,
        global_plan_altitude_mode=global_mode,
        items=tuple(loader.details),
        complex_items=tuple(loader.complex_sources),
        home=home,
        home_alt_null=home_alt_null,
        fence_polygons=tuple(pdetails),
        fence_circles=tuple(cdetails),
        rally_version=rally_version,
        top_other=_other(top, _TOP_KEYS),
        mission_other=_other(m, _MISSION_KEYS),
        fence_other=_other(r.obj(top["geoFence"], "geoFence"), _FENCE_KEYS)
        if "geoFence" in top
        else {},
        rally_other=_other(r.obj(top["rallyPoints"], "rallyPoints"), _RALLY_KEYS)
        if "rallyPoints" in top
        else {},
    )
    return Plan(
        mission=Mission(tuple(loader.items), home),
        fence=fence,
        rally_points=tuple(rally),
        cruise_speed_m_s=loader.non_negative(m, "cruiseSpeed", "mission", 15.0),
        hover_speed_m_s=loader.non_negative(m, "hoverSpeed", "mission", 5.0),
        firmware_type=firmware,
        vehicle_type=vehicle,
        extras={QGC_EXTRAS_KEY: extras},
    )
