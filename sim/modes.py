"""PX4 flight modes and how they travel in HEARTBEAT.custom_mode.

PX4 packs its mode into ``custom_mode`` as ``main_mode << 16 | sub_mode << 24``; AUTO
(main 4) carries a sub mode (TAKEOFF 2, LOITER 3, MISSION 4, RTL 5, LAND 6). These numbers
are PX4's ``px4_custom_mode.h`` values, which MAVSDK and QGroundControl decode.
"""

from __future__ import annotations

from enum import Enum, IntFlag


class ModeFlag(IntFlag):
    """MAVLink ``MAV_MODE_FLAG`` bits (kept here so the flight model needs no pymavlink)."""

    CUSTOM_MODE_ENABLED = 1
    TEST_ENABLED = 2
    AUTO_ENABLED = 4
    GUIDED_ENABLED = 8
    STABILIZE_ENABLED = 16
    HIL_ENABLED = 32
    MANUAL_INPUT_ENABLED = 64
    SAFETY_ARMED = 128


class FlightMode(Enum):
    """The PX4 modes the simulated vehicle flies; value = (main mode, AUTO sub mode)."""

    MANUAL = (1, 0)
    ALTCTL = (2, 0)
    POSCTL = (3, 0)
    TAKEOFF = (4, 2)
    LOITER = (4, 3)  # "Hold" in QGroundControl and MAVSDK
    MISSION = (4, 4)
    RTL = (4, 5)
    LAND = (4, 6)

    @property
    def custom_mode(self) -> int:
        main, sub = self.value
        return (main << 16) | (sub << 24)

    @property
    def is_auto(self) -> bool:
        return self in _AUTO_MODES

    def base_mode(self, *, armed: bool) -> ModeFlag:
        """HEARTBEAT.base_mode flags PX4 sets for this mode."""
        flags = ModeFlag.CUSTOM_MODE_ENABLED
        if self.is_auto:
            flags |= ModeFlag.AUTO_ENABLED | ModeFlag.GUIDED_ENABLED | ModeFlag.STABILIZE_ENABLED
        elif self is FlightMode.MANUAL:
            flags |= ModeFlag.MANUAL_INPUT_ENABLED
        else:
            flags |= ModeFlag.MANUAL_INPUT_ENABLED | ModeFlag.STABILIZE_ENABLED
            if self is FlightMode.POSCTL:
                flags |= ModeFlag.GUIDED_ENABLED
        if armed:
            flags |= ModeFlag.SAFETY_ARMED
        return flags

    @classmethod
    def from_custom_mode(cls, main_mode: int, sub_mode: int = 0) -> FlightMode | None:
        """The mode for PX4 (main, sub) numbers, or None when the sim does not fly it."""
        if main_mode != 4:
            sub_mode = 0
        return _BY_VALUE.get((main_mode, sub_mode))


_BY_VALUE = {m.value: m for m in FlightMode}
_AUTO_MODES = frozenset(
    (FlightMode.TAKEOFF, FlightMode.LOITER, FlightMode.MISSION, FlightMode.RTL, FlightMode.LAND)
)
