"""The vehicle links' pure-ish parts: settings, the per-vehicle call runner, refusal reasons.

No MAVSDK and no sockets: calls are plain coroutines, time is the running loop's.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from mission_control.vehicles.calls import CallRunner
from mission_control.vehicles.errors import (
    CommandTimeout,
    LinkLost,
    VehicleError,
    VehicleSettingsError,
)
from mission_control.vehicles.health import HealthThresholds
from mission_control.vehicles.settings import VehicleLinkSettings
from mission_control.vehicles.status_texts import StatusTextLog
from mission_control.vehicles.types import StatusText

# -- settings -------------------------------------------------------------------------------------


def test_default_settings() -> None:
    s = VehicleLinkSettings()
    assert s.connection_urls == ("udpin://0.0.0.0:14540",)
    assert (s.command_timeout_s, s.upload_timeout_s) == (5.0, 30.0)
    assert (s.max_concurrent_commands, s.executor_threads) == (4, 64)
    assert s.health == HealthThresholds()
    assert dict(s.telemetry_rates_hz) == {"position": 10.0, "attitude": 5.0, "gps": 1.0}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connection_urls", ()),
        ("connection_urls", "udpin://0.0.0.0:14540"),
        ("connection_urls", ("udp4://0.0.0.0:14540",)),
        ("connection_urls", ("udpin://0.0.0.0",)),
        ("connection_urls", ("udpin://0.0.0.0:99999",)),
        ("connection_urls", ("udpin://:14540", "udpin://:14540")),
        ("command_timeout_s", 0),
        ("command_timeout_s", float("nan")),
        ("upload_timeout_s", -1.0),
        ("max_concurrent_commands", 0),
        ("max_concurrent_commands", 2.0),
        ("executor_threads", 6),  # fewer than 2 × max_concurrent_commands
        ("health_period_s", 5.0),  # not shorter than lost_after_s
        ("status_text_history", 0),
        ("health", "fast"),
        ("telemetry_rates_hz", (("velocity", 5.0),)),  # set through position
        ("telemetry_rates_hz", (("position", 0.0),)),
        ("telemetry_rates_hz", (("position", 5.0), ("position", 10.0))),
        ("telemetry_batch_s", 0.5),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(field: str, value: object) -> None:
    with pytest.raises(VehicleSettingsError) as refused:
        VehicleLinkSettings(**{field: value})  # type: ignore[arg-type]
    assert refused.value.field == field


def test_serial_and_tcp_urls_are_accepted() -> None:
    urls = ("serial:///dev/ttyUSB0:57600", "tcpout://10.0.0.2:5760", "udpout://10.0.0.3:14550")
    assert VehicleLinkSettings(connection_urls=urls).connection_urls == urls


# -- call runner ----------------------------------------------------------------------------------


async def test_at_most_n_calls_run_at_once_and_the_rest_queue() -> None:
    runner = CallRunner(7, max_concurrent=2)
    running = 0
    peak = 0

    async def call() -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return 1

    results = await asyncio.gather(*(runner.run("x", call, timeout_s=1.0) for _ in range(6)))
    assert results == [1] * 6 and peak == 2 and runner.in_flight == 0


async def test_a_caller_past_its_deadline_gets_a_timeout_while_the_call_keeps_its_slot() -> None:
    runner = CallRunner(7, max_concurrent=1)
    release = asyncio.Event()
    finished = asyncio.Event()

    async def stuck() -> None:  # like a MAVSDK call whose thread cannot be stopped
        await release.wait()
        finished.set()

    t0 = time.monotonic()
    with pytest.raises(CommandTimeout) as timed_out:
        await runner.run("arm", stuck, timeout_s=0.05)
    assert timed_out.value.system_id == 7 and timed_out.value.action == "arm"
    assert time.monotonic() - t0 < 0.5
    assert runner.in_flight == 1  # still running, owned by the runner
    with pytest.raises(CommandTimeout):  # the only slot is taken: the next one queues, times out
        await runner.run("land", stuck, timeout_s=0.05)
    release.set()
    assert await runner.drain(1.0) == 0
    assert finished.is_set()
    with pytest.raises(VehicleError, match="closed"):
        await runner.run("arm", stuck, timeout_s=1.0)


async def test_a_refusing_check_sends_nothing_and_takes_no_slot() -> None:
    runner = CallRunner(7, max_concurrent=1)
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1

    def lost(action: str) -> None:
        raise LinkLost(7, action, 4.0)

    with pytest.raises(LinkLost):
        await runner.run("arm", call, timeout_s=1.0, check=lost)
    await runner.run("arm", call, timeout_s=1.0)
    assert calls == 1


async def test_drain_gives_up_on_calls_that_do_not_return() -> None:
    runner = CallRunner(7, max_concurrent=1)
    never = asyncio.Event()
    with pytest.raises(CommandTimeout):
        await runner.run("goto", never.wait, timeout_s=0.01)
    assert await runner.drain(0.05) == 1
    assert runner.in_flight == 0


# -- refusal reasons ------------------------------------------------------------------------------


def text(t: float, words: str, severity: str = "critical") -> StatusText:
    return StatusText(severity, words, t)


async def test_a_reason_sent_just_before_the_refusal_is_found_at_once() -> None:
    now = time.monotonic()
    log = StatusTextLog(4)
    log.add(text(now - 5.0, "old news"))
    log.add(text(now - 0.3, "Preflight Fail: GPS", "info"))  # not a warning: ignored
    log.add(text(now - 0.2, "PreArm: GPS not healthy"))
    log.add(text(now - 0.1, "PreArm: GPS not healthy"))  # said twice, reported once
    t0 = time.monotonic()
    assert await log.reason_around(now, 1.0) == "PreArm: GPS not healthy"
    assert time.monotonic() - t0 < 0.05


async def test_a_reason_sent_just_after_the_refusal_is_waited_for() -> None:
    log = StatusTextLog(4)
    refused = time.monotonic()

    async def say_later() -> None:
        await asyncio.sleep(0.05)
        log.add(text(time.monotonic(), "Arming denied: no GPS fix"))

    speaker = asyncio.create_task(say_later())
    assert await log.reason_around(refused, 1.0) == "Arming denied: no GPS fix"
    await speaker
    assert time.monotonic() - refused < 0.5


async def test_no_reason_is_an_empty_string_after_the_window() -> None:
    log = StatusTextLog(4)
    t0 = time.monotonic()
    assert await log.reason_around(t0, 0.1) == ""
    assert 0.09 <= time.monotonic() - t0 < 0.5
    assert len(log.texts) == 0


def test_more_connections_than_one_process_can_hold_are_refused_with_the_way_out() -> None:
    from mission_control.vehicles.settings import MAX_CONNECTIONS_PER_PROCESS

    urls = tuple(f"udpin://0.0.0.0:{15000 + i}" for i in range(MAX_CONNECTIONS_PER_PROCESS + 1))
    with pytest.raises(VehicleSettingsError) as refused:
        VehicleLinkSettings(connection_urls=urls)
    assert "shard" in str(refused.value) and "connection_urls" in str(refused.value)
    assert len(VehicleLinkSettings(connection_urls=urls[:-1]).connection_urls) == len(urls) - 1
