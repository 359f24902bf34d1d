"""The error root of the service: every error it raises on purpose derives from it."""

from __future__ import annotations


class MissionControlError(Exception):
    """Root of the errors raised by :mod:`mission_control`."""
