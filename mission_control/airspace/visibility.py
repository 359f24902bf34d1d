"""Shortest paths inside a planar polygon with holes: reduced visibility graph and A*.

Planar geometry in metres (a :class:`~flight_plans.geodesy.LocalFrame`). The free space is
one shapely polygon: its exterior is the outer limit (a box, or the operating area shrunk by
the margin) and its holes are the obstacles (no-fly zones grown by the margin).

A shortest path in such a space is a polyline that bends only at *reflex* vertices of the
free space (convex corners of obstacles) and whose every edge is tangent to the obstacle
at both of its bending ends. So the graph has those vertices plus the two ends, and an edge
is tried only if it is tangent at both ends; whether it stays in the free space is asked
lazily, for the edges leaving a node A* expands and only when they would improve a cost.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.polygon import orient

XY = tuple[float, float]
_F = npt.NDArray[np.float64]

SLACK_M = 0.05
"""How far an edge may graze an obstacle: edges that run along an obstacle's boundary
(collinear vertices, touching corners) are allowed despite floating-point noise."""

_SIN_EPS = 1e-9


def reflex_vertices(free: Polygon) -> tuple[_F, _F, _F]:
    """Vertices of ``free`` where the free space is non-convex, with their ring neighbours.

    Returns:
        ``(vertices, previous, next)``: three ``(n, 2)`` arrays. With every ring oriented so
        that the free space is on its left, a vertex is reflex where the ring turns right.
    """
    poly = orient(free, 1.0)
    out: list[_F] = [np.empty((0, 2)), np.empty((0, 2)), np.empty((0, 2))]
    for ring in (poly.exterior, *poly.interiors):
        c = np.asarray(ring.coords, dtype=float)[:-1]
        if len(c) < 3:
            continue
        prev = np.roll(c, 1, axis=0)
        nxt = np.roll(c, -1, axis=0)
        a = c - prev
        b = nxt - c
        cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        norm = np.hypot(a[:, 0], a[:, 1]) * np.hypot(b[:, 0], b[:, 1])
        keep = cross < -_SIN_EPS * np.maximum(norm, 1e-12)
        out = [np.vstack([o, x[keep]]) for o, x in zip(out, (c, prev, nxt), strict=True)]
    return out[0], out[1], out[2]


def _sides(origin: _F, direction: _F, p: _F) -> _F:
    """Sine of the angle between ``direction`` and ``p - origin`` (row-wise, signed)."""
    q = p - origin
    cross = direction[:, 0] * q[:, 1] - direction[:, 1] * q[:, 0]
    norm = np.hypot(direction[:, 0], direction[:, 1]) * np.hypot(q[:, 0], q[:, 1])
    out: _F = cross / np.maximum(norm, 1e-12)
    return out


def _tangent(sa: _F, sb: _F) -> npt.NDArray[np.bool_]:
    """True where two signed sines are not of strictly opposite signs."""
    return ~(((sa > _SIN_EPS) & (sb < -_SIN_EPS)) | ((sa < -_SIN_EPS) & (sb > _SIN_EPS)))


class VisibilityGraph:
    """The reduced visibility graph of one free-space polygon (nodes and the edge test)."""

    def __init__(self, free: Polygon, *, slack_m: float = SLACK_M) -> None:
        self.free = free
        self._test = free.buffer(slack_m, join_style="mitre")
        shapely.prepare(self._test)
        self.vertices, self._prev, self._next = reflex_vertices(free)

    def visible(self, a: XY, targets: _F) -> npt.NDArray[np.bool_]:
        """Whether each straight segment from ``a`` to a row of ``targets`` stays free."""
        if len(targets) == 0:
            return np.zeros(0, dtype=bool)
        starts = np.broadcast_to(np.asarray(a, dtype=float), targets.shape)
        same = np.hypot(*(targets - starts).T) < 1e-9
        lines = shapely.linestrings(np.stack([starts, targets], axis=1))
        ok: npt.NDArray[np.bool_] = np.asarray(shapely.covers(self._test, lines), dtype=bool)
        out: npt.NDArray[np.bool_] = ok | same
        return out

    def _free_edge(self, a: XY, b: XY) -> bool:
        if a == b:
            return True
        return bool(self._test.covers(LineString((a, b))))

    def shortest_path(self, start: XY, goal: XY) -> list[XY] | None:
        """The shortest polyline from ``start`` to ``goal`` inside the free space.

        Both ends must lie in (or on the boundary of) the free polygon. Returns ``None``
        when no path is found (the ends are not connected).

        A* over edges, lazily: a closed node's candidate edges wait in the queue, ordered
        by ``g + length + h``, and an edge's visibility is tested only when it comes out
        first. With a consistent heuristic the first visible edge into a node is its best,
        so only edges cheaper than the answer are ever tested.
        """
        if self.visible(start, np.asarray([goal], dtype=float))[0]:
            return [start, goal]
        pts = np.vstack([np.asarray([start, goal], dtype=float), self.vertices])
        n = len(pts)
        nan2 = np.full((2, 2), np.nan)
        prev = np.vstack([nan2, self._prev])
        nxt = np.vstack([nan2, self._next])
        is_vertex = np.arange(n) >= 2
        h = np.hypot(*(pts - pts[1]).T)
        g = np.full(n, math.inf)
        parent = np.full(n, -1, dtype=np.int64)
        closed = np.zeros(n, dtype=bool)
        xy: list[XY] = [(float(x), float(y)) for x, y in pts]
        queue: list[tuple[float, int, int]] = []
        edges: dict[int, tuple[list[int], list[float]]] = {}

        def expand(u: int) -> None:
            cand = np.flatnonzero(~closed)
            direction = pts[cand] - pts[u]
            mask = np.ones(len(cand), dtype=bool)
            if is_vertex[u]:
                # tangent at u: both ring neighbours of u on one side of the line
                pu = np.broadcast_to(pts[u], direction.shape)
                mask &= _tangent(
                    _sides(pu, direction, np.broadcast_to(prev[u], direction.shape)),
                    _sides(pu, direction, np.broadcast_to(nxt[u], direction.shape)),
                )
            pv = pts[cand]
            tan_v = _tangent(_sides(pv, direction, prev[cand]), _sides(pv, direction, nxt[cand]))
            mask &= ~is_vertex[cand] | tan_v
            cand = cand[mask]
            if cand.size == 0:
                return
            f = g[u] + np.hypot(*(pts[cand] - pts[u]).T) + h[cand]
            order = np.argsort(f, kind="stable")
            edges[u] = (cand[order].tolist(), f[order].tolist())
            heapq.heappush(queue, (edges[u][1][0], u, 0))

        g[0] = 0.0
        closed[0] = True
        expand(0)
        while queue:
            _, u, k = heapq.heappop(queue)
            targets, costs = edges[u]
            if k + 1 < len(targets):
                heapq.heappush(queue, (costs[k + 1], u, k + 1))
            v = targets[k]
            if closed[v]:
                continue
            if not self._free_edge(xy[u], xy[v]):
                continue
            closed[v] = True
            g[v] = g[u] + math.hypot(*(pts[v] - pts[u]))
            parent[v] = u
            if v == 1:
                break
            expand(v)
        if not closed[1]:
            return None
        path = [1]
        while path[-1] != 0:
            path.append(int(parent[path[-1]]))
        return [xy[i] for i in reversed(path)]
