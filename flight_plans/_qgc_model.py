"""QGroundControl ``.plan`` facts and the details kept in ``Plan.extras`` (internal).

Facts below were read in QGroundControl's source (``src/MissionManager``):
``PlanMasterController.cc`` (top level), ``MissionController.cc`` (mission),
``SimpleMissionItem.cc`` / ``MissionItem.cc`` (items), ``GeoFenceController.cc``,
``QGCFencePolygon.cc``, ``QGCFenceCircle.cc``, ``QGCMapCircle.cc`` (fence),
``RallyPointController.cc`` (rally points) and ``QGroundControlQmlGlobal.h`` (altitude modes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from flight_plans.mission import HomePosition, MissionItem
from flight_plans.plan import FenceCircle, FencePolygon

QGC_EXTRAS_KEY = "qgc"
"""Key of :class:`QgcExtras` in :attr:`flight_plans.plan.Plan.extras`."""

PLAN_FILE_TYPE = "Plan"
PLAN_FILE_VERSION = 1
MISSION_VERSION = 2
GEOFENCE_VERSION = 2
FENCE_SHAPE_VERSION = 1
RALLY_VERSION = 2
GROUND_STATION = "QGroundControl"
DO_JUMP = 177
"""``MAV_CMD_DO_JUMP``: param1 is a doJumpId in a ``.plan`` file, an item index in the model."""


class AltitudeMode(IntEnum):
    """QGroundControl's per-item ``AltitudeMode`` (its ``AltMode`` enum, in this order)."""

    MIXED = 0
    """Only for ``globalPlanAltitudeMode``: items carry their own modes."""
    RELATIVE = 1
    """``MAV_FRAME_GLOBAL_RELATIVE_ALT`` (3)."""
    ABSOLUTE = 2
    """``MAV_FRAME_GLOBAL`` (0), altitude AMSL."""
    CALC_ABOVE_TERRAIN = 3
    """Frame 0; ``Altitude`` is above terrain and param7 the AMSL altitude QGroundControl
    computed from its terrain data (``null`` until it has them)."""
    TERRAIN_FRAME = 4
    """``MAV_FRAME_GLOBAL_TERRAIN_ALT`` (10): the vehicle follows terrain itself."""
    NONE = 5
    """Not an altitude (QGroundControl uses it for distances)."""


@dataclass(frozen=True, slots=True)
class QgcAltitude:
    """The three altitude keys QGroundControl stores on a positional SimpleItem.

    Attributes:
        mode: ``AltitudeMode`` as written (usually an :class:`AltitudeMode`).
        altitude_m: ``Altitude`` (NaN for ``null``).
        amsl_alt_above_terrain_m: ``AMSLAltAboveTerrain`` (NaN for ``null``).
    """

    mode: int
    altitude_m: float
    amsl_alt_above_terrain_m: float


@dataclass(frozen=True, slots=True)
class QgcItemDetails:
    """What a ``.plan`` SimpleItem says beyond its :class:`MissionItem`.

    Attributes:
        item: the model item these details belong to; export uses the details only while
            the plan still holds an equal item at the same index.
        frame: ``frame`` as written (0 for a calculated-above-terrain item that the model
            holds in frame 10).
        param7: ``params[6]`` as written (NaN for ``null``).
        altitude: the altitude keys, or ``None`` if the item had none.
        do_jump_id: ``doJumpId``, or ``None`` if absent.
        other: keys this library does not interpret, kept verbatim.
    """

    item: MissionItem
    frame: int
    param7: float
    altitude: QgcAltitude | None
    do_jump_id: int | None
    other: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QgcFenceDetails:
    """What a ``.plan`` fence polygon or circle says beyond the model shape.

    Attributes:
        shape: the model shape these details belong to (matched like ``item`` above).
        closed: the polygon repeated its first vertex at the end (the model stores rings
            open).
        other: keys this library does not interpret (e.g. a fork's ``fenceAction``).
    """

    shape: FencePolygon | FenceCircle
    closed: bool = False
    other: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QgcComplexSource:
    """A complex item of the file that was flattened into mission items.

    Attributes:
        file_index: index of the complex item in ``mission.items`` of the file.
        complex_item_type: its ``complexItemType`` (``"survey"``, ``"CorridorScan"``).
        first_item: index of its first MAVLink item in :attr:`Mission.items`.
        item_count: how many MAVLink items it produced.
    """

    file_index: int
    complex_item_type: str
    first_item: int
    item_count: int


@dataclass(frozen=True, slots=True)
class QgcExtras:
    """Everything a loaded ``.plan`` held that the format-neutral :class:`Plan` does not.

    Stored as ``plan.extras["qgc"]``; :func:`flight_plans.qgc.dumps_plan` uses it to write
    the file back unchanged. Details that no longer match the plan (an item was edited,
    inserted or removed) are ignored and the values are derived instead.
    """

    ground_station: str = GROUND_STATION
    global_plan_altitude_mode: int | None = None
    items: tuple[QgcItemDetails | None, ...] = ()
    complex_items: tuple[QgcComplexSource, ...] = ()
    home: HomePosition | None = None
    home_alt_null: bool = False
    fence_polygons: tuple[QgcFenceDetails, ...] = ()
    fence_circles: tuple[QgcFenceDetails, ...] = ()
    rally_version: int = RALLY_VERSION
    top_other: Mapping[str, object] = field(default_factory=dict)
    mission_other: Mapping[str, object] = field(default_factory=dict)
    fence_other: Mapping[str, object] = field(default_factory=dict)
    rally_other: Mapping[str, object] = field(default_factory=dict)
