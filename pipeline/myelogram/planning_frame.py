"""The C1-C2 planning level and the anatomical frame built on it from the cord and C1/C2.

The percutaneous needle passes laterally between the C1 posterior arch and the C2 lamina (Mullan 1963;
Rosomoff's coronal-plane variant; domain-facts §4), so the planning level is the middle of the C1-C2
interlaminar space: half-way, along the cord, between the lowest point of the C1 posterior arch and the
highest point of the C2 laminae in the posterior midline. The frame's origin is the cord centre there.
"""

from __future__ import annotations

import numpy as np

from pipeline.myelogram.bone import Vertebrae, mean_cord_posterior
from pipeline.myelogram.cord import CordSegmentation
from pipeline.myelogram.frame import AnatomicalFrame, build_frame, centerline_direction


def centerline_point_at_height(
    centerline_lps_mm: np.ndarray, reference_lps_mm: np.ndarray, superior_lps: np.ndarray, height_mm: float
) -> np.ndarray:
    """Point of the centerline at a given height (along ``superior_lps``) above a reference point."""
    heights = (centerline_lps_mm - reference_lps_mm) @ superior_lps
    order = np.argsort(heights)
    return np.array([np.interp(height_mm, heights[order], centerline_lps_mm[order, a]) for a in range(3)])


def planning_frame(cord: CordSegmentation, vertebrae: Vertebrae) -> AnatomicalFrame:
    """Anatomical frame at the C1-C2 planning level (CT myelogram with C1 and C2 found)."""
    superior = centerline_direction(cord.centerline_lps_mm)
    arch = vertebrae.c1_arch_inferior_lps_mm
    lamina = vertebrae.c2_lamina_superior_lps_mm
    middle_height = 0.5 * float(np.dot(lamina - arch, superior))
    origin = centerline_point_at_height(cord.centerline_lps_mm, arch, superior, middle_height)
    superior = centerline_direction(cord.centerline_lps_mm, near_lps_mm=origin)
    origin = centerline_point_at_height(
        cord.centerline_lps_mm, arch, superior, 0.5 * float(np.dot(lamina - arch, superior))
    )
    # Posterior: from the dens to the cord, the anteroposterior axis of the atlanto-axial complex.
    return build_frame(origin, superior, origin - vertebrae.dens_center_lps_mm, "dens")


def cord_frame(cord: CordSegmentation, *, at_lps_mm: np.ndarray | None = None) -> AnatomicalFrame:
    """Frame from the cord alone (MRI, or no C1/C2): origin at the middle of the segmented cord."""
    centerline = cord.centerline_lps_mm
    origin = centerline[len(centerline) // 2] if at_lps_mm is None else np.asarray(at_lps_mm, dtype=float)
    superior = centerline_direction(centerline, near_lps_mm=origin)
    posterior = mean_cord_posterior(cord, superior)
    return build_frame(origin, superior, posterior, "cord_shape")
