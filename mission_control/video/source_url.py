"""Video source descriptions: what a drone's camera URL means, validated once, redacted always.

Forms accepted by :func:`parse_source`:

- ``sim``: the drone's built-in simulated camera (in-process frames).
- ``rtp://HOST:PORT`` or ``udp://HOST:PORT``: RTP/UDP H.264 as PX4's Gazebo camera sends it
  (payload type 96; ``?pt=N`` and ``?codec=h264|h265`` override). HOST is where the stream
  is sent (an IP address; ``0.0.0.0`` or empty = listen on every interface). The source
  writes an SDP for it (:func:`rtp_sdp_text`) because FFmpeg opens RTP only through one.
- ``PATH.sdp`` or ``sdp:PATH``: an SDP file given by the user.
- ``rtsp://[user:pass@]host[:port]/path`` and ``rtsps://``; ``?transport=tcp|udp``
  (default tcp) is ours and is not sent to the server; any other query is.
- ``file:PATH`` or a plain path to a video file: replayed at its frame rate, looping
  (``?loop=0`` plays it once). A ``?`` starts the options unless the whole text names an
  existing file.

Credentials never leave this module unredacted: :meth:`SourceSpec.redacted`, the spec's
``repr`` and every :class:`SourceSpecError` show ``***`` in their place.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

from mission_control.video.errors import SourceSpecError

__all__ = [
    "SOURCE_KINDS",
    "SourceKind",
    "SourceSpec",
    "parse_source",
    "redact_url",
    "rtp_sdp_text",
    "source_from_stream_info",
]

SourceKind = Literal["sim", "rtp", "sdp", "rtsp", "file"]
SOURCE_KINDS: Final = frozenset({"sim", "rtp", "sdp", "rtsp", "file"})
CODECS: Final = frozenset({"h264", "h265"})
TRANSPORTS: Final = frozenset({"tcp", "udp"})
FORMS: Final = "sim, rtp://HOST:PORT, udp://HOST:PORT, rtsp://, rtsps://, sdp:PATH, file:PATH"

# MAVLink VIDEO_STREAM_TYPE and VIDEO_STREAM_ENCODING values
STREAM_TYPE_RTSP: Final = 0
STREAM_TYPE_RTPUDP: Final = 1
ENCODING_UNKNOWN: Final = 0
ENCODING_H264: Final = 1
ENCODING_H265: Final = 2

_SCHEME = re.compile(r"\A([A-Za-z][A-Za-z0-9+.-]*)://")
_USERINFO = re.compile(r"(?<=://)[^/?#@\s]*@")
_DIGITS = re.compile(r"\A[0-9]{1,6}\Z")
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")


def redact_url(text: str) -> str:
    """``text`` with the user-info of any ``scheme://user:pass@`` replaced by ``***``."""
    return _USERINFO.sub("***@", text)


def _split(text: str) -> SplitResult:
    try:
        return urlsplit(text)
    except ValueError as e:  # e.g. an unbalanced [ in the host
        raise SourceSpecError("url", redact_url(text), str(e)) from None


def _check_port(port: object, *, rtp: bool) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise SourceSpecError("port", port, "must be an integer in 1..65535")
    if rtp and port % 2:
        raise SourceSpecError(
            "port", port, "must be even: FFmpeg also binds PORT + 1 for RTCP (use 5600, 5602 ...)"
        )
    return port


def _check_ip(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise SourceSpecError(
            "host",
            host,
            "must be an IP address (0.0.0.0 = every interface); names are not resolved",
        ) from None


@dataclass(frozen=True, slots=True, repr=False)
class SourceSpec:
    """Where a drone's video comes from.

    Attributes:
        kind: ``sim``, ``rtp``, ``sdp``, ``rtsp`` or ``file``.
        host, port: rtp: the address the stream is sent to (IP literal; ``0.0.0.0`` =
            every interface) and its even UDP port. FFmpeg receivers also bind
            ``port + 1`` for RTCP, so two streams need ports at least 2 apart.
        payload_type: rtp: the dynamic RTP payload type, 96..127.
        codec: rtp: ``h264`` or ``h265``.
        path: sdp and file: the file (absolute).
        url: rtsp: the URL given to FFmpeg, credentials included (never log it; use
            :meth:`redacted`).
        transport: rtsp: ``tcp`` (interleaved, the default: survives NAT and loss) or ``udp``.
        loop: file: replay from the start at the end (False: play once, then down).

    Raises:
        SourceSpecError: a field is missing or out of range for the kind (names the field).
    """

    kind: SourceKind
    host: str = ""
    port: int = 0
    payload_type: int = 96
    codec: str = "h264"
    path: Path | None = None
    url: str = ""
    transport: str = "tcp"
    loop: bool = True

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise SourceSpecError("kind", self.kind, f"must be one of {sorted(SOURCE_KINDS)}")
        if self.kind == "rtp":
            _check_ip(self.host)
            _check_port(self.port, rtp=True)
            pt = self.payload_type
            if isinstance(pt, bool) or not isinstance(pt, int) or not 96 <= pt <= 127:
                raise SourceSpecError("pt", pt, "must be a dynamic RTP payload type, 96..127")
            if self.codec not in CODECS:
                raise SourceSpecError("codec", self.codec, "must be h264 or h265")
        elif self.kind in ("sdp", "file"):
            if not isinstance(self.path, Path) or not str(self.path):
                raise SourceSpecError("path", self.path, "a file path is required")
        elif self.kind == "rtsp":
            parts = _split(self.url)
            if parts.scheme not in ("rtsp", "rtsps") or not parts.hostname:
                raise SourceSpecError(
                    "url", redact_url(self.url), "must be rtsp://host[:port]/path or rtsps://"
                )
            if self.transport not in TRANSPORTS:
                raise SourceSpecError("transport", self.transport, "must be tcp or udp")

    def redacted(self) -> str:
        """The source as text for messages, status and logs: credentials replaced by ``***``.

        ``parse_source(spec.redacted())`` gives the spec back for every kind but rtsp
        with credentials.
        """
        if self.kind == "sim":
            return "sim"
        if self.kind == "rtp":
            host = f"[{self.host}]" if ":" in self.host else self.host
            options = [f"pt={self.payload_type}"] if self.payload_type != 96 else []
            options += [f"codec={self.codec}"] if self.codec != "h264" else []
            return f"rtp://{host}:{self.port}" + ("?" + "&".join(options) if options else "")
        if self.kind == "sdp":
            return f"sdp:{self.path}"
        if self.kind == "file":
            return f"file:{self.path}" + ("" if self.loop else "?loop=0")
        extra = "transport=udp" if self.transport == "udp" else ""
        url = redact_url(self.url)
        return url + (("&" if "?" in url else "?") + extra if extra else "")

    def __repr__(self) -> str:
        return f"SourceSpec({self.redacted()!r})"


def rtp_sdp_text(spec: SourceSpec, *, title: str = "Mission Control video source") -> str:
    """The SDP that lets FFmpeg receive an ``rtp`` spec's stream (CRLF line ends).

    No ``sprop-parameter-sets``: senders like PX4's camera and ``x264 repeat-headers``
    repeat SPS/PPS in-band before each key frame, so the receiver may join at any time.

    Raises:
        SourceSpecError: ``spec`` is not an rtp spec.
    """
    if spec.kind != "rtp":
        raise SourceSpecError("kind", spec.kind, "only rtp sources are described by an SDP")
    ip_version = "IP6" if ":" in spec.host else "IP4"
    pt = spec.payload_type
    lines = [
        "v=0",
        f"o=- 0 0 IN {ip_version} {spec.host}",
        f"s={title}",
        f"c=IN {ip_version} {spec.host}",
        "t=0 0",
        f"m=video {spec.port} RTP/AVP {pt}",
        f"a=rtpmap:{pt} {spec.codec.upper()}/90000",
    ]
    if spec.codec == "h264":
        lines.append(f"a=fmtp:{pt} packetization-mode=1")
    return "\r\n".join(lines) + "\r\n"


def _options(query: str, allowed: tuple[str, ...], form: str) -> dict[str, str]:
    if not query:
        return {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise SourceSpecError("query", query, "must be key=value pairs joined by &") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            takes = f"takes {', '.join(allowed)}" if allowed else "takes no options"
            raise SourceSpecError("query", key, f"unknown option: {form} {takes}")
        if key in out:
            raise SourceSpecError(key, value, "given twice")
        out[key] = value
    return out


def _int_option(field: str, text: str, lo: int, hi: int, reason: str) -> int:
    if not _DIGITS.match(text) or not lo <= int(text) <= hi:
        raise SourceSpecError(field, text, reason)
    return int(text)


def _host_port(netloc: str, scheme: str) -> tuple[str, str]:
    """Split ``host:port`` (IPv6 in brackets) into host and port text ('' when absent)."""
    if netloc.startswith("["):
        host, bracket, rest = netloc[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise SourceSpecError("host", netloc, "an IPv6 address goes in [brackets]")
        return host, rest[1:]
    if netloc.count(":") > 1:
        raise SourceSpecError("host", netloc, f"write IPv6 addresses as {scheme}://[::1]:PORT")
    host, _, port = netloc.partition(":")
    return host, port


def _parse_rtp(text: str, scheme: str) -> SourceSpec:
    parts = _split(text)
    if "@" in parts.netloc:
        raise SourceSpecError("url", redact_url(text), f"{scheme}:// takes no user name")
    if parts.path not in ("", "/") or parts.fragment:
        raise SourceSpecError("url", text, f"{scheme}:// takes no path: write {scheme}://HOST:PORT")
    host, port_text = _host_port(parts.netloc, scheme)
    if not port_text:
        raise SourceSpecError("port", "", f"is required: {scheme}://HOST:PORT (PX4 uses 5600)")
    port = _int_option("port", port_text, 1, 65535, "must be an integer in 1..65535")
    options = _options(parts.query, ("pt", "codec"), f"{scheme}://")
    pt = _int_option(
        "pt", options.get("pt", "96"), 96, 127, "must be a dynamic RTP payload type, 96..127"
    )
    codec = options.get("codec", "h264").lower()
    if codec not in CODECS:
        raise SourceSpecError("codec", options["codec"], "must be h264 or h265")
    return SourceSpec("rtp", host=host or "0.0.0.0", port=port, payload_type=pt, codec=codec)


def _parse_rtsp(text: str, scheme: str) -> SourceSpec:
    parts = _split(text)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host, port_text = _host_port(hostport, scheme)
    if not host:
        raise SourceSpecError("host", redact_url(text), f"is required: {scheme}://HOST[:PORT]/PATH")
    if port_text:
        _int_option("port", port_text, 1, 65535, "must be an integer in 1..65535")
    if parts.fragment:
        raise SourceSpecError("url", redact_url(text), "takes no #fragment")
    # the query belongs to the server, verbatim (not decoded), except our own transport=
    transport, seen, kept = "tcp", 0, []
    for item in parts.query.split("&") if parts.query else []:
        key, _, value = item.partition("=")
        if key != "transport":
            kept.append(item)
            continue
        seen += 1
        if seen > 1:
            raise SourceSpecError("transport", value, "given twice")
        transport = value.lower()
        if transport not in TRANSPORTS:
            raise SourceSpecError("transport", value, "must be tcp or udp")
    query = "&".join(kept)
    netloc = f"{userinfo}@{hostport}" if userinfo else hostport
    url = urlunsplit((scheme, netloc, parts.path, query, ""))
    return SourceSpec("rtsp", url=url, transport=transport)


def _parse_path(text: str, prefix: str) -> SourceSpec:
    body = text[len(prefix) :]
    if prefix == "file:" and body.startswith("//"):  # file:///abs/path, file://localhost/...
        netloc, slash, rest = body[2:].partition("/")
        if netloc not in ("", "localhost"):
            raise SourceSpecError("path", text, "file:// URLs name files on this machine only")
        body = slash + rest
    path_text, query = body, ""
    if "?" in body and not Path(body).is_file():
        path_text, _, query = body.partition("?")
    if not path_text:
        raise SourceSpecError("path", text, "a file path is required")
    path = Path(path_text).expanduser()
    is_sdp = prefix == "sdp:" or path.suffix.lower() == ".sdp"
    hint = "" if prefix else f" (nor is it a source URL: {FORMS})"
    if not path.exists():
        raise SourceSpecError("path", path_text, f"no such file{hint}")
    if not path.is_file():
        raise SourceSpecError("path", path_text, f"is not a file{hint}")
    path = path.resolve()
    if is_sdp:
        _options(query, (), "an SDP source")
        return SourceSpec("sdp", path=path)
    options = _options(query, ("loop",), "a file source")
    loop_text = options.get("loop", "1")
    if loop_text not in ("0", "1"):
        raise SourceSpecError("loop", loop_text, "must be 0 (play once) or 1 (loop)")
    return SourceSpec("file", path=path, loop=loop_text == "1")


def parse_source(text: str) -> SourceSpec:
    """Parse a video source description (see the module docstring for the forms).

    Raises:
        SourceSpecError: the text is empty or malformed, the scheme is unknown, a port,
            payload type, codec, transport or loop value is out of range, an option is
            unknown or repeated, or the sdp/file path does not name an existing file.
            The error names the field and never shows credentials.
    """
    if not isinstance(text, str):
        raise SourceSpecError("url", text, "must be a string")
    text = text.strip()
    if not text:
        raise SourceSpecError("url", text, f"is empty: give one of {FORMS} or a file path")
    if text.lower() == "sim":
        return SourceSpec("sim")
    if m := _SCHEME.match(text):
        scheme = m.group(1).lower()
        if _UNSAFE.search(text):
            raise SourceSpecError(
                "url", redact_url(text), "must not contain spaces or control characters"
            )
        if scheme in ("rtp", "udp"):
            return _parse_rtp(text, scheme)
        if scheme in ("rtsp", "rtsps"):
            return _parse_rtsp(text, scheme)
        if scheme == "file":
            return _parse_path(text, "file:")
        raise SourceSpecError("url", redact_url(text), f"unknown scheme {scheme!r}: use {FORMS}")
    for prefix in ("sdp:", "file:"):
        if text[: len(prefix)].lower() == prefix:
            return _parse_path(text[: len(prefix)].lower() + text[len(prefix) :], prefix)
    return _parse_path(text, "")


def source_from_stream_info(uri: str, stream_type: int, encoding: int) -> SourceSpec | None:
    """The source a MAVLink VIDEO_STREAM_INFORMATION message announces, or None if unsupported.

    Args:
        uri: the message's ``uri``.
        stream_type: VIDEO_STREAM_TYPE: 0 RTSP (``uri`` is the URL); 1 RTPUDP (``uri`` is
            ``udp://host:port``, ``rtp://host:port`` or a bare port; received on every
            interface unless the host is a multicast group). 2 TCP_MPEG and 3 MPEG_TS are
            not supported.
        encoding: VIDEO_STREAM_ENCODING: 1 H.264, 2 H.265; 0 (unknown) is taken as H.264.

    Raises:
        SourceSpecError: the type is supported but the uri is malformed.
    """
    if encoding not in (ENCODING_UNKNOWN, ENCODING_H264, ENCODING_H265):
        return None
    codec = "h265" if encoding == ENCODING_H265 else "h264"
    uri = uri.strip().rstrip("\x00")
    if stream_type == STREAM_TYPE_RTSP:
        spec = parse_source(uri) if _SCHEME.match(uri) else None
        if spec is None or spec.kind != "rtsp":
            raise SourceSpecError("uri", redact_url(uri), "an RTSP stream needs an rtsp:// URL")
        return spec
    if stream_type != STREAM_TYPE_RTPUDP:
        return None
    if _DIGITS.match(uri):
        port = _int_option("port", uri, 1, 65535, "must be an integer in 1..65535")
        return SourceSpec("rtp", host="0.0.0.0", port=_check_port(port, rtp=True), codec=codec)
    m = _SCHEME.match(uri)
    if m is None or m.group(1).lower() not in ("udp", "rtp"):
        raise SourceSpecError("uri", redact_url(uri), "an RTP/UDP stream needs udp://HOST:PORT")
    spec = _parse_rtp(uri, m.group(1).lower())
    multicast = ipaddress.ip_address(spec.host).is_multicast
    host = spec.host if multicast else ("::" if ":" in spec.host else "0.0.0.0")
    return SourceSpec("rtp", host=host, port=spec.port, payload_type=spec.payload_type, codec=codec)
