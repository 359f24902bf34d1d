"""A private Mosquitto broker for tests: its own port, config, persistence and log.

Tests must not share the system broker (127.0.0.1:1883): they stop, kill and restart
theirs. The broker keeps sessions across a restart, even after SIGKILL (the in-memory
database is saved every second), so a test can check what a client gets back.

    broker = Broker()
    broker.start()           # waits until the port accepts TCP
    broker.restart(kill=True)
    broker.close()           # stop and delete the temporary directory
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0
_KNOWN_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def mosquitto_binary() -> str:
    """The mosquitto executable; installed with apt-get when missing and we are root.

    Raises:
        RuntimeError: mosquitto is not installed and cannot be installed here.
    """
    found = shutil.which("mosquitto") or next(
        (p for p in _KNOWN_PATHS if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        if _apt_get("install", "-y", "-q", "mosquitto") != 0:
            _apt_get("update", "-q")
            _apt_get("install", "-y", "-q", "mosquitto")
        found = next((p for p in _KNOWN_PATHS if os.access(p, os.X_OK)), None)
        if found:
            return found
    raise RuntimeError(
        "mosquitto (the MQTT broker) is needed by the MQTT tests and is not installed: "
        "`sudo apt-get install mosquitto` (Debian/Ubuntu), `brew install mosquitto` (macOS), "
        "or put a mosquitto 2.x binary on PATH"
    )


def _apt_get(*args: str) -> int:
    done = subprocess.run(
        ["apt-get", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return done.returncode


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A mosquitto process on 127.0.0.1 with its own port, config and persistence.

    Args:
        directory: where config, persistence and log go (created); default: a temporary
            directory removed by :meth:`close`.
        port: default: a free port, kept across restarts.
        extra_config: lines appended to the config (they apply to the listener, e.g.
            ``certfile``/``keyfile`` for TLS).
    """

    def __init__(
        self, directory: Path | None = None, *, port: int | None = None, extra_config: str = ""
    ) -> None:
        self._owns_directory = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="mosquitto-")) if directory is None else directory
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port if port is not None else free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.log_file = self.directory / "mosquitto.log"
        self.config_file = self.directory / "mosquitto.conf"
        self.config_file.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.directory}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 10000\n"
            f"log_dest file {self.log_file}\n"
            # as root, mosquitto would drop to user `mosquitto`, who cannot write here
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
            f"{extra_config}\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the broker and wait until its port accepts TCP connections.

        Raises:
            RuntimeError: it exited or did not listen within 10 s (with the log's tail).
        """
        if self.running:
            return
        self._process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop(kill=True)
        raise RuntimeError(
            f"mosquitto did not listen on port {self.port} within {_START_TIMEOUT_S} s:\n"
            f"{self.log_tail()}"
        )

    def stop(self, *, kill: bool = False) -> None:
        """Stop the broker: SIGKILL (``kill=True``: nothing saved since the last autosave)
        or SIGTERM (it saves its database), and wait for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, *, kill: bool = False) -> None:
        """Stop and start again: same port, same persistence file."""
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        """Stop, and remove the directory if this broker made it."""
        self.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def wait_saved(self, timeout_s: float = 5.0) -> None:
        """Block until the broker has written its database after this call, so a SIGKILL
        keeps what it knew (it autosaves every ~2 s: `autosave_interval 1` is compared with
        whole seconds, strictly). Call it through ``asyncio.to_thread`` from async tests.

        Raises:
            TimeoutError: no save within ``timeout_s``.
        """
        since = time.time()
        database = self.directory / "mosquitto.db"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):
                if database.stat().st_mtime > since:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"mosquitto did not save {database} within {timeout_s} s")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
