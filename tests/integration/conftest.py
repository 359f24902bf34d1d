"""Fixtures for the integration tests: a private Mosquitto broker per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/integration is not a package: pytest puts this directory on sys.path, not tests/.
# Helpers shared with other tiers live in tests/; import them by module name
# (`from mqtt_broker import Broker`), like the harnesses here.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from mqtt_broker import Broker  # noqa: E402


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A running private mosquitto on a free 127.0.0.1 port (`broker.url`); stopped after
    the test. `broker.wait_saved()` before a SIGKILL if sessions must survive it."""
    b = Broker(tmp_path / "mosquitto")
    b.start()
    try:
        yield b
    finally:
        b.close()
