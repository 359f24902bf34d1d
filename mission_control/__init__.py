"""Mission Control — drone-as-first-responder fleet mission control service."""

__version__ = "0.1.0"
