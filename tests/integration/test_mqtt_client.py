"""The MQTT client against real Mosquitto processes: sessions, acks, reconnects, queues.

The other party in each test is a plain aiomqtt client (an independent implementation),
and a small TCP relay stands in for a 3.1.1-only broker or a cut network where needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

import aiomqtt
import pytest
from mqtt_broker import Broker

from mission_control.bus.mqtt import (
    Incoming,
    MqttClient,
    MqttConfigError,
    MqttSettings,
    Will,
    parse_mqtt_url,
)

pytestmark = pytest.mark.integration

FAST = {"reconnect_min_s": 0.05, "reconnect_max_s": 0.2, "connect_timeout_s": 3.0}


def settings(url: str, client_id: str | None = None, **overrides: Any) -> MqttSettings:
    values = {**FAST, **overrides}
    return MqttSettings(url=url, client_id=client_id or f"t-{uuid.uuid4().hex[:12]}", **values)


class Inbox:
    """A handler that records messages and lets the test wait for them."""

    def __init__(self) -> None:
        self.messages: list[Incoming] = []
        self._changed = asyncio.Event()

    async def __call__(self, message: Incoming) -> None:
        self.messages.append(message)
        self._changed.set()

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Incoming]:
        async with asyncio.timeout(timeout_s):
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.messages

    @property
    def payloads(self) -> list[bytes]:
        return [m.payload for m in self.messages]


async def publish_from_other_client(port: int, *messages: tuple[str, bytes, int, bool]) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"other-{uuid.uuid4().hex[:8]}") as c:
        for topic, payload, qos, retain in messages:
            await c.publish(topic, payload, qos=qos, retain=retain)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 (polling a plain attribute)
            await asyncio.sleep(0.01)


class Relay:
    """A TCP relay to a broker that can cut its connections and refuse MQTT 5 CONNECTs
    the way a 3.1.1-only broker does (CONNACK return code 1, then close)."""

    def __init__(self, upstream_port: int, *, refuse_v5: bool = False) -> None:
        self.upstream_port = upstream_port
        self.refuse_v5 = refuse_v5
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._every: list[asyncio.StreamWriter] = []  # every connection ever relayed

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._closing = True
        self._server.close()
        self.cut()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        for writer in self._every:  # including those whose pipe was cancelled or cut
            writer.transport.abort()
        self._every.clear()

    def cut(self) -> None:
        """Abort every relayed connection (RST, no DISCONNECT): a network failure."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self._every.append(writer)
        try:
            head = await reader.readexactly(1)
            while (byte := await reader.readexactly(1))[0] & 0x80:  # remaining length
                head += byte
            head += byte + await reader.readexactly(7)  # name length, "MQTT", level
            if self.refuse_v5 and head[-1] == 5:
                writer.write(b"\x20\x02\x00\x01")  # CONNACK: unacceptable protocol version
                await writer.drain()
                writer.close()
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except (OSError, asyncio.IncompleteReadError):
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        self._every.append(up_writer)
        if self._closing:
            self.cut()
            return
        up_writer.write(head)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.transport.abort()


@contextlib.asynccontextmanager
async def running(client: MqttClient, timeout_s: float = 5.0) -> AsyncIterator[MqttClient]:
    async with client:
        await client.wait_connected(timeout_s)
        yield client


# -- round trips and routing ----------------------------------------------------------------


async def test_round_trip_qos0_qos1_and_retained(broker: Broker) -> None:
    """Own and others' QoS 0/1 messages arrive with their QoS; a retained one comes on subscribe."""
    await publish_from_other_client(broker.port, ("rt/retained", b"kept", 1, True))
    inbox = Inbox()
    client = MqttClient(settings(broker.url))
    client.on("rt/#", inbox, qos=1)
    async with running(client):
        retained = (await inbox.wait_for(1))[0]
        assert (retained.topic, retained.payload, retained.retain) == ("rt/retained", b"kept", True)
        assert client.publish("rt/q0", b"zero", qos=0)
        assert client.publish("rt/q1", b"one", qos=1)
        await publish_from_other_client(broker.port, ("rt/other", b"theirs", 1, False))
        got = {m.topic: m for m in await inbox.wait_for(4)}
        assert (got["rt/q0"].payload, got["rt/q0"].qos) == (b"zero", 0)
        assert (got["rt/q1"].payload, got["rt/q1"].qos, got["rt/q1"].retain) == (b"one", 1, False)
        assert got["rt/other"].payload == b"theirs"
        await until(lambda: client.stats["published"] == 2)
        assert client.stats["received"] == 4
        assert client.stats["queued"] == 0


async def test_wildcard_routing_picks_the_first_matching_pattern(broker: Broker) -> None:
    """Each message goes to the handler of the first registered pattern that matches it."""
    special, telemetry, incidents, shared, rest = Inbox(), Inbox(), Inbox(), Inbox(), Inbox()
    client = MqttClient(settings(broker.url))
    client.on("w/special", special, qos=1)
    client.on("w/+/telemetry", telemetry)
    client.on("w/incidents/#", incidents, qos=1)
    client.on("$share/workers/w/jobs/+", shared, qos=1)
    client.on("w/#", rest, qos=1)
    async with running(client):
        await publish_from_other_client(
            broker.port,
            ("w/7/telemetry", b"t", 0, False),
            ("w/incidents", b"i0", 1, False),
            ("w/incidents/new", b"i1", 1, False),
            ("w/jobs/1", b"j", 1, False),
            ("w/special", b"s", 1, False),
            ("w/other", b"o", 1, False),
        )
        await telemetry.wait_for(1)
        await incidents.wait_for(2)
        await shared.wait_for(1)
        await special.wait_for(1)
        # w/special, w/7/telemetry, w/jobs/1 ... also match w/#: Mosquitto sends a copy per
        # matching subscription, and each copy goes to the first matching handler.
        await until(lambda: b"o" in rest.payloads)
        await asyncio.sleep(0.2)
    assert set(special.payloads) == {b"s"}
    assert set(telemetry.payloads) == {b"t"}
    assert set(incidents.payloads) == {b"i0", b"i1"}
    assert set(shared.payloads) == {b"j"}
    assert rest.payloads == [b"o"]


async def test_handler_exception_is_logged_and_later_messages_still_arrive(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = Inbox()

    async def handler(message: Incoming) -> None:
        if message.payload == b"bad":
            raise ValueError("cannot parse")
        await inbox(message)

    client = MqttClient(settings(broker.url))
    client.on("h/#", handler, qos=1)
    with caplog.at_level(logging.ERROR, logger="mission_control.bus.mqtt"):
        async with running(client):
            await publish_from_other_client(
                broker.port, ("h/1", b"bad", 1, False), ("h/2", b"good", 1, False)
            )
            assert (await inbox.wait_for(1))[0].payload == b"good"
            assert client.connected
            assert client.stats["handler_errors"] == 1
    assert "'h/1'" in caplog.text
    assert "cannot parse" in caplog.text


# -- sessions, acknowledgements, reconnects ------------------------------------------------


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_persistent_session_keeps_messages_published_while_away(
    broker: Broker, protocol: str
) -> None:
    """QoS 1 messages published while the client is stopped arrive when it returns."""
    config = settings(broker.url, protocol=protocol)
    first = MqttClient(config)
    first.on("p/#", Inbox(), qos=1)
    async with running(first):
        pass
    await publish_from_other_client(
        broker.port, *((f"p/{i}", str(i).encode(), 1, False) for i in range(3))
    )
    inbox = Inbox()
    again = MqttClient(config)
    again.on("p/#", inbox, qos=1)
    sessions: list[bool] = []
    again.on_connect(sessions.append)
    async with running(again):
        assert [m.payload for m in await inbox.wait_for(3)] == [b"0", b"1", b"2"]
        assert again.protocol == protocol
    assert sessions == [True]


async def test_unacknowledged_message_is_redelivered_to_the_same_client_id(
    broker: Broker,
) -> None:
    """No PUBACK until the handler completes: a client torn down mid-handler gets it again;
    a message whose handler returned or raised is acknowledged and not redelivered."""
    config = settings(broker.url)
    started = asyncio.Event()

    async def never_finishes(message: Incoming) -> None:
        started.set()
        await asyncio.Event().wait()

    subscribed = asyncio.Event()

    async def run_until_cancelled() -> None:
        client = MqttClient(config)
        client.on("a/#", never_finishes, qos=1)
        async with running(client):
            subscribed.set()
            await asyncio.Event().wait()

    first = asyncio.create_task(run_until_cancelled())
    async with asyncio.timeout(5):
        await subscribed.wait()
    await publish_from_other_client(broker.port, ("a/1", b"first", 1, False))
    async with asyncio.timeout(5):
        await started.wait()
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first

    seen = Inbox()

    async def raises_on_first(message: Incoming) -> None:
        await seen(message)
        if message.payload == b"first":
            raise RuntimeError("handler failed")

    second = MqttClient(config)
    second.on("a/#", raises_on_first, qos=1)
    async with running(second):
        await publish_from_other_client(broker.port, ("a/2", b"second", 1, False))
        assert [m.payload for m in await seen.wait_for(2)] == [b"first", b"second"]
    assert second.stats["handler_errors"] == 1

    third_inbox = Inbox()
    third = MqttClient(config)
    third.on("a/#", third_inbox, qos=1)
    async with running(third):
        await asyncio.sleep(0.5)
    assert third_inbox.messages == []


async def test_reconnects_after_broker_sigkill_and_gets_what_was_published_meanwhile(
    broker: Broker,
) -> None:
    """Broker killed and restarted: the session survives (autosave), the client reconnects
    by itself, re-subscribes, and gets QoS 1 messages published before it was back."""
    inbox = Inbox()
    # first retry 1-2 s after the loss: the test publishes well before it
    client = MqttClient(settings(broker.url, reconnect_min_s=2.0, reconnect_max_s=2.0))
    client.on("k/#", inbox, qos=1)
    async with running(client):
        await asyncio.to_thread(broker.wait_saved)  # the session survives SIGKILL
        broker.stop(kill=True)
        await until(lambda: not client.connected)
        broker.start()
        await publish_from_other_client(broker.port, ("k/meanwhile", b"m", 1, False))
        assert not client.connected
        assert client.stats["reconnects"] == 0
        await client.wait_connected(5)
        assert (await inbox.wait_for(1))[0].payload == b"m"
        assert client.stats["reconnects"] == 1
        await publish_from_other_client(broker.port, ("k/after", b"a", 0, False))
        assert [m.payload for m in await inbox.wait_for(2)] == [b"m", b"a"]


async def test_qos1_published_while_disconnected_is_sent_after_reconnect(broker: Broker) -> None:
    inbox = Inbox()
    client = MqttClient(settings(broker.url))
    client.on("d/#", inbox, qos=1)
    async with running(client):
        broker.stop()
        await until(lambda: not client.connected)
        assert [client.publish(f"d/{i}", str(i).encode(), qos=1) for i in range(3)] == [True] * 3
        assert client.publish("d/lost", b"q0", qos=0) is False
        assert client.stats["queued"] == 3
        assert client.stats["dropped"] == 1
        broker.start()
        assert [m.payload for m in await inbox.wait_for(3)] == [b"0", b"1", b"2"]
        await until(lambda: client.stats["queued"] == 0)
        assert client.stats["published"] == 3


# -- protocols, URLs, queues, start-up -------------------------------------------------------


async def test_protocol_forced_311_works_and_auto_picks_5_with_mosquitto(broker: Broker) -> None:
    for wanted, expected in (("3.1.1", "3.1.1"), ("auto", "5")):
        inbox = Inbox()
        client = MqttClient(settings(broker.url, protocol=wanted))
        client.on("v/#", inbox, qos=1)
        before = client.protocol
        assert before is None
        async with running(client):
            assert client.protocol == expected
            client.publish("v/x", b"x", qos=1)
            await inbox.wait_for(1)


async def test_auto_falls_back_to_311_when_the_broker_refuses_5(broker: Broker) -> None:
    async with Relay(broker.port, refuse_v5=True) as relay:
        inbox = Inbox()
        client = MqttClient(settings(f"mqtt://127.0.0.1:{relay.port}"))
        client.on("f/#", inbox, qos=1)
        async with running(client):
            assert client.protocol == "3.1.1"
            client.publish("f/x", b"x", qos=1)
            await inbox.wait_for(1)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("http://broker:1883", "scheme"),
        ("broker:1883", "scheme"),
        ("mqtt://", "host"),
        ("mqtt://:1883", "host"),
        ("mqtt://broker:0", "port"),
        ("mqtt://broker:70000", "port"),
        ("mqtt://broker:abc", "port"),
        ("mqtt://broker/topic", "url"),
    ],
)
def test_bad_urls_name_the_field(url: str, field: str) -> None:
    with pytest.raises(MqttConfigError) as caught:
        MqttSettings(url=url, client_id="x")
    assert caught.value.field == field
    assert field in str(caught.value)


def test_errors_and_repr_do_not_show_the_password() -> None:
    with pytest.raises(MqttConfigError) as caught:
        MqttSettings(url="mqtt://user:s3cret@broker:abc", client_id="x")
    assert "s3cret" not in str(caught.value)
    config = MqttSettings(url="mqtt://user:s3cret@broker", client_id="x", password="other")
    assert "s3cret" not in repr(config)
    assert "other" not in repr(config)


def test_urls_give_defaults_and_decoded_credentials() -> None:
    assert parse_mqtt_url("mqtt://h") == ("h", 1883, False, None, None)
    assert parse_mqtt_url("mqtts://u%40x:p%3Aw@h:1") == ("h", 1, True, "u@x", "p:w")
    assert parse_mqtt_url("MQTTS://[::1]") == ("::1", 8883, True, None, None)


async def test_full_queue_drops_oldest_qos0_first_then_oldest_qos1(broker: Broker) -> None:
    inbox = Inbox()
    client = MqttClient(settings(broker.url, queue_size=4))
    client.on("b/#", inbox, qos=1)
    async with running(client):
        # no await in between: the publisher cannot drain the queue meanwhile
        cases: list[tuple[str, Literal[0, 1]]] = [("a", 1), ("b", 0), ("c", 1), ("d", 0)]
        for name, qos in [*cases, ("e", 1), ("f", 1), ("g", 1)]:
            assert client.publish(f"b/{name}", name.encode(), qos=qos)
        assert client.stats["dropped"] == 3  # b, d (QoS 0 first), then a
        assert client.stats["queued"] == 4
        got = await inbox.wait_for(4)
        await asyncio.sleep(0.2)
    assert [m.payload for m in got] == [b"c", b"e", b"f", b"g"]


async def test_starts_while_broker_is_down_and_connects_when_it_appears(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "late")
    try:
        inbox = Inbox()
        client = MqttClient(settings(broker.url))
        client.on("s/#", inbox, qos=1)
        async with client:
            with pytest.raises(TimeoutError, match=rf"not connected to 127\.0\.0\.1:{broker.port}"):
                await client.wait_connected(0.3)
            assert not client.connected
            broker.start()
            await client.wait_connected(5)
            client.publish("s/x", b"x", qos=1)
            await inbox.wait_for(1)
    finally:
        broker.close()


@pytest.mark.parametrize("answer", ["never", "close"])
async def test_a_broker_that_never_answers_or_hangs_up_does_not_stall_the_client(
    answer: str,
) -> None:
    """A socket closed before CONNACK is retried at once (not after connect_timeout_s), and
    leaving while the CONNACK wait hangs is prompt."""
    accepted: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        if answer == "close":
            writer.transport.abort()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = MqttClient(settings(f"mqtt://127.0.0.1:{port}", connect_timeout_s=10.0))
    loop = asyncio.get_running_loop()
    async with server, client:
        await asyncio.sleep(1.0)
        left_at = loop.time()
    assert loop.time() - left_at < 1.0
    assert not client.connected
    assert len(accepted) >= (3 if answer == "close" else 1)
    for writer in accepted:
        writer.transport.abort()


async def test_clean_exit_sends_no_will_but_a_cut_connection_does(broker: Broker) -> None:
    observed = Inbox()
    observer = MqttClient(settings(broker.url))
    observer.on("will/#", observed, qos=1)
    will = Will("will/gone", b"offline", qos=1)
    async with running(observer), Relay(broker.port) as relay:
        url = f"mqtt://127.0.0.1:{relay.port}"
        async with running(MqttClient(settings(url, will=will))):
            pass
        await asyncio.sleep(0.3)
        assert observed.messages == []
        cut = MqttClient(settings(url, will=will, reconnect_min_s=0.5, reconnect_max_s=0.5))
        async with running(cut):
            relay.cut()
            assert (await observed.wait_for(1))[0].payload == b"offline"
            await cut.wait_connected(5)  # and it comes back through the relay


def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "openssl"], capture_output=True)
    if shutil.which("openssl") is None:  # a missing tool is a set-up failure, not a skip
        pytest.fail("openssl is needed to make a test certificate: apt-get install openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_mqtts_verifies_the_broker_with_a_ca_file(tmp_path: Path) -> None:
    """mqtts:// with the CA file connects by name; by IP only with tls_insecure."""
    cert, key = _self_signed_cert(tmp_path)
    with Broker(tmp_path / "tls", extra_config=f"certfile {cert}\nkeyfile {key}\n") as tls:
        by_name = MqttClient(settings(f"mqtts://localhost:{tls.port}", tls_ca_file=str(cert)))
        async with running(by_name):
            assert by_name.connected
        by_ip = f"mqtts://127.0.0.1:{tls.port}"
        strict = MqttClient(settings(by_ip, tls_ca_file=str(cert)))
        async with strict:
            with pytest.raises(TimeoutError):
                await strict.wait_connected(0.5)
        insecure = MqttClient(settings(by_ip, tls_ca_file=str(cert), tls_insecure=True))
        async with running(insecure):
            assert insecure.connected
    with pytest.raises(MqttConfigError) as caught:
        MqttClient(settings(by_ip, tls_ca_file=str(tmp_path / "missing.pem")))
    assert caught.value.field == "tls_ca_file"


async def _noop(message: Incoming) -> None:
    return None


def test_bad_subscriptions_are_refused_when_registered() -> None:
    client = MqttClient(settings("mqtt://127.0.0.1:1"))
    with pytest.raises(ValueError, match="qos"):
        client.on("x/#", _noop, qos=2)
    with pytest.raises(ValueError, match="'#'"):
        client.on("x/#/y", _noop)
