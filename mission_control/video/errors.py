"""Errors of the video package (HTTP mapping lives in :mod:`mission_control.api`)."""

from __future__ import annotations

from mission_control.errors import MissionControlError

__all__ = [
    "NoVideoSource",
    "RecordingError",
    "SourceError",
    "SourceSpecError",
    "VideoError",
    "VideoSettingsError",
]


class VideoError(MissionControlError):
    """Root of the video package's errors."""


class SourceSpecError(VideoError):
    """A video source description (URL, file, per-vehicle setting) is malformed.

    Attributes:
        field: what was wrong (``"url"``, ``"port"``, ``"drone_id"`` ...).
        value: the offending value (credentials redacted).
        reason: why it was refused.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {value!r}: {reason}")


class SourceError(VideoError):
    """A source could not be opened, or stopped delivering frames.

    Attributes:
        url: the source (credentials redacted).
        reason: what went wrong.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class NoVideoSource(VideoError):
    """No video source is known for a drone (none configured, none announced).

    Attributes:
        drone_id: the drone's MAVLink system id.
    """

    def __init__(self, drone_id: int) -> None:
        self.drone_id = drone_id
        super().__init__(f"drone {drone_id} has no video source (none configured or announced)")


class VideoSettingsError(VideoError):
    """A relay, privacy or recording setting, or a viewer parameter, is out of range.

    Attributes:
        field: the setting or parameter (``"width"``, ``"jpeg_quality"`` ...).
        reason: why it was refused.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class RecordingError(VideoError):
    """A recording could not be written, found or exported.

    Attributes:
        recording_id: the recording concerned ('' when none yet).
        reason: what went wrong.
    """

    def __init__(self, recording_id: str, reason: str) -> None:
        self.recording_id = recording_id
        self.reason = reason
        super().__init__(f"recording {recording_id or '-'}: {reason}")
