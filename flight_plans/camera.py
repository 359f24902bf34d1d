"""A pinhole camera model for photo surveys: footprint, ground sampling distance, spacing.

The model is QGroundControl's "custom camera": a nadir-pointing pinhole camera over flat
ground. ``height_m`` below is the camera's height above the *ground*; a survey flown at
``alt_rel_m`` over ground at the home elevation uses the same number. Over sloping terrain
the footprint shrinks where the ground rises — plan with the highest ground in mind.

Orientation follows QGroundControl: in *landscape* the image's width (its long side on
most sensors) lies across the flight direction; in *portrait* its height does.
"""

from __future__ import annotations

from dataclasses import dataclass

from flight_plans._validate import finite, positive
from flight_plans.errors import InvalidValueError


def overlap(field: str, value: float) -> float:
    """Validate an image overlap fraction in ``[0, 1)`` (0.7 = 70 %).

    Raises:
        InvalidValueError: not finite or outside ``[0, 1)``.
    """
    v = finite(field, value)
    if not 0.0 <= v < 1.0:
        raise InvalidValueError(field, value, "overlap must be a fraction in [0, 1)")
    return v


def _pixels(field: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidValueError(field, value, "must be a positive integer")
    return value


@dataclass(frozen=True, slots=True)
class Footprint:
    """Ground footprint of one nadir image, in metres, relative to the flight direction.

    Attributes:
        across_track_m: ground extent perpendicular to the flight direction.
        along_track_m: ground extent along the flight direction.
    """

    across_track_m: float
    along_track_m: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "across_track_m", positive("across_track_m", self.across_track_m))
        object.__setattr__(self, "along_track_m", positive("along_track_m", self.along_track_m))


@dataclass(frozen=True, slots=True)
class CameraModel:
    """A survey camera: sensor size, focal length, image size and mounting orientation.

    Attributes:
        sensor_width_mm: sensor width (the image's ``image_width_px`` side), millimetres.
        sensor_height_mm: sensor height, millimetres.
        focal_length_mm: lens focal length, millimetres (the true one, not 35 mm-equivalent).
        image_width_px: image width in pixels.
        image_height_px: image height in pixels.
        landscape: ``True`` if the image width lies across the flight direction.

    Raises:
        InvalidValueError: a size is not a finite positive number (pixels: positive int).
    """

    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float
    image_width_px: int
    image_height_px: int
    landscape: bool = True

    def __post_init__(self) -> None:
        for name in ("sensor_width_mm", "sensor_height_mm", "focal_length_mm"):
            object.__setattr__(self, name, positive(name, getattr(self, name)))
        for name in ("image_width_px", "image_height_px"):
            object.__setattr__(self, name, _pixels(name, getattr(self, name)))
        if not isinstance(self.landscape, bool):
            raise InvalidValueError("landscape", self.landscape, "must be True or False")

    def footprint(self, height_m: float) -> Footprint:
        """Ground footprint of one image taken ``height_m`` above flat ground.

        Raises:
            InvalidValueError: ``height_m`` is not finite and positive.
        """
        h = positive("height_m", height_m)
        width_m = h * self.sensor_width_mm / self.focal_length_mm
        height_on_ground_m = h * self.sensor_height_mm / self.focal_length_mm
        if self.landscape:
            return Footprint(across_track_m=width_m, along_track_m=height_on_ground_m)
        return Footprint(across_track_m=height_on_ground_m, along_track_m=width_m)

    def _mm_per_px(self) -> float:
        # the coarser of the two pixel pitches: the GSD a user can count on
        return max(
            self.sensor_width_mm / self.image_width_px,
            self.sensor_height_mm / self.image_height_px,
        )

    def gsd_cm_px(self, height_m: float) -> float:
        """Ground sampling distance in centimetres per pixel at ``height_m`` above ground.

        For non-square pixels this is the coarser of the two axes.

        Raises:
            InvalidValueError: ``height_m`` is not finite and positive.
        """
        h = positive("height_m", height_m)
        return 100.0 * h * self._mm_per_px() / self.focal_length_mm

    def height_for_gsd_m(self, gsd_cm_px: float) -> float:
        """Height above ground (metres) at which the image has the given GSD (cm/px).

        Raises:
            InvalidValueError: ``gsd_cm_px`` is not finite and positive.
        """
        g = positive("gsd_cm_px", gsd_cm_px)
        return g / 100.0 * self.focal_length_mm / self._mm_per_px()

    def line_spacing_m(self, height_m: float, side_overlap: float) -> float:
        """Distance between adjacent survey lines: ``across_track * (1 - side_overlap)``.

        Raises:
            InvalidValueError: height not positive, or overlap outside ``[0, 1)``.
        """
        ov = overlap("side_overlap", side_overlap)
        return self.footprint(height_m).across_track_m * (1.0 - ov)

    def trigger_distance_m(self, height_m: float, front_overlap: float) -> float:
        """Distance flown between photos: ``along_track * (1 - front_overlap)``.

        Raises:
            InvalidValueError: height not positive, or overlap outside ``[0, 1)``.
        """
        ov = overlap("front_overlap", front_overlap)
        return self.footprint(height_m).along_track_m * (1.0 - ov)
