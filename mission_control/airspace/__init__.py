"""Airspace rules engine: zones, whole-leg mission checks, runtime assessment, routing.

Pure: no I/O beyond reading a file handed to a loader; no network, database or web imports.
"""
