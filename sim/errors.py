"""Typed errors of the simulator: every error it raises on purpose derives from SimError."""

from __future__ import annotations


class SimError(Exception):
    """Root of the errors raised by :mod:`sim`."""


class SimConfigError(SimError, ValueError):
    """A fleet, vehicle or camera setting is out of range.

    Attributes:
        field: the setting's name (``"vehicles"``, ``"home"``, ``"speed"``...).
        value: the refused value.
        reason: why, in words a user understands.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")
