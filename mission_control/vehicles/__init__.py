"""The service's links to vehicles: a MAVSDK fleet, typed telemetry and commands."""
