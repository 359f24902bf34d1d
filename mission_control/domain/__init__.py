"""The service's pure core: incidents, missions and their state machine, dispatch policy.

Values in, values out, typed errors. No I/O, no asyncio, no framework imports (enforced by
``tests/unit/test_purity.py``): the services layer persists, announces and schedules.
"""
