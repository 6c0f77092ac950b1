"""Vertebral-artery courses at C1-C2 in the anatomical frame (x left, y posterior, z superior; mm).

Normal V3 course (IMAIOS e-Anatomy "Atlantic part"; domain-facts §5): up through the C2 transverse foramen,
vertically (V3v) to the C1 transverse foramen about 27 mm from the midline, then posteromedially behind the
C1 lateral mass in the groove on the upper surface of the posterior arch (V3h), piercing the dura about
11 mm from the midline and running on (V4) ventral to the medulla. Origin: cord centre at the C1-C2
planning level.

Variants
--------
``loop``
    A posteriorly oriented loop of V3v between C2 and C1 (35 % of cadaver sides, Ulm et al. J Neurosurg
    Spine 2010) that bulges medially over the lateral C1-C2 window, into the straight lateral path.
``pfia``
    Persistent first intersegmental artery: the artery skips the C1 foramen and enters the canal at
    C1-C2 (3-4 %, O'Donnell 2014), then ascends intradurally beside the cord.
"""

from __future__ import annotations

import numpy as np

from pipeline.phantom.shapes import smooth_path

__all__ = ["VA_COURSES", "vertebral_artery_path"]

VA_COURSES = ("normal", "loop", "pfia")

# (x magnitude, y, z) waypoints; x is multiplied by the side sign (+1 left, -1 right).
_BELOW_C2 = [(16.0, -12.0, -80.0), (17.5, -11.8, -55.0), (18.5, -11.5, -45.0), (20.5, -10.5, -26.0)]
_THROUGH_C2 = [(23.0, -9.5, -13.0), (24.5, -9.0, -7.0)]
_NORMAL_V3V = [(26.5, -8.2, -1.0), (27.0, -7.5, 5.0), (27.0, -7.5, 11.0)]
_LOOP_V3V = [
    (25.5, -6.5, -3.5),
    (21.5, -1.5, -1.0),
    (18.5, 0.5, 0.4),
    (21.5, -0.5, 2.8),
    (26.0, -5.0, 5.0),
    (27.0, -7.5, 9.0),
    (27.0, -7.5, 11.0),
]
_V3H_V4 = [
    (25.5, -2.0, 15.0),
    (17.5, 3.0, 16.0),
    (13.5, 7.5, 16.5),
    (10.0, 5.0, 19.5),
    (6.5, -2.0, 24.5),
    (3.5, -8.0, 32.0),
]
_PFIA = [
    (25.0, -7.0, -2.5),
    (20.0, -2.5, 0.0),
    (14.5, -0.5, 1.0),
    (10.5, 0.0, 2.0),
    (8.4, -1.0, 7.0),
    (7.6, -3.0, 14.0),
    (6.5, -5.0, 22.0),
    (4.0, -8.0, 32.0),
]


def vertebral_artery_path(side_sign: float, course: str = "normal") -> np.ndarray:
    """Centreline of one vertebral artery, (M, 3) points in the anatomical frame (mm).

    Parameters
    ----------
    side_sign : float
        +1 for the left artery, -1 for the right.
    course : {"normal", "loop", "pfia"}
    """
    if course == "normal":
        waypoints = _BELOW_C2 + _THROUGH_C2 + _NORMAL_V3V + _V3H_V4
    elif course == "loop":
        waypoints = _BELOW_C2 + _THROUGH_C2 + _LOOP_V3V + _V3H_V4
    elif course == "pfia":
        waypoints = _BELOW_C2 + _THROUGH_C2 + _PFIA
    else:
        raise ValueError(f"unknown vertebral-artery course {course!r}; choose from {VA_COURSES}")
    points = np.array(waypoints, dtype=np.float64)
    points[:, 0] *= side_sign
    return smooth_path(points, samples_per_segment=10)
