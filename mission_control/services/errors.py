"""Errors the services raise for the faces (HTTP, CLI) to map."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mission_control.errors import MissionControlError


class ServiceError(MissionControlError):
    """Root of the service layer's errors."""


class NotFoundError(ServiceError):
    """No such object (or not visible to the caller)."""

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"no {kind} with id {object_id!r}")
        self.kind = kind
        self.object_id = object_id


class AirspaceRefused(ServiceError):
    """The airspace check in force now does not pass: the action was refused.

    Attributes:
        mission_id: the mission concerned.
        report: the failing report (``AirspaceReport.to_json()``).
    """

    def __init__(self, mission_id: str, report: Mapping[str, Any], summary: str) -> None:
        super().__init__(f"mission {mission_id}: the airspace check fails now: {summary}")
        self.mission_id = mission_id
        self.report = dict(report)


class VehicleCommandFailed(ServiceError):
    """The vehicle did not carry out a pilot's command (the mission state is unchanged)."""

    def __init__(self, mission_id: str, action: str, reason: str) -> None:
        super().__init__(f"mission {mission_id}: {action} failed: {reason}")
        self.mission_id = mission_id
        self.action = action
        self.reason = reason


class NoPlanError(ServiceError):
    """No drone can serve the incident (the reason says why per drone)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ZoneImportError(ServiceError):
    """A zone document could not be read or stored (nothing was imported)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ForwardedError(ServiceError):
    """Another instance ran the request and refused it: its status and body, unchanged.

    Attributes:
        status: the HTTP status it answered with.
        body: its JSON body (``detail`` and, for a conflict, the states).
    """

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{status}: {body.get('detail', body)}")
