"""Who does what: roles and the :class:`Actor` every audited change names."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mission_control.store.errors import InvalidValue

__all__ = ["SYSTEM", "SYSTEM_ROLE", "Actor", "Role", "check_name", "parse_role"]

SYSTEM_ROLE = "system"
"""The role of the service itself (timers, the monitor, restart recovery); no user has it."""


class Role(StrEnum):
    """A user's role. ``responder`` reports incidents, ``pilot`` approves and flies missions,
    ``viewer`` watches, ``admin`` manages users and airspace."""

    RESPONDER = "responder"
    PILOT = "pilot"
    VIEWER = "viewer"
    ADMIN = "admin"


def check_name(field: str, value: object, *, max_len: int) -> str:
    """``value`` if it is a non-blank string of at most ``max_len`` characters with no
    control characters.

    Raises:
        InvalidValue: naming ``field``.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(field, "must be a non-empty string")
    if len(value) > max_len:
        raise InvalidValue(field, f"must be at most {max_len} characters, got {len(value)}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidValue(field, "must not contain control characters")
    return value


def parse_role(value: object, *, field: str = "role") -> Role:
    """The :class:`Role` named by ``value``.

    Raises:
        InvalidValue: not one of the four roles.
    """
    try:
        return Role(str(value))
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidValue(field, f"must be one of {choices}, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: a user (name and :class:`Role`) or the service (:data:`SYSTEM`).

    Attributes:
        name: the user name, or ``"system"``.
        role: a :class:`Role` value, or ``"system"`` for the service itself.

    Raises:
        InvalidValue: an empty or over-long name, an unknown role.
    """

    name: str
    role: str

    def __post_init__(self) -> None:
        check_name("actor.name", self.name, max_len=128)
        if self.role != SYSTEM_ROLE:
            object.__setattr__(self, "role", parse_role(self.role, field="actor.role").value)


SYSTEM = Actor("system", SYSTEM_ROLE)
"""The service itself as an actor."""
