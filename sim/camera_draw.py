"""Drawing the ground of a :class:`~sim.camera_scene.Scene` through a camera :class:`View`.

Ground polygons (scene metres) are culled by depth, clipped against the near plane in a
vectorised Sutherland-Hodgman pass, projected with the view's homography and filled with
one ``cv2.fillPoly`` call per colour, at sub-pixel precision (``shift``) so that slow
motion does not jitter. The cost depends on what is in view, not on the size of the world.
"""

from __future__ import annotations

import itertools
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from sim.camera_model import MAX_PX, NEAR_M, CameraSpec, View
from sim.camera_scene import MARKER, PALETTE_BGR, TREE_MAX_DEPTH_M, Scene

FloatArray = NDArray[np.float64]
Image = NDArray[np.uint8]

SHIFT: Final = 4  # sub-pixel bits of the drawing calls
_ONE: Final = 1 << SHIFT


def _to_pixels(hom: FloatArray, pts_m: FloatArray) -> NDArray[np.int32]:
    """Project ``(..., 2)`` ground points (all in front of the camera) to shifted int pixels."""
    x, y = pts_m[..., 0], pts_m[..., 1]
    w = hom[2, 0] * x + hom[2, 1] * y + hom[2, 2]
    u = (hom[0, 0] * x + hom[0, 1] * y + hom[0, 2]) / w
    v = (hom[1, 0] * x + hom[1, 1] * y + hom[1, 2]) / w
    uv: FloatArray = np.clip(np.stack([u, v], -1), -MAX_PX, MAX_PX)
    return np.rint(uv * _ONE).astype(np.int32)


def _clip_near_batch(polys_m: FloatArray, depth: FloatArray) -> FloatArray:
    """Vectorised Sutherland-Hodgman of ``(N, K, 2)`` polygons against depth >= NEAR_M.

    Each polygon comes back with ``2K`` vertices: edge ``k`` contributes its start vertex
    if in front and its crossing point if it crosses; empty slots repeat the previous
    vertex, which ``fillPoly`` does not mind. Every polygon needs a vertex in front.
    """
    n, k = depth.shape
    nxt, d_nxt = np.roll(polys_m, -1, axis=1), np.roll(depth, -1, axis=1)
    front, front_nxt = depth >= NEAR_M, d_nxt >= NEAR_M
    cross = front != front_nxt
    t = (NEAR_M - depth) / np.where(cross, d_nxt - depth, 1.0)
    slots = np.stack([polys_m, polys_m + (nxt - polys_m) * t[..., None]], axis=2)
    valid = np.stack([front, cross], axis=2).reshape(n, 2 * k)
    # cyclic forward fill: index of the last valid slot at or before each slot
    pos = np.where(np.concatenate([valid, valid], axis=1), np.arange(4 * k), -1)
    last = np.maximum.accumulate(pos, axis=1)[:, 2 * k :] % (2 * k)
    flat = slots.reshape(n, 2 * k, 2)
    return np.take_along_axis(flat, last[..., None], axis=1)


def _project_polygons(
    view: View, polys_m: FloatArray, max_depth_m: float, spec: CameraSpec
) -> tuple[NDArray[np.int32], NDArray[np.intp], NDArray[np.int32], NDArray[np.intp]]:
    """Cull, clip and project ``(N, K, 2)`` polygons.

    Returns:
        ``(whole_px, whole_index, clipped_px, clipped_index)``: shifted pixel contours of
        the polygons entirely in front of the camera (``(M, K, 2)``) and of those clipped
        at the near plane (``(L, 2K, 2)``), with their indices into ``polys_m``.
    """
    hom = view.homography
    n, k = polys_m.shape[:2]
    p = polys_m.reshape(-1, 2) @ hom[:2, :2].T + hom[:2, 2]
    depth = (polys_m.reshape(-1, 2) @ hom[2, :2] + hom[2, 2]).reshape(n, k)
    front = depth >= NEAR_M
    n_front = front.sum(axis=1)
    keep = (n_front > 0) & (depth.min(axis=1) <= max_depth_m)
    w, h = spec.width_px * _ONE, spec.height_px * _ONE
    top = max(0.0, view.far_v_px) * _ONE

    def on_screen(px: NDArray[np.int32]) -> NDArray[np.bool_]:
        u, v = px[..., 0], px[..., 1]
        visible: NDArray[np.bool_] = (
            (u.max(axis=1) >= 0)
            & (u.min(axis=1) < w)
            & (v.max(axis=1) >= top)
            & (v.min(axis=1) < h)
        )
        return visible

    whole = np.flatnonzero(keep & (n_front == k))
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = p.reshape(n, k, 2)[whole] / depth[whole][..., None]
    px = np.rint(np.clip(uv, -MAX_PX, MAX_PX) * _ONE).astype(np.int32)
    vis = on_screen(px)
    cut = np.flatnonzero(keep & (n_front < k))
    if len(cut) == 0:
        return px[vis], whole[vis], np.empty((0, 2 * k, 2), np.int32), cut
    cpx = _to_pixels(hom, _clip_near_batch(polys_m[cut], depth[cut]))
    cvis = on_screen(cpx)
    return px[vis], whole[vis], cpx[cvis], cut[cvis]


def _fill_by_colour(
    image: Image, contours_px: NDArray[np.int32], colour_ids: NDArray[np.int64]
) -> None:
    """One ``fillPoly`` call per colour for ``(M, K, 2)`` shifted pixel contours."""
    if len(contours_px) == 0:
        return
    order = np.argsort(colour_ids, kind="stable")
    ids = colour_ids[order]
    contours = list(contours_px[order])
    bounds = [0, *(np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist(), len(ids)]
    for a, b in itertools.pairwise(bounds):
        cv2.fillPoly(image, contours[a:b], PALETTE_BGR[int(ids[a])], cv2.LINE_8, SHIFT)


def _visible_box(view: View, spec: CameraSpec) -> tuple[float, float, float, float] | None:
    """Bounding box in scene metres of the ground seen between the far limit and the bottom."""
    top = max(0.0, view.far_v_px)
    bottom = spec.height_px - 1.0
    if top >= bottom:
        return None
    corners = np.array([[0.0, top, 1.0], [spec.width_px - 1.0, top, 1.0],
                        [0.0, bottom, 1.0], [spec.width_px - 1.0, bottom, 1.0]])  # fmt: skip
    g = np.linalg.solve(view.homography, corners.T)
    x, y = g[0] / g[2], g[1] / g[2]
    margin = 10.0
    return (
        float(x.min()) - margin,
        float(y.min()) - margin,
        float(x.max()) + margin,
        float(y.max()) + margin,
    )


def draw_ground(image: Image, scene: Scene, view: View, spec: CameraSpec) -> None:
    """Fill the blocks, buildings, centre lines and trees seen in ``view`` into ``image``."""
    box = _visible_box(view, spec)
    if box is None:
        return
    content = scene.ground_content(*box)
    for layer in content.layers:
        if len(layer.quads_m) == 0:
            continue
        max_depth_m = min(layer.max_depth_m, view.far_m)
        px, idx, cpx, cidx = _project_polygons(view, layer.quads_m, max_depth_m, spec)
        _fill_by_colour(image, px, layer.colour_ids[idx])
        _fill_by_colour(image, cpx, layer.colour_ids[cidx])
    _draw_trees(
        image, content.tree_centres_m, content.tree_radii_m, content.tree_colour_ids, view, spec
    )


def _draw_trees(
    image: Image, centres_m: FloatArray, radii_m: FloatArray, colour_ids: NDArray[np.int64],
    view: View, spec: CameraSpec,
) -> None:  # fmt: skip
    if len(centres_m) == 0:
        return
    hom = view.homography
    p = np.column_stack([centres_m, np.ones(len(centres_m))]) @ hom.T
    depth = p[:, 2]
    ok = (depth >= NEAR_M) & (depth <= min(TREE_MAX_DEPTH_M, view.far_m))
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v, r = p[:, 0] / depth, p[:, 1] / depth, radii_m * view.focal_px / depth
    ok &= (r >= 0.7) & (u > -r) & (u < spec.width_px + r) & (v > -r) & (v < spec.height_px + r)
    for k in np.flatnonzero(ok):
        centre = (round(u[k] * _ONE), round(v[k] * _ONE))
        colour = PALETTE_BGR[int(colour_ids[k])]
        cv2.circle(image, centre, round(r[k] * _ONE), colour, -1, cv2.LINE_8, SHIFT)


def draw_marker(image: Image, scene: Scene, view: View) -> None:
    """Fill the incident marker (red ring with a hole, and a cross) if it is in view."""
    hom = view.homography
    contours: list[NDArray[np.int32] | None] = []
    for poly in scene.marker_polygons():
        depth = poly @ hom[2, :2] + hom[2, 2]
        front = depth >= NEAR_M
        if not front.any() or depth.min() > view.far_m:
            contours.append(None)
        elif front.all():
            contours.append(_to_pixels(hom, poly))
        else:
            contours.append(_to_pixels(hom, _clip_near_batch(poly[None], depth[None])[0]))
    red = PALETTE_BGR[MARKER]
    ring = [c for c in contours[:2] if c is not None]
    if ring:  # outer and inner circle in one call: filled even-odd, a ring with a hole
        cv2.fillPoly(image, ring, red, cv2.LINE_8, SHIFT)
    for bar in contours[2:]:
        if bar is not None:
            cv2.fillPoly(image, [bar], red, cv2.LINE_8, SHIFT)
