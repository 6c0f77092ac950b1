"""Vectorised solid primitives evaluated on arrays of points (anatomical frame, mm).

Each function takes coordinate arrays ``x, y, z`` of one shape (any shape, broadcast together) and returns a
boolean array: inside or not. Curved tubes return the distance to their centreline so callers can use
it for walls, grooves and clearances.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "box",
    "ellipsoid",
    "elliptic_cylinder_z",
    "near_polyline_distance_mm",
    "polyline_distance_mm",
    "ring_tube",
    "smooth_path",
    "superellipsoid",
]


def _box_candidates(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    centre: tuple[float, float, float],
    semi: tuple[float, float, float],
) -> tuple[np.ndarray, ...]:
    """Indices of the points inside the shape's bounding box: the exact test then runs on few points."""
    near = np.abs(z - centre[2]) <= semi[2]
    near &= np.abs(y - centre[1]) <= semi[1]
    near &= np.abs(x - centre[0]) <= semi[0]
    return np.nonzero(near)


def ellipsoid(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    centre: tuple[float, float, float],
    semi: tuple[float, float, float],
) -> np.ndarray:
    """Axis-aligned ellipsoid."""
    return superellipsoid(x, y, z, centre, semi, power=2.0)


def elliptic_cylinder_z(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    centre_xy: tuple[float, float],
    semi_xy: tuple[float, float],
    z_range: tuple[float, float],
) -> np.ndarray:
    """Elliptic cylinder along z between ``z_range``."""
    inside = ((x - centre_xy[0]) / semi_xy[0]) ** 2 + ((y - centre_xy[1]) / semi_xy[1]) ** 2 <= 1.0
    return inside & (z >= z_range[0]) & (z <= z_range[1])


def superellipsoid(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    centre: tuple[float, float, float],
    semi: tuple[float, float, float],
    power: float = 4.0,
) -> np.ndarray:
    """Rounded box: ``|dx/a|^p + |dy/b|^p + |dz/c|^p <= 1`` (p=2 ellipsoid, large p a box)."""
    inside = np.zeros(x.shape, dtype=bool)
    index = _box_candidates(x, y, z, centre, semi)
    if index[0].size:
        total = np.abs((x[index] - centre[0]) / semi[0]) ** power
        total += np.abs((y[index] - centre[1]) / semi[1]) ** power
        total += np.abs((z[index] - centre[2]) / semi[2]) ** power
        inside[index] = total <= 1.0
    return inside


def ring_tube(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    centre_y: float,
    semi_xy: tuple[float, float],
    half_thickness: np.ndarray | float,
    half_height: np.ndarray | float,
    centre_z: np.ndarray | float,
) -> np.ndarray:
    """Tube of elliptic cross-section following a horizontal elliptic ring (e.g. the atlas arches).

    The in-plane offset from the ring is measured along the ray from the ring centre; cross-section
    parameters may vary from point to point (arrays broadcast with the coordinates).
    """
    dy = y - centre_y
    rho = np.sqrt((x / semi_xy[0]) ** 2 + (dy / semi_xy[1]) ** 2)
    radial = (rho - 1.0) / np.maximum(rho, 1e-6) * np.hypot(x, dy)
    return (radial / half_thickness) ** 2 + ((z - centre_z) / half_height) ** 2 <= 1.0


def box(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    z_range: tuple[float, float],
) -> np.ndarray:
    """Axis-aligned box."""
    return (
        (x >= x_range[0])
        & (x <= x_range[1])
        & (y >= y_range[0])
        & (y <= y_range[1])
        & (z >= z_range[0])
        & (z <= z_range[1])
    )


def smooth_path(control_points: np.ndarray, samples_per_segment: int = 12) -> np.ndarray:
    """Centripetal-free uniform Catmull-Rom curve through ``control_points`` (K, 3); returns (M, 3).

    Vessels are smooth; a polyline through a handful of anatomical waypoints would kink at each one.
    """
    points = np.asarray(control_points, dtype=np.float64)
    padded = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    t = np.linspace(0.0, 1.0, samples_per_segment, endpoint=False)[:, None]
    pieces = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        pieces.append(
            0.5
            * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    pieces.append(points[-1][None, :])
    return np.vstack(pieces)


def polyline_distance_mm(points: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Distance from each point (N, 3) to a polyline (M, 3); loops over the M-1 segments, not points."""
    points = np.asarray(points, dtype=np.float64)
    best = np.full(points.shape[0], np.inf)
    for start, end in itertools.pairwise(path):
        segment = end - start
        length2 = float(segment @ segment)
        rel = points - start
        t = np.clip(rel @ segment / length2, 0.0, 1.0) if length2 > 0 else np.zeros(points.shape[0])
        closest = rel - t[:, None] * segment
        np.minimum(best, np.einsum("ij,ij->i", closest, closest), out=best)
    return np.sqrt(best)


def near_polyline_distance_mm(points: np.ndarray, path: np.ndarray, max_distance_mm: float) -> np.ndarray:
    """Distance from many points (N, 3) to a polyline, exact to ~0.01 mm within ``max_distance_mm``
    (``inf`` beyond): the path is resampled every 0.1 mm and searched with a k-d tree."""
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    fine_arc = np.linspace(0.0, arc[-1], max(int(np.ceil(arc[-1] / 0.1)), 2))
    dense = np.stack([np.interp(fine_arc, arc, path[:, d]) for d in range(3)], axis=1)
    distance, _ = cKDTree(dense).query(points, k=1, distance_upper_bound=max_distance_mm, workers=-1)
    return distance
