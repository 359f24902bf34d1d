"""The in-process event bus: topics with MQTT wildcards, bounded per-subscriber queues.

Producers call :meth:`EventBus.publish` from plain (synchronous) code on the event loop's
thread: it never blocks and never awaits. Each subscriber has its own bounded buffer with a
policy for when it is full, so a slow or dead consumer never holds up the others and never
grows memory (ARCHITECTURE invariant 5):

- ``"drop_oldest"``: a FIFO of at most ``maxsize`` messages; when full, the oldest goes.
- ``"latest_per_topic"``: at most one pending message per topic, the newest (telemetry is
  latest-wins), delivered in the order the topics first became pending; at most ``maxsize``
  topics pending, the oldest dropped when a new topic arrives to a full buffer.

Topics are ``/``-separated levels (``vehicles/1/telemetry/position``). Subscription
patterns use MQTT's wildcards: ``+`` is exactly one level, ``#`` (last level only) is any
number of levels including none, so ``vehicles/#`` also matches ``vehicles``. As in MQTT,
a pattern starting with a wildcard does not match a topic starting with ``$``. The MQTT
bridge (a later issue) keeps this interface.

The bus is not thread-safe; from another thread, publish via ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from types import TracebackType
from typing import Generic, Literal, NamedTuple, Self, TypeVar

from mission_control.errors import MissionControlError

E = TypeVar("E")

Policy = Literal["drop_oldest", "latest_per_topic"]
POLICIES: tuple[Policy, ...] = ("drop_oldest", "latest_per_topic")

_new_tuple = tuple.__new__
_ROUTE_CACHE_SIZE = 4096  # topics whose subscriber lists are remembered (cleared when full)


class BusError(MissionControlError):
    """Root of the event bus's errors."""


class TopicError(BusError, ValueError):
    """A topic or subscription pattern is malformed.

    Attributes:
        topic: the offending topic or pattern, as given.
        reason: what is wrong with it.
    """

    def __init__(self, topic: str, reason: str, *, pattern: bool) -> None:
        self.topic = topic
        self.reason = reason
        kind = "topic pattern" if pattern else "topic"
        super().__init__(f"invalid {kind} {topic!r}: {reason}")


class SubscriptionError(BusError, ValueError):
    """A subscription's size or policy is invalid.

    Attributes:
        field: ``"maxsize"`` or ``"policy"``.
        reason: why.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def validate_pattern(pattern: str) -> tuple[str, ...]:
    """Check a subscription pattern; return its levels.

    Raises:
        TopicError: the pattern is empty, contains NUL, has ``#`` other than as the whole
            last level, or ``+`` other than as a whole level.
    """
    if not pattern:
        raise TopicError(pattern, "empty", pattern=True)
    if "\0" in pattern:
        raise TopicError(pattern, "contains NUL", pattern=True)
    levels = tuple(pattern.split("/"))
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise TopicError(pattern, "'#' is allowed only as the whole last level", pattern=True)
        if "+" in level and level != "+":
            raise TopicError(pattern, f"'+' must be a whole level, not {level!r}", pattern=True)
    return levels


def validate_topic(topic: str) -> None:
    """Check a topic that events are published to.

    Raises:
        TopicError: the topic is empty, or contains a wildcard (``+``, ``#``) or NUL.
    """
    if not topic:
        raise TopicError(topic, "empty", pattern=False)
    for bad in ("+", "#", "\0"):
        if bad in topic:
            shown = "NUL" if bad == "\0" else repr(bad)
            raise TopicError(topic, f"contains {shown} (wildcards are for patterns)", pattern=False)


def _levels_match(pattern: tuple[str, ...], topic: list[str]) -> bool:
    if topic[0].startswith("$") and pattern[0] in ("+", "#"):
        return False
    for i, want in enumerate(pattern):
        if want == "#":
            return True
        if i >= len(topic) or (want != "+" and want != topic[i]):
            return False
    return len(pattern) == len(topic)


def topic_matches(pattern: str, topic: str) -> bool:
    """Whether ``topic`` matches the MQTT subscription ``pattern``.

    Raises:
        TopicError: the pattern or the topic is malformed.
    """
    levels = validate_pattern(pattern)
    validate_topic(topic)
    return _levels_match(levels, topic.split("/"))


class Message(NamedTuple, Generic[E]):
    """One delivered event and the topic it was published to (unpacks as a pair)."""

    topic: str
    event: E


class Subscription(Generic[E]):
    """One consumer's bounded view of the bus; made by :meth:`EventBus.subscribe`.

    Iterate it (``async for topic, event in sub``) from one task; use it as an async context
    manager so it unsubscribes on exit. Iteration ends when the subscription is closed
    (pending messages are discarded) or the bus is closed (pending messages are delivered
    first).
    """

    __slots__ = (
        "_bus",
        "_dropped",
        "_ended",
        "_fifo",
        "_latest",
        "_maxsize",
        "_pattern",
        "_policy",
        "_waiter",
    )

    def __init__(self, bus: EventBus[E], pattern: str, maxsize: int, policy: Policy) -> None:
        self._bus: EventBus[E] | None = bus
        self._pattern = pattern
        self._maxsize = maxsize
        self._policy: Policy = policy
        self._dropped = 0
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        # Exactly one of the two buffers is used, chosen by the policy.
        self._fifo: deque[Message[E]] = deque(maxlen=maxsize)
        self._latest: OrderedDict[str, Message[E]] | None = (
            OrderedDict() if policy == "latest_per_topic" else None
        )

    @property
    def pattern(self) -> str:
        return self._pattern

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @property
    def dropped(self) -> int:
        """Messages discarded so far because the buffer was full or superseded."""
        return self._dropped

    @property
    def pending(self) -> int:
        """Messages waiting to be consumed."""
        return len(self._latest) if self._latest is not None else len(self._fifo)

    @property
    def closed(self) -> bool:
        """True once closed by the consumer or by the bus (pending may still drain)."""
        return self._ended

    def get_nowait(self) -> Message[E]:
        """The next pending message, without waiting.

        Raises:
            asyncio.QueueEmpty: nothing is pending.
        """
        if self._latest is not None:
            if self._latest:
                return self._latest.popitem(last=False)[1]
        elif self._fifo:
            return self._fifo.popleft()
        raise asyncio.QueueEmpty

    def close(self) -> None:
        """Unsubscribe and discard pending messages; iteration ends. Idempotent."""
        if self._bus is not None:
            self._bus._unsubscribe(self)
            self._bus = None
        self._fifo.clear()
        if self._latest is not None:
            self._latest.clear()
        self._end()

    async def aclose(self) -> None:
        """Same as :meth:`close` (for ``contextlib.aclosing`` and symmetry)."""
        self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message[E]:
        while True:
            try:
                return self.get_nowait()
            except asyncio.QueueEmpty:
                if self._ended:
                    raise StopAsyncIteration from None
            waiter = self._waiter
            if waiter is None or waiter.done():
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _deliver(self, message: Message[E]) -> None:
        latest = self._latest
        if latest is not None:
            if message.topic in latest:
                self._dropped += 1  # superseded; keeps the topic's place in the order
            elif len(latest) >= self._maxsize:
                latest.popitem(last=False)
                self._dropped += 1
            latest[message.topic] = message
        else:
            if len(self._fifo) == self._maxsize:
                self._dropped += 1  # the deque's maxlen pushes out the oldest
            self._fifo.append(message)
        waiter = self._waiter  # _wake() inlined: this is the per-subscriber hot path
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end(self) -> None:
        """Mark ended (no more messages will come) and wake the consumer."""
        self._ended = True
        self._bus = None
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __repr__(self) -> str:
        return (
            f"Subscription({self._pattern!r}, policy={self._policy}, "
            f"pending={self.pending}, dropped={self._dropped})"
        )


class EventBus(Generic[E]):
    """Publish events to topics; subscribers get them through bounded buffers.

    Routing: a dict of exact-topic subscriptions and a dict of wildcard patterns (each
    matched once per topic, however many subscribe to it); the resulting subscriber list
    is cached per topic until the next subscribe or unsubscribe, so a publish is usually one
    dict lookup plus one append per subscriber.

    An async context manager: leaving it closes the bus.
    """

    def __init__(self) -> None:
        self._exact: dict[str, list[Subscription[E]]] = {}
        self._wild: dict[tuple[str, ...], list[Subscription[E]]] = {}
        self._routes: dict[str, tuple[Subscription[E], ...]] = {}
        self._count = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def subscriber_count(self) -> int:
        return self._count

    def publish(self, topic: str, event: E) -> None:
        """Hand ``event`` to every subscription whose pattern matches ``topic``.

        Never blocks or awaits; a full subscriber buffer loses a message by its policy.
        Publishing to a closed bus does nothing.

        Raises:
            TopicError: the topic is empty or contains a wildcard or NUL.
        """
        subs = self._routes.get(topic)
        if subs is None:
            validate_topic(topic)
            subs = self._route(topic)
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[topic] = subs
        if subs:
            # tuple.__new__ skips NamedTuple's Python-level __new__: a third of a 1-sub publish
            message: Message[E] = _new_tuple(Message, (topic, event))
            for sub in subs:
                sub._deliver(message)

    def subscribe(
        self, pattern: str, *, maxsize: int = 256, policy: Policy = "drop_oldest"
    ) -> Subscription[E]:
        """Subscribe to the topics matching ``pattern`` (MQTT wildcards ``+`` and ``#``).

        Args:
            pattern: e.g. ``vehicles/+/telemetry/#``.
            maxsize: most messages (``drop_oldest``) or topics (``latest_per_topic``)
                held for this subscriber.
            policy: what a full buffer gives up; see the module docstring.

        Returns:
            The subscription; on a closed bus it is already closed (iteration ends at once).

        Raises:
            TopicError: the pattern is malformed.
            SubscriptionError: ``maxsize < 1`` or an unknown policy.
        """
        levels = validate_pattern(pattern)
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise SubscriptionError("maxsize", f"{maxsize!r} must be an int >= 1")
        if policy not in POLICIES:
            raise SubscriptionError("policy", f"{policy!r} is not one of {POLICIES}")
        sub = Subscription(self, pattern, maxsize, policy)
        if self._closed:
            sub._end()
            return sub
        if "+" in levels or "#" in levels:
            self._wild.setdefault(levels, []).append(sub)
        else:
            self._exact.setdefault(pattern, []).append(sub)
        self._count += 1
        self._routes.clear()
        return sub

    def close(self) -> None:
        """End every subscription (after its pending messages); later publishes do nothing."""
        self._closed = True
        subs = [s for group in (*self._exact.values(), *self._wild.values()) for s in group]
        self._exact.clear()
        self._wild.clear()
        self._routes.clear()
        self._count = 0
        for sub in subs:
            sub._end()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _route(self, topic: str) -> tuple[Subscription[E], ...]:
        if self._closed:
            return ()
        subs = list(self._exact.get(topic, ()))
        if self._wild:
            levels = topic.split("/")
            for pattern, group in self._wild.items():
                if _levels_match(pattern, levels):
                    subs.extend(group)
        return tuple(subs)

    def _unsubscribe(self, sub: Subscription[E]) -> None:
        levels = tuple(sub.pattern.split("/"))
        wild = "+" in levels or "#" in levels
        group = self._wild.get(levels) if wild else self._exact.get(sub.pattern)
        if group is None or sub not in group:
            return
        group.remove(sub)
        if not group:
            if wild:
                del self._wild[levels]
            else:
                del self._exact[sub.pattern]
        self._count -= 1
        self._routes.clear()
