"""Geofence arithmetic for self check-in."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres: plenty for a few hundred metres' fence."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def inside(lat: float, lon: float, centre_lat: float, centre_lon: float, radius_m: float
           ) -> tuple[bool, float]:
    d = distance_m(lat, lon, centre_lat, centre_lon)
    return d <= radius_m, d
