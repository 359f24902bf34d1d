"""flight_plans — a pure drone flight-planning library.

Values in, values out, typed errors (:class:`~flight_plans.errors.FlightPlanError`):
WGS84 geodesy and local frames, MAVLink mission items, mission patterns (orbit, hover,
survey, expanding square, sector, perimeter), energy estimates, and the QGroundControl
``.plan`` and GeoJSON formats. No network, database, video or web imports.
"""

from flight_plans.errors import FlightPlanError

__all__ = ["FlightPlanError"]
