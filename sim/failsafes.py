"""PX4's failsafes for the simulated vehicle: geofence, battery, data link, position loss.

Action numbers are PX4's ``NAV_DLL_ACT`` ones (1 hold, 2 return, 3 land, 5 terminate,
6 disarm); ``GF_ACTION`` and ``COM_LOW_BAT_ACT`` are mapped onto them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.fence import BreachType
from sim.modes import FlightMode
from sim.telemetry_types import Severity

if TYPE_CHECKING:
    from sim.vehicle import Vehicle


# How far a mode already goes towards the ground; a failsafe action never steps back from it
_MODE_RANK = {FlightMode.RTL: 2, FlightMode.LAND: 3}
_ACTION_RANK = {1: 1, 2: 2, 3: 3}
_DOING = {FlightMode.RTL: "returning", FlightMode.LAND: "landing"}


def failsafe_action(v: Vehicle, action: int, what: str) -> None:
    """PX4's failsafe action numbers: 1 hold, 2 return, 3 land, 5 terminate, 6 disarm.

    Like PX4, which flies the most severe of the active failsafe actions, a Hold or Return
    does not interrupt a landing (nor a Hold a return): a link loss during a battery landing
    must not send the vehicle back up to the return altitude.
    """
    rank = _ACTION_RANK.get(action)
    if rank is not None and _MODE_RANK.get(v.mode, 0) >= rank:
        v.say(Severity.CRITICAL, f"Failsafe: {what}, already {_DOING[v.mode]}")
        return
    if action == 1:
        v.say(Severity.CRITICAL, f"Failsafe: {what}, holding")
        v.set_mode(FlightMode.LOITER)
    elif action == 2:
        v.say(Severity.CRITICAL, f"Failsafe: {what}, returning")
        v.set_mode(FlightMode.RTL)
    elif action == 3:
        v.say(Severity.CRITICAL, f"Failsafe: {what}, landing")
        v.set_mode(FlightMode.LAND)
    elif action == 5:
        v.say(Severity.EMERGENCY, f"Failsafe: {what}, flight termination")
        v.disarm("Disarmed by flight termination")
    elif action == 6:
        v.say(Severity.EMERGENCY, f"Failsafe: {what}, disarming")
        v.disarm("Disarmed by failsafe")
    else:
        v.say(Severity.WARNING, f"Failsafe: {what} (no action)")


def check_failsafes(v: Vehicle) -> None:
    """Fence, battery, data-link and position checks after each step."""
    flying = v.armed and v.in_air
    _fence_check(v, flying)
    _battery_check(v, flying)
    p = v.params
    if (
        v.last_gcs_s is not None
        and not v.link_lost
        and v.link_time_s - v.last_gcs_s > p["COM_DL_LOSS_T"]
    ):
        v.link_lost = True
        action = int(p["NAV_DLL_ACT"])
        if flying and action:
            failsafe_action(v, action, "data link lost")
        else:
            v.say(Severity.WARNING, "Data link lost")
    if flying and not v.has_fix and v.had_fix and v.mode is not FlightMode.LAND:
        failsafe_action(v, 3, "no global position")
    v.had_fix = v.has_fix


def _fence_check(v: Vehicle, flying: bool) -> None:
    breach = v.fence_breach()
    fs = v.fence_status
    if breach is BreachType.NONE:
        fs.breach = BreachType.NONE
        return
    if fs.breach is not BreachType.NONE or not flying:
        fs.breach = breach if flying else fs.breach
        return
    fs.breach = breach
    fs.breach_count += 1
    fs.breach_time_ms = int(v.time_s * 1000)
    # GF_ACTION: 0 none, 1 warning, 2 hold, 3 return, 4 terminate, 5 land
    action = int(v.params["GF_ACTION"])
    mapped = {0: 0, 1: 0, 2: 1, 3: 2, 4: 5, 5: 3}[action]
    failsafe_action(v, mapped, "geofence breached")


def _battery_check(v: Vehicle, flying: bool) -> None:
    p = v.params
    soc = v.battery.soc
    level = 0
    if soc <= p["BAT_EMERGEN_THR"]:
        level = 3
    elif soc <= p["BAT_CRIT_THR"]:
        level = 2
    elif soc <= p["BAT_LOW_THR"]:
        level = 1
    if level <= v.battery_level:
        return
    v.battery_level = level
    pct = f"{soc * 100:.0f} %"
    action = int(p["COM_LOW_BAT_ACT"])
    if level == 1:
        v.say(Severity.WARNING, f"Low battery level! Return advised ({pct})")
    elif not flying:
        v.say(Severity.CRITICAL, f"Battery level {pct}: do not fly")
    elif level == 2 and action == 3 and v.mode not in (FlightMode.RTL, FlightMode.LAND):
        failsafe_action(v, 2, f"critical battery {pct}")
    elif (level == 3 and action in (2, 3)) or (level == 2 and action == 2):
        if v.mode is not FlightMode.LAND:
            failsafe_action(v, 3, f"battery {pct}")
    else:
        v.say(Severity.CRITICAL, f"Battery level {pct}: land now")


def auto_disarm(v: Vehicle) -> None:
    """PX4's COM_DISARM_PRFLT (no take-off after arming) and COM_DISARM_LAND."""
    if not v.armed or v.in_air:
        return
    p = v.params
    if v.landed_at_s is not None:
        delay = p["COM_DISARM_LAND"]
        if delay >= 0 and v.time_s - v.landed_at_s >= delay:
            v.disarm("Disarmed by landing")
            v.navigator_landed()
        return
    delay = p["COM_DISARM_PRFLT"]
    if delay > 0 and v.time_s - v.armed_at_s >= delay:
        v.disarm("Disarmed by auto preflight disarming")
