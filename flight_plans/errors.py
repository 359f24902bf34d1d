"""Typed errors of the planning library.

Every error raised by :mod:`flight_plans` derives from :class:`FlightPlanError`, so a
caller can catch the whole family at one place. Subclasses carry the *field* (and where
relevant the *item index*) that was wrong, so user-facing layers can say what and where
without parsing messages.
"""

from __future__ import annotations


class FlightPlanError(Exception):
    """Root of every error raised by the planning library."""


class InvalidValueError(FlightPlanError, ValueError):
    """A single input value is out of range, not finite, or of the wrong kind.

    Attributes:
        field: name of the offending argument or JSON key (e.g. ``"lat_deg"``).
        value: the value that was refused.
        reason: why it was refused, in words a user understands.
        item_index: index of the mission item / vertex / feature it belongs to, if any.
    """

    def __init__(
        self, field: str, value: object, reason: str, *, item_index: int | None = None
    ) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        self.item_index = item_index
        where = f"item {item_index}: " if item_index is not None else ""
        super().__init__(f"{where}{field}={value!r}: {reason}")


class InvalidCoordinateError(InvalidValueError):
    """A latitude/longitude is NaN, infinite, or outside ±90° / ±180°."""


class InvalidPolygonError(FlightPlanError, ValueError):
    """A polygon is empty, has too few vertices, or intersects itself."""

    def __init__(self, field: str, reason: str, *, item_index: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.item_index = item_index
        where = f"item {item_index}: " if item_index is not None else ""
        super().__init__(f"{where}{field}: {reason}")


class UnknownCommandError(FlightPlanError, ValueError):
    """A mission item uses a command number that MAVLink does not define."""

    def __init__(self, command: int, *, item_index: int | None = None) -> None:
        self.command = command
        self.item_index = item_index
        where = f"item {item_index}: " if item_index is not None else ""
        super().__init__(f"{where}command {command} is not a MAVLink MAV_CMD")


class PlanFormatError(FlightPlanError, ValueError):
    """A plan file (QGroundControl ``.plan``, GeoJSON) is malformed or unsupported.

    Attributes:
        source: file name or description of the document, if known.
        path: JSON path of the offending element (e.g. ``"mission.items[3].params"``).
        reason: what is wrong there.
    """

    def __init__(self, reason: str, *, path: str = "", source: str = "") -> None:
        self.reason = reason
        self.path = path
        self.source = source
        parts = [p for p in (source, path) if p]
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


class UnsupportedItemError(PlanFormatError):
    """A plan contains an item kind this library cannot turn into MAVLink items."""


# -- errors located in a document -----------------------------------------------------------
# A value that is wrong *inside a plan document* is both a format error (it has a JSON path
# and a source name) and the specific value error. These classes are both, so a caller can
# catch either family and still read every field.


def _locate(err: PlanFormatError, message: str, path: str, source: str) -> None:
    err.path = path
    err.source = source
    prefix = ": ".join(p for p in (source, path) if p)
    err.args = (f"{prefix}: {message}" if prefix else message,)


class PlanValueError(PlanFormatError, InvalidValueError):
    """A value inside a plan document is out of range, not finite, or of the wrong kind."""

    def __init__(
        self,
        field: str,
        value: object,
        reason: str,
        *,
        path: str = "",
        source: str = "",
        item_index: int | None = None,
    ) -> None:
        InvalidValueError.__init__(self, field, value, reason, item_index=item_index)
        _locate(self, f"{field}={value!r}: {reason}", path, source)


class PlanCoordinateError(PlanValueError, InvalidCoordinateError):
    """A latitude/longitude inside a plan document is NaN, infinite or out of range."""


class PlanCommandError(PlanFormatError, UnknownCommandError):
    """A plan document uses a command number that MAVLink does not define."""

    def __init__(
        self, command: int, *, path: str = "", source: str = "", item_index: int | None = None
    ) -> None:
        UnknownCommandError.__init__(self, command, item_index=item_index)
        self.reason = f"command {command} is not a MAVLink MAV_CMD"
        where = f"item {item_index}: " if item_index is not None else ""
        _locate(self, where + self.reason, path, source)


class PlanPolygonError(PlanFormatError, InvalidPolygonError):
    """A polygon inside a plan document has too few vertices or intersects itself."""

    def __init__(
        self,
        field: str,
        reason: str,
        *,
        path: str = "",
        source: str = "",
        item_index: int | None = None,
    ) -> None:
        InvalidPolygonError.__init__(self, field, reason, item_index=item_index)
        _locate(self, f"{field}: {reason}", path, source)
