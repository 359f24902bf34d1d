"""The procedural ground the simulated cameras look at: a street grid around an origin.

The world is a flat plane in a :class:`~flight_plans.geodesy.LocalFrame` around the
scene's origin (metres, x east, y north). Nothing is stored: the content of any
rectangle is generated on demand from the seed, so the city has no edge and two scenes
with the same seed are identical. Road ``i`` runs north-south at
``x_i = i * spacing + jitter(seed, i)``; road ``j`` runs east-west likewise; block
``(i, j)`` lies between roads ``i, i+1`` and ``j, j+1`` and its content (park, yard with
2x2 buildings) and colours come from a hash of ``(seed, i, j)``.

Pure NumPy: no drawing here (see :mod:`sim.camera`) and no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np
from numpy.typing import NDArray

from flight_plans.geodesy import GeoPoint, LocalFrame
from sim.errors import SimConfigError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# BGR colours; roofs avoid saturated red so that the incident marker stays unique.
PALETTE_BGR: Final[tuple[tuple[int, int, int], ...]] = (
    (72, 74, 78),  # 0 asphalt (the ground under everything)
    (168, 172, 176),  # 1 pavement / yard
    (62, 128, 74),  # 2 park grass
    (200, 215, 220),  # 3 road centre line
    (34, 82, 40),  # 4 tree, dark
    (48, 104, 56),  # 5 tree, light
    (0, 0, 255),  # 6 incident marker (pure red)
    (128, 128, 132),  # 7.. roofs
    (96, 104, 118),
    (150, 160, 178),
    (110, 120, 98),
    (190, 190, 186),
    (84, 88, 96),
    (120, 140, 160),
    (140, 120, 104),
    (170, 150, 140),
    (104, 112, 112),
)
ASPHALT, PAVEMENT, GRASS, LINE, TREE_DARK, TREE_LIGHT, MARKER = range(7)
FIRST_ROOF: Final = 7
ROOF_COUNT: Final = len(PALETTE_BGR) - FIRST_ROOF

ROAD_WIDTH_M: Final = 10.0
AVENUE_WIDTH_M: Final = 16.0  # every 4th road
LINE_WIDTH_M: Final = 0.4
YARD_INSET_M: Final = 3.0
LOT_GAP_M: Final = 2.5
PARK_SHARE: Final = 0.14
EMPTY_LOT_SHARE: Final = 0.1
TREES_PER_PARK: Final = 9
MARKER_OUTER_M: Final = 15.0
MARKER_INNER_M: Final = 11.0
MARKER_BAR_M: Final = 3.5
CACHE_ENTRIES: Final = 64  # visible-block sets kept, for all cameras of a scene together
MAX_BLOCKS_PER_AXIS: Final = 80  # bounds the work of a high, shallow view
# level of detail: beyond these camera depths buildings, centre lines and trees are dropped
LOT_MAX_DEPTH_M: Final = 700.0
LINE_MAX_DEPTH_M: Final = 500.0
TREE_MAX_DEPTH_M: Final = 450.0

_MASK64: Final = (1 << 64) - 1


def _mix(*keys: IntArray | int) -> NDArray[np.uint64]:
    """A 64-bit hash of integer arrays (splitmix64 finaliser); NumPy wraps silently."""
    acc = np.zeros(np.broadcast_shapes(*(np.shape(k) for k in keys)) or (1,), np.uint64)
    for n, k in enumerate(keys):
        word = np.atleast_1d(np.asarray(k, dtype=np.int64)).view(np.uint64)
        acc = (acc ^ word) * np.uint64(0x9E3779B97F4A7C15 + 2 * n)
        acc ^= acc >> np.uint64(31)
    acc = (acc ^ (acc >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    acc = (acc ^ (acc >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return acc ^ (acc >> np.uint64(31))


def _unit(*keys: IntArray | int) -> FloatArray:
    """Uniform floats in [0, 1) from a hash of the keys."""
    return (_mix(*keys) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


@dataclass(frozen=True, slots=True)
class QuadLayer:
    """Ground quads of one drawing layer; quads of a layer never overlap each other.

    Attributes:
        quads_m: ``(N, 4, 2)`` corners in scene metres (x east, y north).
        colour_ids: ``(N,)`` indices into :data:`PALETTE_BGR`.
        max_depth_m: beyond this camera depth the layer is not drawn (level of detail).
    """

    quads_m: FloatArray
    colour_ids: IntArray
    max_depth_m: float = math.inf


@dataclass(frozen=True, slots=True)
class GroundContent:
    """What lies on the ground within a rectangle, in drawing order."""

    layers: tuple[QuadLayer, ...]
    tree_centres_m: FloatArray  # (M, 2)
    tree_radii_m: FloatArray  # (M,)
    tree_colour_ids: IntArray  # (M,)


def _rects(x0: FloatArray, y0: FloatArray, x1: FloatArray, y1: FloatArray) -> FloatArray:
    """Axis-aligned rectangles as ``(N, 4, 2)`` quads, counter-clockwise."""
    return np.stack(
        [
            np.stack([x0, y0], -1),
            np.stack([x1, y0], -1),
            np.stack([x1, y1], -1),
            np.stack([x0, y1], -1),
        ],
        axis=1,
    )


def _clamp_range(lo: int, hi: int) -> tuple[int, int]:
    if hi - lo <= MAX_BLOCKS_PER_AXIS:
        return lo, hi
    mid = (lo + hi) // 2
    return mid - MAX_BLOCKS_PER_AXIS // 2, mid + MAX_BLOCKS_PER_AXIS // 2


@dataclass(frozen=True, slots=True)
class Scene:
    """A deterministic procedural city around ``origin`` with an optional incident marker.

    Args:
        origin: centre of the scene's local metric frame.
        seed: selects the city; equal seeds give identical ground.
        incident: where the red ring-and-cross marker lies, or None for no marker.
        road_spacing_m: mean distance between parallel roads (40..400 m).

    Raises:
        SimConfigError: a setting is out of range.
    """

    origin: GeoPoint
    seed: int = 0
    incident: GeoPoint | None = None
    road_spacing_m: float = 100.0
    frame: LocalFrame = field(init=False, repr=False, compare=False)
    incident_xy_m: tuple[float, float] | None = field(init=False, repr=False, compare=False)
    _marker: tuple[FloatArray, ...] = field(init=False, repr=False, compare=False)
    # content of the last few index ranges: consecutive frames mostly see the same blocks
    _cache: dict[tuple[int, int, int, int], GroundContent] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if not isinstance(self.origin, GeoPoint):
            raise SimConfigError("origin", self.origin, "must be a GeoPoint")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SimConfigError("seed", self.seed, "must be an integer")
        if not isinstance(self.road_spacing_m, int | float) or not (
            40.0 <= self.road_spacing_m <= 400.0
        ):
            raise SimConfigError("road_spacing_m", self.road_spacing_m, "must be in [40, 400] m")
        if self.incident is not None and not isinstance(self.incident, GeoPoint):
            raise SimConfigError("incident", self.incident, "must be a GeoPoint or None")
        frame = LocalFrame(self.origin)
        object.__setattr__(self, "frame", frame)
        xy = None if self.incident is None else frame.to_local(self.incident)
        object.__setattr__(self, "incident_xy_m", xy)
        object.__setattr__(self, "_marker", () if xy is None else _marker_polygons(*xy))

    def with_incident(self, incident: GeoPoint | None) -> Scene:
        """The same city with the incident marker moved to ``incident`` (None removes it)."""
        return replace(self, incident=incident)

    def to_local(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """Scene metres ``(x_east_m, y_north_m)`` of a WGS84 position."""
        return self.frame.to_local(GeoPoint(lat_deg, lon_deg))

    # -- the street grid ---------------------------------------------------------------

    def _roads(self, lo: int, hi: int, axis: int) -> tuple[FloatArray, FloatArray]:
        """Centre positions and widths (m) of roads ``lo..hi`` inclusive along ``axis``."""
        idx = np.arange(lo, hi + 1, dtype=np.int64)
        jitter = (_unit(self.seed, idx, 11 + axis) - 0.5) * 0.3 * self.road_spacing_m
        centres = idx * self.road_spacing_m + jitter
        widths = np.where(idx % 4 == 0, AVENUE_WIDTH_M, ROAD_WIDTH_M)
        return centres, widths

    def _index_range(self, lo_m: float, hi_m: float) -> tuple[int, int]:
        # roads move at most 0.15 spacing from i * spacing: one extra road each side is enough
        s = self.road_spacing_m
        return math.floor(lo_m / s) - 1, math.ceil(hi_m / s) + 1

    def ground_content(
        self, x_min_m: float, y_min_m: float, x_max_m: float, y_max_m: float
    ) -> GroundContent:
        """Everything on the ground that may intersect the given rectangle (scene metres).

        A rectangle wider than :data:`MAX_BLOCKS_PER_AXIS` blocks on an axis (a high,
        shallow view) is cut down to that many blocks around its centre: beyond them lies
        bare asphalt.
        """
        i0, i1 = self._index_range(x_min_m, x_max_m)
        j0, j1 = self._index_range(y_min_m, y_max_m)
        key = (*_clamp_range(i0, i1), *_clamp_range(j0, j1))
        # a small LRU shared by every camera of the fleet; pop/insert are safe across threads
        content = self._cache.pop(key, None)
        if content is None:
            content = self._content(*key)
            while len(self._cache) >= CACHE_ENTRIES:
                self._cache.pop(next(iter(self._cache), key), None)
        self._cache[key] = content
        return content

    def _content(self, i0: int, i1: int, j0: int, j1: int) -> GroundContent:
        xr, xw = self._roads(i0, i1, 0)
        yr, yw = self._roads(j0, j1, 1)
        gi, gj = np.meshgrid(np.arange(i0, i1, dtype=np.int64), np.arange(j0, j1, dtype=np.int64))
        bi, bj = gi.ravel(), gj.ravel()
        ki, kj = bi - i0, bj - j0
        bx0 = xr[ki] + xw[ki] / 2
        bx1 = xr[ki + 1] - xw[ki + 1] / 2
        by0 = yr[kj] + yw[kj] / 2
        by1 = yr[kj + 1] - yw[kj + 1] / 2
        park = _unit(self.seed, bi, bj, 1) < PARK_SHARE
        base = QuadLayer(_rects(bx0, by0, bx1, by1), np.where(park, GRASS, PAVEMENT))

        # built blocks: four lots split at a jittered point, separated by a gap
        built = ~park
        x0, x1 = bx0[built] + YARD_INSET_M, bx1[built] - YARD_INSET_M
        y0, y1 = by0[built] + YARD_INSET_M, by1[built] - YARD_INSET_M
        ii, jj = bi[built], bj[built]
        sx = x0 + (x1 - x0) * (0.35 + 0.3 * _unit(self.seed, ii, jj, 2))
        sy = y0 + (y1 - y0) * (0.35 + 0.3 * _unit(self.seed, ii, jj, 3))
        g = LOT_GAP_M / 2
        lots = np.concatenate(
            [
                _rects(x0, y0, sx - g, sy - g),
                _rects(sx + g, y0, x1, sy - g),
                _rects(sx + g, sy + g, x1, y1),
                _rects(x0, sy + g, sx - g, y1),
            ]
        )
        lot_key = np.arange(4, dtype=np.int64).repeat(len(ii))
        li, lj = np.tile(ii, 4), np.tile(jj, 4)
        keep = _unit(self.seed, li, lj, lot_key + 20) >= EMPTY_LOT_SHARE
        roof = FIRST_ROOF + (_mix(self.seed, li, lj, lot_key + 30) % np.uint64(ROOF_COUNT))
        roofs = QuadLayer(lots[keep], roof[keep].astype(np.int64), LOT_MAX_DEPTH_M)

        lines = self._centre_lines(xr, yr, (xr[0], yr[0], xr[-1], yr[-1]))

        # parks: trees at hashed positions inside the lawn
        pi, pj = bi[park], bj[park]
        k = np.arange(TREES_PER_PARK, dtype=np.int64)
        ti, tj, tk = pi.repeat(TREES_PER_PARK), pj.repeat(TREES_PER_PARK), np.tile(k, len(pi))
        px0, px1 = bx0[park].repeat(TREES_PER_PARK) + 6, bx1[park].repeat(TREES_PER_PARK) - 6
        py0, py1 = by0[park].repeat(TREES_PER_PARK) + 6, by1[park].repeat(TREES_PER_PARK) - 6
        cx = px0 + (px1 - px0) * _unit(self.seed, ti, tj, tk + 40)
        cy = py0 + (py1 - py0) * _unit(self.seed, ti, tj, tk + 60)
        radii = 2.5 + 2.5 * _unit(self.seed, ti, tj, tk + 80)
        tree_colour = np.where(_unit(self.seed, ti, tj, tk + 90) < 0.5, TREE_DARK, TREE_LIGHT)
        return GroundContent(
            layers=(base, roofs, lines),
            tree_centres_m=np.stack([cx, cy], -1).reshape(-1, 2),
            tree_radii_m=radii,
            tree_colour_ids=tree_colour.astype(np.int64),
        )

    @staticmethod
    def _centre_lines(
        xr: FloatArray, yr: FloatArray, box: tuple[float, float, float, float]
    ) -> QuadLayer:
        x_min, y_min, x_max, y_max = box
        h = LINE_WIDTH_M / 2
        ns = _rects(xr - h, np.full_like(xr, y_min), xr + h, np.full_like(xr, y_max))
        ew = _rects(np.full_like(yr, x_min), yr - h, np.full_like(yr, x_max), yr + h)
        quads = np.concatenate([ns, ew])
        return QuadLayer(quads, np.full(len(quads), LINE, np.int64), LINE_MAX_DEPTH_M)

    def marker_polygons(self) -> tuple[FloatArray, ...]:
        """The incident marker in scene metres: ``(outer ring, inner ring, bar, bar)``.

        The first two contours are filled together (even-odd), which leaves the ring's hole
        open; the two bars of the cross are filled on top. Empty when there is no incident.
        """
        return self._marker


def _marker_polygons(cx: float, cy: float) -> tuple[FloatArray, ...]:
    a = np.linspace(0.0, 2.0 * math.pi, 40, endpoint=False)
    ring = np.stack([np.cos(a), np.sin(a)], -1)
    half_bar, half_len = MARKER_BAR_M / 2, MARKER_INNER_M
    bars = _rects(
        np.array([cx - half_len, cx - half_bar]),
        np.array([cy - half_bar, cy - half_len]),
        np.array([cx + half_len, cx + half_bar]),
        np.array([cy + half_bar, cy + half_len]),
    )
    centre = np.array([cx, cy])
    return centre + MARKER_OUTER_M * ring, centre + MARKER_INNER_M * ring, bars[0], bars[1]
