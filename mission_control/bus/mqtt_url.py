"""The MQTT client's pure parts: settings (URL, credentials, TLS, knobs) and the outbox.

Settings are values validated when built, so a bad ``MC_MQTT_URL`` fails at start-up with
the field and the reason instead of as a reconnect loop that never succeeds. The
:class:`Outbox` is the outgoing queue's policy as a plain state machine (no I/O, no
asyncio). The client that uses them is :mod:`mission_control.bus.mqtt`.

URLs: ``mqtt://[user[:password]@]host[:port]`` (plain TCP, default port 1883) or
``mqtts://…`` (TLS, default port 8883). User and password are percent-decoded, so a
password containing ``@`` or ``:`` is written ``%40`` / ``%3A``.
"""

from __future__ import annotations

import re
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Literal, NamedTuple
from urllib.parse import unquote, urlsplit

from mission_control.bus.memory import BusError, TopicError, validate_pattern, validate_topic

Protocol = Literal["auto", "5", "3.1.1"]
PROTOCOLS: tuple[Protocol, ...] = ("auto", "5", "3.1.1")
_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")  # the password in scheme://user:password@host
_SESSION_EXPIRY_MAX_S = 0xFFFF_FFFF  # MQTT 5: a four-byte integer (this value: never expires)


class MqttConfigError(BusError, ValueError):
    """An MQTT setting is invalid.

    Attributes:
        field: the offending setting (``"scheme"``, ``"host"``, ``"port"`` for URL parts,
            else the :class:`MqttSettings` field name).
        reason: what is wrong with it.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"MQTT {field}: {reason}")


class MqttAddress(NamedTuple):
    """Where the broker is and how to reach it, as parsed from a URL."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_mqtt_url(url: str) -> MqttAddress:
    """Split an ``mqtt://`` or ``mqtts://`` URL into host, port, TLS flag and credentials.

    Raises:
        MqttConfigError: ``field`` is ``"scheme"`` (not mqtt/mqtts), ``"host"`` (missing),
            ``"port"`` (not an integer in 1..65535) or ``"url"`` (a path, query or fragment,
            which MQTT has no use for).
    """
    shown = redact_url(url)  # error messages may be logged: no password in them
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
        raise MqttConfigError("url", f"{shown!r} is not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise MqttConfigError(
            "scheme", f"{parts.scheme or '(none)'!r} in {shown!r}: use mqtt:// or mqtts://"
        )
    if not parts.hostname:
        raise MqttConfigError("host", f"missing in {shown!r}")
    try:
        port = parts.port
    except ValueError:
        raw = parts.netloc.rpartition(":")[2]
        raise MqttConfigError(
            "port", f"{raw!r} in {shown!r} is not an integer in 1..65535"
        ) from None
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    elif port == 0:
        raise MqttConfigError("port", f"0 in {shown!r} is not an integer in 1..65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise MqttConfigError("url", f"{shown!r} has a path, query or fragment; MQTT uses none")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return MqttAddress(parts.hostname, port, scheme == "mqtts", username or None, password)


def redact_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", url)


@dataclass(frozen=True, slots=True)
class Will:
    """The last will: published by the broker if the connection is lost uncleanly."""

    topic: str
    payload: bytes
    qos: Literal[0, 1, 2] = 0
    retain: bool = False

    def __post_init__(self) -> None:
        try:
            validate_topic(self.topic)
        except TopicError as exc:
            raise MqttConfigError("will", str(exc)) from None
        if self.qos not in (0, 1, 2):
            raise MqttConfigError("will", f"qos {self.qos!r} is not 0, 1 or 2")


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach the broker and how hard to try; see :class:`~.mqtt.MqttClient`.

    Raises:
        MqttConfigError: any field is invalid (``field`` names it; URL problems name the
            URL part).
    """

    url: str
    client_id: str  # stable across restarts: the broker keeps the session under it
    username: str | None = None  # overrides the URL's user
    password: str | None = None  # overrides the URL's password
    protocol: Protocol = "auto"  # auto: MQTT 5, or 3.1.1 when the broker refuses 5
    session_expiry_s: int = 86400  # MQTT 5 session expiry; 3.1.1 uses clean_session=False
    keepalive_s: int = 30
    tls_ca_file: str | None = None  # mqtts: CA bundle (default: the system's CAs)
    tls_insecure: bool = False  # mqtts: skip hostname verification (test brokers)
    max_inflight: int = 20  # QoS 1 publishes awaiting PUBACK at once
    queue_size: int = 10_000  # outgoing messages buffered while disconnected or busy
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 10.0
    connect_timeout_s: float = 10.0  # TCP connect, then CONNACK, then SUBACK, each
    will: Will | None = None

    def __repr__(self) -> str:  # without passwords: settings get logged
        password = None if self.password is None else "***"
        return (
            f"MqttSettings(url={redact_url(self.url)!r}, client_id={self.client_id!r}, "
            f"username={self.username!r}, password={password!r}, protocol={self.protocol!r})"
        )

    def __post_init__(self) -> None:
        address = parse_mqtt_url(self.url)
        if not self.client_id or "\0" in self.client_id:
            raise MqttConfigError("client_id", "must be a non-empty string without NUL")
        if len(self.client_id.encode()) > 0xFFFF:
            raise MqttConfigError("client_id", "longer than 65535 bytes")
        if self.protocol not in PROTOCOLS:
            raise MqttConfigError("protocol", f"{self.protocol!r} is not one of {PROTOCOLS}")
        _check_int("session_expiry_s", self.session_expiry_s, 0, _SESSION_EXPIRY_MAX_S)
        _check_int("keepalive_s", self.keepalive_s, 1, 0xFFFF)
        _check_int("max_inflight", self.max_inflight, 1, 0xFFFF)
        _check_int("queue_size", self.queue_size, 1, None)
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise MqttConfigError(
                "reconnect_min_s",
                f"need 0 < reconnect_min_s ({self.reconnect_min_s}) <= reconnect_max_s "
                f"({self.reconnect_max_s})",
            )
        if not self.connect_timeout_s > 0:
            raise MqttConfigError("connect_timeout_s", f"{self.connect_timeout_s!r} must be > 0")
        if (self.tls_ca_file is not None or self.tls_insecure) and not address.tls:
            raise MqttConfigError("tls_ca_file", "TLS options need an mqtts:// URL")


def _check_int(field: str, value: int, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise MqttConfigError(field, f"{value!r} must be an int >= {low}")
    if high is not None and value > high:
        raise MqttConfigError(field, f"{value!r} must be <= {high}")


def pattern_for_matching(pattern: str) -> str:
    """The topic filter part of a subscription pattern (``$share/group/f`` gives ``f``).

    Raises:
        TopicError: the pattern, or its filter part, is malformed.
    """
    if pattern.startswith("$share/"):
        parts = pattern.split("/", 2)
        if len(parts) < 3 or not parts[1] or "+" in parts[1] or "#" in parts[1]:
            raise TopicError(pattern, "a shared subscription is $share/GROUP/FILTER", pattern=True)
        pattern = parts[2]
    validate_pattern(pattern)
    return pattern


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the handshake fails: paho drops such a socket without closing
    it (a ResourceWarning per failed attempt, an error under ``-W error``)."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """The TLS context for an ``mqtts://`` broker: the CA file's or the system's CAs.

    Raises:
        MqttConfigError: the CA file cannot be read or parsed.
    """
    try:
        context = ssl.create_default_context(cafile=settings.tls_ca_file)
    except OSError as exc:  # includes ssl.SSLError
        raise MqttConfigError("tls_ca_file", f"{settings.tls_ca_file!r}: {exc}") from None
    context.sslsocket_class = _ClosingSSLSocket
    if settings.tls_insecure:
        context.check_hostname = False
    return context


@dataclass(slots=True)
class Outgoing:
    """A message to publish; ``seq`` is its place in publish order."""

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """Outgoing messages in publish order, bounded, with two send windows.

    At most ``size`` messages are held, counting QoS 1 ones awaiting PUBACK. When full, a
    new message pushes out the oldest waiting QoS 0 message, else the oldest waiting QoS 1
    one. :meth:`take` keeps publish order and holds back when ``max_inflight`` QoS 1
    messages await PUBACK or ``qos0_window`` QoS 0 ones are not yet written. Message ids
    (``mid``) are those of the current connection; :meth:`connection_lost` forgets them.
    """

    def __init__(self, size: int, max_inflight: int, qos0_window: int) -> None:
        self._size, self._max_inflight, self._qos0_window = size, max_inflight, qos0_window
        self._q0: deque[Outgoing] = deque()
        self._q1: deque[Outgoing] = deque()
        self._inflight: dict[int, Outgoing] = {}  # QoS 1 by mid, awaiting PUBACK
        self._unwritten = 0
        self._seq = 0
        self.dropped = 0

    def __len__(self) -> int:
        """Messages held: waiting, or QoS 1 awaiting PUBACK."""
        return len(self._q0) + len(self._q1) + len(self._inflight)

    def put(self, topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        """Add a message; False if it was dropped at once (full of messages in flight)."""
        if len(self) >= self._size:
            self.dropped += 1
            if not (self._q0 or self._q1):
                return False
            (self._q0 or self._q1).popleft()
        self._seq += 1
        (self._q1 if qos else self._q0).append(Outgoing(self._seq, topic, payload, qos, retain))
        return True

    def take(self) -> Outgoing | None:
        """The next message to send, or None (nothing waiting, or its window is full)."""
        q0, q1 = self._q0, self._q1
        if q1 and (not q0 or q1[0].seq < q0[0].seq):
            return q1.popleft() if len(self._inflight) < self._max_inflight else None
        if q0 and self._unwritten < self._qos0_window:
            return q0.popleft()
        return None

    def put_back(self, message: Outgoing) -> None:
        """Return a taken message that could not be handed over; it goes first again."""
        (self._q1 if message.qos else self._q0).appendleft(message)

    def sent(self, message: Outgoing, mid: int) -> None:
        """A taken message was handed to the connection under ``mid``."""
        if message.qos:
            self._inflight[mid] = message
        else:
            self._unwritten += 1

    def confirmed(self, mid: int) -> Outgoing | None:
        """PUBACK for ``mid`` (the QoS 1 message returned), or a QoS 0 one written (None)."""
        message = self._inflight.pop(mid, None)
        if message is None:
            self._unwritten = max(0, self._unwritten - 1)
        return message

    def connection_lost(self) -> None:
        """Unconfirmed QoS 1 messages wait again, in order, ahead of later ones; waiting
        QoS 0 messages are dropped (at most once: not worth delivering late)."""
        if self._inflight:
            unconfirmed = [*self._inflight.values(), *self._q1]
            self._q1 = deque(sorted(unconfirmed, key=lambda m: m.seq))
            self._inflight.clear()
        self.dropped += len(self._q0)
        self._q0.clear()
        self._unwritten = 0
