"""Video test helpers: Debian's ffmpeg, free RTP port pairs, a real-time RTP H.264 sender."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

FFMPEG = "/usr/bin/ffmpeg"


def need_ffmpeg() -> str:
    """Debian's ffmpeg; installed when missing and we are root with apt-get, else a failure."""
    if not os.access(FFMPEG, os.X_OK) and os.geteuid() == 0 and shutil.which("apt-get"):
        for args in (["install"], ["update"], ["install"]):
            cmd = ["apt-get", *args, "-y", "-q"] + (["ffmpeg"] if args == ["install"] else [])
            subprocess.run(cmd, capture_output=True, check=False)
            if os.access(FFMPEG, os.X_OK):
                break
    if not os.access(FFMPEG, os.X_OK):  # a missing tool is a set-up failure, not a skip
        pytest.fail(f"{FFMPEG} is needed for the video tests: apt-get install ffmpeg")
    return FFMPEG


def free_even_port() -> int:
    """An even UDP port P with P and P + 1 free (FFmpeg binds P + 1 for RTCP)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1] & ~1
        held: list[socket.socket] = []
        try:
            for p in (port, port + 1):
                held.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                held[-1].bind(("0.0.0.0", p))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return port
    raise RuntimeError("no two free consecutive UDP ports")


@asynccontextmanager
async def rtp_sender(
    ffmpeg: str, port: int, *, size: str = "640x360", rate: int = 30
) -> AsyncIterator[None]:
    """A real-time ffmpeg testsrc2 → x264 zerolatency → RTP/UDP sender to 127.0.0.1:port."""
    cmd = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}", "-pix_fmt", "yuv420p",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15",
        "-x264-params", "repeat-headers=1",
        "-f", "rtp", "-payload_type", "96", f"rtp://127.0.0.1:{port}",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        proc.kill()  # like a camera losing power: no goodbye
        await asyncio.wait_for(proc.wait(), 10)
