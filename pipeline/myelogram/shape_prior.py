"""Cord shape prior from the PAM50 template: cross-section area, diameters and mean shape by level.

The numbers come from ``data/pam50_cord_shape.json``, derived by ``tools/pam50_cord_shape.py`` from the
PAM50 cord and CSF masks (De Leener et al., NeuroImage 2018; distributed with the Spinal Cord Toolbox
under the MIT licence). Only derived numbers are shipped, never the template images.

The MRI cord search does not know the vertebral level of a short slab, so it uses the cervical levels
(C1-C7) together: their area range bounds an acceptable outline, their diameters bound where along a ray
the cord edge may lie, and their mean shape (radius over equivalent radius along 36 directions) is the
outline fitted to a slice where only part of the edge could be traced.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

CERVICAL = ("C1", "C2", "C3", "C4", "C5", "C6", "C7")
# Human cords vary around the template: adult cervical cord area 1 SD ~ 10-15 % (Kato 2012), atrophy
# (MS, myelopathy) down to ~0.6x, and a cord cut obliquely by the slices (tilt up to ~35°) looks up to
# ~1.25x larger; thick slices add partial volume. Factors applied to the template's extremes:
AREA_LOW_FACTOR = 0.45
AREA_HIGH_FACTOR = 2.2
# Edge search along a ray: from this fraction of the smallest half-AP diameter to this multiple of the
# largest half-transverse diameter, plus the distance the start point may be off the cord centre.
RADIUS_LOW_FACTOR = 0.55
RADIUS_HIGH_FACTOR = 1.45
START_OFFSET_MM = 2.0


@dataclass(frozen=True)
class CordShapePrior:
    """Cervical cord cross-section from PAM50 (see module docstring)."""

    min_area_mm2: float
    max_area_mm2: float
    radius_range_mm: tuple[float, float]
    mean_area_mm2: float
    shape_pam50: np.ndarray  # (36,) radius / equivalent radius, from patient left (0°) towards anterior
    source: str

    def shape_in_view(self, angles: np.ndarray) -> np.ndarray:
        """Mean shape sampled at view angles (view axes L, P: angle θ points at -θ in the L-A frame)."""
        table_angles = np.linspace(0.0, 2 * np.pi, self.shape_pam50.size, endpoint=False)
        return np.interp(np.mod(-angles, 2 * np.pi), table_angles, self.shape_pam50, period=2 * np.pi)


@functools.cache
def cervical_cord_prior() -> CordShapePrior:
    """The prior over C1-C7 from the shipped table."""
    text = resources.files("pipeline.myelogram").joinpath("data/pam50_cord_shape.json").read_text()
    table = json.loads(text)
    rows = [row for row in table["levels"] if row["level"] in CERVICAL]
    p05 = min(row["cord_area_mm2"]["p05"] for row in rows)
    p95 = max(row["cord_area_mm2"]["p95"] for row in rows)
    half_ap = min(row["cord_ap_mm"] for row in rows) / 2
    half_tr = max(row["cord_transverse_mm"] for row in rows) / 2
    weights = np.array([row["slices"] for row in rows], dtype=float)
    shapes = np.array([row["cord_shape"] for row in rows], dtype=float)
    return CordShapePrior(
        min_area_mm2=AREA_LOW_FACTOR * p05,
        max_area_mm2=AREA_HIGH_FACTOR * p95,
        radius_range_mm=(RADIUS_LOW_FACTOR * half_ap, RADIUS_HIGH_FACTOR * half_tr + START_OFFSET_MM),
        mean_area_mm2=float(np.average([row["cord_area_mm2"]["mean"] for row in rows], weights=weights)),
        shape_pam50=np.average(shapes, axis=0, weights=weights),
        source=str(table["source"]),
    )
