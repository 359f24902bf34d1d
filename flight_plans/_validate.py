"""Small validation helpers shared by the value types (internal)."""

from __future__ import annotations

import math

from flight_plans.errors import InvalidCoordinateError, InvalidValueError


def finite(field: str, value: float, *, item_index: int | None = None) -> float:
    """Return ``value`` as float if it is a finite real number, else raise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(field, value, "must be a number", item_index=item_index)
    v = float(value)
    if not math.isfinite(v):
        raise InvalidValueError(field, value, "must be finite", item_index=item_index)
    return v


def positive(field: str, value: float, *, item_index: int | None = None) -> float:
    """Return ``value`` if finite and strictly positive, else raise."""
    v = finite(field, value, item_index=item_index)
    if v <= 0:
        raise InvalidValueError(field, value, "must be > 0", item_index=item_index)
    return v


def non_negative(field: str, value: float, *, item_index: int | None = None) -> float:
    """Return ``value`` if finite and >= 0, else raise."""
    v = finite(field, value, item_index=item_index)
    if v < 0:
        raise InvalidValueError(field, value, "must be >= 0", item_index=item_index)
    return v


def in_range(
    field: str, value: float, lo: float, hi: float, *, item_index: int | None = None
) -> float:
    """Return ``value`` if finite and within ``[lo, hi]``, else raise."""
    v = finite(field, value, item_index=item_index)
    if not lo <= v <= hi:
        raise InvalidValueError(field, value, f"must be in [{lo:g}, {hi:g}]", item_index=item_index)
    return v


def latitude(field: str, value: float, *, item_index: int | None = None) -> float:
    """Validate a WGS84 latitude in degrees."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidCoordinateError(field, value, "must be a number", item_index=item_index)
    v = float(value)
    if not math.isfinite(v) or not -90.0 <= v <= 90.0:
        raise InvalidCoordinateError(
            field, value, "latitude must be finite and within ±90°", item_index=item_index
        )
    return v


def longitude(field: str, value: float, *, item_index: int | None = None) -> float:
    """Validate a WGS84 longitude in degrees."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidCoordinateError(field, value, "must be a number", item_index=item_index)
    v = float(value)
    if not math.isfinite(v) or not -180.0 <= v <= 180.0:
        raise InvalidCoordinateError(
            field, value, "longitude must be finite and within ±180°", item_index=item_index
        )
    return v
