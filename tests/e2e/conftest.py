"""Fixtures for the browser tests: the browser, the console watch, the screenshots.

A test fails when any page it opened logged a console error or threw (checked after it).
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

# tests/e2e is not a package: pytest puts this directory on sys.path; the integration
# tier's service harness is imported by module name too (`from service_harness import …`)
_INTEGRATION = str(Path(__file__).resolve().parents[1] / "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)

from browser_harness import OUTPUT, ConsoleWatch, Screenshots, ensure_chromium  # noqa: E402
from playwright.async_api import Browser, async_playwright, expect  # noqa: E402

expect.set_options(timeout=15_000)  # a screen waits for the service's streams


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium (installed when missing and root; else the tests fail)."""
    return ensure_chromium()


@pytest_asyncio.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """Headless chromium (Playwright adds ``--no-sandbox``, which root needs)."""
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
def console() -> Iterator[ConsoleWatch]:
    """The test's console watch; any error it saw fails the test."""
    watch = ConsoleWatch()
    yield watch
    watch.check()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Screenshots:
    """Screenshots in ``tmp_path/screenshots`` and ``test-output/e2e/<test name>/``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    kept = OUTPUT / name
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir(parents=True)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    return Screenshots(shots, kept)
