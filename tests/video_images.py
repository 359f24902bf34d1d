"""Synthetic test images for the video tests: drawn frontal faces a real detector finds.

The faces are cartoons (skin oval, hair, brows, eyes with pupils, nose, mouth) drawn with
OpenCV; OpenCV's shipped ``haarcascade_frontalface_alt2`` model detects them at sizes from
about 40 px to the image height, which lets the privacy tests use the real detector on
images whose face positions are known.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import cv2.data
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]

BACKGROUND_BGR = (90, 110, 100)
SKIN_BGR = (150, 180, 215)
HAIR_BGR = (30, 40, 60)


def draw_face(image: Image, cx: float, cy: float, size_px: float) -> None:
    """Draw one frontal face centred on ``(cx, cy)``, ``size_px`` ≈ its height / 1.1, in place."""

    def p(x: float, y: float) -> tuple[int, int]:
        return round(cx + x * size_px), round(cy + y * size_px)

    def n(v: float) -> int:
        return max(1, round(v * size_px))

    cv2.ellipse(image, p(0, -0.1), (n(0.46), n(0.5)), 0, 180, 360, HAIR_BGR, -1)
    cv2.ellipse(image, p(0, 0), (n(0.42), n(0.55)), 0, 0, 360, SKIN_BGR, -1)
    for side in (-1, 1):
        cv2.line(image, p(side * 0.25, -0.2), p(side * 0.09, -0.22), (40, 50, 70), n(0.03))
        cv2.ellipse(image, p(side * 0.17, -0.08), (n(0.09), n(0.045)), 0, 0, 360, (255,) * 3, -1)
        cv2.circle(image, p(side * 0.17, -0.08), n(0.04), (30, 20, 20), -1)
    cv2.line(image, p(0, -0.05), p(0, 0.12), (100, 120, 160), n(0.025))
    cv2.ellipse(image, p(0, 0.27), (n(0.13), n(0.045)), 0, 0, 360, (60, 60, 150), -1)


def face_box(cx: float, cy: float, size_px: float) -> tuple[int, int, int, int]:
    """The drawn face's bounding box ``(x0, y0, x1, y1)`` (exclusive ends), hair included."""
    return (
        int(cx - 0.47 * size_px),
        int(cy - 0.62 * size_px),
        int(cx + 0.47 * size_px) + 1,
        int(cy + 0.56 * size_px) + 1,
    )


def faces_image(
    width_px: int = 640,
    height_px: int = 360,
    faces: Sequence[tuple[float, float, float]] | None = None,
) -> Image:
    """A background with faces ``(cx, cy, size)`` given as fractions of the image height
    (default: three faces across the image), softened by a 3x3 Gaussian blur."""
    image = np.full((height_px, width_px, 3), BACKGROUND_BGR, np.uint8)
    for cx, cy, s in faces_px(width_px, height_px, faces):
        draw_face(image, cx, cy, s)
    return np.asarray(cv2.GaussianBlur(image, (3, 3), 0), dtype=np.uint8)


def faces_px(
    width_px: int,
    height_px: int,
    faces: Sequence[tuple[float, float, float]] | None = None,
) -> list[tuple[float, float, float]]:
    """The faces of :func:`faces_image` in pixels ``(cx, cy, size_px)``."""
    if faces is None:
        faces = ((0.2, 0.5, 0.3), (0.5, 0.47, 0.36), (0.8, 0.53, 0.28))
    return [(fx * width_px, fy * height_px, fs * height_px) for fx, fy, fs in faces]


def count_faces(image: Image) -> int:
    """Faces OpenCV's ``alt2`` Haar model finds on the equalised grey image (20 px and up)."""
    model = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml")
    grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    found = model.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=3, minSize=(20, 20))
    return len(found)


def noise_image(width_px: int, height_px: int, *, seed: int = 1) -> Image:
    """Uniform random pixels (every pixel distinct from a blanked or drawn one)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height_px, width_px, 3), dtype=np.uint8)
