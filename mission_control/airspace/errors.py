"""Typed errors of the airspace rules engine."""

from __future__ import annotations

from mission_control.errors import MissionControlError


class AirspaceError(MissionControlError):
    """Root of the airspace package's errors."""


class ZoneError(AirspaceError, ValueError):
    """A zone value is invalid.

    Attributes:
        field: the zone property that was wrong (e.g. ``"upper_limit_unit"``).
        reason: why.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class ZoneFileError(AirspaceError, ValueError):
    """A zone file, or one feature in it, cannot be loaded.

    Attributes:
        source: the file (or a description of the document).
        index: index of the offending feature, if the problem is in one feature.
        identifier: that feature's identifier, if it has one.
        reason: what is wrong.
    """

    def __init__(
        self, reason: str, *, source: str = "", index: int | None = None, identifier: str = ""
    ) -> None:
        self.reason = reason
        self.source = source
        self.index = index
        self.identifier = identifier
        where = []
        if source:
            where.append(source)
        if index is not None:
            where.append(f"feature {index}" + (f" ({identifier})" if identifier else ""))
        prefix = ": ".join(where)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


class NoRouteError(AirspaceError):
    """No legal transit path exists between two points.

    Attributes:
        reason: which zones enclose which end, in words.
        blocking: identifiers of the zones that block the way.
    """

    def __init__(self, reason: str, *, blocking: tuple[str, ...] = ()) -> None:
        self.reason = reason
        self.blocking = blocking
        super().__init__(reason)
