"""The in-process event bus: MQTT topic matching, bounded per-subscriber buffers, lifecycle."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import pytest

from mission_control.bus import (
    EventBus,
    Message,
    Subscription,
    SubscriptionError,
    TopicError,
    topic_matches,
)
from mission_control.errors import MissionControlError

E = TypeVar("E")
WAIT_S = 2.0  # generous bound on every wait: a hang fails the test instead of the run


def drain(sub: Subscription[E]) -> list[tuple[str, E]]:
    """Everything pending, as (topic, event) pairs."""
    out: list[tuple[str, E]] = []
    while True:
        try:
            topic, event = sub.get_nowait()
        except asyncio.QueueEmpty:
            return out
        out.append((topic, event))


# -- topic patterns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("vehicles/1/telemetry/position", "vehicles/1/telemetry/position", True),
        ("vehicles/1/telemetry/position", "vehicles/2/telemetry/position", False),
        ("vehicles/1/telemetry", "vehicles/1/telemetry/position", False),
        ("vehicles/+/telemetry/#", "vehicles/1/telemetry/position", True),
        ("vehicles/+/telemetry/#", "vehicles/1/telemetry/battery/cell/3", True),
        ("vehicles/+/telemetry/#", "vehicles/1/telemetry", True),  # '#' includes the parent
        ("vehicles/+/telemetry/#", "vehicles/1/link", False),
        ("vehicles/+/telemetry/#", "vehicles/telemetry", False),
        ("vehicles/+", "vehicles/1", True),
        ("vehicles/+", "vehicles/1/link", False),
        ("vehicles/+", "vehicles", False),
        ("vehicles/+", "vehicles/", True),  # '+' matches an empty level
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("#", "vehicles/1/link", True),
        ("#", "/", True),
        ("+/1/#", "vehicles/1/link", True),
        ("vehicles/#", "vehiclesx/1", False),
        ("a//b", "a//b", True),
        ("a/+/b", "a//b", True),
        ("#", "$SYS/broker/load", False),  # leading wildcards skip '$' topics, as in MQTT
        ("+/broker/load", "$SYS/broker/load", False),
        ("$SYS/#", "$SYS/broker/load", True),
        ("$SYS/+/load", "$SYS/broker/load", True),
    ],
)
def test_topic_matching_follows_mqtt(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "empty"),
        ("vehicles/#/telemetry", "'#' is allowed only as the whole last level"),
        ("vehicles/telemetry#", "'#' is allowed only as the whole last level"),
        ("#/x", "'#' is allowed only as the whole last level"),
        ("vehicles/1+/link", "'+' must be a whole level"),
        ("vehicles/+x", "'+' must be a whole level"),
        ("a/\0", "contains NUL"),
    ],
)
def test_a_bad_pattern_is_refused_naming_it(pattern: str, reason: str) -> None:
    bus: EventBus[object] = EventBus()
    with pytest.raises(TopicError) as info:
        bus.subscribe(pattern)
    err = info.value
    assert (err.topic, err.reason[: len(reason)]) == (pattern, reason)
    assert repr(pattern) in str(err)
    assert isinstance(err, ValueError)
    assert isinstance(err, MissionControlError)
    assert bus.subscriber_count == 0


@pytest.mark.parametrize("topic", ["", "vehicles/+/link", "vehicles/#", "a\0b"])
def test_publishing_to_a_malformed_topic_is_refused(topic: str) -> None:
    bus: EventBus[object] = EventBus()
    with pytest.raises(TopicError) as info:
        bus.publish(topic, 1)
    assert info.value.topic == topic
    with pytest.raises(TopicError):  # not remembered as routable either
        bus.publish(topic, 1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"maxsize": 0}, "maxsize"),
        ({"maxsize": -3}, "maxsize"),
        ({"maxsize": True}, "maxsize"),
        ({"policy": "drop_newest"}, "policy"),
    ],
)
def test_bad_subscription_options_are_refused(kwargs: dict[str, object], field: str) -> None:
    bus: EventBus[object] = EventBus()
    with pytest.raises(SubscriptionError) as info:
        bus.subscribe("a", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


# -- delivery and buffer policies -------------------------------------------------------------


def test_each_matching_subscription_gets_the_event_once_with_its_topic() -> None:
    bus: EventBus[object] = EventBus()
    exact = bus.subscribe("vehicles/1/link")
    wild = bus.subscribe("vehicles/+/link")
    deep = bus.subscribe("vehicles/#")
    other = bus.subscribe("vehicles/2/link")
    bus.publish("vehicles/1/link", "up")
    for sub in (exact, wild, deep):
        assert drain(sub) == [("vehicles/1/link", "up")]
    assert drain(other) == []
    message = Message("t", 1)
    assert (message.topic, message.event) == ("t", 1)


def test_drop_oldest_keeps_the_newest_maxsize_and_counts_the_dropped() -> None:
    bus: EventBus[int] = EventBus()
    sub = bus.subscribe("t/#", maxsize=3)
    for i in range(5):
        bus.publish(f"t/{i % 2}", i)
    assert (sub.pending, sub.dropped) == (3, 2)
    assert [m.event for m in (sub.get_nowait() for _ in range(3))] == [2, 3, 4]
    with pytest.raises(asyncio.QueueEmpty):
        sub.get_nowait()


def test_latest_per_topic_keeps_the_newest_per_topic_in_first_arrival_order() -> None:
    bus: EventBus[object] = EventBus()
    sub = bus.subscribe("vehicles/+/position", policy="latest_per_topic")
    for topic, event in [
        ("vehicles/1/position", "1a"),
        ("vehicles/2/position", "2a"),
        ("vehicles/1/position", "1b"),
        ("vehicles/3/position", "3a"),
        ("vehicles/1/position", "1c"),
    ]:
        bus.publish(topic, event)
    assert sub.dropped == 2  # 1a and 1b were superseded
    assert drain(sub) == [
        ("vehicles/1/position", "1c"),
        ("vehicles/2/position", "2a"),
        ("vehicles/3/position", "3a"),
    ]
    bus.publish("vehicles/2/position", "2b")  # a consumed topic queues afresh
    assert drain(sub) == [("vehicles/2/position", "2b")]


def test_latest_per_topic_full_of_topics_drops_the_oldest_topic() -> None:
    bus: EventBus[object] = EventBus()
    sub = bus.subscribe("#", maxsize=2, policy="latest_per_topic")
    for topic in ("a", "b", "c", "b"):
        bus.publish(topic, topic.upper())
    assert sub.dropped == 2  # "a" pushed out by "c"; the first "b" superseded
    assert drain(sub) == [("b", "B"), ("c", "C")]


def test_a_slow_consumer_loses_its_own_events_only() -> None:
    bus: EventBus[int] = EventBus()
    slow = bus.subscribe("t", maxsize=1)
    fast = bus.subscribe("t", maxsize=1000)
    for i in range(1000):
        bus.publish("t", i)
    assert (slow.pending, slow.dropped) == (1, 999)
    assert (fast.pending, fast.dropped) == (1000, 0)


def test_many_subscribers_each_get_exactly_their_events() -> None:
    bus: EventBus[int] = EventBus()
    per_vehicle = [bus.subscribe(f"vehicles/{v}/#") for v in range(100)]
    exact = [bus.subscribe(f"vehicles/{v}/link") for v in range(100)]
    everything = [bus.subscribe("vehicles/+/+", maxsize=1000) for _ in range(100)]
    assert bus.subscriber_count == 300
    for v in range(100):
        bus.publish(f"vehicles/{v}/link", v)
        bus.publish(f"vehicles/{v}/position", v)
    assert all([m[1] for m in drain(s)] == [v, v] for v, s in enumerate(per_vehicle))
    assert all(drain(s) == [(f"vehicles/{v}/link", v)] for v, s in enumerate(exact))
    assert all(s.pending == 200 for s in everything)


def test_publishing_to_no_subscriber_delivers_nothing_and_later_subscribers_get_later_events() -> (
    None
):
    """The per-topic route cache is refreshed on subscribe."""
    bus: EventBus[int] = EventBus()
    bus.publish("vehicles/1/link", 0)
    sub = bus.subscribe("vehicles/+/link")
    bus.publish("vehicles/1/link", 1)
    assert drain(sub) == [("vehicles/1/link", 1)]


# -- lifecycle --------------------------------------------------------------------------------


async def test_leaving_the_context_unsubscribes() -> None:
    bus: EventBus[int] = EventBus()
    async with bus.subscribe("vehicles/+/link") as sub:
        bus.publish("vehicles/1/link", 1)
        assert sub.pending == 1
    assert bus.subscriber_count == 0
    assert sub.closed
    bus.publish("vehicles/1/link", 2)
    assert sub.pending == 0  # pending discarded on close, nothing new delivered


async def test_an_exception_in_the_context_still_unsubscribes() -> None:
    bus: EventBus[int] = EventBus()
    with pytest.raises(RuntimeError, match="boom"):
        async with bus.subscribe("a"), bus.subscribe("a/#"):
            raise RuntimeError("boom")
    assert bus.subscriber_count == 0


async def test_close_and_aclose_are_idempotent_and_leave_other_subscribers() -> None:
    bus: EventBus[int] = EventBus()
    a, b = bus.subscribe("a"), bus.subscribe("a")
    a.close()
    await a.aclose()
    assert bus.subscriber_count == 1
    bus.publish("a", 1)
    assert (a.pending, b.pending) == (0, 1)
    assert [m async for m in a] == []


async def test_publish_from_sync_code_wakes_a_waiting_consumer() -> None:
    bus: EventBus[int] = EventBus()

    def sync_producer() -> None:  # e.g. a MAVLink datagram callback
        for i in range(3):
            bus.publish("vehicles/1/telemetry/position", i)

    async with bus.subscribe("vehicles/+/telemetry/#") as sub:

        async def first_three() -> list[int]:
            out = []
            async for _, event in sub:
                out.append(event)
                if len(out) == 3:
                    return out
            return out

        consumer = asyncio.create_task(first_three(), name="consumer")
        await asyncio.sleep(0)  # the consumer is now awaiting
        assert not consumer.done()
        asyncio.get_running_loop().call_soon(sync_producer)
        async with asyncio.timeout(WAIT_S):
            assert await consumer == [0, 1, 2]


async def test_closing_the_bus_ends_iteration_after_pending_events() -> None:
    bus: EventBus[int] = EventBus()
    waiting = bus.subscribe("a")
    backlog = bus.subscribe("b")
    bus.publish("b", 1)
    bus.publish("b", 2)

    async def collect(sub: Subscription[int]) -> list[int]:
        return [event async for _, event in sub]

    waiter = asyncio.create_task(collect(waiting), name="waiting")
    await asyncio.sleep(0)
    bus.close()
    async with asyncio.timeout(WAIT_S):
        assert await waiter == []
        assert await collect(backlog) == [1, 2]
    assert bus.closed
    assert bus.subscriber_count == 0
    bus.publish("a", 3)  # a no-op on a closed bus
    late = bus.subscribe("a")
    assert late.closed
    assert await collect(late) == []


async def test_the_bus_is_a_context_manager_that_closes() -> None:
    async with EventBus[int]() as bus:
        sub = bus.subscribe("a")
    assert bus.closed and sub.closed


async def test_a_cancelled_consumer_can_iterate_again() -> None:
    bus: EventBus[int] = EventBus()
    async with bus.subscribe("a") as sub:
        task = asyncio.create_task(anext(sub), name="cancelled")
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        bus.publish("a", 7)
        async with asyncio.timeout(WAIT_S):
            assert await anext(sub) == ("a", 7)
