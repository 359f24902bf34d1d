"""Serving live video: ``/ws/video/{drone_id}`` websockets and MJPEG over HTTP.

Websocket wire format (server → client; what the client sends is read and ignored):

- binary messages: one frame each, a 32-byte header then a JPEG
  (:mod:`mission_control.video.wire`);
- client → server, optional: ``{"ack": SEQ}`` once a frame is shown. A client that
  connects with ``?ack=1`` (or, from its first acknowledgement on, one that sends them) is
  flow-controlled: at most :data:`ACK_WINDOW` frames it has not
  acknowledged are in flight, and while it is busy the frames it misses are skipped, so
  what it is sent next is the newest frame, however slowly it shows them (a browser
  queues messages in the page, where no server-side measure can see them). A client
  that acknowledges nothing for ``disconnect_after_s`` is closed (1013);
- text messages (server → client), JSON: ``{"kind":"source","state":"up|down|connecting|stopped",
  "reason":"...","retry_in_s":X}`` first, then on every change of the source;
  ``{"kind":"lag","skipped":N,"behind_s":X}`` after a frame that had been captured more
  than ``lag_threshold_s`` before it was handed to the socket (``N`` frames were skipped
  since the previous notice, ``X`` seconds is how old that frame was);
- close codes: 1013 (try again later) when the viewer was behind for more than
  ``disconnect_after_s`` within twice that, when one send blocked longer than
  ``send_timeout_s``, or when the relay is not running; 1001 when the relay stops; 1008
  when the drone has no video source or the requested width is invalid (the reason says).

Lag (ARCHITECTURE invariant 5): a viewer is latest-frame-wins, so a slow one is sent fewer
frames, each the newest. What it cannot see is data already in buffers: the kernel's send
and receive buffers, and the client's own queue, hold seconds of 720p video. Two measures
keep that small and visible. The connection's SO_SNDBUF is shrunk to
``socket_send_buffer_bytes`` and the transport's write buffer limits set to zero, so a send
waits until the previous frame has left the process and the kernel holds at most a frame
or two (:func:`tune_send_buffer`). And, as for telemetry, a send that blocks longer than
``blocked_send_s`` counts as time behind, as does a frame found older than
``lag_threshold_s`` when it was sent: a viewer reading slower than the stream blocks on
every send and is closed after ``disconnect_after_s``. The client's receive buffer and
queue stay out of sight: a screen should compare ``capture_unix_s`` with its clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from mission_control.api.lag import BehindWindow
from mission_control.video.errors import NoVideoSource, VideoError, VideoSettingsError
from mission_control.video.frames import SourceStatus
from mission_control.video.relay import (
    EncodedFrame,
    RelayClosed,
    RelaySettings,
    VideoRelay,
    Viewer,
)

__all__ = [
    "ACK_WINDOW",
    "BOUNDARY",
    "MJPEG_MEDIA_TYPE",
    "Credit",
    "LagMeter",
    "VideoSendTimeout",
    "ViewerLagging",
    "lag_message",
    "mjpeg_part",
    "mjpeg_parts",
    "serve_video",
    "status_message",
    "tune_send_buffer",
]

_log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013

BOUNDARY = "frame"
"""The multipart boundary of MJPEG responses."""
MJPEG_MEDIA_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
"""The ``Content-Type`` of an MJPEG response."""

ACK_WINDOW = 2
"""Frames a flow-controlled client may have unacknowledged (one shown, one arriving)."""
_T = TypeVar("_T")


class ViewerLagging(VideoError):
    """A viewer was behind for too long.

    Attributes:
        viewer_id: the viewer.
        behind_s: how old (s) the frame it was last sent was.
        for_s: how long (s) in all it was behind within the last ``window_s``.
        window_s: the window (twice ``disconnect_after_s``).
    """

    def __init__(self, viewer_id: int, behind_s: float, for_s: float, window_s: float) -> None:
        self.viewer_id = viewer_id
        self.behind_s = behind_s
        self.for_s = for_s
        self.window_s = window_s
        super().__init__(
            f"viewer {viewer_id}: behind {for_s:.1f} s of the last {window_s:g} s"
            f" (now {behind_s:.1f} s); try a smaller width"
        )


class VideoSendTimeout(VideoError):
    """One send to a viewer blocked longer than ``timeout_s``."""

    def __init__(self, viewer_id: int, timeout_s: float) -> None:
        self.viewer_id = viewer_id
        self.timeout_s = timeout_s
        super().__init__(f"viewer {viewer_id}: a send blocked longer than {timeout_s:g} s")


class LagMeter:
    """How long one viewer was behind within the last ``2 * disconnect_after_s``.

    Args:
        settings: ``lag_threshold_s``, ``blocked_send_s`` and ``disconnect_after_s``.
        viewer_id: for the error.
        opened_mono_s: ``time.monotonic()`` when the viewer connected: time before it is
            never counted (the first frame may be an old one of a stalled source).
    """

    def __init__(self, settings: RelaySettings, viewer_id: int, opened_mono_s: float) -> None:
        self._settings = settings
        self._viewer_id = viewer_id
        self._behind = BehindWindow(2.0 * settings.disconnect_after_s, opened_mono_s)
        self.late_sends = 0
        self.blocked_sends = 0

    def judge(self, *, behind_s: float, send_s: float, now_s: float) -> bool:
        """Account a frame just sent: ``behind_s`` old (capture to now), its send took
        ``send_s``, at ``now_s`` (monotonic). Returns whether it was late (notice due).

        Raises:
            ViewerLagging: behind for more than ``disconnect_after_s`` within the window.
        """
        s = self._settings
        late = behind_s > s.lag_threshold_s
        blocked = send_s > s.blocked_send_s
        if not late and not blocked:
            return False
        self.late_sends += late
        self.blocked_sends += blocked
        # late, or held up by a full buffer (the next frame waits behind this one)
        behind_in_window_s = self._behind.add(now_s - max(behind_s, send_s), now_s)
        if behind_in_window_s > s.disconnect_after_s:
            window_s = 2.0 * s.disconnect_after_s
            raise ViewerLagging(self._viewer_id, behind_s, behind_in_window_s, window_s)
        return late


class Credit:
    """Flow control of a viewer that acknowledges frames (``{"ack": SEQ}``).

    Active from the start when the client asked for it (``?ack=1``), else from its first
    acknowledgement; while active, :meth:`ready` waits while :data:`ACK_WINDOW` frames sent
    are unacknowledged.
    """

    def __init__(self, window: int = ACK_WINDOW, *, active: bool = False) -> None:
        self.window = window
        self.acked_seq: int | None = 0 if active else None
        self._in_flight: list[int] = []
        self._moved = asyncio.Event()

    @property
    def active(self) -> bool:
        return self.acked_seq is not None

    def sent(self, seq: int) -> None:
        self._in_flight.append(seq)
        del self._in_flight[: -4 * self.window]  # bounded even before the first ack

    def ack(self, seq: int) -> None:
        """A frame was shown: it and every frame before it are no longer in flight."""
        self.acked_seq = seq if self.acked_seq is None else max(self.acked_seq, seq)
        self._in_flight = [s for s in self._in_flight if s > self.acked_seq]
        self._moved.set()

    def on_message(self, text: str) -> None:
        """Take an ``{"ack": SEQ}`` text message; anything else is ignored."""
        if len(text) > 200:
            return
        try:
            doc = json.loads(text)
        except ValueError:
            return
        seq = doc.get("ack") if isinstance(doc, dict) else None
        if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0:
            self.ack(seq)

    async def ready(self, timeout_s: float, viewer_id: int) -> None:
        """Wait until another frame may be sent.

        Raises:
            ViewerLagging: no acknowledgement came for ``timeout_s``.
        """
        if not self.active:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self._in_flight) >= self.window:
            self._moved.clear()
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(left):
                    await self._moved.wait()
            except TimeoutError:
                raise ViewerLagging(viewer_id, timeout_s, timeout_s, timeout_s) from None


def status_message(status: SourceStatus) -> str:
    """The JSON text message announcing a source's status."""
    return json.dumps(
        {
            "kind": "source",
            "state": status.state.value,
            "reason": status.reason,
            "retry_in_s": round(status.retry_in_s, 3),
        }
    )


def lag_message(skipped: int, behind_s: float) -> str:
    """The JSON text message telling a viewer it was behind."""
    return json.dumps({"kind": "lag", "skipped": skipped, "behind_s": round(behind_s, 3)})


def tune_send_buffer(connection: HTTPConnection, buffer_bytes: int) -> bool:
    """Keep a connection's outgoing buffers to about a frame, so that a slow reader makes
    sends wait (seen, and latest-frame-wins) instead of filling buffers with stale video.

    Sets the socket's SO_SNDBUF to ``buffer_bytes`` (0: leave it) and the asyncio
    transport's write buffer limits to zero. Works when the ASGI server's receive or send
    callable is a method of an object with an asyncio ``transport`` (uvicorn's protocols);
    else does nothing. Applies to the whole connection (a keep-alive HTTP connection keeps
    it for later requests).

    Returns:
        Whether the connection was tuned.
    """
    transport = None
    for name in ("_receive", "_send"):
        owner = getattr(getattr(connection, name, None), "__self__", None)
        candidate = getattr(owner, "transport", None)
        if isinstance(candidate, asyncio.WriteTransport):
            transport = candidate
            break
    if transport is None or transport.is_closing():
        return False
    try:
        sock = transport.get_extra_info("socket")
        if buffer_bytes > 0 and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_bytes)
        transport.set_write_buffer_limits(high=0, low=0)
    except (OSError, AttributeError, ValueError, NotImplementedError) as exc:
        _log.debug("video: cannot tune the send buffer of %s: %s", connection.client, exc)
        return False
    return True


async def serve_video(
    websocket: WebSocket,
    relay: VideoRelay,
    drone_id: int,
    width_px: int | None = None,
    settings: RelaySettings | None = None,
) -> None:
    """Serve one ``/ws/video/{drone_id}`` connection for its whole life (authentication is
    the caller's; see the module docstring for the messages and close codes).

    Accepts, tunes the connection's buffers, opens a viewer at the tier for ``width_px``,
    sends the source's status, then every newest frame and status change until the client
    goes away, and always closes the viewer. Two tasks are owned here (named
    ``video-ws-{viewer}-send`` and ``-receive``), cancelled and awaited before returning.

    Args:
        settings: lag and timeout knobs (default: the relay's).

    Raises:
        Exception: only a bug's (a disconnecting client returns normally).
    """
    settings = settings if settings is not None else relay.settings
    close_timeout_s = settings.close_timeout_s
    try:
        await websocket.accept()
    except (WebSocketDisconnect, OSError):
        return  # gone during the handshake
    tune_send_buffer(websocket, settings.socket_send_buffer_bytes)
    try:
        viewer = relay.open_viewer(drone_id, width_px)
    except (NoVideoSource, VideoSettingsError) as exc:
        await _close(websocket, CLOSE_POLICY_VIOLATION, str(exc), close_timeout_s)
        return
    except RelayClosed:
        await _close(websocket, CLOSE_TRY_AGAIN_LATER, "video not running", close_timeout_s)
        return
    credit = Credit(active=websocket.query_params.get("ack") in ("1", "true"))
    sender = asyncio.create_task(
        _send_video(websocket, viewer, settings, credit), name=f"video-ws-{viewer.id}-send"
    )
    receiver = asyncio.create_task(
        _until_disconnect(websocket, credit), name=f"video-ws-{viewer.id}-receive"
    )
    try:
        await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sender.cancel()
        receiver.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
        viewer.close()  # before closing the socket, which may take close_timeout_s
    if sender.cancelled():
        return  # the client went away (the receiver saw it)
    failure = sender.exception()
    if isinstance(failure, ViewerLagging | VideoSendTimeout):
        _log.info("video websocket: closing %s: %s", websocket.client, failure)
        await _close(websocket, CLOSE_TRY_AGAIN_LATER, str(failure), close_timeout_s)
    elif isinstance(failure, RelayClosed):
        await _close(websocket, CLOSE_GOING_AWAY, "video stopping", close_timeout_s)
    elif failure is not None and not isinstance(failure, WebSocketDisconnect | OSError):
        raise failure


async def _send_video(
    websocket: WebSocket, viewer: Viewer, settings: RelaySettings, credit: Credit
) -> None:
    """Send status, frames and lag notices until something ends it.

    Raises:
        RelayClosed: the relay stops.
        ViewerLagging, VideoSendTimeout: the viewer is too slow.
        Exception: whatever sending raises (the socket went away).
    """
    timeout_s = settings.send_timeout_s
    meter = LagMeter(settings, viewer.id, time.monotonic())
    monotonic, wall = time.monotonic, time.time
    noticed = 0

    async def within(sending: Awaitable[None]) -> None:
        await _within(sending, timeout_s, viewer.id)

    await within(websocket.send_text(status_message(viewer.take_status())))
    while True:
        await credit.ready(settings.disconnect_after_s, viewer.id)
        update = await viewer.next_update()
        if isinstance(update, SourceStatus):
            await within(websocket.send_text(status_message(update)))
            continue
        started_s = monotonic()
        credit.sent(update.seq)
        await within(websocket.send_bytes(update.message))
        now_s = monotonic()
        behind_s = wall() - update.capture_unix_s
        if meter.judge(behind_s=behind_s, send_s=now_s - started_s, now_s=now_s):
            skipped, noticed = viewer.skipped - noticed, viewer.skipped
            await within(websocket.send_text(lag_message(skipped, behind_s)))


async def _within(sending: Awaitable[_T], timeout_s: float, viewer_id: int) -> _T:
    try:
        async with asyncio.timeout(timeout_s):
            return await sending
    except TimeoutError:
        raise VideoSendTimeout(viewer_id, timeout_s) from None


async def _until_disconnect(websocket: WebSocket, credit: Credit) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text:
            credit.on_message(text)


async def _close(websocket: WebSocket, code: int, reason: str, timeout_s: float) -> None:
    # a socket whose send is blocked cannot take the close frame either: give up after a while
    with contextlib.suppress(TimeoutError, WebSocketDisconnect, WebSocketDisconnected, OSError):
        async with asyncio.timeout(timeout_s):
            await websocket.close(code, reason[:120])  # a close reason fits in 123 bytes


def mjpeg_part(frame: EncodedFrame) -> bytes:
    """One part of an MJPEG (``multipart/x-mixed-replace``) response."""
    head = (
        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n"
        f"X-Frame-Seq: {frame.seq}\r\nX-Capture-Time: {frame.capture_unix_s:.6f}\r\n\r\n"
    )
    return b"".join((head.encode("ascii"), frame.jpeg, b"\r\n"))


async def mjpeg_parts(
    relay: VideoRelay, drone_id: int, width_px: int | None = None
) -> AsyncIterator[bytes]:
    """The parts of an MJPEG response (media type :data:`MJPEG_MEDIA_TYPE`), each the
    newest frame when the previous one was taken: a slow reader skips frames. Ends when
    the relay stops; the viewer is closed when the iterator is (client gone).

    Call ``relay.admit(drone_id, width_px)`` first to refuse with an HTTP error, and
    :func:`tune_send_buffer` on the request so that buffers hold a frame, not seconds.

    Raises:
        RelayClosed, VideoSettingsError, NoVideoSource: on first iteration, see
            :meth:`VideoRelay.admit`.
    """
    viewer = relay.open_viewer(drone_id, width_px)
    try:
        while True:
            try:
                frame = await viewer.next_frame()
            except RelayClosed:
                return
            yield mjpeg_part(frame)
    finally:
        viewer.close()
