"""In-process event bus: publish rate with 0, 1 and 100 subscribers.

Telemetry-shaped traffic: 10 vehicles x 5 streams = 50 topics
(``vehicles/{v}/telemetry/{stream}``), published round-robin in batches of 10,000.
Subscribers are never drained, so their buffers are full: the figures are the steady state
with slow consumers, where every delivery also drops one message by its policy.

- ``0_subs``: nobody listens (the common case for most topics);
- ``0_subs_uncached``: nobody listens and every topic is new (route computed and the topic
  validated on each publish);
- ``1_sub``: one ``vehicles/+/telemetry/#`` subscriber;
- ``100_subs``: 50 exact-topic subscribers (one per topic), 30 ``vehicles/+/telemetry/#``
  and 20 ``vehicles/{v}/#`` (two per vehicle), half of them ``latest_per_topic``:
  33 deliveries per event.

Prints ``bench: NAME VALUE UNIT`` lines: p50/p90 per batch in ms, events/s from the p50,
and deliveries/s for the fan-out case.
"""

from __future__ import annotations

from _harness import measure, report

from mission_control.bus import EventBus, Policy, Subscription

VEHICLES = 10
STREAMS = ("position", "attitude", "battery", "gps", "velocity")
TOPICS = [f"vehicles/{v}/telemetry/{s}" for v in range(VEHICLES) for s in STREAMS]
BATCH = 10_000
EVENTS = [TOPICS[i % len(TOPICS)] for i in range(BATCH)]
PAYLOAD = object()


def publish_batch(bus: EventBus[object], topics: list[str]) -> None:
    publish = bus.publish
    for topic in topics:
        publish(topic, PAYLOAD)


def hundred_subscribers(bus: EventBus[object]) -> list[Subscription[object]]:
    policies: tuple[Policy, Policy] = ("drop_oldest", "latest_per_topic")
    subs = [bus.subscribe(t, policy=policies[i % 2]) for i, t in enumerate(TOPICS)]
    subs += [bus.subscribe("vehicles/+/telemetry/#", policy=policies[i % 2]) for i in range(30)]
    subs += [bus.subscribe(f"vehicles/{i % VEHICLES}/#", policy=policies[i % 2]) for i in range(20)]
    assert len(subs) == 100
    return subs


def main() -> None:
    bus: EventBus[object] = EventBus()
    p50_ms = measure("bus.publish.0_subs.batch", lambda: publish_batch(bus, EVENTS))
    report("bus.publish.0_subs.rate", BATCH / (p50_ms / 1000.0), "events/s")

    # one batch of never-seen topics per timed call (3 warm-up + 30 runs), built beforehand
    fresh = iter([[f"incidents/{n}/{i}/status" for i in range(BATCH)] for n in range(33)])
    p50_ms = measure("bus.publish.0_subs_uncached.batch", lambda: publish_batch(bus, next(fresh)))
    report("bus.publish.0_subs_uncached.rate", BATCH / (p50_ms / 1000.0), "events/s")

    bus.subscribe("vehicles/+/telemetry/#")
    p50_ms = measure("bus.publish.1_sub.batch", lambda: publish_batch(bus, EVENTS))
    report("bus.publish.1_sub.rate", BATCH / (p50_ms / 1000.0), "events/s")

    bus = EventBus()
    subs = hundred_subscribers(bus)
    bus.publish(TOPICS[0], PAYLOAD)
    per_event = sum(s.pending for s in subs)
    p50_ms = measure("bus.publish.100_subs.batch", lambda: publish_batch(bus, EVENTS))
    report("bus.publish.100_subs.rate", BATCH / (p50_ms / 1000.0), "events/s")
    report("bus.publish.100_subs.deliveries_per_event", per_event, "deliveries")
    report(
        "bus.publish.100_subs.delivery_rate",
        BATCH * per_event / (p50_ms / 1000.0),
        "deliveries/s",
    )
    bus.close()


if __name__ == "__main__":
    main()
