"""Runtime airspace assessment of a moving vehicle: inside? how close? how long until a breach?

The flight monitor asks this for every telemetry update, so it is built for throughput:
an :class:`Assessor` prepares, per ~10 km cell of the map, the zones near that cell
projected into a local frame and indexed in a shapely ``STRtree``; positions are then
assessed in vectorised batches (:meth:`Assessor.assess_many`) or one at a time
(:meth:`Assessor.assess`).

Prediction is a straight line: horizontal velocity held for ``lookahead_s`` seconds and the
vertical rate held as well. Circles are indexed as circumscribed 64-gons (0.12 % larger
than the circle), so "inside" and "time to breach" err on the early side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from flight_plans.geodesy import GeoPoint, LocalFrame
from flight_plans.mission import AltDatum, HomePosition
from mission_control.airspace.errors import AirspaceError
from mission_control.airspace.index import ZoneIndex, pad_box
from mission_control.airspace.zones import Altitude, Restriction, Zone, ZoneKind

CELL_DEG = 0.1
"""Size of an assessment cell in degrees of latitude and longitude."""


@dataclass(frozen=True, slots=True)
class Assessment:
    """Where a vehicle stands with respect to the zones.

    Attributes:
        inside: labels of the no-fly volumes (blocking zones) containing the position.
        outside_operating_area: inclusion zones exist and the position is outside them.
        nearest_boundary_m: horizontal distance to the nearest boundary of a blocking zone
            or of the operating area (within the search radius), else ``None``.
        nearest_zone: label of that zone.
        seconds_to_breach: 0 when already in breach; time until the predicted track enters
            a no-fly volume or leaves the operating area within the look-ahead; else None.
        breach_zone: label of the zone that would be breached first.
    """

    inside: tuple[str, ...]
    outside_operating_area: bool
    nearest_boundary_m: float | None
    nearest_zone: str | None
    seconds_to_breach: float | None
    breach_zone: str | None

    @property
    def in_breach(self) -> bool:
        """True when the vehicle is inside a no-fly volume or outside the operating area."""
        return bool(self.inside) or self.outside_operating_area


@dataclass(slots=True)
class _Cell:
    frame: LocalFrame
    zones: list[Zone]
    geoms: list[BaseGeometry]
    floors: np.ndarray
    ceilings: np.ndarray
    geom_array: np.ndarray
    tree: shapely.STRtree | None
    boundaries: np.ndarray
    boundary_tree: shapely.STRtree | None
    area: BaseGeometry | None  # union of inclusion zones, or None when there are none
    area_label: str


class Assessor:
    """Prepared zones for fast position assessment.

    Args:
        zones: zones or a :class:`ZoneIndex`.
        launch: the launch point (its AMSL altitude converts AMSL zone limits).
        at: time the zones are evaluated at (default: now); rebuild the assessor when the
            time moves past a schedule change.
        authorisations: identifiers of requires-authorisation zones the flight may enter.
        search_radius_m: how far around a cell zones are considered (≥ the look-ahead
            distance: speed × look-ahead).
    """

    def __init__(
        self,
        zones: Sequence[Zone] | ZoneIndex,
        *,
        launch: HomePosition,
        at: datetime | None = None,
        authorisations: Mapping[str, str] | None = None,
        search_radius_m: float = 2_000.0,
    ) -> None:
        self.index = zones if isinstance(zones, ZoneIndex) else ZoneIndex(zones)
        self.launch = launch
        self.at = at or datetime.now(UTC)
        if self.at.tzinfo is None:
            raise AirspaceError("at: the time must carry a time zone")
        if not math.isfinite(search_radius_m) or search_radius_m <= 0:
            raise AirspaceError(f"search_radius_m must be > 0, got {search_radius_m!r}")
        self.authorisations = authorisations or {}
        self.search_radius_m = search_radius_m
        self._cells: dict[tuple[int, int], _Cell] = {}
        self._has_inclusion = any(
            z.kind is ZoneKind.INCLUSION and z.active_during(self.at) for z in self.index.zones
        )

    # -- preparation --------------------------------------------------------------------------

    def _rel(self, alt: Altitude | None, floor: bool) -> float:
        if alt is None:
            return -math.inf if floor else math.inf
        if alt.datum is AltDatum.AMSL:
            return alt.value_m - self.launch.alt_amsl_m
        return alt.value_m  # REL_HOME, and AGL over flat ground at the launch elevation

    def _blocks(self, z: Zone) -> bool:
        if z.kind is not ZoneKind.EXCLUSION or not z.active_during(self.at):
            return False
        if z.restriction is Restriction.PROHIBITED:
            return True
        return (
            z.restriction is Restriction.REQ_AUTHORISATION
            and z.identifier not in self.authorisations
        )

    def _cell(self, key: tuple[int, int]) -> _Cell:
        cell = self._cells.get(key)
        if cell is not None:
            return cell
        lat0, lon0 = key[0] * CELL_DEG, key[1] * CELL_DEG
        lat_c = min(max(lat0 + CELL_DEG / 2, -89.9), 89.9)
        lon_c = lon0 + CELL_DEG / 2
        frame = LocalFrame(GeoPoint(lat_c, lon_c))
        box = pad_box(
            lon0,
            max(lat0, -90.0),
            lon0 + CELL_DEG,
            min(lat0 + CELL_DEG, 90.0),
            self.search_radius_m,
        )
        near = self.index.query_boxes([box])
        local = {lz.index: lz for lz in self.index.local(near, frame)}
        zones: list[Zone] = []
        geoms: list[BaseGeometry] = []
        floors: list[float] = []
        ceilings: list[float] = []
        inclusion: list[BaseGeometry] = []
        for i in near:
            z = self.index.zones[i]
            lz = local[i]
            if lz.center_xy is not None:
                n = 64
                g: BaseGeometry = Point(lz.center_xy).buffer(
                    lz.radius_m / math.cos(math.pi / n), quad_segs=n // 4
                )
            else:
                assert lz.polygon is not None
                g = lz.polygon
            if self._blocks(z):
                zones.append(z)
                geoms.append(g)
                floors.append(self._rel(z.vertical.floor, True))
                ceilings.append(self._rel(z.vertical.ceiling, False))
            elif z.kind is ZoneKind.INCLUSION and z.active_during(self.at):
                inclusion.append(g)
        area = None
        if self._has_inclusion:
            area = shapely.union_all(inclusion) if inclusion else shapely.Polygon()
            shapely.prepare(area)
        geom_array = np.empty(len(geoms), dtype=object)
        geom_array[:] = geoms
        boundaries = shapely.boundary(geom_array)
        cell = _Cell(
            frame=frame,
            zones=zones,
            geoms=geoms,
            floors=np.asarray(floors, dtype=float),
            ceilings=np.asarray(ceilings, dtype=float),
            geom_array=geom_array,
            tree=shapely.STRtree(geoms) if geoms else None,
            boundaries=boundaries,
            boundary_tree=shapely.STRtree(boundaries) if geoms else None,
            area=area,
            area_label="operating area",
        )
        self._cells[key] = cell
        return cell

    # -- assessment ---------------------------------------------------------------------------

    def assess(
        self,
        position: GeoPoint,
        alt_rel_m: float,
        velocity_ned_m_s: tuple[float, float, float] = (0.0, 0.0, 0.0),
        *,
        lookahead_s: float = 30.0,
    ) -> Assessment:
        """Assess one position (see :meth:`assess_many`)."""
        return self.assess_many(
            np.array([position.lat_deg]),
            np.array([position.lon_deg]),
            np.array([alt_rel_m]),
            np.array([velocity_ned_m_s], dtype=float),
            lookahead_s=lookahead_s,
        )[0]

    def assess_many(
        self,
        lat_deg: np.ndarray,
        lon_deg: np.ndarray,
        alt_rel_m: np.ndarray,
        velocity_ned_m_s: np.ndarray,
        *,
        lookahead_s: float = 30.0,
    ) -> list[Assessment]:
        """Assess many positions at once.

        Args:
            lat_deg, lon_deg, alt_rel_m: arrays of shape (n,): position and altitude above
                launch.
            velocity_ned_m_s: array (n, 3): north, east, down velocity.
            lookahead_s: prediction horizon.

        Raises:
            AirspaceError: shapes differ, or a value is not finite / out of range.
        """
        lat = np.asarray(lat_deg, dtype=float)
        lon = np.asarray(lon_deg, dtype=float)
        alt = np.asarray(alt_rel_m, dtype=float)
        vel = np.asarray(velocity_ned_m_s, dtype=float).reshape(-1, 3)
        n = lat.shape[0]
        if not (lon.shape == alt.shape == (n,) and vel.shape == (n, 3)):
            raise AirspaceError("positions, altitudes and velocities must have matching lengths")
        if not (np.isfinite(lat).all() and np.isfinite(lon).all() and np.isfinite(alt).all()):
            raise AirspaceError("positions and altitudes must be finite")
        if not np.isfinite(vel).all():
            raise AirspaceError("velocities must be finite")
        if (np.abs(lat) > 90).any() or (np.abs(lon) > 180).any():
            raise AirspaceError("latitude must be within ±90° and longitude within ±180°")
        if not math.isfinite(lookahead_s) or lookahead_s < 0:
            raise AirspaceError(f"lookahead_s must be >= 0, got {lookahead_s!r}")
        out: list[Assessment | None] = [None] * n
        keys = np.stack(
            [np.floor(lat / CELL_DEG).astype(int), np.floor(lon / CELL_DEG).astype(int)], axis=1
        )
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        for k, key in enumerate(uniq):
            sel = np.nonzero(inverse.ravel() == k)[0]
            cell = self._cell((int(key[0]), int(key[1])))
            for i, a in zip(
                sel,
                self._assess_cell(cell, lat[sel], lon[sel], alt[sel], vel[sel], lookahead_s),
                strict=True,
            ):
                out[int(i)] = a
        return [a for a in out if a is not None]

    def _assess_cell(
        self,
        cell: _Cell,
        lat: np.ndarray,
        lon: np.ndarray,
        alt: np.ndarray,
        vel: np.ndarray,
        lookahead_s: float,
    ) -> list[Assessment]:
        xs, ys = cell.frame.to_local_arrays(lat, lon)
        xy = np.column_stack([np.asarray(xs), np.asarray(ys)])
        m = xy.shape[0]
        pts = shapely.points(xy)
        # sub-micrometre-per-second speeds are noise; left in, a track a denormal long
        # degenerates in GEOS and a vehicle standing inside a zone was not reported inside
        vel = np.where(np.abs(vel) < 1e-6, 0.0, vel)
        step = vel[:, [1, 0]] * lookahead_s  # east = x, north = y
        tracks = shapely.linestrings(np.stack([xy, xy + step], axis=1))
        inside: list[list[str]] = [[] for _ in range(m)]
        best_t = np.full(m, np.inf)
        best_zone: list[str | None] = [None] * m
        nearest_d = np.full(m, np.inf)
        nearest_z: list[str | None] = [None] * m
        if cell.tree is not None and cell.boundary_tree is not None:
            ti, zj = cell.tree.query(tracks, predicate="intersects")
            if ti.size:
                t = _entry_times(cell, xy, step, alt, vel[:, 2], ti, zj, lookahead_s)
                hit = np.isfinite(t)
                for i, j, tt in zip(ti[hit], zj[hit], t[hit], strict=True):
                    if tt == 0.0:
                        inside[i].append(cell.zones[j].label)
                    if tt < best_t[i]:
                        best_t[i], best_zone[i] = tt, cell.zones[j].label
            ni, nj = cell.boundary_tree.query_nearest(
                pts, max_distance=self.search_radius_m, all_matches=False
            )
            if ni.size:
                d = shapely.distance(cell.boundaries[nj], pts[ni])
                for i, j, dd in zip(ni, nj, d, strict=True):
                    if dd < nearest_d[i]:
                        nearest_d[i], nearest_z[i] = float(dd), cell.zones[j].label
        outside = np.zeros(m, dtype=bool)
        if cell.area is not None:
            outside = ~shapely.covers(cell.area, pts)
            if not cell.area.is_empty:
                bd = shapely.distance(cell.area.boundary, pts)
                closer = bd < nearest_d
                nearest_d[closer] = bd[closer]
                for i in np.nonzero(closer)[0]:
                    nearest_z[i] = cell.area_label
            leaving = ~shapely.covers(cell.area, tracks)
            for i in np.nonzero(leaving)[0]:
                t_exit = 0.0 if outside[i] else _first_exit(cell.area, tracks[i], lookahead_s)
                if t_exit is not None and t_exit < best_t[i]:
                    best_t[i], best_zone[i] = t_exit, cell.area_label
        return [
            Assessment(
                inside=tuple(inside[i]),
                outside_operating_area=bool(outside[i]),
                nearest_boundary_m=None if not np.isfinite(nearest_d[i]) else float(nearest_d[i]),
                nearest_zone=nearest_z[i],
                seconds_to_breach=None if not np.isfinite(best_t[i]) else float(best_t[i]),
                breach_zone=best_zone[i],
            )
            for i in range(m)
        ]


def _entry_times(
    cell: _Cell,
    xy: np.ndarray,
    step: np.ndarray,
    alt: np.ndarray,
    vd: np.ndarray,
    ti: np.ndarray,
    zj: np.ndarray,
    lookahead_s: float,
) -> np.ndarray:
    """Earliest time each (track, zone) pair is inside the zone's volume (inf: never).

    Horizontally the track counts as inside the zone from its first to its last
    intersection point (the hull of the parts: early, never late); vertically the altitude
    ``alt - vd·t`` must be within the zone's floor and ceiling.
    """
    geoms = cell.geom_array[zj]
    segs = shapely.linestrings(np.stack([xy[ti], xy[ti] + step[ti]], axis=1))
    inter = shapely.intersection(geoms, segs)
    coords, which = shapely.get_coordinates(inter, return_index=True)
    d = step[ti]
    len2 = (d * d).sum(axis=1)
    rel = coords - xy[ti][which]
    safe = np.where(len2 > 0, len2, 1.0)
    frac = np.clip((rel * d[which]).sum(axis=1) / safe[which], 0.0, 1.0) * lookahead_s
    t_in = np.full(ti.shape[0], np.inf)
    t_out = np.full(ti.shape[0], -np.inf)
    np.minimum.at(t_in, which, frac)
    np.maximum.at(t_out, which, frac)
    static = len2 == 0
    if static.any():  # not moving horizontally: inside for the whole look-ahead, or never
        covered = shapely.covers(geoms[static], shapely.points(xy[ti[static]]))
        t_in[static] = np.where(covered, 0.0, np.inf)
        t_out[static] = np.where(covered, lookahead_s, -np.inf)
    floor, ceiling = cell.floors[zj], cell.ceilings[zj]
    a, v = alt[ti], vd[ti]
    within = (a >= floor) & (a <= ceiling)
    moving_v = v != 0
    v_safe = np.where(moving_v, v, 1.0)
    ta = np.where(moving_v, (a - floor) / v_safe, np.where(within, -np.inf, np.inf))
    # not moving vertically: inside the band for the whole look-ahead, or never
    tb = np.where(moving_v, (a - ceiling) / v_safe, np.inf)
    v_lo = np.maximum(np.minimum(ta, tb), 0.0)
    v_hi = np.minimum(np.maximum(ta, tb), lookahead_s)
    lo = np.maximum(t_in, v_lo)
    hi = np.minimum(t_out, v_hi)
    result: np.ndarray = np.where(lo <= hi, np.where(lo < 1e-9, 0.0, lo), np.inf)
    return result


def _first_exit(area: BaseGeometry, track: BaseGeometry, lookahead_s: float) -> float | None:
    if isinstance(track, Point) or area.covers(track):
        return None
    out = track.difference(area)
    if out.is_empty:
        return None
    t = min(float(track.project(Point(c))) for g in getattr(out, "geoms", [out]) for c in g.coords)
    return t / float(track.length) * lookahead_s


def assess(
    position: GeoPoint,
    alt_rel_m: float,
    velocity_ned_m_s: tuple[float, float, float],
    zones: Sequence[Zone] | ZoneIndex,
    *,
    launch: HomePosition,
    lookahead_s: float = 30.0,
    at: datetime | None = None,
    authorisations: Mapping[str, str] | None = None,
) -> Assessment:
    """One-off assessment; for many calls build an :class:`Assessor` once and reuse it."""
    speed = math.hypot(velocity_ned_m_s[0], velocity_ned_m_s[1])
    assessor = Assessor(
        zones,
        launch=launch,
        at=at,
        authorisations=authorisations,
        search_radius_m=max(2_000.0, speed * lookahead_s * 1.5 + 100.0),
    )
    return assessor.assess(position, alt_rel_m, velocity_ned_m_s, lookahead_s=lookahead_s)
