"""How long a streaming client was behind within a sliding window (telemetry and video).

Both websocket fan-outs close a client that was behind for more than ``disconnect_after_s``
in all within the last ``2 * disconnect_after_s``: one behind all the time goes after
``disconnect_after_s``, one behind now and then stays. :class:`BehindWindow` keeps that sum
in a fixed number of bins, so each send costs O(bins) whatever the client's history.
"""

from __future__ import annotations

__all__ = ["LAG_BINS", "BehindWindow"]

LAG_BINS = 20
"""The window is summed in this many bins."""


class BehindWindow:
    """Seconds behind within the last ``window_s`` (monotonic clock).

    Args:
        window_s: the window's length (> 0).
        start_s: nothing before this instant is ever counted.
    """

    __slots__ = ("_bin_index", "_bin_width_s", "_bins", "counted_until_s")

    def __init__(self, window_s: float, start_s: float) -> None:
        self._bin_width_s = window_s / LAG_BINS
        self._bins = [0.0] * LAG_BINS  # seconds behind per bin of the window
        self._bin_index = int(start_s / self._bin_width_s)
        self.counted_until_s = start_s
        """Time behind is counted up to here: a later interval starts no earlier."""

    def add(self, from_s: float, to_s: float) -> float:
        """Count ``[from_s, to_s]`` (clipped to after :attr:`counted_until_s`) as behind;
        return the total within the window ending at ``to_s``."""
        from_s = max(from_s, self.counted_until_s)
        bins, index = self._bins, int(to_s / self._bin_width_s)
        for i in range(max(self._bin_index + 1, index - LAG_BINS + 1), index + 1):
            bins[i % LAG_BINS] = 0.0  # bins that left the window
        self._bin_index = max(self._bin_index, index)
        bins[index % LAG_BINS] += max(0.0, to_s - from_s)
        self.counted_until_s = max(self.counted_until_s, to_s)
        return sum(bins)
