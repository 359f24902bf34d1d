"""The service layer: dispatcher, approvals, executor and monitor, zones and drones.

It orchestrates the pure core (:mod:`mission_control.domain`, :mod:`mission_control.airspace`)
and the adapters (store, bus, vehicle links) and owns every long-running task.
"""
