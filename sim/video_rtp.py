"""RTP/UDP H.264 sending for the simulated cameras: a blocking PyAV sender and the SDP.

PyAV (why not Debian's ``ffmpeg``: see :mod:`sim.video`) releases the GIL while encoding;
the async wrapper :class:`sim.video.RtpH264Streamer` runs this sender on its own thread.

The stream is what PX4's Gazebo camera sends: H.264 (x264 ultrafast, zerolatency, one key
frame per second, SPS/PPS repeated in-band) in RTP payload type 96, packetization mode 1.
"""

from __future__ import annotations

import ipaddress
import logging
from fractions import Fraction
from typing import Final

import av
import numpy as np
from numpy.typing import NDArray

from sim.camera import CameraSpec
from sim.errors import SimConfigError, SimError

log = logging.getLogger(__name__)

RTP_CLOCK_HZ: Final = 90_000  # the RTP clock of video payloads (RFC 3551)
DEFAULT_PORT: Final = 5600  # where PX4's Gazebo camera streams
# An access unit delimiter NAL (type 9, "any slice type"), Annex B framed.
_AUD: Final = b"\x00\x00\x00\x01\x09\xf0"


class VideoStreamError(SimError):
    """A simulated camera could not open, encode or send its video stream.

    Attributes:
        uri: the stream, e.g. ``"udp://127.0.0.1:5600"``.
        reason: what went wrong, from FFmpeg's own words.
    """

    def __init__(self, uri: str, reason: str) -> None:
        self.uri = uri
        self.reason = reason
        super().__init__(f"{uri}: {reason}")


def sdp_text(host: str, port: int, *, payload_type: int = 96, title: str = "sim camera") -> str:
    """An SDP description of an RTP/UDP H.264 stream sent to ``host:port``.

    No ``sprop-parameter-sets``: the streamer repeats SPS/PPS in-band before every key
    frame instead, so a receiver may join at any time. FFmpeg receivers also bind
    ``port + 1`` for RTCP (they ignore ``a=rtcp:``), so streams need even ports at least
    2 apart.
    """
    ip_version = "IP6" if ":" in host else "IP4"
    lines = [
        "v=0",
        f"o=- 0 0 IN {ip_version} {host}",
        f"s={title}",
        f"c=IN {ip_version} {host}",
        "t=0 0",
        "a=tool:mission-control sim",
        f"m=video {port} RTP/AVP {payload_type}",
        f"a=rtpmap:{payload_type} H264/{RTP_CLOCK_HZ}",
        f"a=fmtp:{payload_type} packetization-mode=1",
    ]
    return "\r\n".join(lines) + "\r\n"


def check_stream_settings(host: str, port: int, payload_type: int, crf: int) -> None:
    """Validate the destination and encoder settings of a stream.

    Raises:
        SimConfigError: naming the first setting out of range.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise SimConfigError("host", host, "must be an IPv4 or IPv6 address") from None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65534:
        raise SimConfigError("port", port, "must be an integer in [1, 65534]")
    if isinstance(payload_type, bool) or not isinstance(payload_type, int):
        raise SimConfigError("payload_type", payload_type, "must be an integer")
    if not 96 <= payload_type <= 127:
        raise SimConfigError("payload_type", payload_type, "must be a dynamic type, 96..127")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise SimConfigError("crf", crf, "must be an integer in [0, 51]")


def udp_uri(host: str, port: int) -> str:
    """``udp://host:port`` (IPv6 hosts in brackets)."""
    return f"udp://[{host}]:{port}" if ":" in host else f"udp://{host}:{port}"


class H264RtpSender:
    """Blocking H.264 encoder and RTP/UDP sender (PyAV); use it from one thread at a time.

    Args:
        host: destination IP address.
        port: destination UDP port (FFmpeg sends RTCP to ``port + 1``).
        spec: frame size and rate of the images to send.
        payload_type: dynamic RTP payload type, 96..127.
        crf: x264 constant rate factor (quality: 0 best, 51 worst).
        max_packet_bytes: largest RTP packet (bytes of UDP payload).
        end_of_frame_aud: send an access unit delimiter right after each frame, so that
            FFmpeg-based receivers decode a frame when it ends (see :meth:`_mux_delimiter`).

    Raises:
        SimConfigError: a setting is out of range.
        VideoStreamError: FFmpeg could not open the stream.
    """

    def __init__(
        self,
        host: str,
        port: int,
        spec: CameraSpec,
        *,
        payload_type: int = 96,
        crf: int = 23,
        max_packet_bytes: int = 1200,
        end_of_frame_aud: bool = True,
    ) -> None:
        check_stream_settings(host, port, payload_type, crf)
        self.uri = udp_uri(host, port)
        url = self.uri.replace("udp://", "rtp://", 1) + f"?pkt_size={max_packet_bytes}"
        self.frames_sent = 0
        self.bytes_sent = 0
        self._first_mono_s: float | None = None
        self._last_pts = -1
        self._end_of_frame_aud = end_of_frame_aud
        try:
            self._container = av.open(
                url, "w", format="rtp", container_options={"payload_type": str(payload_type)}
            )
            stream = self._container.add_stream(
                "libx264",
                rate=Fraction(spec.fps).limit_denominator(1001),
                options={
                    "preset": "ultrafast",
                    "tune": "zerolatency",
                    "crf": str(crf),
                    # SPS/PPS before every key frame: the SDP carries no sprop-parameter-sets
                    "x264-params": "repeat-headers=1",
                },
            )
            stream.width, stream.height, stream.pix_fmt = spec.width_px, spec.height_px, "yuv420p"
            stream.codec_context.gop_size = max(1, round(spec.fps))  # a key frame each second
            stream.codec_context.time_base = Fraction(1, RTP_CLOCK_HZ)
            stream.codec_context.thread_count = 1  # many cameras per process: no oversubscription
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VideoStreamError(self.uri, f"cannot open: {exc}") from None
        self._stream = stream

    def send(self, image: NDArray[np.uint8], mono_time_s: float) -> int:
        """Encode one BGR frame captured at ``mono_time_s`` and send it; returns H.264 bytes sent.

        Raises:
            VideoStreamError: encoding or sending failed.
        """
        if self._first_mono_s is None:
            self._first_mono_s = mono_time_s
        pts = max(self._last_pts + 1, round((mono_time_s - self._first_mono_s) * RTP_CLOCK_HZ))
        self._last_pts = pts
        try:
            video = av.VideoFrame.from_ndarray(image, format="bgr24")
            video.pts, video.time_base = pts, Fraction(1, RTP_CLOCK_HZ)
            packets = self._stream.encode(video)
            self._container.mux(packets)
            if packets and self._end_of_frame_aud:
                self._mux_delimiter(pts + 1)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VideoStreamError(
                self.uri, f"cannot send frame {self.frames_sent}: {exc}"
            ) from None
        size = sum(p.size for p in packets)
        self.frames_sent += 1
        self.bytes_sent += size
        return size

    def _mux_delimiter(self, pts: int) -> None:
        # FFmpeg's H.264 parser (OpenCV, ffplay) ends a frame only when the next access
        # unit starts; sending the next unit's delimiter now saves one frame period of
        # latency (measured 71 -> 5 ms at 15 fps) and the stream stays standard: the
        # delimiter is the first NAL of the following access unit.
        aud = av.Packet(_AUD)
        aud.pts = aud.dts = pts
        aud.time_base = Fraction(1, RTP_CLOCK_HZ)
        aud.stream = self._stream
        self._last_pts = pts
        self._container.mux(aud)

    def close(self) -> None:
        """Close the container and its socket (idempotent); pending frames are dropped."""
        try:
            self._container.close()
        except (av.FFmpegError, OSError, ValueError) as exc:
            log.warning("closing %s: %s", self.uri, exc)
