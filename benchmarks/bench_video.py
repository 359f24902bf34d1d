"""Live video: 4 feeds × 15 fps 1280×720 relayed to 50 websocket viewers (issue 8).

Set-up, all on one machine:

- 4 senders: Debian's ``/usr/bin/ffmpeg`` (testsrc2 1280x720 at 15 fps, x264 ultrafast
  zerolatency, repeated headers, a keyframe every 15 frames) to RTP/UDP on 4 free even
  ports, started by ``rtp_sender`` of ``tests/integration/video_harness.py``;
- the real service: ``mission-control serve --sim 1 --video 2=rtp://… … --video 5=rtp://…``
  as a subprocess (one simulated drone, fresh SQLite database, recording off:
  ``MC_VIDEO_RECORD=false``). The demo viewer's token is read from its output;
- 50 fast viewers of ``/ws/video/{drone_id}`` in 5 client processes (multiprocessing,
  spawn; 10 ``websockets`` clients each, no compression), reading as fast as they can.
  Viewer ``i`` watches drone ``2 + i % 4``; by ``(i // 4) % 4`` half of them ask for full
  size, a quarter for ``width=640`` and a quarter for ``width=320``;
- ``--slow N`` (2 by default) more full-size viewers in a process of their own that read
  one message every 0.5 s and never acknowledge: the relay should close them (1013) and
  the fast viewers should not notice;
- this process, which samples CPU time from ``/proc/<pid>/stat`` and memory from
  ``/proc/<pid>/status``.

After a 5 s warm-up, over a ``--seconds`` window (20 s by default):

- ``fast_fps`` min / p50 over the fast viewers: frames received per second (target: every
  fast viewer >= 14 fps), also the slowest of each size tier;
- ``latency`` p50 / p99 over every frame: receipt ``time.time()`` − the header's
  ``capture_unix_s``. The relay stamps a frame when it has decoded it, so this is the
  latency the relay adds (JPEG encode, fan-out, websocket), not the camera's (target p99 <
  100 ms);
- ``service_cpu``: the service's utime + stime over wall time, in % of one core (target
  < 200 %, i.e. within the 2 cores); ``service_rss`` / ``service_peak_rss`` (VmRSS /
  VmHWM); ``ffmpeg_cpu`` (the 4 senders together) and ``clients_cpu`` (the 5 fast client
  processes together), for seeing where a 2-core machine's CPU went;
- ``bytes_per_viewer`` for each tier, ``fps_in`` per drone from ``GET /api/video``, and
  ``relayed_ratio`` for each tier: distinct frame ``seq`` numbers that reached that tier's
  viewers / the span of ``seq`` numbers seen (1.0: every frame the source decoded was
  encoded and delivered at that size). The relay's own encode counters are not exposed
  over HTTP, so this is the stand-in for "JPEG encodes vs frames in";
- for the slow viewers: how many were closed with 1013 (``closed_any``: by any means; -1
  in the note is a connection that ended without a close frame, as when the relay's close
  could not get through a full buffer), when the client noticed (``closed_after``: only
  once it has read what was buffered before the close), how far behind they were (the
  largest ``behind_s`` of the relay's ``lag`` notices, the largest age of a frame they
  read), ``fed_for`` (capture time of the newest frame one got − its connect time),
  ``dropped_by_service_after`` (when ``GET /api/video``, polled every 0.5 s, stopped
  counting them, from the moment every viewer was connected) and the service log's
  ``video websocket: closing`` lines (``server_lag_closes``).

Run: ``python benchmarks/bench_video.py [--seconds S] [--slow N]`` (needs ``/usr/bin/ffmpeg``:
``apt-get install ffmpeg``). Each figure is a ``bench: NAME VALUE UNIT`` line; the targets
are printed next to the results at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from _harness import report
from video_harness import FFMPEG, free_even_port, rtp_sender

from mission_control.video.wire import unpack

ROOT = Path(__file__).resolve().parent.parent
DRONES = (2, 3, 4, 5)
VIEWERS = 50
CLIENT_PROCESSES = 5
WIDTHS: tuple[int | None, ...] = (None, None, 640, 320)  # by (i // 4) % 4: ½ full, ¼, ¼
WARMUP_S = 5.0
SLOW_PERIOD_S = 0.5
SLOW_DRAIN_S = 3.0  # after the window, slow viewers read fast to reach a pending close
SERVICE = ROOT / ".venv" / "bin" / "mission-control"

TARGET_FPS = 14.0
TARGET_P99_MS = 100.0
TARGET_CPU = 200.0


def _tier(width: int | None) -> str:
    return "full" if width is None else f"w{width}"


# -- the client processes -------------------------------------------------------------------------


async def _read_fast(ws: ClientConnection, window: list[float], stat: dict[str, Any]) -> None:
    latencies: array[float] = stat["lat"]
    seqs: list[int] = stat["seqs"]
    try:
        async for message in ws:
            now = time.time()
            if isinstance(message, str):
                if window[0] <= now < window[1] and json.loads(message).get("kind") == "lag":
                    stat["lag_notices"] += 1
                continue
            header, _jpeg = unpack(message)
            if window[0] <= now < window[1]:
                stat["frames"] += 1
                stat["bytes"] += len(message)
                latencies.append((now - header.capture_unix_s) * 1000.0)
                seqs.append(header.seq)
    except ConnectionClosed as exc:
        stat["close"] = exc.rcvd.code if exc.rcvd is not None else -1


async def _read_slow(ws: ClientConnection, window: list[float], stat: dict[str, Any]) -> None:
    try:
        while True:
            message = await ws.recv()
            now = time.time()
            if isinstance(message, str):
                doc = json.loads(message)
                if doc.get("kind") == "lag":
                    stat["max_lag_notice_s"] = max(stat["max_lag_notice_s"], doc["behind_s"])
            else:
                header, _jpeg = unpack(message)
                stat["frames"] += 1
                stat["max_age_s"] = max(stat["max_age_s"], now - header.capture_unix_s)
                stat["last_capture"] = max(stat["last_capture"], header.capture_unix_s)
            if now < window[1]:
                await asyncio.sleep(SLOW_PERIOD_S)
    except ConnectionClosed as exc:
        stat["close"] = exc.rcvd.code if exc.rcvd is not None else -1
        stat["closed_after_s"] = time.time() - stat["opened"]


async def _clients(
    base_url: str, specs: list[tuple[int, int, int | None]], slow: bool, shared: dict[str, Any]
) -> None:
    window = [float("inf"), float("inf")]
    sockets: list[ClientConnection] = []
    stats: list[dict[str, Any]] = []
    for i, drone, width in specs:
        url = f"{base_url}/ws/video/{drone}?token={shared['token']}"
        if width is not None:
            url += f"&width={width}"
        ws = await connect(
            url,
            compression=None,
            proxy=None,
            max_size=None,
            max_queue=4 if slow else 16,
            open_timeout=20,
            close_timeout=2,
        )
        sockets.append(ws)
        stats.append(
            {
                "i": i,
                "drone": drone,
                "tier": _tier(width),
                "frames": 0,
                "bytes": 0,
                "lag_notices": 0,
                "lat": array("d"),
                "seqs": [],
                "close": None,
                "opened": time.time(),
                "closed_after_s": None,
                "max_lag_notice_s": 0.0,
                "max_age_s": 0.0,
                "last_capture": 0.0,
            }
        )
    read = _read_slow if slow else _read_fast
    readers = [
        asyncio.create_task(read(ws, window, st), name=f"bench-viewer-{st['i']}")
        for ws, st in zip(sockets, stats, strict=True)
    ]
    shared["ready"].set()
    if not await asyncio.to_thread(shared["go"].wait, 120):
        raise SystemExit("clients: no start signal")
    window[0], window[1] = shared["window"][0], shared["window"][1]
    until = window[1] + (SLOW_DRAIN_S if slow else 0.2)
    await asyncio.sleep(max(0.0, until - time.time()))
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    for st in stats:
        st["lat"] = st["lat"].tobytes()
    shared["results"].put(stats)


def _clients_main(
    base_url: str, specs: list[tuple[int, int, int | None]], slow: bool, shared: dict[str, Any]
) -> None:
    asyncio.run(_clients(base_url, specs, slow, shared))


# -- this process ---------------------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _status_mb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    return float("nan")


def _children_named(name: str) -> list[int]:
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        if ppid == me and comm == name:
            pids.append(int(entry))
    return pids


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _rtp_ports(n: int) -> list[int]:
    ports: list[int] = []
    for _ in range(100):
        port = free_even_port()
        if port not in ports:
            ports.append(port)
        if len(ports) == n:
            return ports
    raise SystemExit("no free UDP port pairs for the RTP senders")


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _token_in(log: Path) -> str | None:
    with contextlib.suppress(OSError):
        found = re.search(
            r"demo-viewer\s+role\s+\S+\s+token\s+(\S+)", log.read_text(errors="replace")
        )
        return found.group(1) if found else None
    return None


def _closing_lines(log: Path) -> list[str]:
    """The service's own account of the viewers it closed for lagging."""
    with contextlib.suppress(OSError):
        lines = log.read_text(errors="replace").splitlines()
        return [line.strip() for line in lines if "video websocket: closing" in line]
    return []


async def _wait_token(proc: asyncio.subprocess.Process, log: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise SystemExit(f"the service exited ({proc.returncode}):\n{_tail(log)}")
        found = _token_in(log)
        if found:
            return found
        await asyncio.sleep(0.2)
    raise SystemExit(f"no demo-viewer token from the service in {timeout_s} s:\n{_tail(log)}")


async def _wait_health(http: httpx.AsyncClient, proc: Any, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise SystemExit(f"the service exited ({proc.returncode}):\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/api/health")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise SystemExit(f"/api/health not answering within {timeout_s} s:\n{_tail(log)}")


async def _video_status(http: httpx.AsyncClient) -> dict[int, dict[str, Any]]:
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
        r = await http.get("/api/video")
        return {d["drone_id"]: d for d in r.json()["drones"]}
    return {}


async def _stop_service(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            print("note: the service ignored SIGTERM for 20 s: killed", flush=True)
            proc.kill()
            await asyncio.wait_for(proc.wait(), 10)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _stop_processes(procs: list[Any]) -> None:
    for p in procs:
        p.join(15)
        if p.is_alive():
            p.terminate()
            p.join(5)


def _pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(seconds: float, slow: int) -> dict[str, float]:
    if not os.access(FFMPEG, os.X_OK):
        raise SystemExit(f"{FFMPEG} is needed (Debian's ffmpeg): apt-get install ffmpeg")
    if not os.access(SERVICE, os.X_OK):
        raise SystemExit(f"{SERVICE} is missing: install the project in .venv first")
    tmp = Path(tempfile.mkdtemp(prefix="bench-video-"))
    rtp = _rtp_ports(len(DRONES))
    port = _free_tcp_port()
    log = tmp / "service.log"
    cmd = [str(SERVICE), "serve", "--port", str(port), "--sim", "1"]
    cmd += ["--db", f"sqlite+aiosqlite:///{tmp}/mc.db"]
    for drone, p in zip(DRONES, rtp, strict=True):
        cmd += ["--video", f"{drone}=rtp://127.0.0.1:{p}"]
    env = dict(os.environ, MC_VIDEO_RECORD="false", MC_VIDEO_DIR=str(tmp / "rec"))
    env["PYTHONUNBUFFERED"] = "1"
    ctx = mp.get_context("spawn")
    sync = {"ready": [], "go": ctx.Event(), "window": ctx.Array("d", 2)}
    results = ctx.Queue()
    procs: list[Any] = []
    figures: dict[str, float] = {}

    async with contextlib.AsyncExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        for p in rtp:
            await stack.enter_async_context(rtp_sender(FFMPEG, p, size="1280x720", rate=15))
        ffmpeg_pids = _children_named("ffmpeg")
        out = stack.enter_context(log.open("wb"))
        service = await asyncio.create_subprocess_exec(
            *cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )
        stack.push_async_callback(_stop_service, service)
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0)
        )
        token = await _wait_token(service, log, 60)
        await _wait_health(http, service, log, 60)
        http.headers["Authorization"] = f"Bearer {token}"
        stack.callback(_stop_processes, procs)

        specs = [(i, DRONES[i % 4], WIDTHS[(i // 4) % 4]) for i in range(VIEWERS)]
        groups = [(specs[k::CLIENT_PROCESSES], False) for k in range(CLIENT_PROCESSES)]
        if slow:
            groups.append(([(VIEWERS + j, DRONES[j % 4], None) for j in range(slow)], True))
        for group, is_slow in groups:
            shared = {
                "token": token,
                "ready": ctx.Event(),
                "go": sync["go"],
                "window": sync["window"],
                "results": results,
            }
            sync["ready"].append(shared["ready"])
            proc = ctx.Process(
                target=_clients_main,
                args=(f"ws://127.0.0.1:{port}", group, is_slow, shared),
                daemon=True,
            )
            proc.start()
            procs.append(proc)
        for ready in sync["ready"]:
            if not await asyncio.to_thread(ready.wait, 90):
                raise SystemExit(f"the viewers did not connect:\n{_tail(log)}")
        start = time.time() + WARMUP_S
        end = start + seconds
        sync["window"][0], sync["window"][1] = start, end
        sync["go"].set()
        go = time.time()

        # the service's viewer count, polled from the start: when did it drop the slow ones?
        slow_dropped_s = float("nan")

        async def poll_viewers() -> None:
            nonlocal slow_dropped_s
            while slow and time.time() < end + SLOW_DRAIN_S:
                drones = await _video_status(http)
                total = sum(d.get("viewers", 0) for d in drones.values())
                if drones and total <= VIEWERS:
                    slow_dropped_s = time.time() - go
                    return
                await asyncio.sleep(0.5)

        poller = asyncio.create_task(poll_viewers(), name="bench-poll-viewers")
        stack.push_async_callback(_cancel, poller)
        fast_pids = [p.pid for p, (_, s) in zip(procs, groups, strict=True) if not s]
        await asyncio.sleep(max(0.0, start - time.time()))
        t0 = time.monotonic()
        svc0 = _cpu_s(service.pid)
        ff0 = sum(_cpu_s(p) for p in ffmpeg_pids)
        cl0 = sum(_cpu_s(p) for p in fast_pids)
        rss_max = 0.0
        while time.time() < end:
            rss_max = max(rss_max, _status_mb(service.pid, "VmRSS"))
            await asyncio.sleep(min(1.0, max(0.0, end - time.time())))
        t1 = time.monotonic()
        svc1 = _cpu_s(service.pid)
        ff1 = sum(_cpu_s(p) for p in ffmpeg_pids)
        cl1 = sum(_cpu_s(p) for p in fast_pids)
        rss = _status_mb(service.pid, "VmRSS")
        hwm = _status_mb(service.pid, "VmHWM")
        video = await _video_status(http)

        stats: list[dict[str, Any]] = []
        for _ in groups:
            try:
                stats += await asyncio.to_thread(results.get, True, SLOW_DRAIN_S + 30)
            except Exception:
                raise SystemExit(f"a client process gave no results:\n{_tail(log)}") from None
        closings = _closing_lines(log)
        await _cancel(poller)

    wall = t1 - t0
    fast = [s for s in stats if s["i"] < VIEWERS]
    slow_stats = [s for s in stats if s["i"] >= VIEWERS]
    name = "video"

    fps = sorted(s["frames"] / seconds for s in fast)
    figures["fast_fps.min"] = fps[0]
    figures["fast_fps.p50"] = statistics.median(fps)
    report(f"{name}.fast_fps.min", fps[0], "fps")
    report(f"{name}.fast_fps.p50", statistics.median(fps), "fps")
    report(f"{name}.fast_below_{TARGET_FPS:g}fps", sum(f < TARGET_FPS for f in fps), "viewers")
    report(f"{name}.fast_closed", sum(s["close"] is not None for s in fast), "viewers")
    report(f"{name}.fast_lag_notices", sum(s["lag_notices"] for s in fast), "notices")

    latencies = array("d")
    for s in fast:
        latencies.frombytes(s["lat"])
    ordered = sorted(latencies)
    if ordered:
        figures["latency.p50"] = statistics.median(ordered)
        figures["latency.p99"] = _pct(ordered, 0.99)
        report(f"{name}.latency.p50", figures["latency.p50"], "ms")
        report(f"{name}.latency.p99", figures["latency.p99"], "ms")
        report(f"{name}.latency.max", ordered[-1], "ms")

    for tier in ("full", "w640", "w320"):
        group = [s for s in fast if s["tier"] == tier]
        if not group:
            continue
        tier_fps = min(s["frames"] for s in group) / seconds
        rate = statistics.mean(s["bytes"] for s in group) / seconds / 1e6
        lat = array("d")
        for s in group:
            lat.frombytes(s["lat"])
        tier_lat = sorted(lat)
        report(f"{name}.{tier}.viewers", len(group), "viewers")
        report(f"{name}.{tier}.fps.min", tier_fps, "fps")
        report(f"{name}.{tier}.bytes_per_viewer", rate, "MB/s")
        if tier_lat:
            report(f"{name}.{tier}.latency.p99", _pct(tier_lat, 0.99), "ms")
        ratios = []
        for drone in DRONES:
            seen = {q for s in group if s["drone"] == drone for q in s["seqs"]}
            if seen:
                ratios.append(len(seen) / (max(seen) - min(seen) + 1))
        if ratios:
            report(f"{name}.{tier}.relayed_ratio", statistics.mean(ratios), "of seq span")

    for drone in DRONES:
        d = video.get(drone, {})
        report(f"{name}.drone{drone}.fps_in", float(d.get("fps_in", float("nan"))), "fps")
        if d.get("state") not in (None, "up"):
            print(f"note: drone {drone} source is {d.get('state')}: {d.get('reason')}")

    figures["service_cpu"] = 100.0 * (svc1 - svc0) / wall
    report(f"{name}.service_cpu", figures["service_cpu"], "% of a core")
    report(f"{name}.service_rss", rss, "MB")
    report(f"{name}.service_rss.max_in_window", rss_max, "MB")
    report(f"{name}.service_peak_rss", hwm, "MB")
    report(f"{name}.ffmpeg_cpu", 100.0 * (ff1 - ff0) / wall, "% of a core")
    report(f"{name}.clients_cpu", 100.0 * (cl1 - cl0) / wall, "% of a core")

    if slow_stats:
        closed = [s for s in slow_stats if s["close"] == 1013]
        gone = [s for s in slow_stats if s["close"] is not None]
        report(f"{name}.slow.viewers", len(slow_stats), "viewers")
        report(f"{name}.slow.closed_1013", len(closed), "viewers")
        report(f"{name}.slow.closed_any", len(gone), "viewers")
        if gone:
            after = max(s["closed_after_s"] for s in gone)
            report(f"{name}.slow.closed_after.max", after, "s")
        report(f"{name}.slow.max_lag_notice", max(s["max_lag_notice_s"] for s in slow_stats), "s")
        report(f"{name}.slow.max_frame_age", max(s["max_age_s"] for s in slow_stats), "s")
        report(f"{name}.slow.frames_read", sum(s["frames"] for s in slow_stats), "frames")
        fed = max(s["last_capture"] - s["opened"] for s in slow_stats)
        report(f"{name}.slow.fed_for.max", fed, "s")  # newest frame it got − its connect time
        report(f"{name}.slow.dropped_by_service_after", slow_dropped_s, "s")  # from /api/video
        others = [s["close"] for s in slow_stats if s["close"] != 1013]
        if others:
            print(f"note: slow viewers not closed with 1013 (-1: no close frame): {others}")
    report(f"{name}.server_lag_closes", len(closings), "viewers")
    for line in closings[:4]:
        print(f"note: service log: {line}", flush=True)

    print("targets:", flush=True)
    p99 = figures.get("latency.p99", float("nan"))
    for label, value, ok in (
        (f"every fast viewer >= {TARGET_FPS:g} fps", fps[0], fps[0] >= TARGET_FPS),
        (f"relay-added p99 < {TARGET_P99_MS:g} ms", p99, p99 < TARGET_P99_MS),
        (
            f"service CPU < {TARGET_CPU:g} %",
            figures["service_cpu"],
            figures["service_cpu"] < TARGET_CPU,
        ),
    ):
        print(f"  {label:<34} got {value:8.4g}  {'ok' if ok else 'MISSED'}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window (s)")
    parser.add_argument("--slow", type=int, default=2, help="slow, never-acknowledging viewers")
    args = parser.parse_args()
    if args.seconds <= 0 or args.slow < 0:
        parser.error("--seconds must be > 0 and --slow >= 0")
    asyncio.run(run(args.seconds, args.slow))


if __name__ == "__main__":
    main()
