"""Video source descriptions: every accepted form, every rejection, redaction, SDP, settings."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from mission_control.video.errors import SourceSpecError, VideoSettingsError
from mission_control.video.source_url import (
    SourceSpec,
    parse_source,
    redact_url,
    rtp_sdp_text,
    source_from_stream_info,
)
from mission_control.video.sources import SourceSettings, capture_options, sim_view
from sim.camera_model import CameraPose, CameraSpec


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with clip.mp4, cam.sdp, plain (an SDP without the suffix),
    odd?name.mp4 and a sub-directory; relative paths resolve against it."""
    for name in ("clip.mp4", "cam.sdp", "plain", "odd?name.mp4"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sim", SourceSpec("sim")),
        ("  SIM ", SourceSpec("sim")),
        ("rtp://127.0.0.1:5600", SourceSpec("rtp", host="127.0.0.1", port=5600)),
        ("udp://0.0.0.0:5600", SourceSpec("rtp", host="0.0.0.0", port=5600)),
        ("udp://:5600", SourceSpec("rtp", host="0.0.0.0", port=5600)),
        ("UDP://192.168.1.2:5602/", SourceSpec("rtp", host="192.168.1.2", port=5602)),
        ("rtp://239.1.1.1:5600", SourceSpec("rtp", host="239.1.1.1", port=5600)),
        (
            "rtp://[::1]:5602?pt=97&codec=H265",
            SourceSpec("rtp", host="::1", port=5602, payload_type=97, codec="h265"),
        ),
        (
            "rtp://10.0.0.1:65534?pt=127",
            SourceSpec("rtp", host="10.0.0.1", port=65534, payload_type=127),
        ),
        ("rtsp://cam.local/live", SourceSpec("rtsp", url="rtsp://cam.local/live")),
        ("RTSP://cam.local:8554/a/b", SourceSpec("rtsp", url="rtsp://cam.local:8554/a/b")),
        (
            "rtsp://u:secret@10.0.0.5:554/live?transport=udp",
            SourceSpec("rtsp", url="rtsp://u:secret@10.0.0.5:554/live", transport="udp"),
        ),
        (
            "rtsps://cam/live?channel=2&transport=TCP&subtype",
            SourceSpec("rtsp", url="rtsps://cam/live?channel=2&subtype"),
        ),
        ("rtsp://[fe80::1]:8554/live", SourceSpec("rtsp", url="rtsp://[fe80::1]:8554/live")),
    ],
)
def test_urls_parse_to_their_spec(text: str, expected: SourceSpec) -> None:
    assert parse_source(text) == expected


@pytest.mark.parametrize(
    ("text", "kind", "name", "loop"),
    [
        ("cam.sdp", "sdp", "cam.sdp", True),
        ("sdp:cam.sdp", "sdp", "cam.sdp", True),
        ("SDP:plain", "sdp", "plain", True),
        ("clip.mp4", "file", "clip.mp4", True),
        ("file:clip.mp4", "file", "clip.mp4", True),
        ("file:clip.mp4?loop=0", "file", "clip.mp4", False),
        ("clip.mp4?loop=1", "file", "clip.mp4", True),
        ("odd?name.mp4", "file", "odd?name.mp4", True),
        ("file:cam.sdp", "sdp", "cam.sdp", True),
    ],
)
def test_paths_parse_to_absolute_existing_files(
    files: Path, text: str, kind: str, name: str, loop: bool
) -> None:
    spec = parse_source(text)
    assert (spec.kind, spec.path, spec.loop) == (kind, files / name, loop)


def test_file_urls_name_local_files(files: Path) -> None:
    assert parse_source(f"file://{files}/clip.mp4").path == files / "clip.mp4"
    assert parse_source(f"file://localhost{files}/clip.mp4?loop=0").loop is False


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("", "url", "is empty"),
        ("   ", "url", "is empty"),
        ("http://cam/live", "url", "unknown scheme 'http'"),
        ("srt://1.2.3.4:9000", "url", "unknown scheme 'srt'"),
        ("rtmp://u:secret@cam/live", "url", "unknown scheme"),
        ("rtp://127.0.0.1", "port", "is required"),
        ("rtp://127.0.0.1:", "port", "is required"),
        ("rtp://127.0.0.1:0", "port", "1..65535"),
        ("rtp://127.0.0.1:70000", "port", "1..65535"),
        ("rtp://127.0.0.1:1234567", "port", "1..65535"),
        ("rtp://127.0.0.1:5601", "port", "must be even"),
        ("rtp://127.0.0.1:65535", "port", "must be even"),
        ("rtp://127.0.0.1:nan", "port", "1..65535"),
        ("rtp://127.0.0.1:-5600", "port", "1..65535"),
        ("rtp://127.0.0.1:5600.0", "port", "1..65535"),
        ("rtp://127.0.0.1:５６００", "port", "1..65535"),
        ("rtp://nan:5600", "host", "must be an IP address"),
        ("rtp://camera.local:5600", "host", "names are not resolved"),
        ("rtp://::1:5600", "host", "IPv6"),
        ("rtp://[::1]x:5600", "host", "[brackets]"),
        ("rtp://[::1:5600", "url", "IPv6"),
        ("rtp://127.0.0.1:5600/live", "url", "takes no path"),
        ("rtp://127.0.0.1:5600#x", "url", "takes no path"),
        ("rtp://u:secret@127.0.0.1:5600", "url", "takes no user name"),
        ("rtp://127.0.0.1:5600?pt=95", "pt", "96..127"),
        ("rtp://127.0.0.1:5600?pt=128", "pt", "96..127"),
        ("rtp://127.0.0.1:5600?pt=nan", "pt", "96..127"),
        ("rtp://127.0.0.1:5600?pt=", "pt", "96..127"),
        ("rtp://127.0.0.1:5600?pt=96&pt=97", "pt", "given twice"),
        ("rtp://127.0.0.1:5600?codec=vp8", "codec", "h264 or h265"),
        ("rtp://127.0.0.1:5600?fps=30", "query", "unknown option"),
        ("rtp://127.0.0.1:5600?pt", "query", "key=value"),
        ("rtp://127.0.0.1:5600?pt=96&&codec=h264", "query", "key=value"),
        ("rtsp:///live", "host", "is required"),
        ("rtsp://u:secret@/live", "host", "is required"),
        ("rtsp://cam:99999/live", "port", "1..65535"),
        ("rtsp://cam:0/live", "port", "1..65535"),
        ("rtsp://cam:abc/live", "port", "1..65535"),
        ("rtsp://cam/live?transport=sctp", "transport", "tcp or udp"),
        ("rtsp://cam/live?transport=tcp&transport=udp", "transport", "given twice"),
        ("rtsp://u:secret@cam/li ve", "url", "spaces"),
        ("rtsp://cam/live\x00", "url", "control characters"),
        ("rtsp://cam/live#frag", "url", "#fragment"),
        ("sdp:/nonexistent/cam.sdp", "path", "no such file"),
        ("/nonexistent/cam.sdp", "path", "no such file"),
        ("sdp:", "path", "is required"),
        ("nan", "path", "no such file (nor is it a source URL"),
        ("file:", "path", "is required"),
        ("file:missing.mp4", "path", "no such file"),
        ("file://otherhost/clip.mp4", "path", "on this machine only"),
        ("dir", "path", "is not a file"),
        ("clip.mp4?loop=2", "loop", "0 (play once) or 1"),
        ("clip.mp4?loop=nan", "loop", "0 (play once) or 1"),
        ("clip.mp4?loop=", "loop", "0 (play once) or 1"),
        ("clip.mp4?speed=2", "query", "a file source takes loop"),
        ("clip.mp4?loop=0&loop=1", "loop", "given twice"),
        ("cam.sdp?loop=0", "query", "an SDP source takes no options"),
    ],
)
def test_malformed_sources_are_refused_naming_the_field(
    files: Path, text: str, field: str, reason: str
) -> None:
    with pytest.raises(SourceSpecError) as info:
        parse_source(text)
    assert info.value.field == field
    assert reason in info.value.reason
    assert "secret" not in str(info.value)  # credentials never reach messages


def test_non_string_source_is_refused() -> None:
    with pytest.raises(SourceSpecError) as info:
        parse_source(5600)  # type: ignore[arg-type]
    assert (info.value.field, info.value.reason) == ("url", "must be a string")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "mjpeg"}, "kind"),
        ({"kind": "rtp", "host": "localhost", "port": 5600}, "host"),
        ({"kind": "rtp", "host": "127.0.0.1", "port": 5601}, "port"),
        ({"kind": "rtp", "host": "127.0.0.1", "port": True}, "port"),
        ({"kind": "rtp", "host": "127.0.0.1", "port": 5600, "payload_type": 33}, "pt"),
        ({"kind": "rtp", "host": "127.0.0.1", "port": 5600, "codec": "vp8"}, "codec"),
        ({"kind": "file"}, "path"),
        ({"kind": "sdp", "path": "cam.sdp"}, "path"),
        ({"kind": "rtsp", "url": "http://cam/live"}, "url"),
        ({"kind": "rtsp", "url": "rtsp:///live"}, "url"),
        ({"kind": "rtsp", "url": "rtsp://cam/live", "transport": "http"}, "transport"),
    ],
)
def test_specs_built_in_code_are_validated(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(SourceSpecError) as info:
        SourceSpec(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_redaction_hides_credentials_everywhere() -> None:
    """redacted(), repr() and the spec's status URL show *** instead of user and password."""
    spec = parse_source("rtsp://admin:hunter2@10.0.0.5:554/live?channel=1&transport=udp")
    assert spec.url == "rtsp://admin:hunter2@10.0.0.5:554/live?channel=1"  # what FFmpeg gets
    assert spec.redacted() == "rtsp://***@10.0.0.5:554/live?channel=1&transport=udp"
    assert "hunter2" not in repr(spec) and "admin" not in repr(spec)
    assert (
        redact_url("x rtsp://a:b@h/p and rtsps://c@h2/q") == "x rtsp://***@h/p and rtsps://***@h2/q"
    )


@pytest.mark.parametrize(
    "text",
    [
        "sim",
        "rtp://127.0.0.1:5600",
        "rtp://[::1]:5602?pt=100&codec=h265",
        "rtsp://cam:8554/live?transport=udp",
        "cam.sdp",
        "clip.mp4?loop=0",
        "clip.mp4",
    ],
)
def test_redacted_text_parses_back_to_the_same_spec(files: Path, text: str) -> None:
    spec = parse_source(text)
    assert parse_source(spec.redacted()) == spec


@pytest.mark.parametrize(
    ("uri", "stream_type", "encoding", "expected"),
    [
        ("rtsp://10.0.0.5:8554/cam", 0, 1, SourceSpec("rtsp", url="rtsp://10.0.0.5:8554/cam")),
        ("rtsp://10.0.0.5/cam\x00\x00", 0, 0, SourceSpec("rtsp", url="rtsp://10.0.0.5/cam")),
        ("udp://192.168.1.10:5600", 1, 1, SourceSpec("rtp", host="0.0.0.0", port=5600)),
        ("rtp://127.0.0.1:5602", 1, 1, SourceSpec("rtp", host="0.0.0.0", port=5602)),
        ("udp://[::1]:5600", 1, 1, SourceSpec("rtp", host="::", port=5600)),
        (
            "udp://239.0.0.1:5600",
            1,
            2,
            SourceSpec("rtp", host="239.0.0.1", port=5600, codec="h265"),
        ),
        ("5600", 1, 0, SourceSpec("rtp", host="0.0.0.0", port=5600)),
        (" 5604 ", 1, 2, SourceSpec("rtp", host="0.0.0.0", port=5604, codec="h265")),
        ("tcp://10.0.0.5:5000", 2, 1, None),  # TCP_MPEG
        ("udp://0.0.0.0:5600", 3, 1, None),  # MPEG_TS
        ("5600", 1, 3, None),  # neither H.264 nor H.265
        ("5600", 9, 1, None),
    ],
)
def test_video_stream_information_maps_to_a_source(
    uri: str, stream_type: int, encoding: int, expected: SourceSpec | None
) -> None:
    assert source_from_stream_info(uri, stream_type, encoding) == expected


@pytest.mark.parametrize(
    ("uri", "stream_type", "field"),
    [
        ("udp://10.0.0.5:5600", 0, "uri"),
        ("cam.local/live", 0, "uri"),
        ("rtsp://cam/live", 1, "uri"),
        ("abc", 1, "uri"),
        ("5601", 1, "port"),
        ("0", 1, "port"),
        ("udp://10.0.0.5:5601", 1, "port"),
    ],
)
def test_malformed_stream_information_is_refused(uri: str, stream_type: int, field: str) -> None:
    with pytest.raises(SourceSpecError) as info:
        source_from_stream_info(uri, stream_type, 1)
    assert info.value.field == field


def test_rtp_sdp_describes_the_stream() -> None:
    lines = rtp_sdp_text(parse_source("rtp://0.0.0.0:5600"), title="drone-1").split("\r\n")
    assert lines[:6] == [
        "v=0",
        "o=- 0 0 IN IP4 0.0.0.0",
        "s=drone-1",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "m=video 5600 RTP/AVP 96",
    ]
    assert lines[6:] == ["a=rtpmap:96 H264/90000", "a=fmtp:96 packetization-mode=1", ""]
    h265 = rtp_sdp_text(parse_source("rtp://[::1]:5602?pt=100&codec=h265"))
    assert "c=IN IP6 ::1\r\n" in h265
    assert h265.endswith("m=video 5602 RTP/AVP 100\r\na=rtpmap:100 H265/90000\r\n")
    with pytest.raises(SourceSpecError):
        rtp_sdp_text(SourceSpec("sim"))


def test_capture_options_whitelist_protocols_and_set_rtsp_transport(files: Path) -> None:
    rtp = capture_options(parse_source("rtp://127.0.0.1:5600"))
    assert (
        rtp
        == "protocol_whitelist;file,udp,rtp,rtsp,tcp,tls,crypto|analyzeduration;200000|fflags;nobuffer"
    )
    assert (
        capture_options(parse_source("rtsp://cam/live?transport=udp"))
        == rtp + "|rtsp_transport;udp"
    )
    assert (
        capture_options(parse_source("clip.mp4"))
        == "protocol_whitelist;file,udp,rtp,rtsp,tcp,tls,crypto"
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"open_timeout_s": 0.0}, "open_timeout_s"),
        ({"open_timeout_s": math.nan}, "open_timeout_s"),
        ({"read_timeout_s": math.inf}, "read_timeout_s"),
        ({"read_timeout_s": "3"}, "read_timeout_s"),
        ({"backoff_initial_s": -1.0}, "backoff_initial_s"),
        ({"backoff_initial_s": True}, "backoff_initial_s"),
        ({"backoff_initial_s": 5.0, "backoff_max_s": 1.0}, "backoff_max_s"),
        ({"decode_threads": 0}, "decode_threads"),
        ({"decode_threads": 1.0}, "decode_threads"),
    ],
)
def test_bad_source_settings_are_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(VideoSettingsError) as info:
        SourceSettings(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_backoff_doubles_to_the_maximum_with_twenty_percent_jitter() -> None:
    settings = SourceSettings()  # 0.5 s doubling to 10 s
    rng = random.Random(1)
    for failures, base_s in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]):
        delays = [settings.backoff_s(failures, rng) for _ in range(200)]
        assert all(0.8 * base_s <= d <= 1.2 * base_s for d in delays)
        assert max(delays) - min(delays) > 0.3 * base_s  # jittered, not constant
    assert settings.backoff_s(10_000, rng) <= 12.0


def test_sim_view_follows_the_pose_and_the_lens() -> None:
    pose = CameraPose(47.39, 8.54, 80.0, 350.0, -45.0, gimbal_yaw_deg=20.0)
    view = sim_view(pose, CameraSpec(640, 360, hfov_deg=90.0))
    assert (view.lat_deg, view.lon_deg, view.alt_agl_m, view.pitch_deg) == (
        47.39,
        8.54,
        80.0,
        -45.0,
    )
    assert view.heading_deg == pytest.approx(10.0)
    assert view.hfov_deg == 90.0
    assert view.vfov_deg == pytest.approx(math.degrees(2 * math.atan(360 / 640)))
    below = sim_view(CameraPose(47.39, 8.54, -5.0, 0.0, -90.0), CameraSpec())
    assert below.alt_agl_m == 0.5  # the renderer's minimum lens height
