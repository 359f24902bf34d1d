"""A minimal RTSP/1.0 server for tests: relays an RTP/UDP stream to RTSP clients over TCP.

It answers OPTIONS, DESCRIBE (an SDP of one H.264 track, no sprop-parameter-sets: the
sender must repeat SPS/PPS in-band), SETUP (RTP/AVP/TCP interleaved only; UDP gets 461),
PLAY, GET_PARAMETER (keep-alive) and TEARDOWN, and forwards every RTP packet it receives
on :attr:`RtspRelay.rtp_port` to each playing client as a ``$``-framed interleaved packet
on channel 0. Enough for FFmpeg's RTSP client; not a general server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from types import TracebackType
from typing import Self

_SESSION_IDS = itertools.count(0x1234_5678)
MAX_BUFFERED_BYTES = 1 << 20  # a client this far behind loses packets, never blocks others


class _RtpIn(asyncio.DatagramProtocol):
    def __init__(self, relay: RtspRelay) -> None:
        self._relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._relay.forward(data)


class RtspRelay:
    """Serve ``rtsp://127.0.0.1:PORT/live`` from RTP packets sent to 127.0.0.1:``rtp_port``.

    Attributes:
        requests: ``(method, headers)`` of every request received, in order.
        packets_in: RTP packets received from the sender.
    """

    def __init__(self, *, rtp_port: int, payload_type: int = 96) -> None:
        self.rtp_port = rtp_port
        self.payload_type = payload_type
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.packets_in = 0
        self._playing: set[asyncio.StreamWriter] = set()
        self._clients: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._rtp: list[asyncio.DatagramTransport] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/live"

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        rtp, _ = await loop.create_datagram_endpoint(
            lambda: _RtpIn(self), local_addr=("127.0.0.1", self.rtp_port), family=socket.AF_INET
        )
        self._rtp.append(rtp)
        rtcp, _ = await loop.create_datagram_endpoint(  # the sender's RTCP, discarded
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", self.rtp_port + 1)
        )
        self._rtp.append(rtcp)
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.wait(list(self._clients))
        if self._server is not None:
            await self._server.wait_closed()
        for transport in self._rtp:
            transport.close()

    def forward(self, packet: bytes) -> None:
        self.packets_in += 1
        frame = b"$\x00" + len(packet).to_bytes(2, "big") + packet
        for writer in list(self._playing):
            if writer.transport.get_write_buffer_size() < MAX_BUFFERED_BYTES:
                writer.write(frame)

    def _sdp(self) -> str:
        pt = self.payload_type
        lines = [
            "v=0",
            "o=- 0 0 IN IP4 127.0.0.1",
            "s=test relay",
            "c=IN IP4 0.0.0.0",
            "t=0 0",
            f"m=video 0 RTP/AVP {pt}",
            f"a=rtpmap:{pt} H264/90000",
            f"a=fmtp:{pt} packetization-mode=1",
            "a=control:trackID=0",
        ]
        return "\r\n".join(lines) + "\r\n"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await self._serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._playing.discard(writer)
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = f"{next(_SESSION_IDS):08X}"
        while True:
            first = await reader.readexactly(1)
            if first == b"$":  # an interleaved packet from the client (RTCP report): skip
                head = await reader.readexactly(3)
                await reader.readexactly(int.from_bytes(head[1:3], "big"))
                continue
            head_text = (first + await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *header_lines = head_text.strip().split("\r\n")
            method, url, _ = request_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if length := int(headers.get("content-length", "0")):
                await reader.readexactly(length)
            self.requests.append((method, headers))
            reply = [f"CSeq: {headers.get('cseq', '0')}"]
            body = ""
            status = "200 OK"
            if method == "OPTIONS":
                reply.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN")
            elif method == "DESCRIBE":
                body = self._sdp()
                base = url if url.endswith("/") else url + "/"
                reply += [f"Content-Base: {base}", "Content-Type: application/sdp"]
            elif method == "SETUP":
                if "interleaved" not in headers.get("transport", ""):
                    status = "461 Unsupported Transport"
                else:
                    reply += [
                        "Transport: RTP/AVP/TCP;unicast;interleaved=0-1",
                        f"Session: {session};timeout=60",
                    ]
            elif method in ("PLAY", "GET_PARAMETER"):
                reply.append(f"Session: {session}")
            elif method == "TEARDOWN":
                self._playing.discard(writer)
            else:
                status = "501 Not Implemented"
            if body:
                reply.append(f"Content-Length: {len(body)}")
            text = f"RTSP/1.0 {status}\r\n" + "".join(f"{h}\r\n" for h in reply) + "\r\n" + body
            writer.write(text.encode("latin-1"))
            await writer.drain()
            if method == "PLAY":  # packets only after the reply
                self._playing.add(writer)
            if method == "TEARDOWN":
                return
