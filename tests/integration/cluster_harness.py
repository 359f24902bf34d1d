"""Real ``mission-control serve`` processes sharing PostgreSQL and a Mosquitto broker.

:class:`Instance` starts one service process (``python -m mission_control serve``) with its
settings in ``MC_*`` variables, waits for ``/api/health``, and stops it politely (SIGTERM)
or brutally (SIGKILL, for take-over tests). Its log goes to a file shown when it fails.
The simulated fleet is owned by the test (vehicles listening on fixed UDP ports), so every
instance can open any vehicle's link with ``udpout://127.0.0.1:PORT``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from service_harness import HOME, SPEED, free_tcp_port

from mission_control.store import Store
from mission_control.store.engine import normalise_url
from sim.fleet import Fleet, FleetConfig

PG_URL = os.environ.get("MC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@contextlib.asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """The URL of a new empty PostgreSQL database, dropped afterwards."""
    name = f"mc_cluster_{uuid.uuid4().hex[:10]}"
    dsn = normalise_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield normalise_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def make_users(db_url: str) -> dict[str, str]:
    """One user per role in a new database (migrated here); their tokens by role."""
    async with Store.open(db_url) as store:
        return {
            role: await store.add_user(f"t-{role}", role)
            for role in ("responder", "pilot", "viewer", "admin")
        }


def listening_fleet(first_port: int, vehicles: int, **config: Any) -> Fleet:
    """Simulated drones at :data:`HOME` listening on ``first_port``, ``first_port + 1`` …"""
    return Fleet(
        FleetConfig(
            vehicles=vehicles,
            listen_port=first_port,
            home_lat_deg=HOME[0],
            home_lon_deg=HOME[1],
            home_alt_amsl_m=HOME[2],
            spacing_m=40.0,
            speed=config.pop("speed", SPEED),
            params=(("COM_DISARM_PRFLT", 20.0),),
            **config,
        )
    )


class Instance:
    """One service process; ``env`` holds its ``MC_*`` settings."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_tcp_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "MC_PORT": str(self.port),
            "MC_INSTANCE_ID": name,
            "MC_DEMO_USERS": "false",
            "MC_VIDEO_RECORD": "false",  # no recording CPU in the cluster tests
            "MC_VIDEO_DIR": str(log_dir / f"{name}-recordings"),
            **env,
        }
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 40.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mission_control.cli", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/api/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not start in {timeout_s:g} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no lease released, no last words (the broker sends its will)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
