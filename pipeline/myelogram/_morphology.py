"""Fast plane-wise hole filling.

``scipy.ndimage.binary_fill_holes`` floods the background by repeated dilation, which costs seconds on a
512 x 512 x 200 volume. The same result comes from one connected-component labelling of the background:
a background component is a hole unless it touches the border of its plane.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def in_plane_disc(radius_mm: float, spacing_mm: np.ndarray) -> np.ndarray:
    """Footprint (n, m, 1) of a disc of ``radius_mm`` in the slice plane, for voxels of ``spacing_mm``."""
    half = np.ceil(radius_mm / np.asarray(spacing_mm[:2], dtype=np.float64)).astype(int)
    gx, gy = np.meshgrid(
        np.arange(-half[0], half[0] + 1) * spacing_mm[0],
        np.arange(-half[1], half[1] + 1) * spacing_mm[1],
        indexing="ij",
    )
    return (np.hypot(gx, gy) <= radius_mm)[:, :, None]


def fill_holes_in_planes(mask: np.ndarray, axis: int = 2) -> np.ndarray:
    """``mask`` with every hole filled that is enclosed within a plane perpendicular to ``axis``.

    Equivalent to ``binary_fill_holes`` applied to each plane separately (8-connected mask, background
    4-connected, as in 2-D ``binary_fill_holes``).
    """
    structure = np.zeros((3, 3, 3), dtype=bool)
    centre = [1, 1, 1]
    for other in range(3):
        if other == axis:
            continue
        for step in (0, 2):
            index = list(centre)
            index[other] = step
            structure[tuple(index)] = True
    structure[1, 1, 1] = True
    labels, count = ndimage.label(~mask, structure=structure)
    if count == 0:
        return mask.copy()
    touches = np.zeros(count + 1, dtype=bool)
    for other in range(3):
        if other == axis:
            continue
        for edge in (0, -1):
            face = np.take(labels, edge, axis=other)
            touches[np.unique(face)] = True
    touches[0] = True
    return mask | ~touches[labels]
