"""Ground elevation, behind an interface so real elevation data can plug in.

Without elevation data (:class:`FlatTerrain`) the ground is taken to be level with the
launch point, so "above ground level" equals "above launch". A provider backed by a DEM
(SRTM, national lidar grids) implements :class:`TerrainProvider`; the checker samples it
along legs every :attr:`TerrainProvider.resolution_m` metres.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from flight_plans.geodesy import GeoPoint


class TerrainProvider(Protocol):
    """Ground elevation above mean sea level at WGS84 points."""

    @property
    def resolution_m(self) -> float:
        """Spacing at which elevation can change (``inf`` for flat ground)."""

    def elevation_amsl_m(self, points: Sequence[GeoPoint]) -> list[float]:
        """Ground elevation AMSL in metres at each point, in order."""


@dataclass(frozen=True, slots=True)
class FlatTerrain:
    """Level ground at the launch elevation (AGL = above launch).

    ``ground_amsl_m`` is the launch elevation when known; it only matters when AGL and
    AMSL limits are compared, and then it must be the launch point's real elevation.
    """

    ground_amsl_m: float = 0.0

    @property
    def resolution_m(self) -> float:
        return math.inf

    def elevation_amsl_m(self, points: Sequence[GeoPoint]) -> list[float]:
        return [self.ground_amsl_m] * len(points)
