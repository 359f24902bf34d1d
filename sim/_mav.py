"""The one place the simulator imports pymavlink's MAVLink 2 ``common`` dialect.

Importing the v2.0 dialect module directly gives MAVLink 2 framing without touching the
``MAVLINK20`` environment variable (which only steers ``mavutil``'s dialect choice).
"""

from __future__ import annotations

from pymavlink.dialects.v20 import common as mavlink

MAVLinkMessage = mavlink.MAVLink_message

__all__ = ["MAVLinkMessage", "mavlink"]
