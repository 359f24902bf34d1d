"""A simulated PX4-like multicopter fleet that speaks real MAVLink over UDP."""
