"""Drive the web UI in Debian's chromium with Playwright: the browser, a console watch,
screenshots and small helpers for the screens' ``data-testid`` contract.

The browser is the system's ``/usr/bin/chromium`` (Debian package ``chromium``), never one
Playwright downloads: it is installed with apt-get when missing and we run as root, and the
tests fail (never skip) with the reason when it cannot be had.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # nothing downloads a browser

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Error, Page

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output" / "e2e"
"""Screenshots of each test, kept after the run (gitignored): ``OUTPUT/<test name>/``."""

WALL = {"width": 1920, "height": 1080}
"""A command-center wall screen."""
LAPTOP = {"width": 1366, "height": 768}
"""A pilot's or responder's laptop."""


def ensure_chromium() -> str:
    """The path of Debian's chromium, installed with apt-get when missing (as root)."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        if os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            install = ["apt-get", "install", "-y", "-q", "chromium"]
            if subprocess.run(install, env=env, capture_output=True).returncode != 0:
                subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
                done = subprocess.run(install, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    pytest.fail(
                        "`apt-get install chromium` failed:\n"
                        f"{done.stdout[-2000:]}{done.stderr[-2000:]}",
                        pytrace=False,
                    )
        if not CHROMIUM.is_file():
            pytest.fail(
                f"the browser tests need Debian's chromium at {CHROMIUM}: "
                "run `apt-get install chromium` as root (nothing downloads a browser)",
                pytrace=False,
            )
    return str(CHROMIUM)


_REFUSED = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")


@dataclass
class ConsoleWatch:
    """Every console error and uncaught exception of every page a test opens.

    Chromium itself logs each non-2xx answer to ``fetch`` as a console error; a test that
    provokes one on purpose (a wrong token, an illegal command) declares it with
    :meth:`allow_refusal`, and only that status for that path is let through.
    """

    problems: list[str] = field(default_factory=list)
    allowed: list[tuple[int, str]] = field(default_factory=list)
    seen_allowed: list[str] = field(default_factory=list)

    def attach(self, page: Page, who: str) -> None:
        page.on("console", lambda m: self._console(who, m))
        page.on("pageerror", lambda e: self.problems.append(f"{who}: uncaught {e}"))
        page.on("crash", lambda _: self.problems.append(f"{who}: the page crashed"))

    def allow_refusal(self, status: int, path: str) -> None:
        """Let Chromium's "status of ``status``" error for a URL ending in ``path`` pass."""
        self.allowed.append((status, path))

    def _console(self, who: str, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url", ""))
        refused = _REFUSED.search(message.text)
        if refused is not None:
            status, path = int(refused.group(1)), url.split("?", 1)[0]
            if any(status == s and path.endswith(p) for s, p in self.allowed):
                self.seen_allowed.append(f"{who}: {status} {path}")
                return
        self.problems.append(f"{who}: console error {message.text!r} at {url}")

    def check(self) -> None:
        """Fail when any page logged an error that was not declared."""
        assert not self.problems, "the browser console was not clean:\n" + "\n".join(self.problems)


@dataclass
class Screenshots:
    """Saves ``NAME.png`` in pytest's ``tmp_path`` and in ``test-output/e2e/<test>/``."""

    tmp_dir: Path
    kept_dir: Path
    taken: list[Path] = field(default_factory=list)

    async def take(self, page: Page, name: str) -> Path:
        path = self.tmp_dir / f"{name}.png"
        await page.screenshot(path=str(path))
        kept = self.kept_dir / path.name
        shutil.copyfile(path, kept)
        self.taken.append(kept)
        print(f"screenshot {name}: {kept} (also {path})")
        return kept


@dataclass
class Ui:
    """Opens pages on the running service, each in its own browser context (own storage,
    like different people on different machines), all watched by the console watch.

    Use it as ``async with`` inside the service's block: the pages close before the
    service stops (a page outliving it would log its reconnection attempts as errors).
    """

    browser: Browser
    base_url: str
    console: ConsoleWatch
    contexts: list[BrowserContext] = field(default_factory=list)

    async def __aenter__(self) -> Ui:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for context in self.contexts:
            await context.close()
        self.contexts.clear()

    async def open(self, who: str, viewport: dict[str, int] | None = None) -> Page:
        context = await self.browser.new_context(
            base_url=self.base_url, viewport=viewport or LAPTOP
        )
        self.contexts.append(context)
        context.set_default_timeout(15_000)
        page = await context.new_page()
        self.console.attach(page, who)
        await page.goto("/")
        return page

    async def login(self, page: Page, token: str) -> None:
        await page.get_by_test_id("login-token").fill(token)
        await page.get_by_test_id("login-submit").click()


async def choose(page: Page, test_id: str, value: str) -> None:
    """Set a form control whether the UI made it a ``<select>`` or an ``<input>``."""
    control = page.get_by_test_id(test_id)
    tag = await control.evaluate("e => e.tagName.toLowerCase()")
    if tag == "select":
        try:
            await control.select_option(value=value, timeout=2000)
        except Error:
            await control.select_option(label=value, timeout=2000)
    else:
        await control.fill(value)


async def confirm_if_asked(page: Page, timeout_ms: float = 1500) -> bool:
    """Click ``confirm-yes`` when a confirmation dialog opens; False when none did."""
    yes = page.get_by_test_id("confirm-yes")
    try:
        await yes.wait_for(state="visible", timeout=timeout_ms)
    except Error:
        return False
    await yes.click()
    return True
