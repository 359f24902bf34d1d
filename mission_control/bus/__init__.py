"""The event bus: in-process by default (:mod:`.memory`); MQTT joins with a later issue.

Import from here (``from mission_control.bus import EventBus``) so the backing can change
without touching publishers and subscribers.
"""

from mission_control.bus.memory import (
    BusError,
    EventBus,
    Message,
    Policy,
    Subscription,
    SubscriptionError,
    TopicError,
    topic_matches,
    validate_pattern,
    validate_topic,
)

__all__ = [
    "BusError",
    "EventBus",
    "Message",
    "Policy",
    "Subscription",
    "SubscriptionError",
    "TopicError",
    "topic_matches",
    "validate_pattern",
    "validate_topic",
]
