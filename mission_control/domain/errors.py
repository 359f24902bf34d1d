"""Errors of the domain core; all derive from :class:`DomainError`."""

from __future__ import annotations

from mission_control.errors import MissionControlError


class DomainError(MissionControlError):
    """Root of the domain's errors."""


class InvalidField(DomainError, ValueError):
    """A field of a domain value is missing, malformed or out of range.

    Attributes:
        field: the field's name as the API spells it (``lat_deg``, ``priority`` ...).
        reason: why it was refused, for a person.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class IllegalTransition(DomainError):
    """A state change the transition table does not allow.

    Attributes:
        kind: ``"mission"`` or ``"incident"``.
        object_id: the id of the mission or incident.
        current: its current state.
        requested: the state asked for.
    """

    def __init__(self, kind: str, object_id: str, current: str, requested: str) -> None:
        super().__init__(f"{kind} {object_id} is {current}: it cannot become {requested}")
        self.kind = kind
        self.object_id = object_id
        self.current = current
        self.requested = requested
