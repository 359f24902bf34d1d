"""Typed errors of vehicle links; every one names the vehicle (system id) it concerns."""

from __future__ import annotations

from mission_control.errors import MissionControlError


class VehicleError(MissionControlError):
    """Root of vehicle-link errors.

    Attributes:
        system_id: the vehicle's MAVLink system id.
    """

    def __init__(self, system_id: int, message: str) -> None:
        self.system_id = system_id
        super().__init__(f"vehicle {system_id}: {message}")


class UnknownVehicle(VehicleError):
    """No vehicle with this system id has been discovered."""

    def __init__(self, system_id: int) -> None:
        super().__init__(system_id, "no such vehicle (never heard from)")


class LinkLost(VehicleError):
    """The vehicle's link is LOST: the command was not sent (fails fast)."""

    def __init__(self, system_id: int, action: str, silent_s: float) -> None:
        self.action = action
        self.silent_s = silent_s
        super().__init__(system_id, f"{action}: link lost (nothing heard for {silent_s:.1f} s)")


class CommandRejected(VehicleError):
    """The vehicle answered and refused.

    Attributes:
        action: what was asked ("arm", "upload mission"...).
        result: the MAVSDK result name (e.g. ``COMMAND_DENIED``, ``UNSUPPORTED``).
        reason: the vehicle's own words (its STATUSTEXT around the refusal), or "".
    """

    def __init__(self, system_id: int, action: str, result: str, reason: str = "") -> None:
        self.action = action
        self.result = result
        self.reason = reason
        why = f": {reason}" if reason else ""
        super().__init__(system_id, f"{action} rejected ({result}){why}")


class CommandTimeout(VehicleError):
    """No answer within the timeout (the vehicle may or may not have acted)."""

    def __init__(self, system_id: int, action: str, timeout_s: float) -> None:
        self.action = action
        self.timeout_s = timeout_s
        super().__init__(system_id, f"{action}: no answer within {timeout_s:g} s")


class UploadMismatch(VehicleError):
    """A verified upload read back different from what was sent.

    Attributes:
        list_name: "mission", "fence" or "rally".
        index: the first item that differs (or the shorter length when counts differ).
        detail: what differs, in words.
    """

    def __init__(self, system_id: int, list_name: str, index: int, detail: str) -> None:
        self.list_name = list_name
        self.index = index
        self.detail = detail
        super().__init__(system_id, f"{list_name} read back differs at item {index}: {detail}")


class VehicleSettingsError(MissionControlError, ValueError):
    """A vehicle-link setting is invalid.

    Attributes:
        field: the setting (e.g. ``"command_timeout_s"``).
        reason: why.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"vehicle settings: {field}: {reason}")


class VehicleConnectionError(MissionControlError):
    """A MAVLink connection could not be opened (bad URL, port in use, no device).

    Attributes:
        url: the connection URL as configured.
        reason: what MAVSDK said.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot open MAVLink connection {url!r}: {reason}")
